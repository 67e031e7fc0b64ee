import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../util/clock.js';
import {
  StoreUnavailableError,
  type ChainHead,
  type ClaimWrites,
  type Counter,
  type EventRow,
  type EventWrites,
  type IdempotencyWrites,
  type LeaseWrites,
  type MetaWrites,
  type ProofWrites,
  type Reader,
  type Store,
  type TaskWrites,
  type TransactionOptions,
  type Tx,
  type WaiterWrites,
} from '../store.js';
import { sqliteClaims } from './claims.js';
import { sqliteEvents } from './events.js';
import { sqliteLeases } from './leases.js';
import { COUNTER_KEYS, sqliteIdempotency, sqliteMeta } from './meta.js';
import { loadMigrations, migrate } from './migrate.js';
import { sqliteDump, sqliteProofs } from './proofs.js';
import { resolved } from './resolved.js';
import { storeErrorOf, translated } from './sqlite-errors.js';
import { sqliteTasks } from './tasks.js';
import { sqliteWaiters } from './waiters.js';
import { Turns } from '../turns.js';

export type Durability = 'full' | 'normal';

/** How long a snapshot's cached reads may miss a commit made by another connection to the file. */
const OTHER_WRITERS_MS = 20;

export interface SqliteStoreOptions {
  /** WAL with synchronous=FULL keeps acknowledged writes across power loss; NORMAL only across crashes. */
  durability?: Durability;
  busyTimeoutMs?: number;
  migrationsDir: string;
  /** what `now` is read from: the server's clock, or a test's */
  clock?: Clock;
  /**
   * Fail any transaction or snapshot body that yielded to the event loop (awaited real I/O, a
   * timer) instead of only this store's settled answers. On by default under DECAPOD_STRICT_TX=1,
   * which the test suite sets: "no await splits a check from its write" is then checked.
   */
  strictBodies?: boolean;
  /**
   * Told when writes start being refused for a reason that needs someone to act (a full disk),
   * and once a write commits again, with how many were refused meanwhile. Once per change.
   */
  onWriteState?: (state: { writable: false; error: StoreUnavailableError } | { writable: true; refused: number }) => void;
}

interface Group {
  committed: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  members: number;
  wroteRows: boolean;
}

type BodyOutcome<T> = { ok: true; value: T; committed: Promise<void> } | { ok: false; error: unknown; committed?: Promise<void> };

/**
 * The SQLite implementation of the store contract (docs/architecture.md). Every statement is
 * prepared once, at open, and answers synchronously; the contract's promises are settled ones.
 *
 * Group commit: transactions that arrive together share one SQLite transaction, each body in its
 * own savepoint (a failing one rolls back alone), and the group commits once, on the next turn
 * of the event loop: with synchronous=FULL, one fsync for the whole group instead of one each.
 * A transaction resolves only once its group has committed, so nothing is acknowledged before it
 * is durable. Bodies take turns (a FIFO mutex): two never interleave on the connection.
 */
