import { closeSync, existsSync, openSync, watch, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';
import { ensureRunDir, readServerJson, runPaths, type RunPaths, type ServerJson } from '../lifecycle/run-files.js';
import { packageRoot } from '../util/package-root.js';
import { PROTOCOL } from '../version.js';
import { httpJson, TransportError } from './http-json.js';

/** `decapod serve` exits with this when another server already holds the root. */
export const EXIT_ALREADY_SERVING = 3;

export interface LaunchOptions {
  /** spawn a server when none is healthy (default: unless DECAPOD_NO_SPAWN=1) */
  spawn?: boolean;
  /** give up after this long (ms) */
  boundMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Told once per wait when the root's server is alive but not answering (stalled, e.g. SIGSTOP):
   * the caller waits for it rather than replacing it. Default: a line on stderr.
   */
  onWaiting?: (server: { pid: number; root: string }) => void;
}

const sayWaiting = ({ pid }: { pid: number }) => void process.stderr.write(`decapod: server pid ${pid} is not answering; waiting…\n`);

export class LaunchError extends Error {
  constructor(message: string, readonly code: 'NO_SERVER' | 'START_FAILED' | 'VERSION_MISMATCH', readonly data: Record<string, unknown> = {}) {
    super(message);
  }
}

const HEALTH_TIMEOUT_MS = 1_000;
export const DEFAULT_LAUNCH_BOUND_MS = 20_000; // a server start takes well under a second; a stalled one gets time to resume

/** The advertised server, if it answers /healthz as itself (same instance, same root). */
export async function findHealthy(root: string): Promise<ServerJson | undefined> {
  const h = await checkHealth(root);
  return h.healthy ? h.info : undefined;
}

/** healthy: answering as itself; silent: server.json names something that took no answer in time. */
async function checkHealth(root: string): Promise<{ healthy: true; info: ServerJson } | { healthy: false; silent?: ServerJson }> {
  const info = readServerJson(runPaths(root));
  if (!info) return { healthy: false };
  try {
    const h = await httpJson('GET', `${info.url}/healthz`, { timeoutMs: HEALTH_TIMEOUT_MS });
    const body = h.body as { instance_id?: string; root?: string; protocol?: number } | null;
    // The server must be this root's: a server.json copied from another project names another root.
    if (h.status !== 200 || body?.instance_id !== info.instance_id || info.root !== root || body.root !== root) return { healthy: false };
    if (body.protocol !== PROTOCOL) {
      throw new LaunchError(
        `protocol mismatch: this client speaks protocol ${PROTOCOL}, the server for ${root} speaks ${body.protocol}`,
        'VERSION_MISMATCH',
        { client: PROTOCOL, server: body.protocol },
      );
    }
    return { healthy: true, info };
  } catch (err) {
    if (err instanceof LaunchError) throw err;
    // Not answering as itself: never trusted, never signalled.
    return { healthy: false, ...(err instanceof TransportError && err.code === 'ETIMEDOUT' ? { silent: info } : {}) };
  }
}

/**
 * docs/design.md §2: find a healthy server or spawn `decapod serve` detached, then wait with backoff up to
 * a bound. Racing callers converge: only one spawned server gets the lock, the rest exit. Whether
 * to spawn is the guard's to say (lifecycle/server-lock.ts): free, the last server is dead and is
 * replaced at once (a kill -9 costs a server start, not a stale-lock wait); held, a live server
 * (starting, slow or stalled) is waited for and never replaced.
 */
export async function ensureServer(root: string, opts: LaunchOptions = {}): Promise<ServerJson> {
  const env = opts.env ?? process.env;
  const mayspawn = opts.spawn ?? env.DECAPOD_NO_SPAWN !== '1';
  const bound = opts.boundMs ?? DEFAULT_LAUNCH_BOUND_MS;
  const paths = runPaths(root);
  // Never bring a removed project back to life (e.g. a lease renewing after its temp root went).
  if (!existsSync(root)) throw new LaunchError(`the project root ${root} does not exist`, 'NO_SERVER', { root });
  const deadline = Date.now() + bound;
  let child: { exited: boolean; code: number | null } | undefined;
  let delay = 10;
  let waitedFor: number | undefined; // the pid we said we wait for
  const onWaiting = opts.onWaiting ?? sayWaiting;
  const runDir = new RunDirWatch(paths);

  try {
    for (;;) {
      const health = await checkHealth(root);
      if (health.healthy) return health.info;
      if (!mayspawn) {
        throw new LaunchError(`no decapod server is running for ${root} (DECAPOD_NO_SPAWN=1 forbids starting one)`, 'NO_SERVER', { root });
      }
      // A start that failed by itself (an exit code) is reported with the log; a server killed by a
      // signal after it started is simply replaced, like any dead server.
      if (child?.exited && child.code !== null && child.code !== EXIT_ALREADY_SERVING && child.code !== 0) {
        throw new LaunchError(`decapod serve for ${root} exited with code ${child.code}; see ${paths.logFile}`, 'START_FAILED', {
          log: paths.logFile,
        });
      }
      // SQLite (for the guard) and child_process load only on this path: a warm call never pays for them.
      if (!child || child.exited) {
        const { isServerGuardHeld } = await import('../lifecycle/server-lock.js');
        if (!(await isServerGuardHeld(paths))) child = await spawnServer(root, env);
        else if (health.silent && waitedFor === undefined) {
          waitedFor = health.silent.pid;
          onWaiting({ pid: waitedFor, root });
        }
      }
      if (Date.now() + delay > deadline) {
        const what = waitedFor === undefined ? 'did not become healthy' : `(pid ${waitedFor}) did not answer`;
        throw new LaunchError(`decapod server for ${root} ${what} within ${bound} ms; see ${paths.logFile}`, 'START_FAILED', {
          log: paths.logFile,
        });
      }
      // Look again as soon as the run folder changes (server.json written), at the latest after
      // the backoff delay.
      await runDir.changeOrTimeout(delay);
      delay = Math.min(delay * 2, 250);
    }
  } finally {
    runDir.close();
  }
}

/**
 * Wakes the launcher when something in the run folder changes (a server writes server.json by
 * renaming a temp file into place), so a freshly spawned server is found as soon as it is ready
 * instead of at the next backoff step. Best effort: without fs.watch, the backoff still bounds it.
 */
class RunDirWatch {
  #watcher: FSWatcher | undefined;
  #wake: (() => void) | undefined;
  /** server.json changed while nobody was waiting */
  #changed = false;
  #failed = false;

  constructor(private readonly paths: RunPaths) {}

  changeOrTimeout(ms: number): Promise<void> {
    this.#start();
    if (this.#changed) {
      this.#changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.#wake === done) self.#wake = undefined;
        resolve();
      }
      this.#wake = done;
    });
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #start(): void {
    if (this.#watcher || this.#failed) return;
    try {
      this.#watcher = watch(this.paths.runDir, { persistent: false }, (_event, name) => {
        if (name !== null && name !== basename(this.paths.serverJson)) return; // the log, the lock's heartbeat
        if (this.#wake) this.#wake();
        else this.#changed = true;
      });
      this.#watcher.on('error', () => this.close());
    } catch {
      this.#failed = true; // no run folder yet or no inotify: plain backoff
    }
  }
}

async function spawnServer(root: string, env: NodeJS.ProcessEnv): Promise<{ exited: boolean; code: number | null }> {
  const { spawn } = await import('node:child_process');
  const paths = runPaths(root);
  ensureRunDir(paths);
  const log = openSync(paths.logFile, 'a', 0o600);
  const [cmd, args] = env.DECAPOD_BIN
    ? [env.DECAPOD_BIN, ['serve', '--root', root]]
    : [process.execPath, [join(packageRoot(), 'dist', 'cli.js'), 'serve', '--root', root]];
  const state = { exited: false, code: null as number | null };
  try {
    // Detached in its own session: it outlives this caller and takes no signal meant for it.
    const proc = spawn(cmd, args, { detached: true, stdio: ['ignore', 'ignore', log], env, cwd: root });
    proc.on('exit', (code) => Object.assign(state, { exited: true, code }));
    proc.on('error', () => Object.assign(state, { exited: true, code: -1 }));
    proc.unref();
  } finally {
    closeSync(log);
  }
  return state;
}
