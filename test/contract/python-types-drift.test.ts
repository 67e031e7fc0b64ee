// The generated modules of the Python package (clients/python/decapod_client/types.py: the
// TypedDicts; _methods.py: the method catalog and typed methods) must be what
// scripts/generate-python-types.mjs writes from openapi/openapi.json now.
// Fix: node scripts/generate-python-types.mjs
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

const ROOT = packageRoot();
const SCRIPT = join(ROOT, 'scripts', 'generate-python-types.mjs');
const PACKAGE = join(ROOT, 'clients', 'python', 'decapod_client');

const generator = (args: string[]) => spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });

test('the generated modules of the Python package are up to date with openapi/openapi.json', () => {
  const r = generator(['--check']);
  expect(r.status, `${r.stderr}\nrun: node scripts/generate-python-types.mjs`).toBe(0);
});

test('the check notices a stale or missing module, and the generator repairs both', () => {
  const dir = mkdtempSync(join(tmpdir(), 'decapod-pytypes-'));
  try {
    const copy = join(dir, 'decapod_client');
    cpSync(PACKAGE, copy, { recursive: true });
    const types = join(copy, 'types.py');
    writeFileSync(types, readFileSync(types, 'utf8').replace('class ClaimAcquireResult(TypedDict):', 'class ClaimAcquireResult(TypedDict, total=False):'));
    rmSync(join(copy, '_methods.py'));
    const stale = generator(['--check', '--package', copy]);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain(`${types} is stale (first difference at line`);
    expect(stale.stderr).toContain(`${join(copy, '_methods.py')} is missing`);
    expect(generator(['--package', copy]).status).toBe(0);
    expect(generator(['--check', '--package', copy]).status).toBe(0);
    expect(readFileSync(types, 'utf8')).toContain('class ClaimAcquireResult(TypedDict):');
    expect(readFileSync(join(copy, '_methods.py'), 'utf8')).toBe(readFileSync(join(PACKAGE, '_methods.py'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every method of openapi.json has a typed method, params and result types in the Python package', () => {
  const doc = JSON.parse(readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8')) as { paths: Record<string, unknown> };
  const methods = Object.keys(doc.paths)
    .filter((p) => p.startsWith('/rpc/'))
    .map((p) => p.slice('/rpc/'.length));
  expect(methods.length).toBeGreaterThanOrEqual(20);
  const types = readFileSync(join(PACKAGE, 'types.py'), 'utf8');
  const typed = readFileSync(join(PACKAGE, '_methods.py'), 'utf8');
  for (const m of methods) {
    const pascal = m.split(/[^A-Za-z0-9]+/).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
    expect(typed, m).toMatch(new RegExp(`^    def ${m.replace(/\./g, '_')}\\(self`, 'm'));
    expect(types, m).toMatch(new RegExp(`^class ${pascal}Params\\(`, 'm'));
    expect(types, m).toContain(`    "${pascal}Params",`); // in types.__all__, so decapod_client re-exports it
    expect(typed, m).toContain(`    def call(self, method: Literal["${m}"]`);
    expect(typed, m).toContain(`    "${m}": {"kind": `);
  }
});
