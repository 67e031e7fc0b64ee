import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { expect, test } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

// STYLE: the tree is the architecture; imports only point down:
// cli → launcher → (lifecycle's run files and lock); lifecycle → transport → methods → domain → store,
// and methods → workspace → domain.
// util, errors, version and generated are leaves anyone may use.
const LEAVES = ['util', 'errors.ts', 'version.ts', 'generated'];
const MAY_IMPORT: Record<string, string[]> = {
  store: [],
  domain: ['store'],
  // workspace: the project's files and processes (gates, digests, artifacts); rules stay in domain
  workspace: ['domain'],
  methods: ['domain', 'store', 'workspace'],
  transport: ['methods'],
  lifecycle: ['transport', 'methods', 'domain', 'store', 'workspace'],
  launcher: ['lifecycle/run-files.ts', 'lifecycle/server-lock.ts'],
  cli: ['launcher', 'lifecycle/serve.ts', 'workspace/artifacts.ts'],
};

const src = join(packageRoot(), 'src');
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

test('every import in src/ points down the layers', () => {
  const violations: string[] = [];
  let checked = 0;
  for (const file of files(src)) {
    const from = relative(src, file);
    const layer = from.split('/')[0]!;
    if (!(layer in MAY_IMPORT)) continue;
    const allowed = [layer, ...LEAVES, ...MAY_IMPORT[layer]!];
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
      const target = relative(src, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts');
      checked++;
      if (!allowed.some((a) => target === a || target.startsWith(`${a}/`))) violations.push(`${from} imports ${target}`);
    }
  }
  expect(checked).toBeGreaterThan(30);
  expect(violations).toEqual([]);
});