export function openSqliteStore(file: string, opts: SqliteStoreOptions): Store {
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
  const clock = opts.clock ?? systemClock;
  const strict = opts.strictBodies ?? process.env.DECAPOD_STRICT_TX === '1';

  const meta = sqliteMeta(db);
  const leases = sqliteLeases(db);
  const events = sqliteEvents(db);
  const tasks = sqliteTasks(db);
  const claims = sqliteClaims(db);
  const proofs = sqliteProofs(db);
  const waiters = sqliteWaiters(db);
  const idempotency = sqliteIdempotency(db);
  const dump = sqliteDump(db);
  const stmt = {
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    beginRead: db.prepare('BEGIN'),
    savepoint: db.prepare('SAVEPOINT body'),
    release: db.prepare('RELEASE body'),
    rollbackTo: db.prepare('ROLLBACK TO body'),
  };
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

  // The repositories as the contract hands them out. What server.status reads is cached between
  // writes (see snapshot): a status poll then costs almost no SQLite work. Rows handed out from
  // the cache are frozen, so no caller can change them.
  const repos = {
    meta: resolved<MetaWrites>(meta),
    events: resolved<EventWrites>({ ...events, count: () => cached('events.count', events.count) }, ['all']),
    leases: resolved<LeaseWrites>({ ...leases, list: () => cached('leases.list', () => leases.list().map((r) => Object.freeze(r))).slice() }),
    idempotency: resolved<IdempotencyWrites>(idempotency),
    tasks: resolved<TaskWrites>({ ...tasks, countByStatus: () => ({ ...cached('tasks.countByStatus', tasks.countByStatus) }) }),
    claims: resolved<ClaimWrites>({
      ...claims,
      countActive: (now: number) => cached('claims.countActive', () => claims.countActiveUntil(now), { now, until: (v) => v.until }).count,
    }),
    proofs: resolved<ProofWrites>(proofs),
    waiters: resolved<WaiterWrites>(waiters),
  };
  const dumpState = () => Promise.resolve(dump());
  /** A counter as committed: the fence is stored; task and proof ids follow from the highest row, or a floor Tx.advance set. */
  const storedCounter = (counter: Counter): number => {
    const stored = Number(meta.get(COUNTER_KEYS[counter]) ?? '0');
    if (counter === 'fence') return stored;
    return Math.max(stored, counter === 'task' ? tasks.maxSeq() : proofs.maxSeq());
  };

  /** A view at one instant: the shared repositories (one object per aggregate, made once). */
  class View implements Reader {
    readonly meta = repos.meta;
    readonly events = repos.events;
    readonly leases = repos.leases;
    readonly idempotency = repos.idempotency;
    readonly tasks = repos.tasks;
    readonly claims = repos.claims;
    readonly proofs = repos.proofs;
    readonly waiters = repos.waiters;
    constructor(readonly now: number) {}
    dump() {
      return dumpState();
    }
    counters(): Promise<Record<Counter, number>> {
      return settle(() => ({ fence: storedCounter('fence'), task: storedCounter('task'), proof: storedCounter('proof') }));
    }
  }

  /** The transaction whose body has the turn now: the only one that may append (bodies never overlap). */
  let current: TxView | undefined;
  const txEvents: EventWrites = {
    ...repos.events,
    append: (row) =>
      settle(() => {
        if (!current) throw new Error('an event appended outside its transaction');
        current.append(row);
      }),
  };

  /** A transaction's handle: its instant, and the head and counters it owns (counters read lazily, once). */
  class TxView extends View implements Tx {
    override readonly events = txEvents;
    #head: ChainHead;
    #fence: number | undefined;
    #task: number | undefined;
    #proof: number | undefined;
    /** task and proof counters moved by advance(): their floor is stored at commit */
    #advanced = new Set<Counter>();
    constructor(head: ChainHead) {
      super(Math.max(clock.now(), head.at)); // never before the last event: the log's times only grow
      this.#head = head;
    }
    head(): ChainHead {
      return this.#head;
    }
    #current(counter: Counter): number {
      if (counter === 'fence') return (this.#fence ??= storedCounter('fence'));
      if (counter === 'task') return (this.#task ??= storedCounter('task'));
      return (this.#proof ??= storedCounter('proof'));
    }
    #set(counter: Counter, value: number): number {
      if (counter === 'fence') return (this.#fence = value);
      if (counter === 'task') return (this.#task = value);
      return (this.#proof = value);
    }
    next(counter: Counter): Promise<number> {
      return settle(() => this.#set(counter, this.#current(counter) + 1));
    }
    advance(counter: Counter, atLeast: number): Promise<void> {
      return settle(() => {
        if (atLeast <= this.#current(counter)) return;
        this.#set(counter, atLeast);
        if (counter !== 'fence') this.#advanced.add(counter);
      });
    }
    override counters(): Promise<Record<Counter, number>> {
      return settle(() => ({ fence: this.#current('fence'), task: this.#current('task'), proof: this.#current('proof') }));
    }
    append(row: EventRow): void {
      const head = this.#head;
      if (row.seq !== head.seq + 1 || row.prev_hash !== head.hash) {
        throw new Error(`event ${row.seq} does not follow the transaction's head (seq ${head.seq})`);
      }
      events.append(row);
      this.#head = { seq: row.seq, hash: row.hash, at: row.at };
    }
    /**
     * Written back at commit: the fence counter is the one that must be stored (it only grows,
     * even past deleted claims); task and proof ids follow from their rows, unless advance()
     * moved them past the rows: then their floor is stored too.
     */
    flush(): void {
      if (this.#fence !== undefined) meta.set(COUNTER_KEYS.fence, String(this.#fence));
      for (const c of this.#advanced) meta.set(COUNTER_KEYS[c], String(this.#current(c)));
    }
  }

  let group: Group | undefined;
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
   * Runs in its own turn, so never in the middle of a body.
   */
  const commitGroup = (): void => {
    const g = group;
    if (!g) return;
    group = undefined;
    try {
      // Some errors (I/O, disk full) make SQLite roll the whole transaction back by itself.
      if (!db.inTransaction) throw rolledBackBy ?? new Error('storage rolled back the write group');
      stmt.commit.run();
      g.resolve();
      wrote(undefined, g.members, g.wroteRows);
    } catch (raw) {
      // A COMMIT refused with SQLITE_FULL rolls the transaction back by itself (seen on tmpfs, WAL);
      // should one ever stay open, undo it, or the next BEGIN would fail.
      if (db.inTransaction) {
        try {
          stmt.rollback.run();
        } catch {
          // the connection already rolled it back
        }
      }
      const err = storeErrorOf(raw, file);
      g.reject(err);
      wrote(err, g.members);
    } finally {
      rolledBackBy = undefined;
    }
  };

  /** Flags a body still running when the event loop turns: it awaited something real. */
  const NO_WATCH = { strayed: (): Error | undefined => undefined, done: () => {} };
  const strayWatch = (what: string): { strayed(): Error | undefined; done(): void } => {
    if (!strict) return NO_WATCH;
    let running = true;
    let strayed = false;
    setImmediate(() => void (strayed = running));
    return {
      strayed: () => (strayed ? new Error(`a SQLite ${what} body awaited real I/O or a timer: it must await only the store (docs/architecture.md)`) : undefined),
      done: () => void (running = false),
    };
  };

  /** One body as one savepoint of the open group (opening one if needed). Runs in its turn. */
  const runInGroup = async <T>(body: (tx: Tx) => Promise<T>): Promise<BodyOutcome<T>> => {
    if (group && !db.inTransaction) commitGroup(); // rolled back under it: fail that group, start anew
    if (!group) {
      try {
        stmt.begin.run();
      } catch (raw) {
        const error = storeErrorOf(raw, file);
        wrote(error);
        return { ok: false, error };
      }
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const committed = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      committed.catch(() => {}); // a member that failed before awaiting it must not leave it unhandled
      group = { committed, resolve, reject, members: 0, wroteRows: false };
      setImmediate(commitInTurn);
    }
    const g = group;
    g.members++;
    const watch = strayWatch('transaction');
    try {
      stmt.savepoint.run();
      const before = totalChanges.get() as number;
      const tx = (current = new TxView(events.head()));
      const value = await body(tx);
      current = undefined;
      watch.done();
      const stray = watch.strayed();
      if (stray) throw stray;
      tx.flush();
      stmt.release.run();
      if ((totalChanges.get() as number) !== before) g.wroteRows = true;
      return { ok: true, value, committed: g.committed };
    } catch (raw) {
      current = undefined;
      watch.done();
      const error = storeErrorOf(raw, file);
      if (db.inTransaction) {
        try {
          stmt.rollbackTo.run();
          stmt.release.run();
        } catch {
          // the savepoint is gone with the whole transaction: handled just below
        }
      }
      if (!db.inTransaction) {
        // SQLite rolled the whole group back, earlier members too: fail them all now, saying why.
        rolledBackBy = error;
        commitGroup();
      } else {
        wrote(error);
      }
      return { ok: false, error, committed: g.committed };
    }
  };

  const turns = new Turns();
  let closed = false;

  /** Commits the open group in its own turn (at once when free: the usual case). */
  const commitInTurn = (): void => {
    if (turns.tryTake()) {
      commitGroup();
      turns.release();
    } else {
      void turns.take().then(() => {
        commitGroup();
        turns.release();
      });
    }
  };

  return {
    clock,
    transaction: async <T>(body: (tx: Tx) => Promise<T>, txOpts?: TransactionOptions): Promise<T> => {
      if (!turns.tryTake()) await turns.take(txOpts?.ahead === true);
      let out: BodyOutcome<T>;
      try {
        out = await runInGroup(body);
      } finally {
        turns.release();
      }
      if (out.ok) {
        await out.committed;
        return out.value;
      }
      // What the body judged against is answered only once that state is durable.
      if (out.committed) await out.committed.catch(() => {});
      throw out.error;
    },
    snapshot: async (body) => {
      // Only committed state: wait out an open group (it commits on the next turn of the loop).
      for (;;) {
        while (group) await group.committed.catch(() => {});
        if (!turns.tryTake()) await turns.take();
        if (!group) break;
        turns.release(); // a group opened while this waited for its turn: wait for it too
      }
      const watch = strayWatch('snapshot');
      try {
        translated(file, () => stmt.beginRead.run());
        const now = performance.now();
        if (now - otherWriters.checkedAt >= OTHER_WRITERS_MS) otherWriters = { version: dataVersion.get() as number, checkedAt: now };
        snapshotKey = `${totalChanges.get() as number}:${otherWriters.version}`;
        const value = await body(new View(clock.now()));
        watch.done();
        const stray = watch.strayed();
        if (stray) throw stray;
        return value;
      } finally {
        watch.done();
        snapshotKey = undefined;
        if (db.inTransaction) stmt.commit.run();
        turns.release();
      }
    },
    schemaVersion: () => version,
    storage: () => ({ ...storage }),
    close: () =>
      turns.run(() => {
        if (closed) return;
        closed = true;
        commitGroup();
        db.close();
      }),
  };
}

/** `fn()` as a settled promise. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}
