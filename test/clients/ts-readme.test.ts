// Documentation that works when pasted: every ```ts block of clients/ts/README.md type-checks
// against the real client, then runs as written. `decapod-client` resolves to the package's source
// here (test/clients/ts-package.test.ts runs the installed tarball); each block is bundled and run
// by node in a fresh folder (so `connect()` serves that folder).
// Each block must exit by itself, which shows that held leases and pooled connections never keep a
// process alive. Each `// prints: X` line must appear in its output.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import ts from 'typescript';
import { expect, onTestFinished, test } from 'vitest';
import { binPath, describeRun, REPO, tempRoot, useBuiltCli, type RunResult } from '../helpers/process.js';

useBuiltCli();

const readme = readFileSync(join(REPO, 'clients', 'ts', 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => ({
  code: m[1]!,
  line: readme.slice(0, m.index).split('\n').length + 1,
}));

test('the client README has ts blocks, each claiming what it prints', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(4);
  for (const b of blocks) expect(prints(b.code).length, `block at line ${b.line}`).toBeGreaterThan(0);
});

test('the README ts blocks type-check against the client', () => {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(REPO, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  })!;
  // Virtual files at the repository root: imports resolve exactly as the README writes them.
  const virtual = new Map(blocks.map((b) => [join(REPO, `__readme_block_line_${b.line}.ts`), b.code]));
  const host = ts.createCompilerHost(parsed.options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
  host.readFile = (f) => virtual.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, language, ...rest) =>
    virtual.has(f) ? ts.createSourceFile(f, virtual.get(f)!, language) : getSourceFile.call(host, f, language, ...rest);
  const paths = { 'decapod-client': [join(REPO, 'clients', 'ts', 'src', 'index.ts')] };
  const program = ts.createProgram({ rootNames: [...virtual.keys()], options: { ...parsed.options, noEmit: true, paths }, host });
  const problems = ts.getPreEmitDiagnostics(program).filter((d) => d.file && virtual.has(d.file.fileName));
  expect(ts.formatDiagnostics(problems, host)).toBe('');
});

for (const block of blocks) {
  test(`the README ts block at line ${block.line} runs as written and prints what it says`, async () => {
    const out = join(REPO, 'node_modules', '.cache', 'decapod-ts-readme', `line-${block.line}-${process.pid}.mjs`);
    onTestFinished(() => rmSync(out, { force: true }));
    await build({
      stdin: { contents: block.code, resolveDir: REPO, sourcefile: `clients/ts/README.md:${block.line}.ts`, loader: 'ts' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      alias: { 'decapod-client': join(REPO, 'clients', 'ts', 'src', 'index.ts') },
      outfile: out,
      logLevel: 'silent',
    });
    const r = await runNode(out, tempRoot());
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stderr, describeRun(r)).toBe('');
    for (const line of prints(block.code)) expect(r.stdout, describeRun(r)).toContain(line);
  });
}

function prints(code: string): string[] {
  return [...code.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1]!.trim());
}

/** node FILE in cwd, with the copied CLI to spawn; killed (and failed) if it does not exit by itself. */
function runNode(file: string, cwd: string): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) env[k] = v;
  Object.assign(env, { DECAPOD_BIN: binPath(), DECAPOD_IDLE_TIMEOUT: '20s' });
  const child = spawn(process.execPath, [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolvePromise, rejectPromise) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectPromise(new Error(`the block did not exit by itself within 25 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 25_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      rejectPromise(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}
