import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { ERRORS } from '../../src/errors.js';
import { METHODS } from '../../src/methods/table.js';
import { packageRoot } from '../../src/util/package-root.js';

// Pins parallel lists together: src/errors.ts ↔ docs/design.md §3's error table, the method table
// ↔ §5. The contract lives in the repository: a bare clone has everything this test reads.
const designFile = join(packageRoot(), 'docs', 'design.md');

test('docs/design.md is in the repository', () => {
  expect(existsSync(designFile), `${designFile} missing`).toBe(true);
});

const design = existsSync(designFile) ? readFileSync(designFile, 'utf8') : '';

test('every error of docs/design.md §3 has the same code in src/errors.ts', () => {
  const rows = [...design.matchAll(/^\| (-?\d+) \| ([A-Z_]+) \|/gm)].map((m) => [m[2]!, Number(m[1])] as const);
  expect(rows.length).toBeGreaterThanOrEqual(11);
  for (const [name, code] of rows) {
    expect(ERRORS[name as keyof typeof ERRORS]?.code, name).toBe(code);
  }
  const protocolFaults = [-32700, -32600, -32601, -32602, -32603];
  for (const code of protocolFaults) expect(Object.values(ERRORS).some((e) => e.code === code)).toBe(true);
  // Codes are never shared between two names.
  const codes = Object.values(ERRORS).map((e) => e.code);
  expect(new Set(codes).size).toBe(codes.length);
});

test('every implemented method is named in docs/design.md §5, with its params', () => {
  const section = design.slice(design.indexOf('## 5. Methods'), design.indexOf('## 6.'));
  const designed = new Map(
    [...section.matchAll(/^\| `([a-z.]+)`(?: \/ `([a-z.]+)`)? \| ((?:[^|\\]|\\.)*) \|/gm)].flatMap((m) =>
      [m[1], m[2]].filter(Boolean).map((name) => [name!, m[3]!] as const),
    ),
  );
  expect(designed.size).toBeGreaterThanOrEqual(25);
  for (const [name, method] of METHODS) {
    expect(designed.has(name), `${name} is not in docs/design.md §5`).toBe(true);
    const params = designed.get(name)!.split('—')[0]!.split(',').map((p) => /^\s*([a-z_]+)/.exec(p)?.[1]);
    for (const param of params.filter((p): p is string => p !== undefined)) {
      expect(method.params.properties, `${name} lacks param ${param}`).toHaveProperty(param);
    }
  }
});
