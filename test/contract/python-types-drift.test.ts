// The generated block of clients/python/decapod_client.py (TypedDicts, method catalog, typed
// methods) must be what scripts/generate-python-types.mjs writes from openapi/openapi.json now.
// Fix: node scripts/generate-python-types.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

const ROOT = packageRoot();
const SCRIPT = join(ROOT, 'scripts', 'generate-python-types.mjs');
const CLIENT = join(ROOT, 'clients', 'python', 'decapod_client.py');

const generator = (args: string[]) => spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });

test('the generated block of decapod_client.py is up to date with openapi/openapi.json', () => {
  const r = generator(['--check']);
  expect(r.status, `${r.stderr}\nrun: node scripts/generate-python-types.mjs`).toBe(0);
});

test('the check notices a stale block, and the generator repairs it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'decapod-pytypes-'));
  try {
    const original = readFileSync(CLIENT, 'utf8');
    const copy = join(dir, 'decapod_client.py');
    writeFileSync(copy, original.replace('class ClaimAcquireResult(TypedDict):', 'class ClaimAcquireResult(TypedDict, total=False):'));
    const stale = generator(['--check', '--client', copy]);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('the generated block is stale');
    expect(generator(['--client', copy]).status).toBe(0);
    expect(generator(['--check', '--client', copy]).status).toBe(0);
    expect(readFileSync(copy, 'utf8')).toContain('class ClaimAcquireResult(TypedDict):');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every method of openapi.json has a typed method, params and result types in the Python client', () => {
  const doc = JSON.parse(readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8')) as { paths: Record<string, unknown> };
  const methods = Object.keys(doc.paths)
    .filter((p) => p.startsWith('/rpc/'))
    .map((p) => p.slice('/rpc/'.length));
  expect(methods.length).toBeGreaterThanOrEqual(20);
  const source = readFileSync(CLIENT, 'utf8');
  for (const m of methods) {
    const pascal = m.split(/[^A-Za-z0-9]+/).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
    expect(source, m).toMatch(new RegExp(`^    def ${m.replace(/\./g, '_')}\\(self`, 'm'));
    expect(source, m).toMatch(new RegExp(`^class ${pascal}Params\\(`, 'm'));
    expect(source, m).toContain(`    def call(self, method: Literal["${m}"]`);
    expect(source, m).toContain(`    "${m}": {"kind": `);
  }
});
