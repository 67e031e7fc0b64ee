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
  const r = await run([join(REPO, 'scripts', 'bench', 'run.mjs'), '--quick', '--out', out], 110_000);
  expect(r.code, r.stderr.slice(-3000)).toBe(0);

  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
    mode: string;
    machine: { cpus: number; node: string };
    scenarios: { id: string; title: string; ratio: number; decapod: { median: number; min: number; max: number }; baseline: { median: number } }[];
  };
  expect(results.mode).toBe('quick');
  expect(results.machine.node).toBe(process.version);
  expect(results.scenarios.map((s) => s.id).sort()).toEqual([...SCENARIOS].sort());
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
