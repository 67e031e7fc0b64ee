// Issue 6: the benchmark runs. `npm run bench -- --quick` in miniature: the runner itself (the suite's
// pretest has built dist/), writing into a temp folder so bench/results.json and BENCHMARKS.md stay
// as the last full run left them. It checks that every scenario ran and produced numbers, never
// what the numbers are: timing belongs to the benchmark, not to the test.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { REPO } from '../helpers/process.js';

const SCENARIOS = [
  'warm-read-8',
  'mutation-8-full',
  'mutation-64-full',
  'mutation-8-normal',
  'mutation-64-normal',
  'durability-8-full-vs-normal',
  'durability-64-full-vs-normal',
  'cold-first-call',
  'cli-warm-call',
  'python-keepalive',
  'claim-latency-10k',
  'mutations-vs-process-per-op',
  'rss-idle',
  'rss-load-64',
  'heartbeat-64',
  'recovery-kill9',
];

// The team-mode section (scripts/bench/postgres.mjs) starts its own PostgreSQL cluster; like the
// PostgreSQL tests it is left out only when DECAPOD_TEST_POSTGRES=off says there is none.
const POSTGRES = process.env.DECAPOD_TEST_POSTGRES !== 'off';
const PG_SCENARIOS = ['pg-mutation-8', 'pg-task-get-8', 'pg-round-trips-claim-acquire', 'pg-mutation-8-rtt3', 'pg-task-get-8-rtt3', 'pg-mutation-8-rtt10', 'pg-task-get-8-rtt10'];
const PG_METHODS = ['lease.grant', 'claim.acquire', 'claim.release', 'task.create', 'task.claim', 'task.get', 'lease.renew', 'audit.verify'];

const out = mkdtempSync(join(tmpdir(), 'decapod-bench-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) env[k] = v;
    const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs); // the runner stops what it started
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('npm run bench -- --quick runs every scenario against its baseline and reports numbers', async () => {
  const benchmarksBefore = readFileSync(join(REPO, 'BENCHMARKS.md'), 'utf8');
  const r = await run([join(REPO, 'scripts', 'bench', 'run.mjs'), '--quick', '--out', out, ...(POSTGRES ? [] : ['--no-postgres'])], 110_000);
  expect(r.code, r.stderr.slice(-3000)).toBe(0);

  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
    mode: string;
    machine: { cpus: number; node: string };
    scenarios: { id: string; title: string; ratio: number; decapod: { median: number; min: number; max: number }; baseline: { median: number } }[];
    postgres?: { round_trips: { rows: { method: string; server: string; round_trips: { median: number } }[] } };
  };
  expect(results.mode).toBe('quick');
  expect(results.machine.node).toBe(process.version);
  expect(results.scenarios.map((s) => s.id).sort()).toEqual([...SCENARIOS, ...(POSTGRES ? PG_SCENARIOS : [])].sort());
  if (POSTGRES) {
    // a round-trip count for every method it names, Decapod's and (for its three) the raw baseline's
    const rows = results.postgres!.round_trips.rows;
    expect(rows.filter((x) => x.server === 'decapod').map((x) => x.method)).toEqual(expect.arrayContaining(PG_METHODS));
    expect(rows.filter((x) => x.server === 'raw').map((x) => x.method).sort()).toEqual(['claim.acquire', 'claim.release', 'task.get']);
    for (const x of rows) expect(Number.isInteger(x.round_trips.median) && x.round_trips.median > 0, JSON.stringify(x)).toBe(true);
  }
  for (const s of results.scenarios) {
    for (const n of [s.decapod.median, s.decapod.min, s.decapod.max, s.baseline.median, s.ratio]) {
      expect(Number.isFinite(n), `${s.id}: ${JSON.stringify(s)}`).toBe(true);
    }
    expect(s.decapod.min <= s.decapod.median && s.decapod.median <= s.decapod.max, s.id).toBe(true);
  }

  // The table went to --out, and the checked-in report was left alone.
  const table = readFileSync(join(out, 'table.md'), 'utf8');
  for (const s of results.scenarios) expect(table).toContain(s.title);
  expect(r.stdout).toContain('| Scenario |');
  expect(readFileSync(join(REPO, 'BENCHMARKS.md'), 'utf8')).toBe(benchmarksBefore);
  expect(existsSync(join(out, 'BENCHMARKS.md'))).toBe(false);
}, 120_000);
