// Process-level test helpers: spawn the real CLI (bin/decapod → dist/cli.js) against temp roots,
// poll for conditions with a bound, and make sure no server outlives its test.
import { isProcessAlive } from '../../src/util/process-alive.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import { writeRecord } from './records.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

// ---------------------------------------------------------------------------------------------
// The CLI under test
// ---------------------------------------------------------------------------------------------

let pkgDir: string | undefined;

/**
 * Runs this file's tests against a private copy of the built package (bin/, dist/, migrations/,
 * package.json, node_modules as a symlink). Other people rebuild dist/ (which starts with
 * `rm -rf dist`) while tests run; a server lazily importing its chunk mid-rebuild would flake.
 * DECAPOD_TEST_IN_PLACE=1 uses the repository's own bin/decapod instead.
 */
export function useBuiltCli(): void {
  beforeAll(async () => {
    if (process.env.DECAPOD_TEST_IN_PLACE === '1') {
      pkgDir = REPO;
      return;
    }
    const cli = join(REPO, 'dist', 'cli.js');
    // A rebuild in progress leaves dist/ missing for a moment: wait a little, never build here.
    await waitFor(() => existsSync(cli), { timeoutMs: 10_000, what: `${cli} (run \`npm run build\` first)` });
    const dir = mkdtempSync(join(tmpdir(), 'decapod-pkg-'));
    cpSync(join(REPO, 'package.json'), join(dir, 'package.json'));
    cpSync(join(REPO, 'migrations'), join(dir, 'migrations'), { recursive: true });
    cpSync(join(REPO, 'dist'), join(dir, 'dist'), { recursive: true });
    mkdirSync(join(dir, 'bin'));
    cpSync(join(REPO, 'bin', 'decapod'), join(dir, 'bin', 'decapod'));
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
    pkgDir = dir;
    const help = spawnSync(process.execPath, [binPath(), 'help'], { encoding: 'utf8', timeout: 10_000 });
    if (help.status !== 0) throw new Error(`the copied CLI does not run: ${help.stderr}`);
  });
  afterAll(() => {
    if (pkgDir && pkgDir !== REPO) rmSync(pkgDir, { recursive: true, force: true });
    pkgDir = undefined;
  });
}

export function binPath(): string {
  return join(pkgDir ?? REPO, 'bin', 'decapod');
}

/** The environment every CLI run starts from: ours without any DECAPOD_* setting. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) env[k] = v;
  // A safety net only: a server that escapes cleanup still exits by itself.
  env.DECAPOD_IDLE_TIMEOUT = '30s';
  return env;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** stdout parsed as JSON, with the whole output in the failure message */
export function json(r: RunResult): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

export function describeRun(r: RunResult): string {
  return `exit ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/**
 * Runs `bin/decapod ARGS --root ROOT` to completion (bounded: killed after timeoutMs).
 * `env` adds to (or, with undefined values, removes from) the clean base environment.
 */
export function runDecapod(
  args: string[],
  opts: { root?: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  const env = { ...baseEnv(), ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const fullArgs = opts.root ? [...args, '--root', opts.root] : args;
  const child = spawn(process.execPath, [binPath(), ...fullArgs], {
    env,
    cwd: opts.cwd ?? opts.root ?? REPO,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const timeoutMs = opts.timeoutMs ?? 25_000;
  return new Promise((resolvePromise, rejectPromise) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectPromise(new Error(`decapod ${fullArgs.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      rejectPromise(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin!.on('error', () => {}); // the CLI may not read stdin at all
    child.stdin!.end(opts.input ?? '');
  });
}

