import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { chmodSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MethodContext } from '../methods/define.js';
import type { Store } from '../store/store.js';
import { iso, ManualClock, systemClock, type Clock } from '../util/clock.js';
import { packageRoot } from '../util/package-root.js';
import { PROTOCOL, VERSION } from '../version.js';
import { IdleWatch } from './idle-watch.js';
import { openLogFile } from './log-file.js';
import { storeErrorOf } from '../store/sqlite/sqlite-errors.js';
import { diskFullDetail, isNoSpaceErrno } from '../util/disk-space.js';
import { ensureRunDir, readServerJson, removeServerJsonIfOurs, runPaths, writeServerJson, type ServerJson } from './run-files.js';
import { acquireServerLocks, AlreadyLockedError, type ServerLocks } from './server-lock.js';
import { startHousekeeping, type Retention } from './housekeeping.js';
import { DEFAULT_CHECKPOINT_EVERY, startAutoCheckpoints } from './auto-checkpoint.js';
import { WaitQueue } from '../methods/wait-queue.js';
import { GateConfig } from '../workspace/gate-config.js';
import { chooseStore } from '../workspace/store-config.js';
import { migrateRoot, type MigrateOptions, type MigrateReport } from './migrate.js';

export interface ServeOptions {
  root: string;
  idleTimeoutMs: number;
  clock?: Clock;
  durability?: 'full' | 'normal';
  /** also log to stderr */
  foreground?: boolean;
  /** how long ended rows and idempotency records are kept (tests shorten it) */
  retention?: Retention;
  /** how often the sweep runs on real time (default 1 s; tests with a manual clock go faster) */
  sweepEveryMs?: number;
  /** events between automatic checkpoints of the audit log to refs/decapod/audit; 0: none (DESIGN §11) */
  checkpointEvery?: number;
  /**
   * PostgreSQL instead of what the environment and config choose (tests): docs/design.md §7.
   * Without it: DECAPOD_DATABASE_URL or the user's database_url, else SQLite.
   */
  database?: { url: string; projectId: string; onRoundTrips?: (n: number) => void };
  /** called once the server has stopped, with why (tests keep the process alive) */
  onStopped?: (reason: string) => void;
}

export interface RunningServer {
  info: ServerJson;
  store: Store;
  stop(reason?: string): Promise<void>;
  readonly stopped: Promise<string>;
}

export class AlreadyServingError extends Error {
  constructor(readonly pid: number | undefined) {
    super(`another decapod server already serves this root (${pid ? `pid ${pid}` : 'pid not yet advertised'})`);
  }
}

/** A start refused for lack of space says so, naming the file system, instead of a bare engine error. */
function startError(err: unknown, what: string, dir: string): unknown {
  const full = isNoSpaceErrno(err) || (storeErrorOf(err, dir) as { reason?: unknown } | null)?.reason === 'disk_full';
  return full ? new Error(`cannot ${what}: ${diskFullDetail(dir).message}`, { cause: err }) : err;
}

