// The TypeScript client as a user gets it: `npm pack` of clients/ts (prepack builds it with tsc),
// installed from the tarball into an empty project outside the checkout, the README's first example
// run on plain node with DECAPOD_BIN naming this checkout's CLI, and a consumer file type-checked
// against the installed .d.ts alone (no @types/node, no skipLibCheck).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { binPath, describeRun, killServersFor, REPO, useBuiltCli } from '../helpers/process.js';

useBuiltCli();

const tmp = (prefix: string) => realpathSync(mkdtempSync(join(tmpdir(), prefix)));
let project: string;

beforeAll(() => {
  const packDir = tmp('decapod-ts-pack-');
  project = tmp('decapod-ts-consumer-');
  const npm = (cwd: string, args: string[]) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: 'pipe', timeout: 120_000 });
  npm(join(REPO, 'clients', 'ts'), ['pack', '--pack-destination', packDir, '--silent']);
  const [tarball] = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  npm(project, ['init', '-y']);
  npm(project, ['pkg', 'set', 'type=module']);
  npm(project, ['install', '--offline', '--no-audit', '--no-fund', join(packDir, tarball!)]);
  rmSync(packDir, { recursive: true, force: true });
  return () => rmSync(project, { recursive: true, force: true });
}, 180_000);

test('the tarball holds the compiled package and nothing of the checkout', () => {
  const pkg = JSON.parse(readFileSync(join(project, 'node_modules', 'decapod-client', 'package.json'), 'utf8'));
  expect(pkg).toMatchObject({ name: 'decapod-client', type: 'module', engines: { node: '>=20' } });
  expect(pkg.dependencies ?? {}).toEqual({});
  const installed = readdirSync(join(project, 'node_modules', 'decapod-client'), { recursive: true }).map(String).sort();
  expect(installed).toContain('dist/index.js');
  expect(installed).toContain('dist/index.d.ts');
  expect(installed).toContain('dist/generated/openapi.d.ts');
  expect(installed.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  // No import reaches out of the package (a path into the server's source would break here).
  for (const f of installed.filter((f) => f.endsWith('.js'))) {
    const text = readFileSync(join(project, 'node_modules', 'decapod-client', f), 'utf8');
    const specs = [...text.matchAll(/^(?:import|export)\b[^\n]*? from '([^']+)'/gm)].map((m) => m[1]!);
    expect(specs.filter((s) => !s.startsWith('node:') && !/^\.\.?\/(?!\.\.\/)/.test(s)), f).toEqual([]);
  }
});

test("the README's first example runs on plain node from the installed package", async () => {
  const readme = readFileSync(join(REPO, 'clients', 'ts', 'README.md'), 'utf8');
  const first = /^```ts\n([\s\S]*?)^```$/m.exec(readme)![1]!;
  expect(first).toContain("from 'decapod-client'");
  writeFileSync(join(project, 'agent.mjs'), first);
  const root = tmp('decapod-ts-root-');
  try {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) env[k] = v;
    // connect() serves the folder it runs in when that is no repository: the temp root.
    const r = spawnSync(process.execPath, [join(project, 'agent.mjs')], {
      cwd: root,
      env: { ...env, DECAPOD_BIN: binPath(), DECAPOD_IDLE_TIMEOUT: '20s' },
      encoding: 'utf8',
      timeout: 25_000,
    });
    const run = { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    expect(r.status, describeRun(run)).toBe(0);
    expect(r.stderr, describeRun(run)).toBe('');
    for (const line of first.matchAll(/\/\/ prints: (.*)$/gm)) expect(r.stdout).toContain(line[1]!.trim());
    expect(r.stdout).toContain('carol works on T1: Fix the lexer, holding src/lexer');
  } finally {
    await killServersFor(root);
    rmSync(root, { recursive: true, force: true });
  }
});

test('without DECAPOD_BIN and with no decapod on PATH, connect() says so, naming both', () => {
  const root = tmp('decapod-ts-nocli-');
  try {
    writeFileSync(
      join(project, 'nocli.mjs'),
      "import { connect } from 'decapod-client';\n" +
        'try { await connect(); } catch (err) { console.log(`${err.name} ${err.code}: ${err.message}`); }\n',
    );
    const r = spawnSync(process.execPath, [join(project, 'nocli.mjs')], { cwd: root, env: { PATH: '/usr/bin:/bin', HOME: root }, encoding: 'utf8', timeout: 15_000 });
    expect(r.stdout).toMatch(/^LaunchError NO_CLI: .*DECAPOD_BIN is not set and no executable `decapod` is on PATH/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a consumer type-checks against the installed .d.ts with this repository's tsc", () => {
  writeFileSync(
    join(project, 'consumer.ts'),
    [
      "import { connect, isRpcError, ERROR_CODES, type Params, type Result, type DecapodClient } from 'decapod-client';",
      'export async function run(): Promise<number> {',
      '  const client: DecapodClient = await connect({ spawn: false });',
      "  const q: Params<'claim.check'> = { paths: ['src'] };",
      "  const a: Result<'claim.check'> = await client.claim.check(q);",
      '  try {',
      "    await client.claim.acquire({ lease: 'x', paths: ['src'] });",
      '  } catch (err) {',
      "    if (isRpcError(err, 'CONFLICT')) return err.data.conflicts.length + ERROR_CODES.CONFLICT;",
      '  }',
      '  return a.paths.length;',
      '}',
      '// @ts-expect-error paths is required',
      "export const bad = (c: DecapodClient) => c.claim.acquire({ lease: 'x' });",
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [], lib: ['ES2023'] }, files: ['consumer.ts'] }),
  );
  const tsc = spawnSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(project, 'tsconfig.json')], {
    cwd: project,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(tsc.stdout + tsc.stderr).toBe('');
  expect(tsc.status).toBe(0);
});