/** `decapod call METHOD [params]`; asserts nothing */
export function callDecapod(
  root: string,
  method: string,
  params?: unknown,
  opts: { env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<RunResult> {
  const args = ['call', method];
  if (params !== undefined) args.push(typeof params === 'string' ? params : JSON.stringify(params));
  return runDecapod(args, { root, ...opts });
}

/** `decapod call …` that must succeed: returns the parsed result */
export async function callOk(root: string, method: string, params?: unknown, opts: { env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<any> {
  const r = await callDecapod(root, method, params, opts);
  if (r.code !== 0) throw new Error(`decapod call ${method} failed: ${describeRun(r)}`);
  return json(r);
}

export interface ForegroundServer {
  proc: ChildProcess;
  pid: number;
  /** the JSON line `serve` printed */
  info: Record<string, any>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Starts `decapod serve --root ROOT ARGS` as our child and waits (bounded) for its JSON line. */
export async function startForegroundServe(
  root: string,
  args: string[] = [],
  opts: { env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<ForegroundServer> {
  const env = { ...baseEnv(), ...opts.env };
  const proc = spawn(process.execPath, [binPath(), 'serve', '--root', root, ...args], { env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(() => killPid(proc.pid));
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => r({ code, signal })),
  );
  let gone: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (gone = e));
  await waitFor(() => stdout.includes('\n') || gone !== undefined, { timeoutMs: opts.timeoutMs ?? 15_000, what: 'decapod serve to print its JSON line' });
  if (!stdout.includes('\n')) throw new Error(`decapod serve exited (${JSON.stringify(gone)}) before serving\nstderr: ${stderr}`);
  const info = JSON.parse(stdout.split('\n')[0]!);
  return { proc, pid: proc.pid!, info, exited, stderr: () => stderr };
}

// ---------------------------------------------------------------------------------------------
// Roots, files, processes
// ---------------------------------------------------------------------------------------------

/**
 * A fresh temp root (realpath'd, as the CLI resolves --root). When the test finishes, every
 * `decapod serve` for it is SIGKILLed and awaited, then the folder is removed.
 */
export function tempRoot(): string {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'decapod-proc-')));
  onTestFinished(async () => {
    await killServersFor(root);
    rmSync(root, { recursive: true, force: true });
  });
  return root;
}

export function runPaths(root: string) {
  const runDir = join(root, '.decapod', 'run');
  return {
    decapodDir: join(root, '.decapod'),
    runDir,
    serverJson: join(runDir, 'server.json'),
    lockDir: join(runDir, 'server.lock'),
    logFile: join(runDir, 'server.log'),
  };
}

export function readServerJson(root: string): Record<string, any> | undefined {
  try {
    return JSON.parse(readFileSync(runPaths(root).serverJson, 'utf8'));
  } catch {
    return undefined;
  }
}

export function serverLog(root: string): string {
  try {
    return readFileSync(runPaths(root).logFile, 'utf8');
  } catch {
    return '(no server.log)';
  }
}

/** True while the process exists and is not a zombie (PID 1 here may not reap orphans). */
export const isAlive = isProcessAlive;

/**
 * pids of `decapod serve … --root ROOT` processes, from `ps -eo pid,args`: as started, or once
 * serving, under their process title `decapod-server ROOT`.
 */
export function serveProcesses(root: string): number[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  if (ps.status !== 0) throw new Error(`ps failed: ${ps.stderr}`);
  const pids: number[] = [];
  for (const line of ps.stdout.split('\n').slice(1)) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const argv = m[2]!.split(/\s+/);
    const looksLikeDecapod = argv.some((a) => a.endsWith('/dist/cli.js') || a.endsWith('/bin/decapod'));
    const rootAt = argv.indexOf('--root');
    const titled = m[2] === `decapod-server ${root}`;
    if (titled || (looksLikeDecapod && argv.includes('serve') && rootAt >= 0 && argv[rootAt + 1] === root)) {
      const pid = Number(m[1]);
      if (isAlive(pid)) pids.push(pid);
    }
  }
  return pids;
}

/** SIGKILLs a process (if still alive) and waits, bounded, for it to be gone. */
export async function killPid(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!pid || !isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  await waitFor(() => !isAlive(pid), { timeoutMs: 5_000, what: `pid ${pid} to die`, quiet: true });
}

export async function killServersFor(root: string): Promise<void> {
  for (const pid of serveProcesses(root)) await killPid(pid);
}

/** A process we start for a test (e.g. a foreign one): killed when the test finishes. */
export function spawnTracked(cmd: string, args: string[], opts: Parameters<typeof spawn>[2] = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  onTestFinished(() => killPid(child.pid));
  return child;
}

/**
 * Polls `cond` every intervalMs until it is truthy (returned) or timeoutMs passes (throws naming
 * `what`, unless quiet). Never a fixed sleep: returns as soon as the condition holds.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  opts: { timeoutMs: number; intervalMs?: number; what: string; quiet?: boolean },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) {
      if (opts.quiet) return v;
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/** A plain HTTP request (node:http) for talking to servers directly. */
export function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolvePromise, rejectPromise) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, timeout: opts.timeoutMs ?? 5_000 });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', rejectPromise);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text }));
    });
    req.end(opts.body);
  });
}

/** `p`, or a rejection naming `what` once timeoutMs passes (the timer is cleared either way). */
export async function within<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Reliability tests (test/reliability/): seeded choices, direct calls, recorded figures
// ---------------------------------------------------------------------------------------------

/** The clean CLI environment (no DECAPOD_* from ours, a 30 s idle safety net) plus `extra`. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...baseEnv(), ...extra };
}

/** A seeded PRNG (mulberry32): the same seed gives the same sequence in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One JSON-RPC call straight to the server server.json advertises (its token, no launcher, no
 * retry): the whole answer, `{result}` or `{error}`. Throws if nothing is advertised or it does
 * not answer.
 */
export async function rpcDirect(root: string, method: string, params: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<any> {
  const info = readServerJson(root);
  if (!info) throw new Error(`no server.json for ${root}`);
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
  const res = await httpRequest(`${info.url}/rpc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    body,
    timeoutMs,
  });
  try {
    return JSON.parse(res.text);
  } catch {
    throw new Error(`${method}: HTTP ${res.status}, not JSON: ${res.text.slice(0, 300)}`);
  }
}

/** `rpcDirect` that must succeed: the result. */
export async function rpcDirectOk(root: string, method: string, params: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<any> {
  const answer = await rpcDirect(root, method, params, timeoutMs);
  if (!answer || !('result' in answer)) throw new Error(`${method} failed: ${JSON.stringify(answer).slice(0, 1000)}`);
  return answer.result;
}

/** Every audit event of the root's server, oldest first (audit.list, page by page). */
export async function allAuditEvents(root: string): Promise<any[]> {
  const events: any[] = [];
  for (let since = 0; ; ) {
    const page = await rpcDirectOk(root, 'audit.list', { since, limit: 1000 });
    events.push(...page.events);
    if (page.next === null) return events;
    since = page.next;
  }
}

/**
 * Writes a run's figures to the records folder (test/helpers/records.ts: outside the checkout),
 * for RELIABILITY.md to cite, and prints them.
 */
export function recordFigures(name: string, figures: Record<string, unknown>): void {
  const out = { test: name, recorded_at: new Date().toISOString(), node: process.version, ...figures };
  writeRecord('reliability', name, out);
  console.info(`[reliability] ${name}: ${JSON.stringify(figures)}`);
}

/** instance_ids that logged "serving" in the root's server.log, in order: every server that ever served it. */
export function servedInstances(root: string): string[] {
  const served: string[] = [];
  for (const line of serverLog(root).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; instance_id?: string };
      if (entry.msg === 'serving' && entry.instance_id) served.push(entry.instance_id);
    } catch {
      // a line cut short by a kill -9
    }
  }
  return served;
}
