// Documentation that works when pasted: every ```sh block of clients/sh/README.md runs here, in
// order, in one bash session started from the decapod folder (a private copy of the built package
// with clients/sh in it), and does what the README says.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { binPath, REPO, useBuiltCli } from '../helpers/process.js';

useBuiltCli();

let pkg = REPO;
beforeAll(() => {
  pkg = dirname(dirname(binPath()));
  if (pkg !== REPO) cpSync(join(REPO, 'clients', 'sh'), join(pkg, 'clients', 'sh'), { recursive: true });
});

const readme = readFileSync(join(REPO, 'clients', 'sh', 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

test('the shell README has runnable sh blocks', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(4);
});

test('the shell README blocks run as pasted and tell the truth', () => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_') && !k.startsWith('GIT_')) env[k] = v;
  // No global or system git configuration (a core.hooksPath there would bypass the hook).
  Object.assign(env, { DECAPOD_IDLE_TIMEOUT: '20s', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' });
  const script = ['set -euo pipefail', ...blocks].join('\n');
  const r = spawnSync('bash', ['-c', script], { cwd: pkg, env, encoding: 'utf8', timeout: 90_000 });
  const report = `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  expect(r.stderr, report).not.toMatch(/command not found|No such file/);
  expect(r.status, report).toBe(0);
  // decapod-rpc
  expect(r.stdout).toMatch(/^\{"paths":\[\{"path":"docs\/intro\.md","free":false,"holders":\[\{"claim_id":"C1","agent":"ci"/m);
  expect(r.stdout).toContain('exit 1: the error object is on stderr');
  expect(r.stderr).toContain('{"code":1002,"message":"no task T404","data":{"code":"NOT_FOUND","kind":"task","id":"T404"}}');
  // the hook
  expect(r.stdout).toContain('refused: ci holds docs');
  expect(r.stderr).toContain('decapod pre-commit: commit refused: staged paths are claimed by another agent');
  expect(r.stderr).toMatch(/^ {2}docs\/intro\.md: held by ci \(exclusive, claim C1, \d+s left\)$/m);
  expect(r.stdout).toContain('refused: fence is not current');
  expect(r.stderr).toContain('fence 2 of claim C1 is no longer current');
  expect(r.stdout).toContain('still under fence 1\na path nobody holds\ndocs, by ci\n'); // git log, newest first
  expect(r.stdout).toContain('"stopped": true');
}, 120_000);
