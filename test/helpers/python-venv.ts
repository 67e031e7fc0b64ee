// Fresh Python virtual environments with the Python client (clients/python) installed by pip, the
// way a user installs it: offline (--no-index), with the package's in-tree build backend
// (--no-build-isolation), outside the checkout. The tests run Python from such a venv in an empty
// folder, so `import decapod_client` finds the installed package, never the source tree.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describeRun, REPO, type RunResult } from './process.js';

/** The Python package's source folder. */
export const PY_SOURCE = join(REPO, 'clients', 'python');

export interface Venv {
  dir: string;
  python: string;
  pip: string;
}

/**
 * The environment Python and pip run with: ours without DECAPOD_* settings and without anything
 * that would put other code on sys.path or point pip at an index or a cache in HOME.
 */
export function pythonEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const drop = /^(DECAPOD_|PIP_)|^(PYTHONPATH|PYTHONHOME|PYTHONSTARTUP|PYTHONUSERBASE|PYTHONDONTWRITEBYTECODE|PYTHONPYCACHEPREFIX|VIRTUAL_ENV)$/;
  for (const [k, v] of Object.entries(process.env)) if (!drop.test(k)) env[k] = v;
  Object.assign(env, { PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1', PIP_NO_CACHE_DIR: '1', PIP_CONFIG_FILE: '/dev/null' });
  return { ...env, ...extra };
}

/** Runs a command to its end (bounded), never throwing: the caller asserts on the result. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, rejectPromise) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? pythonEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      rejectPromise(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like run, but a non-zero exit throws with the whole output. */
export async function runOk(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${describeRun(r)}`);
  return r;
}

/** A fresh venv (with pip, as `python -m venv` makes it) at dir. */
export async function createVenv(dir: string, python = 'python3'): Promise<Venv> {
  await runOk(python, ['-m', 'venv', dir], { timeoutMs: 120_000 });
  return { dir, python: join(dir, 'bin', 'python'), pip: join(dir, 'bin', 'pip') };
}

/**
 * `pip install --no-index --no-build-isolation [-e] clients/python` into the venv. extraEnv lets a
 * test add PYTHONDONTWRITEBYTECODE=1 (tests that do not check the source folder themselves), so
 * several installs running at once never see each other's bytecode of the build backend.
 */
export async function installClient(venv: Venv, opts: { editable?: boolean; extraEnv?: Record<string, string> } = {}): Promise<RunResult> {
  const args = ['install', '--no-index', '--no-build-isolation', ...(opts.editable ? ['-e'] : []), PY_SOURCE];
  return runOk(venv.pip, args, { cwd: venv.dir, env: pythonEnv(opts.extraEnv), timeoutMs: 120_000 });
}

/** A Python 3.9 interpreter on this machine (python3.9 on PATH, pyenv's), the oldest the client supports. */
export function python39(): string | undefined {
  const candidates = ['python3.9'];
  const pyenv = join(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), 'versions');
  if (existsSync(pyenv)) {
    for (const v of readdirSync(pyenv).filter((d) => /^3\.9(\.|$)/.test(d)).sort()) candidates.push(join(pyenv, v, 'bin', 'python3'));
  }
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import sys, venv; assert sys.version_info[:2] == (3, 9)'], { stdio: 'ignore', timeout: 10_000 });
    if (r.status === 0) return c;
  }
  return undefined;
}
