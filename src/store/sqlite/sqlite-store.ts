import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Store } from '../store.js';
import { sqliteClaims } from './claims.js';
import { sqliteEvents } from './events.js';
import { sqliteLeases } from './leases.js';
import { metaCounter, sqliteIdempotency, sqliteMeta } from './meta.js';
import { sqliteDump, sqliteProofs } from './proofs.js';
import { sqliteTasks } from './tasks.js';
import { loadMigrations, migrate } from './migrate.js';

export type Durability = 'full' | 'normal';

/** How long a snapshot's cached reads may miss a commit made by another connection to the file. */
const OTHER_WRITERS_MS = 20;

export interface SqliteStoreOptions {
  /** WAL with synchronous=FULL keeps acknowledged writes across power loss; NORMAL only across crashes. */
  durability?: Durability;
  busyTimeoutMs?: number;
  migrationsDir: string;
}

/**
 * Group commit, offered by the SQLite store beyond the store contract. Mutations that arrive
 * together share one SQLite transaction, each in its own savepoint (a failing one rolls back alone),
 * and the transaction commits once, on the next turn of the event loop: with synchronous=FULL that
 * is one fsync for the whole group instead of one per mutation. Callers answer only after
 * `committed` resolves, so nothing is acknowledged before it is durable.
 */
export interface GroupCommit {
  /** Runs `fn` as one atomic step of the open group (opening one if needed). Throws what `fn` throws. */
  grouped<T>(fn: () => T): { value: T; committed: Promise<void> };
  /** While a group is open: a promise that settles once it has committed (or failed); else undefined. */
  pendingCommit(): Promise<void> | undefined;
  /**
   * Runs a read-only `fn` in one read transaction: one consistent snapshot, and one lock taken
   * instead of one per statement. Inside an open transaction it just runs `fn`.
   */
  snapshot<T>(fn: () => T): T;
}

/** The SQLite implementation of the store contract. Every statement is prepared once, at open. */
export function openSqliteStore(file: string, opts: SqliteStoreOptions): Store & GroupCommit {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.durability === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  db.pragma('foreign_keys = ON');
  let version: number;
  try {
    version = migrate(db, loadMigrations(opts.migrationsDir));
  } catch (err) {
    db.close();
    throw err;
  }

  const meta = sqliteMeta(db);
  const leases = sqliteLeases(db);
  const events = sqliteEvents(db);
  const tasks = sqliteTasks(db);
  const claims = sqliteClaims(db, metaCounter(meta, 'fence'));
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  const beginRead = db.prepare('BEGIN');
  // What a snapshot's cached reads are keyed on: every change made through this connection, and
  // commits by other connections (none in normal operation: one server per root), looked for at
  // most every OTHER_WRITERS_MS because that pragma costs more than the reads it saves.
  const totalChanges = db.prepare('SELECT total_changes()').pluck();
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let otherWriters = { version: 0, checkedAt: -Infinity };
  let snapshotKey: string | undefined;
  const cache = new Map<string, { key: string; value: unknown; from?: number; until?: number }>();
  /**
   * Inside snapshot(): the value read earlier in a snapshot of the same state, if any (and, for a
   * time-dependent read, only for a time in [from, until)). Elsewhere it always reads.
   */
  const cached = <T>(name: string, read: () => T, at?: { now: number; until: (value: T) => number | null }): T => {
    if (snapshotKey === undefined) return read();
    const hit = cache.get(name);
    if (hit && hit.key === snapshotKey && (at === undefined || (at.now >= hit.from! && at.now < hit.until!))) return hit.value as T;
    const value = read();
    const until = at ? (at.until(value) ?? Infinity) : undefined;
    cache.set(name, { key: snapshotKey, value, ...(at ? { from: at.now, until } : {}) });
    return value;
  };
  // As the connection sees them once set up: nothing here changes them after open.
  const storage = {
    engine: 'sqlite' as const,
    journal_mode: String(db.pragma('journal_mode', { simple: true })),
    synchronous: (['off', 'normal', 'full', 'extra'] as const)[Number(db.pragma('synchronous', { simple: true }))]!,
  };
  let group: { committed: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | undefined;

  /** Commits the open group, if any; on failure rolls it back and fails every member. */
  const commitGroup = (): unknown => {
    const g = group;
    if (!g) return undefined;
    group = undefined;
    try {
      // Some errors (I/O, disk full) make SQLite roll the whole transaction back by itself.
      if (!db.inTransaction) throw new Error('storage rolled back the write group');
      commit.run();
      g.resolve();
      return undefined;
    } catch (err) {
      if (db.inTransaction) {
        try {
          rollback.run();
        } catch {
          // the connection already rolled it back
        }
      }
      g.reject(err);
      return err;
    }
  };

  const grouped = <T>(fn: () => T): { value: T; committed: Promise<void> } => {
    if (group && !db.inTransaction) commitGroup(); // rolled back under it: fail that group, start anew
    if (!group) {
      begin.run();
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const committed = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      committed.catch(() => {}); // a member that threw before awaiting it must not leave it unhandled
      group = { committed, resolve, reject };
      setImmediate(commitGroup);
    }
    const committed = group.committed;
    // Inside an open transaction better-sqlite3 runs this as a savepoint: all of fn or none of it.
    return { value: db.transaction(fn)(), committed };
  };

  return {
    meta,
    // What server.status reads, cached between writes (see snapshot): a status poll then costs
    // almost no SQLite work. Rows handed out from the cache are frozen, so no caller can change them.
    events: { ...events, count: () => cached('events.count', events.count) },
    leases: { ...leases, list: () => cached('leases.list', () => leases.list().map((r) => Object.freeze(r))).slice() },
    idempotency: sqliteIdempotency(db),
    tasks: { ...tasks, countByStatus: () => ({ ...cached('tasks.countByStatus', tasks.countByStatus) }) },
    claims: {
      ...claims,
      countActive: (now) =>
        cached('claims.countActive', () => claims.countActiveUntil(now), { now, until: (v) => v.until }).count,
    },
    proofs: sqliteProofs(db),
    dump: sqliteDump(db),
    transaction: (fn) => {
      if (group && !db.inTransaction) commitGroup();
      if (!group) return db.transaction(fn).immediate();
      // A group is open: join it, then commit it now, so this returns only once fn is committed.
      const value = db.transaction(fn)();
      const failed = commitGroup();
      if (failed !== undefined) throw failed;
      return value;
    },
    grouped,
    pendingCommit: () => group?.committed,
    snapshot: (fn) => {
      if (db.inTransaction) return fn();
      beginRead.run();
      try {
        const now = performance.now();
        if (now - otherWriters.checkedAt >= OTHER_WRITERS_MS) otherWriters = { version: dataVersion.get() as number, checkedAt: now };
        snapshotKey = `${totalChanges.get() as number}:${otherWriters.version}`;
        return fn();
      } finally {
        snapshotKey = undefined;
        if (db.inTransaction) commit.run();
      }
    },
    schemaVersion: () => version,
    storage: () => ({ ...storage }),
    close: () => {
      commitGroup();
      db.close();
    },
  };
}

