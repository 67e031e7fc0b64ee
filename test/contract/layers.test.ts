import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { expect, test } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

// STYLE: the tree is the architecture; imports only point down:
// cli → launcher → client (the TypeScript client package, clients/ts/src: discovery, spawn and the
// one retry policy) and lifecycle's run files and lock (the CLI's guard probe); lifecycle → transport
// → methods → domain → store, and methods → workspace → domain. No server layer imports the client,
// and the client imports nothing of src/ (it is a package of its own: see the last test).
// util, errors, version and generated are leaves anyone may use.
const LEAVES = ['util', 'errors.ts', 'version.ts', 'generated'];
/** The client package's source, as a path from src/. */
const CLIENT = '../clients/ts/src';
const MAY_IMPORT: Record<string, string[]> = {
  store: [],
  domain: ['store'],
  // workspace: the project's files and processes (gates, digests, artifacts); rules stay in domain
  workspace: ['domain'],
  methods: ['domain', 'store', 'workspace'],
  transport: ['methods'],
  lifecycle: ['transport', 'methods', 'domain', 'store', 'workspace'],
  launcher: [CLIENT, 'lifecycle/run-files.ts', 'lifecycle/server-lock.ts'],
  cli: ['launcher', CLIENT, 'lifecycle/serve.ts', 'workspace/artifacts.ts'],
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

test('the client package imports only itself and node: built-ins', () => {
  const dir = join(packageRoot(), 'clients', 'ts', 'src');
  const outside: string[] = [];
  let checked = 0;
  for (const file of files(dir)) {
    const code = readFileSync(file, 'utf8').replace(/^\s*(\*|\/\/).*$/gm, ''); // not the examples in comments
    for (const m of code.matchAll(/(?:from|import\()\s*'([^']+)'/g)) {
      checked++;
      const spec = m[1]!;
      if (spec.startsWith('node:')) continue;
      const target = relative(dir, resolve(dirname(file), spec));
      if (!spec.startsWith('.') || target.startsWith('..')) outside.push(`${relative(dir, file)} imports ${spec}`);
    }
  }
  expect(checked).toBeGreaterThan(20);
  expect(outside).toEqual([]);
});