/**
 * DESIGN §2: take the lock, open the store, listen on 127.0.0.1:0, and only then advertise in
 * server.json. Stops on idle, signal or server.shutdown: stop accepting, finish in-flight calls,
 * remove server.json, close the database, release the lock, in that order.
 */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const root = realpathSync(resolve(opts.root)); // the same spelling the launcher resolves to
  const paths = runPaths(root);
  // DESIGN §4: leases are judged by the server's clock; tests may make it a manual one.
  const testClock = opts.clock === undefined && process.env.DECAPOD_TEST_CLOCK ? new ManualClock(Date.now()) : undefined;
  const clock = opts.clock ?? testClock ?? systemClock;
  ensureRunDir(paths);

  const instanceId = randomUUID();
  let onLockLost: (err: Error) => void = () => {};
  let locks: ServerLocks;
  try {
    locks = await acquireServerLocks(paths, (err) => onLockLost(err));
  } catch (err) {
    if (err instanceof AlreadyLockedError) throw new AlreadyServingError(readServerJson(paths)?.pid);
    throw startError(err, `take the server lock in ${paths.runDir}`, paths.runDir);
  }
  // The guard decides who serves (server-lock.ts); both are released together, the guard last.
  const releaseLock = () => locks.release();
  const releaseGuard = () => locks.releaseGuard();

  // Heavy modules load only once the lock is ours: racing losers exit without paying for them.
  const [{ openSqliteStore }, { createServer }, { METHODS }, { testClockMethods }] = await Promise.all([
    import('../store/sqlite/sqlite-store.js'),
    import('../transport/http-server.js'),
    import('../methods/table.js'),
    import('../methods/test-clock.js'),
  ]);
  let store: Store;
  try {
    const choice = opts.database
      ? { engine: 'postgresql' as const, url: opts.database.url, projectId: opts.database.projectId }
      : chooseStore(root);
    if (choice.engine === 'postgresql') {
      // docs/design.md §7: `pg` loads only in team mode. The database's clock judges leases
      // unless a test brought its own.
      const { openPostgresStore } = await import('../store/postgres/pg-store.js');
      store = await openPostgresStore({
        url: choice.url,
        projectId: choice.projectId,
        migrationsDir: `${packageRoot()}/migrations/postgres`,
        ...(opts.clock ?? testClock ? { clock: opts.clock ?? testClock } : {}),
        ...(opts.database?.onRoundTrips ? { onRoundTrips: opts.database.onRoundTrips } : {}),
      });
    } else store = openSqliteStore(paths.database, {
      durability: opts.durability,
      clock,
      migrationsDir: `${packageRoot()}/migrations`,
      // A full disk is a fault worth one line each way (while it lasts, that line may be dropped).
      onWriteState: (s) =>
        s.writable
          ? app.log.info({ refused: s.refused }, 'writes accepted again')
          : app.log.warn({ reason: s.error.reason, ...s.error.detail }, `writes refused: ${s.error.message}`),
    });
  } catch (err) {
    await releaseLock();
    throw err;
  }

  const startedAt = clock.now();
  let shuttingDown = false;
  let stop: (reason: string) => Promise<void> = async () => {};
  const gateConfig = new GateConfig(root, (problem) => app.log.warn({ problem }, 'gate config rejected; keeping the last good one'));
  const ctx: MethodContext = {
    store,
    host: hostname(),
    root,
    gates: () => gateConfig.current(),
    scratchStore: () => openSqliteStore(':memory:', { migrationsDir: `${packageRoot()}/migrations` }),
    waits: new WaitQueue(),
    logError: (err, method) => app.log.error({ err, method }, 'method failed'),
    server: {
      info: () => ({
        version: VERSION,
        protocol: PROTOCOL,
        pid: process.pid,
        root,
        instance_id: instanceId,
        started_at: iso(startedAt),
        uptime_ms: clock.now() - startedAt,
        idle_timeout_ms: opts.idleTimeoutMs,
      }),
      // Answer first, then stop: fastify's close waits for this very request to finish.
      requestShutdown: () => void setImmediate(() => void stop('server.shutdown')),
      get shuttingDown() {
        return shuttingDown;
      },
    },
  };

  // Never blocks and never retries: a line the disk refuses is dropped and counted (log-file.ts).
  const logFile = openLogFile(paths.logFile);
  chmodSync(paths.logFile, 0o600); // the log is private like the rest of the run folder
  // Idle exit is about the process, not about leases: it always runs on real time.
  const idle = new IdleWatch(opts.idleTimeoutMs, systemClock, () => void stop('idle'));
  const token = randomBytes(32).toString('base64url');
  const app = createServer({
    ctx,
    token,
    health: () => ({ ok: true, version: VERSION, protocol: PROTOCOL, instance_id: instanceId, root, pid: process.pid }),
    activity: idle,
    ...(testClock ? { methods: new Map([...METHODS, ...testClockMethods(testClock).map((m) => [m.name, m] as const)]) } : {}),
    // Quiet: lifecycle lines and faults only, never request bodies (they carry lease secrets).
    logger: opts.foreground ? { level: 'info' } : { level: 'info', stream: logFile },
  });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    await store.close();
    logFile.close();
    await releaseLock();
    throw err;
  }
  const port = (app.server.address() as AddressInfo).port;
  const info: ServerJson = {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: process.pid,
    token,
    version: VERSION,
    protocol: PROTOCOL,
    root,
    instance_id: instanceId,
    started_at: iso(startedAt),
  };
  try {
    writeServerJson(paths, info);
  } catch (err) {
    // A full disk, say: nobody could find this server, so it must not go on holding the root.
    await app.close();
    await store.close();
    logFile.close();
    await releaseLock();
    throw err;
  }
  // A shared database: another server's commit may free what waiters here wait for.
  const stopListening = store.onOtherWriters?.(() => ctx.waits.notify());
  const housekeeping = startHousekeeping(
    ctx,
    () => ctx.waits.notify(),
    (err) => app.log.error({ err }, 'housekeeping failed'),
    opts.retention,
    opts.sweepEveryMs,
  );
  const checkpoints = startAutoCheckpoints(ctx, opts.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY, (err, when) =>
    app.log.warn({ err, when }, 'audit checkpoint not taken'),
  );
  idle.start();

  let resolveStopped!: (reason: string) => void;
  const stopped = new Promise<string>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  stop = (reason) =>
    (stopping ??= (async () => {
      shuttingDown = true;
      idle.stop();
      housekeeping.stop();
      stopListening?.();
      app.log.info({ reason }, 'stopping');
      await app.close(); // stop accepting; in-flight calls finish
      removeServerJsonIfOurs(paths, instanceId);
      // DESIGN §11: the final head, anchored in git (bounded; never fails the stop). The next
      // server waits for our lock, so this head is the last one.
      await checkpoints.final().catch(() => {});
      try {
        await store.close();
      } catch (err) {
        app.log.error({ err }, 'closing the database failed'); // the lock is released all the same
      }
      logFile.close();
      await releaseLock();
      resolveStopped(reason);
      opts.onStopped?.(reason);
    })());

  // A lost lock means another server may own this root now: stop serving at once (DESIGN §2).
  onLockLost = (err) => {
    app.log.error({ err }, 'server lock compromised; stopping at once');
    shuttingDown = true;
    idle.stop();
    housekeeping.stop();
    checkpoints.stop();
    app.server.close();
    app.server.closeAllConnections();
    removeServerJsonIfOurs(paths, instanceId);
    void store.close().catch(() => {});
    logFile.close();
    releaseGuard(); // the folder is not ours any more; the next caller may start a server
    resolveStopped('lock-compromised');
    opts.onStopped?.('lock-compromised');
  };

  app.log.info({ url: info.url, pid: info.pid, instance_id: instanceId }, 'serving');
  return { info, store, stop: (reason = 'stop') => stop(reason), stopped };
}

export { MigrateError, PROGRESS_EVERY, type MigrateReport } from './migrate.js';

/**
 * docs/design.md §7: `decapod migrate --to postgres://…`. Composed here because this is the one
 * file outside src/store/ that opens engines: the root's SQLite file as the source, the database
 * as the target; migrate.ts does the rest through the store contract.
 */
export async function migrateToPostgres(opts: MigrateOptions): Promise<MigrateReport> {
  const [{ openSqliteStore }, { openPostgresStore }] = await Promise.all([import('../store/sqlite/sqlite-store.js'), import('../store/postgres/pg-store.js')]);
  return migrateRoot(opts, {
    openSource: (file) => openSqliteStore(file, { migrationsDir: `${packageRoot()}/migrations` }),
    openTarget: (url, projectId) => openPostgresStore({ url, projectId, migrationsDir: `${packageRoot()}/migrations/postgres` }),
  });
}
