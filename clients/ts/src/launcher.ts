import { closeSync, existsSync, mkdirSync, openSync, watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import type { Env } from './env.js';
import { findServerCommand, type ServerCommand } from './find-cli.js';
import { PROTOCOL } from './generated/catalog.js';
import { httpJson, TransportError } from './http-json.js';
import { LaunchError } from './launch-error.js';
import { readServerJson, runPaths, type RunPaths, type ServerJson } from './run-files.js';

export { LaunchError };

/** `decapod serve` exits with this when another server process already holds the root. */
export const EXIT_ALREADY_SERVING = 3;

export interface LaunchOptions {
  /** spawn a server when none is healthy (default: unless DECAPOD_NO_SPAWN=1) */
  spawn?: boolean;
  /** give up after this long (ms) */
  boundMs?: number;
  /** the environment read here (DECAPOD_BIN, DECAPOD_NO_SPAWN, PATH) and given to a spawned server; default process.env */
  env?: Env;
  /**
   * Told once per wait when the root's server is alive but not answering (stalled, e.g. SIGSTOP):
   * the caller waits for it rather than replacing it. Default: a line on stderr.
   */
  onWaiting?: (server: { pid: number; root: string }) => void;
  /**
   * True while a live server process holds the root's guard (docs/design.md §2). The CLI passes its
   * SQLite probe; without one, the server spawned to replace a silent or missing one is the probe:
   * it exits with EXIT_ALREADY_SERVING while a live server holds the guard.
   */
  probeGuard?: (root: string) => Promise<boolean>;
  /** what runs `serve` when DECAPOD_BIN is unset; default: `decapod` on PATH (the CLI passes itself) */
  serverCommand?: () => ServerCommand;
}

const sayWaiting = ({ pid }: { pid: number }) => void process.stderr.write(`decapod: server pid ${pid} is not answering; waiting…\n`);

const HEALTH_TIMEOUT_MS = 1_000;
export const DEFAULT_LAUNCH_BOUND_MS = 20_000; // a server start takes well under a second; a stalled one gets time to resume
/** Without a probe: how long a spawned server's "already serving" counts as the guard being held. */
const HELD_RECHECK_MS = 1_000;

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

interface Child {
  exited: boolean;
  code: number | null;
  exitedAt: number;
  /** why it could not be run at all (spawn's error) */
  error?: string;
}

/**
 * docs/design.md §2: find a healthy server or spawn `decapod serve` detached, then wait with backoff up to
 * a bound. Racing callers converge: only one spawned server gets the guard, the rest exit. Whether
 * to spawn is the guard's to say: free, the last server is dead and is replaced at once (a kill -9
 * costs a server start, not a stale-lock wait); held, a live server (starting, slow or stalled) is
 * waited for and never replaced.
 */
export async function ensureServer(root: string, opts: LaunchOptions = {}): Promise<ServerJson> {
  const env = opts.env ?? process.env;
  const mayspawn = opts.spawn ?? env.DECAPOD_NO_SPAWN !== '1';
  const bound = opts.boundMs ?? DEFAULT_LAUNCH_BOUND_MS;
  const paths = runPaths(root);
  // Never bring a removed project back to life (e.g. a lease renewing after its temp root went).
  if (!existsSync(root)) throw new LaunchError(`the project root ${root} does not exist`, 'NO_SERVER', { root });
  const deadline = Date.now() + bound;
  let child: Child | undefined;
  let delay = 10;
  let waitedFor: number | undefined; // the pid we said we wait for
  const onWaiting = opts.onWaiting ?? sayWaiting;
  const runDir = new RunDirWatch(paths);
  const guardHeld = async (): Promise<boolean> => {
    if (opts.probeGuard) return opts.probeGuard(root);
    // No probe of our own: the last server we spawned found the guard held (and exited) a moment ago.
    return child?.code === EXIT_ALREADY_SERVING && Date.now() - child.exitedAt < HELD_RECHECK_MS;
  };

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
        const why = child.error ?? `exited with code ${child.code}`;
        throw new LaunchError(`decapod serve for ${root} ${why}; see ${paths.logFile}`, 'START_FAILED', { log: paths.logFile });
      }
      if (!child || child.exited) {
        if (!(await guardHeld())) child = await spawnServer(root, paths, env, findServerCommand(env, opts.serverCommand));
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

async function spawnServer(root: string, paths: RunPaths, env: Env, cli: ServerCommand): Promise<Child> {
  // child_process loads only on this path: a warm call never pays for it.
  const { spawn } = await import('node:child_process');
  // The run folder is private (0700); the server makes sure of the rest of it when it starts.
  mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  const log = openSync(paths.logFile, 'a', 0o600);
  const state: Child = { exited: false, code: null, exitedAt: 0 };
  const exited = (code: number | null, error?: string) => Object.assign(state, { exited: true, code, exitedAt: Date.now(), ...(error ? { error } : {}) });
  try {
    // Detached in its own session: it outlives this caller and takes no signal meant for it.
    const proc = spawn(cli.command, [...cli.args, 'serve', '--root', root], { detached: true, stdio: ['ignore', 'ignore', log], env, cwd: root });
    proc.on('exit', (code) => exited(code));
    proc.on('error', (err) => exited(-1, `could not be started (${cli.command}: ${err.message})`));
    proc.unref();
  } finally {
    closeSync(log);
  }
  return state;
}
