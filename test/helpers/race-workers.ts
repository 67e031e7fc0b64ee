// Agent processes for race tests (test/fixtures/race-worker.mjs): each gets its server's URL and
// token, waits at a file barrier, and prints one JSON summary. Shared by test/process/races.test.ts
// (one server) and test/reliability/team-race.test.ts (several servers on one database).
import type { ChildProcess } from 'node:child_process';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, spawnTracked, waitFor, within } from './process.js';

const WORKER = join(REPO, 'test', 'fixtures', 'race-worker.mjs');

export interface RaceWorker {
  agent: string;
  proc: ChildProcess;
  exited: () => boolean;
  /** the worker's JSON summary, once it has exited 0 */
  done: Promise<any>;
}

/** Starts one worker against `srv` (no DECAPOD_* of this process leaks into it). */
export function spawnRaceWorker(
  srv: { url: string; token: string; root: string },
  instructions: Record<string, unknown> & { agent: string },
  deadlineMs: number,
): RaceWorker {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) env[k] = v;
  env.DECAPOD_URL = srv.url;
  env.DECAPOD_TOKEN = srv.token;
  const proc = spawnTracked(process.execPath, [WORKER, JSON.stringify({ deadline_ms: deadlineMs, ...instructions })], { env, cwd: srv.root });
  let stdout = '';
  let stderr = '';
  let gone = false;
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<any>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      gone = true;
      const line = stdout.trim().split('\n').pop() ?? '';
      let summary: any;
      try {
        summary = JSON.parse(line);
      } catch {
        reject(new Error(`worker ${instructions.agent} printed no summary (exit ${code} ${signal})\nstdout: ${stdout}\nstderr: ${stderr}`));
        return;
      }
      if (code !== 0) reject(new Error(`worker ${instructions.agent} exited ${code} ${signal}: ${line}\nstderr: ${stderr}`));
      else resolve(summary);
    });
  });
  done.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection meanwhile
  return { agent: instructions.agent, proc, exited: () => gone, done };
}

/**
 * Waits (bounded) until every worker has its lease and sits at the barrier, then writes the `go`
 * file (atomically, by rename) naming a start moment a little ahead, and collects the summaries.
 */
export async function raceAll(barrier: string, workers: readonly { agent: string; exited: () => boolean; done: Promise<any> }[], timeoutMs: number, barrierTimeoutMs = 25_000): Promise<any[]> {
  await waitFor(
    () => {
      const dead = workers.find((w) => w.exited());
      if (dead) return true; // its `done` rejects with the reason
      return workers.every((w) => existsSync(join(barrier, `ready-${w.agent}`)));
    },
    { timeoutMs: barrierTimeoutMs, what: `${workers.length} workers to reach the barrier` },
  );
  const tmp = join(barrier, 'go.tmp');
  writeFileSync(tmp, JSON.stringify({ start_at: Date.now() + 250 }));
  renameSync(tmp, join(barrier, 'go'));
  return within(Promise.all(workers.map((w) => w.done)), timeoutMs, `${workers.length} workers to finish`);
}
