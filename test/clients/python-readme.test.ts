// Documentation that works when pasted: every ```python block of clients/python/README.md runs
// here, in order, as one script started from the decapod folder (a private copy of the built
// package with clients/python in it), and prints what the README says it prints.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { binPath, REPO, useBuiltCli } from '../helpers/process.js';

useBuiltCli();

let pkg = REPO;
beforeAll(() => {
  pkg = dirname(dirname(binPath()));
  if (pkg !== REPO) cpSync(join(REPO, 'clients', 'python'), join(pkg, 'clients', 'python'), { recursive: true });
});

const readme = readFileSync(join(REPO, 'clients', 'python', 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```python\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

test('the Python README has runnable python blocks', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(6);
});

test('the Python README blocks run as pasted and tell the truth', () => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) env[k] = v;
  Object.assign(env, { DECAPOD_BIN: binPath(), DECAPOD_IDLE_TIMEOUT: '20s', PYTHONDONTWRITEBYTECODE: '1' });
  const r = spawnSync('python3', ['-'], { cwd: pkg, env, input: blocks.join('\n'), encoding: 'utf8', timeout: 90_000 });
  const report = `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  expect(r.status, report).toBe(0);
  expect(r.stdout).toMatch(/^server http:\/\/127\.0\.0\.1:\d+ pid \d+$/m);
  expect(r.stdout).toContain("alice holds ['src/parser'] with fence 1");
  expect(r.stdout).toContain('bob is refused: CONFLICT held by alice');
  expect(r.stdout).toMatch(/^carol works on T1 Fix the parser fence \d+$/m);
  expect(r.stdout).toContain("still ready: ['Write the docs']");
  expect(r.stdout).toContain("{'src/parser': True, 'docs/a.md': True}");
  expect(r.stdout).toContain('claim.acquire is mutation audited: True');
  expect(r.stdout).toContain("NotFoundError 1002 NOT_FOUND {'code': 'NOT_FOUND', 'kind': 'task', 'id': 'T404'}");
  expect(r.stdout).toContain('last receipt from lease.revoke');
  expect(r.stdout).toContain('log holds: True contradicted: []');
  expect(r.stderr).toMatch(/^Ran 1 test in .*\n\nOK$/m); // the unittest example
}, 120_000);
