// The Python client's own tests (clients/python/test_decapod_client.py, unittest) run here, against
// the built CLI. They cannot pass silently: any failure, error or skip fails this test, and so does
// a suite that ran fewer tests than it has. Where a Python 3.9 interpreter is installed (the oldest
// the client supports) the suite runs under it as well.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { binPath, REPO, useBuiltCli } from '../helpers/process.js';

useBuiltCli();

const PY_DIR = join(REPO, 'clients', 'python');

interface PyRun {
  python: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

function runSuite(python: string): Promise<PyRun> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) env[k] = v;
  Object.assign(env, { DECAPOD_BIN: binPath(), PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' });
  const child = spawn(python, ['-m', 'unittest', '-v', 'test_decapod_client'], { cwd: PY_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolvePromise, rejectPromise) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('error', rejectPromise);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ python, code, stdout, stderr });
    });
  });
}

/** Python 3.9 interpreters on this machine (python3.9 on PATH, pyenv's). */
function python39s(): string[] {
  const candidates = ['python3.9'];
  const pyenv = join(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), 'versions');
  if (existsSync(pyenv)) {
    for (const v of readdirSync(pyenv).filter((d) => /^3\.9(\.|$)/.test(d)).sort()) candidates.push(join(pyenv, v, 'bin', 'python3'));
  }
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import sys; assert sys.version_info[:2] == (3, 9)'], { stdio: 'ignore', timeout: 10_000 });
    if (r.status === 0) return [c];
  }
  return [];
}

/** Every test method the suite defines: each must be reported ok. */
function definedTests(): string[] {
  const source = readFileSync(join(PY_DIR, 'test_decapod_client.py'), 'utf8');
  return [...source.matchAll(/^ {4}def (test_\w+)\(/gm)].map((m) => m[1]!);
}

test('the Python client suite passes under python3 (and Python 3.9 where installed), nothing skipped', async () => {
  const tests = definedTests();
  expect(tests.length).toBeGreaterThanOrEqual(25);
  const runs = await Promise.all(['python3', ...python39s()].map(runSuite));
  for (const r of runs) {
    const report = `${r.python}: exit ${r.code}\n${r.stderr}\n${r.stdout}`;
    expect(r.code, report).toBe(0);
    const ran = /^Ran (\d+) tests? in /m.exec(r.stderr);
    expect(ran, report).not.toBeNull();
    expect(Number(ran![1]), report).toBe(tests.length);
    // "OK (skipped=1)" does not match: a skip fails here.
    expect(r.stderr, report).toMatch(/^OK$/m);
    expect(r.stderr, report).not.toMatch(/skipped|expected failure|unexpected success/i);
    for (const name of tests) expect(r.stderr, `${r.python}: ${name} did not pass`).toMatch(new RegExp(`^${name} \\(.*\\) \\.\\.\\. ok$`, 'm'));
  }
}, 120_000);
