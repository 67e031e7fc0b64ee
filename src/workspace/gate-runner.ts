import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { settleArtifact, unavailableIfDiskFull } from './artifacts.js';

export interface GateRunResult {
  exit_code: number | null;
  timed_out: boolean;
  duration_ms: number;
  output_sha256: string;
  /** bytes kept (at most the cap) */
  output_bytes: number;
  truncated: boolean;
  artifact: string;
}

/**
 * A gate runs with the server's environment, less any lease secret the server inherited from
 * whoever spawned it (a gate must not act as some agent), plus the DECAPOD_* variables the
 * caller sets (README "The environment a gate runs with").
 */
function gateEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { DECAPOD_LEASE: _secret, ...inherited } = process.env;
  return { ...inherited, ...extra };
}

/** After a timeout's SIGTERM, how long the gate's process group gets before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/**
 * Runs a gate's command with a shell in the root, in its own process group, bounded by its
 * timeout (then the whole group is killed). stdout and stderr stream into one file at `liveFile`
 * (capped; the rest is counted as truncated), which then moves to its content address.
 * Asynchronous: the event loop stays free for other calls while the gate runs. Output that cannot
 * be written (a full disk) fails the run: the gate's group is stopped as on a timeout, the partial
 * file removed, and the promise rejects (UNAVAILABLE for a full disk), so no proof is recorded of
 * output nobody could keep.
 */
export function runGate(opts: {
  root: string;
  command: string;
  timeoutMs: number;
  capBytes: number;
  env: Record<string, string>;
  liveFile: string;
}): Promise<GateRunResult> {
  try {
    mkdirSync(dirname(opts.liveFile), { recursive: true, mode: 0o700 });
  } catch (err) {
    return Promise.reject(unavailableIfDiskFull(err, opts.root));
  }
  const started = process.hrtime.bigint();
  const out = createWriteStream(opts.liveFile, { mode: 0o600 });
  const hash = createHash('sha256');
  let kept = 0;
  let truncated = false;
  let writeFailed: unknown;
  const child = spawn('/bin/sh', ['-c', opts.command], {
    cwd: opts.root,
    env: gateEnv(opts.env),
    detached: true, // its own process group, so a timeout kills its children too
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const take = (chunk: Buffer) => {
    if (writeFailed !== undefined) return;
    const room = opts.capBytes - kept;
    if (room <= 0) {
      truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) truncated = true;
    kept += part.length;
    hash.update(part);
    out.write(part);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);

  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  let timedOut = false;
  let grace: NodeJS.Timeout | undefined;
  const stopGroup = () => {
    killGroup('SIGTERM');
    grace ??= setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stopGroup();
  }, opts.timeoutMs);
  // The output cannot be kept (ENOSPC): the run is worth nothing, so it stops now.
  out.on('error', (err) => {
    if (writeFailed !== undefined) return;
    writeFailed = err;
    stopGroup();
  });

  return new Promise((resolve, reject) => {
    let exitCode: number | null = null;
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // The shell is done: anything it left running in its group goes too (no leaked daemons),
    // and then its pipes close.
    child.on('exit', (code) => {
      exitCode = code;
      killGroup('SIGKILL');
    });
    const fail = (err: unknown) => {
      out.destroy();
      const refusal = unavailableIfDiskFull(err, opts.root); // the space left when it ran out
      rmSync(opts.liveFile, { force: true });
      reject(refusal);
    };
    // The output is judged once its file is closed: a write refused late (ENOSPC, answered by the
    // thread pool after the gate exited) is known by then, as the stream's first error.
    const settle = () => {
      const err = out.errored ?? writeFailed;
      if (err) return fail(err);
      const sha256 = hash.digest('hex');
      let artifact: string;
      try {
        artifact = settleArtifact(opts.root, opts.liveFile, sha256);
      } catch (moveErr) {
        return fail(moveErr);
      }
      resolve({
        exit_code: timedOut ? null : exitCode,
        timed_out: timedOut,
        duration_ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
        output_sha256: sha256,
        output_bytes: kept,
        truncated,
        artifact,
      });
    };
    child.on('close', () => {
      clearTimeout(timer);
      clearTimeout(grace);
      if (out.closed) return settle();
      out.once('close', settle);
      out.end();
    });
  });
}
