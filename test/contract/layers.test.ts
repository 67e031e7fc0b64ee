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

// Issue 13 (docs/architecture.md): the data contract is engine-neutral. Only the store itself and
// the server's composition root (which opens the engine it was configured with) may reach an
// engine's folder; nothing in domain, methods or transport names SQLite at all.
const COMPOSITION_ROOT = 'lifecycle/serve.ts';
const ENGINE_DIR = /^store\/[^/]+\//; // src/store/<engine>/…

test('no import of an engine folder (src/store/<engine>/) outside src/store/ and the composition root', () => {
  const outside: string[] = [];
  let checked = 0;
  for (const file of files(src)) {
    const from = relative(src, file);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
      const target = relative(src, resolve(dirname(file), m[1]!));
      if (!ENGINE_DIR.test(target)) continue;
      checked++;
      if (!from.startsWith('store/') && from !== COMPOSITION_ROOT) outside.push(`${from} imports ${target}`);
    }
  }
  expect(checked).toBeGreaterThan(5);
  expect(outside).toEqual([]);
});

test('domain, methods and transport never name SQLite, in code or in comments', () => {
  const named: string[] = [];
  let checked = 0;
  for (const layer of ['domain', 'methods', 'transport']) {
    for (const file of files(join(src, layer))) {
      checked++;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/sqlite/i.test(line)) named.push(`${relative(src, file)}:${i + 1}: ${line.trim()}`);
        });
    }
  }
  expect(checked).toBeGreaterThan(30);
  expect(named).toEqual([]);
});

test('every TypeScript file under clients/ imports nothing of the server (src/)', () => {
  const dir = join(packageRoot(), 'clients');
  const tsFiles = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.name === 'node_modules' || e.name === 'dist' ? [] : e.isDirectory() ? tsFiles(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : [],
    );
  const intoServer: string[] = [];
  let checked = 0;
  for (const file of tsFiles(dir)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
      checked++;
      const target = relative(packageRoot(), resolve(dirname(file), m[1]!));
      if (!target.startsWith('clients/')) intoServer.push(`${relative(packageRoot(), file)} imports ${target}`);
    }
  }
  expect(checked).toBeGreaterThan(20);
  expect(intoServer).toEqual([]);
});
