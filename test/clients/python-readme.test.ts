// Documentation that works when pasted: every ```python block of clients/python/README.md runs
// here, in order, as one script, with the package pip-installed (as the README says) into a fresh
// venv outside the checkout and started from an empty folder (DECAPOD_BIN naming a private copy
// of the built CLI), and prints what the README says it prints.
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { binPath, describeRun, REPO, useBuiltCli } from '../helpers/process.js';
import { createVenv, installClient, pythonEnv, run, type Venv } from '../helpers/python-venv.js';

useBuiltCli();

let work: string | undefined;
let venv: Venv;
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});
beforeAll(async () => {
  work = realpathSync(mkdtempSync(join(tmpdir(), 'decapod-py-readme-')));
  venv = await createVenv(join(work, 'venv'));
  // PYTHONDONTWRITEBYTECODE: python-package.test.ts checks that installing leaves the source folder
  // as it was, and may run at the same time; this install must not leave bytecode there either.
  await installClient(venv, { extraEnv: { PYTHONDONTWRITEBYTECODE: '1' } });
  mkdirSync(join(work, 'empty'));
}, 120_000);

const readme = readFileSync(join(REPO, 'clients', 'python', 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```python\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

test('the Python README has runnable python blocks, none reaching into the checkout', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(7);
  for (const b of blocks) expect(b).not.toMatch(/sys\.path|clients\/python/);
});

test('the Python README blocks run as pasted against the installed package and tell the truth', async () => {
  const script = `${blocks.join('\n')}\nimport decapod_client as _dc\nprint("imported from", _dc.__file__)\n`;
  const env = pythonEnv({ DECAPOD_BIN: binPath(), DECAPOD_IDLE_TIMEOUT: '20s', PYTHONDONTWRITEBYTECODE: '1' });
  const r = await run(venv.python, ['-'], { cwd: join(work!, 'empty'), env, input: script, timeoutMs: 90_000 });
  const report = describeRun(r);
  expect(r.code, report).toBe(0);
  expect(r.stdout).toContain("python holds ['src'] with fence 1");
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
  // The package the blocks used is the installed one, not the source tree.
  expect(r.stdout).toContain(`imported from ${join(venv.dir, 'lib')}`);
  expect(r.stdout).toMatch(/^imported from .*\/site-packages\/decapod_client\/__init__\.py$/m);
}, 120_000);
