import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

// Documentation that works when pasted: every ```sh block of the README runs here, in order, in
// one bash session from the package folder, exactly as written.
const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

test('the README has runnable sh blocks', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(2);
});

test('the README sh blocks run as pasted and tell the truth', () => {
  const script = ['set -euo pipefail', ...blocks].join('\n');
  const env: NodeJS.ProcessEnv = { ...process.env, DECAPOD_IDLE_TIMEOUT: '20s' };
  delete env.DECAPOD_LEASE;
  const r = spawnSync('bash', ['-c', script], { cwd: packageRoot(), env, encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr, r.stderr).not.toMatch(/command not found|No such file/);
  expect(r.status, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
  // What the README says happens, happens.
  expect(r.stdout).toMatch(/"id": "T1"[\s\S]*"id": "T2"/); // task add
  expect(r.stdout).toMatch(/"claim": \{[\s\S]*"task": "T1"[\s\S]*"paths": \[\s*"src\/parser"/); // task claim
  expect(r.stdout).toMatch(/T1 +open +p1 +alice#\d+ +Fix the parser/); // task list
  expect(r.stdout).toContain('held by alice, exit 1');
  expect(r.stdout).toContain('refused: CONFLICT names the holder');
  expect(r.stderr).toMatch(/"code": "CONFLICT"[\s\S]*"agent": "alice"/);
  expect(r.stdout).toMatch(/"ok": true,\s*"count": \d+/); // audit.verify
  expect(r.stdout).toMatch(/\{"error":\{"code":1003,[^\n]*"agent":"alice"/); // curl --fail-with-body shows the body
  expect(r.stdout).toContain('HTTP 409: alice holds src/parser');
  expect(r.stdout).toContain('{"jsonrpc":"2.0","id":1,"result":{"tasks":[{"id":"T2"');
  expect(r.stdout).toContain('"stopped": true');
  // Done means proven:
  expect(r.stdout).toContain('gate failed: exit 1');
  expect(r.stdout).toContain('refused until proven');
  expect(r.stderr).toMatch(/"code": "PROOF_REQUIRED"[\s\S]*"gate": "test",\s*"reason": "failed"/);
  expect(r.stderr).toContain('tests pass'); // --follow streamed the gate's output
  // Team mode: two clones share one claim space on PostgreSQL.
  expect(r.stdout).toContain('held by alice, seen from the other clone');
  expect(r.stderr).toMatch(/src\/parser\/lexer\.ts is held by alice/);
  expect(r.stdout).toMatch(/"engine": "postgresql"/);
  // decapod migrate: the SQLite history moves, verified; the PostgreSQL server has carol's claim.
  expect(r.stdout).toMatch(/audit head {4}sqlite seq (\d+) ([0-9a-f]{64})\n {16}postgresql seq \1 \2 {2}equal/);
  expect(r.stdout).toMatch(/state digest {2}sqlite ([0-9a-f]{64})\n {16}postgresql \1 {2}equal/);
  expect(r.stdout).toMatch(/^C1 +carol#1 +exclusive .* docs$/m);
  expect(r.stdout).toMatch(/\{"proof":\{"id":"P3","task":"T1","gate":"test",[^\n]*"passed":true/); // curl proof.run
  expect(r.stdout).toMatch(/"status": "done",[\s\S]*"verified": true/);
  expect(r.stdout).toMatch(/"ok": true,\s*"events": \d+,\s*"live_digest"/);
});

const pythonBlocks = [...readme.matchAll(/^```python\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
const tsBlocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

// test/clients/python-package.test.ts runs this block on the pip-installed package from an empty folder.
test('the README python block runs from the decapod folder (decapod_client from its source, DECAPOD_BIN this CLI)', () => {
  expect(pythonBlocks).toHaveLength(1);
  const r = spawnSync('python3', ['-c', pythonBlocks[0]!], {
    cwd: packageRoot(),
    env: {
      ...process.env,
      PYTHONPATH: join(packageRoot(), 'clients', 'python'),
      DECAPOD_BIN: join(packageRoot(), 'bin', 'decapod'),
      PYTHONDONTWRITEBYTECODE: '1',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^python holds \['src'\] with fence 1$/m);
});

test('the README ts block runs from the decapod folder (decapod-client from its source, DECAPOD_BIN this CLI)', async () => {
  expect(tsBlocks).toHaveLength(1);
  const out = join(packageRoot(), 'node_modules', '.cache', `decapod-readme-${process.pid}.mjs`);
  onTestFinished(() => rmSync(out, { force: true }));
  await build({
    stdin: { contents: tsBlocks[0]!, resolveDir: packageRoot(), sourcefile: 'README.md.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    alias: { 'decapod-client': join(packageRoot(), 'clients', 'ts', 'src', 'index.ts') },
    outfile: out,
    logLevel: 'silent',
  });
  const env = { ...process.env, DECAPOD_BIN: join(packageRoot(), 'bin', 'decapod') };
  const r = spawnSync(process.execPath, [out], { cwd: packageRoot(), env, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^typescript holds src with fence 1$/m);
});
