import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreUnavailableError, type Store } from '../store.js';
import { sqliteClaims } from './claims.js';
import { sqliteEvents } from './events.js';
import { sqliteLeases } from './leases.js';
import { metaCounter, sqliteIdempotency, sqliteMeta } from './meta.js';
import { sqliteDump, sqliteProofs } from './proofs.js';
import { sqliteTasks } from './tasks.js';
import { loadMigrations, migrate } from './migrate.js';
import { storeErrorOf, translated } from './sqlite-errors.js';

export type Durability = 'full' | 'normal';

/** How long a snapshot's cached reads may miss a commit made by another connection to the file. */
const OTHER_WRITERS_MS = 20;

export interface SqliteStoreOptions {
  /** WAL with synchronous=FULL keeps acknowledged writes across power loss; NORMAL only across crashes. */
  durability?: Durability;
  busyTimeoutMs?: number;
  migrationsDir: string;
  /**
   * Told when writes start being refused for a reason that needs someone to act (a full disk),
   * and once a write commits again, with how many were refused meanwhile. Once per change.
   */
  onWriteState?: (state: { writable: false; error: StoreUnavailableError } | { writable: true; refused: number }) => void;
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
  // A start on a full disk fails here, saying so (storeErrorOf), rather than somewhere later.
  const db = translated(file, () => new Database(file));
  let version: number;
  try {
    translated(file, () => {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.durability === 'normal' ? 'NORMAL' : 'FULL'}`);
      db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
      db.pragma('foreign_keys = ON');
      version = migrate(db, loadMigrations(opts.migrationsDir));
    });
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
  let group:
    | { committed: Promise<void>; resolve: () => void; reject: (err: unknown) => void; members: number; wroteRows: boolean }
    | undefined;
  // Why SQLite rolled the open group back under us (an I/O error, a full disk), if it did.
  let rolledBackBy: unknown;

  // Writes refused for a full disk since the last one that committed: told once each way. Only a
  // commit that wrote rows proves the disk takes writes again (a sweep with nothing due writes none).
  let refused = 0;
  const wrote = (outcome: unknown, members = 1, wroteRows = true): void => {
    if (outcome === undefined) {
      if (!wroteRows) return;
      if (refused > 0) opts.onWriteState?.({ writable: true, refused });
      refused = 0;
    } else if (outcome instanceof StoreUnavailableError && outcome.reason === 'disk_full') {
      if (refused === 0) opts.onWriteState?.({ writable: false, error: outcome });
      refused += members;
    }
  };

  /**
   * Commits the open group, if any; on failure rolls it back and fails every member, so none of
   * them is acknowledged. The connection is then out of any transaction: the next write begins anew.
   */
  const commitGroup = (): unknown => {
    const g = group;
    if (!g) return undefined;
    group = undefined;
    try {
      // Some errors (I/O, disk full) make SQLite roll the whole transaction back by itself.
      if (!db.inTransaction) throw rolledBackBy ?? new Error('storage rolled back the write group');
      commit.run();
      g.resolve();
      wrote(undefined, g.members, g.wroteRows);
      return undefined;
    } catch (raw) {
      // A COMMIT refused with SQLITE_FULL rolls the transaction back by itself (seen on tmpfs, WAL);
      // should one ever stay open, undo it, or the next BEGIN would fail.
      if (db.inTransaction) {
        try {
          rollback.run();
        } catch {
          // the connection already rolled it back
        }
      }
      const err = storeErrorOf(raw, file);
      g.reject(err);
      wrote(err, g.members);
      return err;
    } finally {
      rolledBackBy = undefined;
    }
  };

  const grouped = <T>(fn: () => T): { value: T; committed: Promise<void> } => {
    if (group && !db.inTransaction) commitGroup(); // rolled back under it: fail that group, start anew
    if (!group) {
      translated(file, () => begin.run());
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const committed = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      committed.catch(() => {}); // a member that threw before awaiting it must not leave it unhandled
      group = { committed, resolve, reject, members: 0, wroteRows: false };
      setImmediate(commitGroup);
    }
    const g = group;
    g.members++;
    try {
      // Inside an open transaction better-sqlite3 runs this as a savepoint: all of fn or none of it.
      const before = totalChanges.get() as number;
      const value = db.transaction(fn)();
      if ((totalChanges.get() as number) !== before) g.wroteRows = true;
      return { value, committed: g.committed };
    } catch (raw) {
      const err = storeErrorOf(raw, file);
      if (!db.inTransaction) {
        // SQLite rolled the whole group back, earlier members too: fail them all now, saying why.
        rolledBackBy = err;
        commitGroup();
      } else {
        wrote(err);
      }
      throw err;
    }
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
      if (!group) {
        try {
          const before = totalChanges.get() as number;
          const value = db.transaction(fn).immediate();
          wrote(undefined, 1, (totalChanges.get() as number) !== before);
          return value;
        } catch (raw) {
          const err = storeErrorOf(raw, file);
          wrote(err);
          throw err;
        }
      }
      // A group is open: join it, then commit it now, so this returns only once fn is committed.
      const value = grouped(fn).value;
      const failed = commitGroup();
      if (failed !== undefined) throw failed;
      return value;
    },
    grouped,
    pendingCommit: () => group?.committed,
    snapshot: (fn) => {
      if (db.inTransaction) return fn();
      translated(file, () => beginRead.run());
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

