import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { canonicalJson } from '../../util/hash.js';
import type { Clock } from '../../util/clock.js';
import {
  StoreUnavailableError,
  type Candidate,
  type ChainHead,
  type ClaimRow,
  type ClaimView,
  type ClaimWrites,
  type Counter,
  type EventRow,
  type EventWrites,
  type IdempotencyRow,
  type IdempotencyWrites,
  type LeaseRow,
  type LeaseState,
  type LeaseWrites,
  type MetaWrites,
  type ProofRow,
  type ProofWrites,
  type Reader,
  type StateDump,
  type Store,
  type TaskRow,
  type TaskStatus,
  type TaskWrites,
  type TransactionOptions,
  type Tx,
  type WaiterRow,
  type WaiterWrites,
} from '../store.js';
import { claimViewOf } from '../claim-view.js';
import { ancestorsOf, rangeUnder } from '../prefix-ranges.js';
import { Turns } from '../turns.js';
import { BatchedConnection, type Raw, type Read as Q, type Write } from './batched-connection.js';
import { DUMP, SQL, WAITER_SQL } from './pg-sql.js';

// docs/architecture.md, docs/design.md §7: the PostgreSQL implementation of the store contract.
// Many servers (one per machine) share one database; one project is one claim space. Every write
// transaction first locks its project's head row (READ COMMITTED, SELECT … FOR UPDATE): that one
// lock orders the audit chain and makes claims, fences, ids and idempotency race-free across
// servers. Time is the database's clock, never earlier than the last event's.


export interface PostgresStoreOptions {
  url: string;
  /** the claim space: one project's rows in a shared database */
  projectId: string;
  /** migrations/postgres */
  migrationsDir: string;
  /** a test clock; default: the database's clock (clock_timestamp()) */
  clock?: Clock;
  /** connections kept (default 4) */
  poolSize?: number;
  /** told the round trips of each transaction and snapshot as it ends (tests, benchmarks) */
  onRoundTrips?: (roundTrips: number) => void;
}

/** bigint columns as numbers (milliseconds and counters fit in 2^53). */
const types = {
  getTypeParser: (oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')),
};

const GENESIS = '0'.repeat(64);
const RETRY_MS = 250;

/** PostgreSQL's refusals as the contract's engine-neutral ones; the rest as they are. */
function storeErrorOf(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return err;
  // 40001 serialization, 40P01 deadlock, 55P03 lock not available, 57014 cancelled (timeout)
  if (code === '40001' || code === '40P01' || code === '55P03' || code === '57014') {
    return new StoreUnavailableError('busy', 'storage is busy; retry shortly', RETRY_MS);
  }
  // 08 connection, 57P0x shutdown, 53 insufficient resources, ECONNREFUSED and friends
  if (code.startsWith('08') || code.startsWith('57P') || code.startsWith('53') || code.startsWith('E')) {
    const disk = code === '53100';
    return new StoreUnavailableError(disk ? 'disk_full' : 'unavailable', `storage unavailable: the database ${disk ? 'is out of disk space' : 'cannot be reached'} (${code}); nothing was changed: retry shortly`, RETRY_MS, { database_error: code });
  }
  return err;
}

const leaseOut = (r: Raw): LeaseRow => ({ ...(r as unknown as LeaseRow), meta: r.meta === null ? null : (JSON.parse(r.meta as string) as Record<string, unknown>) });
const claimOut = (r: Raw): ClaimView => claimViewOf(r, r.paths as string[]);


/**
 * The repositories over one connection (a transaction's or a snapshot's), for project `p`. `q`
 * reads; `w` writes what no one reads back, sent with the next read (batched-connection.ts).
 */
function repositories(q: Q, w: Write, p: string) {
  const one = async (sql: string, params: unknown[]) => (await q(sql, params))[0];
  const meta: MetaWrites = {
    get: async (key) => (await one(SQL.metaGet, [p, key]))?.value as string | undefined,
    all: async () => new Map((await q(SQL.metaAll, [p])).map((r) => [r.key as string, r.value as string])),
    set: async (key, value) => w(SQL.metaSet, [p, key, value]),
  };
  const events: Omit<EventWrites, 'append' | 'head'> = {
    list: async (query) => (await q(SQL.eventList, [p, query.since ?? 0, query.subject ?? null, query.agent ?? null, query.limit])) as unknown as EventRow[],
    all: () => allEvents(q, p),
    hashesAt: async (seqs) => new Map((await q(SQL.eventHashesAt, [p, seqs])).map((r) => [r.seq as number, r.hash as string])),
    count: async () => (await one(SQL.eventCount, [p]))!.n as number,
  };
  const leases: LeaseWrites = {
    insert: async (r) =>
      w(SQL.leaseInsert, [p, r.lease_id, r.secret_hash, r.agent, r.state, r.ttl_ms, r.pid, r.host, r.meta === null ? null : canonicalJson(r.meta), r.granted_at, r.renewed_at, r.expires_at, r.ended_at]),
    byId: async (id) => {
      const r = await one(SQL.leaseById, [p, id]);
      return r && leaseOut(r);
    },
    bySecretHash: async (h) => {
      const r = await one(SQL.leaseBySecret, [p, h]);
      return r && leaseOut(r);
    },
    list: async () => (await q(SQL.leaseList, [p])).map(leaseOut),
    dueForExpiry: async (now) => (await q(SQL.leaseDue, [p, now])).map(leaseOut),
    activeWithPid: async (host) => (await q(SQL.leaseWithPid, [p, host])).map(leaseOut),
    endedBefore: async (before) => (await q(SQL.leaseEndedBefore, [p, before])).map((r) => r.lease_id as string),
    delete: async (ids) => void (ids.length > 0 && w(SQL.leaseDelete, [p, ids])),
    renew: async (id, renewedAt, expiresAt) => w(SQL.leaseRenew, [p, id, renewedAt, expiresAt]),
    end: async (id, state, endedAt) => w(SQL.leaseEnd, [p, id, state, endedAt]),
    countByState: async () => {
      const counts: Record<LeaseState, number> = { active: 0, revoked: 0, expired: 0 };
      for (const r of await q(SQL.leaseCounts, [p])) counts[r.state as LeaseState] = r.n as number;
      return counts;
    },
  };
  const idempotency: IdempotencyWrites = {
    get: async (k) => (await one(SQL.idemGet, [p, k])) as unknown as IdempotencyRow | undefined,
    list: async (after, limit) => (await q(SQL.idemList, [p, after, limit])) as unknown as IdempotencyRow[],
    put: async (r) => w(SQL.idemPut, [p, r.key_hash, r.method, r.params_hash, r.response, r.created_at]),
    prune: async (before) => (await q(`WITH gone AS (${SQL.idemPrune} RETURNING 1) SELECT count(*)::bigint AS n FROM gone`, [p, before]))[0]!.n as number,
  };
  const taskParams = (r: TaskRow) => [r.title, r.description, r.status, r.priority, r.labels, r.depends_on, r.paths, r.gates, r.acceptance, r.parent];
  const setDeps = async (r: TaskRow) => {
    w(SQL.taskDepsClear, [p, r.id]);
    if (r.depends_on.length > 0) w(SQL.taskDepsAdd, [p, r.id, r.depends_on]);
  };
  const tasks: TaskWrites = {
    insert: async (r) => {
      w(SQL.taskInsert, [p, r.id, r.seq, ...taskParams(r), r.created_by, r.created_at, r.updated_at, r.completed_at, r.verified]);
      if (r.depends_on.length > 0) w(SQL.taskDepsAdd, [p, r.id, r.depends_on]);
    },
    update: async (r) => {
      w(SQL.taskUpdate, [p, r.id, ...taskParams(r), r.updated_at, r.completed_at, r.verified]);
      await setDeps(r);
    },
    byId: async (id) => (await one(SQL.taskById, [p, id])) as unknown as TaskRow | undefined,
    byIds: async (ids) => new Map((await q(SQL.taskByIds, [p, ids])).map((r) => [r.id as string, r as unknown as TaskRow])),
    dependencyClosure: async (from) => new Set((await q(SQL.taskClosure, [p, from])).map((r) => r.id as string)),
    list: async (t) =>
      (await q(SQL.taskList, [p, t.now, t.status ?? null, t.label ?? null, t.agent ?? null, t.ready === true, t.after?.priority ?? -1, t.after?.seq ?? 0, t.limit])) as unknown as TaskRow[],
    countByStatus: async () => {
      const counts: Record<TaskStatus, number> = { open: 0, done: 0, cancelled: 0 };
      for (const r of await q(SQL.taskCounts, [p])) counts[r.status as TaskStatus] = r.n as number;
      return counts;
    },
  };
  const addPaths = async (id: string, patterns: readonly { pattern: string; prefix: string }[]) => {
    if (patterns.length > 0) w(SQL.claimPathsAdd, [p, id, patterns.map((x) => x.pattern), patterns.map((x) => x.prefix)]);
  };
  const candidateOf = (of: number, r: Raw): Candidate => ({ of, claim: claimOut(r), pattern: r.cand_pattern as string });
  const claims: ClaimWrites = {
    insert: async (r: ClaimRow, patterns) => {
      w(SQL.claimInsert, [p, r.id, r.lease_id, r.agent, r.task_id, r.mode, r.fence, r.state, r.paths, r.ttl_ms, r.reason, r.acquired_at, r.renewed_at, r.expires_at, r.ended_at, r.end_reason]);
      await addPaths(r.id, patterns);
    },
    setPaths: async (id, paths, patterns) => {
      w(SQL.claimSetPaths, [p, id, paths]);
      w(SQL.claimPathsClear, [p, id]);
      await addPaths(id, patterns);
    },
    byId: async (id) => {
      const r = await one(SQL.claimById, [p, id]);
      return r && claimOut(r);
    },
    live: async (c) => (await q(SQL.claimLive, [p, c.now, c.agent ?? null, c.task ?? null, c.lease_id ?? null])).map(claimOut),
    liveForTasks: async (ids, now) => new Map(ids.length === 0 ? [] : (await q(SQL.claimLiveForTasks, [p, now, ids])).map((r) => [r.task_id as string, claimOut(r)])),
    candidates: async (prefixes, now) => {
      const out: Candidate[] = [];
      const roots: number[] = [];
      const ai: number[] = [];
      const ap: string[] = [];
      const ri: number[] = [];
      const lo: string[] = [];
      const hi: string[] = [];
      prefixes.forEach((prefix, i) => {
        if (prefix === '') return void roots.push(i);
        for (const a of ancestorsOf(prefix)) ai.push(i), ap.push(a);
        const r = rangeUnder(prefix);
        ri.push(i), lo.push(r.lo), hi.push(r.hi);
      });
      if (roots.length > 0) for (const r of await q(SQL.claimCandidatesUnderRoot, [p, now])) for (const i of roots) out.push(candidateOf(i, r));
      if (ri.length > 0) for (const r of await q(SQL.claimCandidates, [p, now, ai, ap, ri, lo, hi])) out.push(candidateOf(r.cand_of as number, r));
      return out;
    },
    activeOfLeases: async (ids) => (ids.length === 0 ? [] : (await q(SQL.claimActiveOfLeases, [p, ids])).map(claimOut)),
    dueForExpiry: async (now) => (await q(SQL.claimDue, [p, now])).map(claimOut),
    renew: async (id, at, exp) => w(SQL.claimRenew, [p, id, at, exp]),
    end: async (id, state, at, reason) => {
      w(SQL.claimEnd, [p, id, state, at, reason]);
      w(SQL.claimPathsClear, [p, id]);
    },
    countActive: async (now) => (await one(SQL.claimCountLive, [p, now]))!.n as number,
    endedBefore: async (before) => (await q(SQL.claimEndedBefore, [p, before])).map((r) => r.id as string),
    delete: async (ids) => {
      if (ids.length === 0) return;
      w(SQL.claimPathsDelete, [p, ids]);
      w(SQL.claimDelete, [p, ids]);
    },
  };
  const proofs: ProofWrites = {
    insert: async (r) =>
      w(SQL.proofInsert, [
        p, r.id, r.seq, r.task_id, r.gate, r.claim_id, r.fence, r.passed, r.exit_code, r.timed_out, r.duration_ms, r.command,
        r.output_sha256, r.output_bytes, r.truncated, r.digest, r.counts, r.changed_during_run, r.attested_by, r.agent, r.created_at, r.hash,
      ]),
    byId: async (id) => (await one(SQL.proofById, [p, id])) as unknown as ProofRow | undefined,
    ofTask: async (t) => (await q(SQL.proofOfTask, [p, t])) as unknown as ProofRow[],
    latestPerGate: async (t) => new Map((await q(SQL.proofLatestPerGate, [p, t])).map((r) => [r.gate as string, r as unknown as ProofRow])),
  };
  const waiters: WaiterWrites = {
    add: async (r) => (await one(WAITER_SQL.add, [p, r.lease_id, r.agent, r.paths, r.mode, r.task_id, r.since, r.until]))!.ticket as number,
    live: async (now) => (await q(WAITER_SQL.live, [p, now])) as unknown as WaiterRow[],
    remove: async (ticket) => w(WAITER_SQL.remove, [p, ticket]),
    removeDead: async (now) => (await one(WAITER_SQL.removeDead, [p, now]))!.n as number,
  };
  const dump = async (): Promise<StateDump> => {
    const out: StateDump = {};
    for (const [table, sql] of Object.entries(DUMP)) out[table] = await q(sql, [p]);
    return out;
  };
  const committedHead = async (): Promise<ChainHead> => {
    const r = await one(SQL.committedHead, [p]);
    return r ? { seq: r.seq as number, hash: r.hash as string, at: r.at as number } : { seq: 0, hash: GENESIS, at: 0 };
  };
  /** decapod migrate: the counters as committed (a snapshot's `counters()`) */
  const committedCounters = async (): Promise<Record<Counter, number>> => {
    const r = await one(SQL.committedCounters, [p]);
    return { fence: (r?.fence as number) ?? 0, task: (r?.task as number) ?? 0, proof: (r?.proof as number) ?? 0 };
  };
  return { meta, events, leases, idempotency, tasks, claims, proofs, waiters, dump, committedHead, committedCounters };
}

/** Every event of the project in seq order, a page at a time. */
async function* allEvents(q: Q, p: string): AsyncGenerator<EventRow> {
  let since = 0;
  for (;;) {
    const page = (await q(SQL.eventPage, [p, since, 1000])) as unknown as EventRow[];
    yield* page;
    if (page.length < 1000) return;
    since = page[page.length - 1]!.seq;
  }
}

/** Applies migrations/postgres/NNN_*.sql in order, once, under an advisory lock (concurrent servers migrate safely). */
async function migrate(pool: pg.Pool, dir: string): Promise<number> {
  const files = readdirSync(dir)
    .map((f) => /^(\d+)_[\w-]+\.sql$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]));
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('decapod.migrate'))");
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const current = Number((await client.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations')).rows[0].v);
    if (current > files.length) {
      throw new Error(`database schema version ${current} is newer than this decapod understands (${files.length}); upgrade decapod, or point it at another database`);
    }
    for (const m of files.slice(current)) {
      await client.query(readFileSync(join(dir, m[0]), 'utf8'));
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [Number(m[1]), m[0]]);
    }
    await client.query('COMMIT');
    return Math.max(current, files.length);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Opens (and migrates) the PostgreSQL store of one project. */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<Store> {
  const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 4, types });
  pool.on('error', () => {}); // an idle connection dropped: the next query reconnects or fails, saying so
  let version: number;
  try {
    version = await migrate(pool, opts.migrationsDir);
  } catch (err) {
    await pool.end().catch(() => {});
    throw storeErrorOf(err);
  }
  const p = opts.projectId;
  // What an acknowledged write survives: synchronous_commit off loses the last commits on a crash.
  const sync = String((await pool.query('SHOW synchronous_commit')).rows[0]?.synchronous_commit ?? 'on');
  const synchronous = sync === 'off' ? ('off' as const) : sync === 'local' ? ('normal' as const) : ('full' as const);
  const dbClock = { now: () => Date.now() };
  const clock = opts.clock ?? dbClock;
  const host = new URL(opts.url).hostname || 'localhost';

  // One local writer at a time (FIFO, with the wait queue's ahead lane): the head row lock
  // serializes writers of the project anyway; locally this keeps arrival order too.
  const turns = new Turns();

  // docs/design.md §7: releases reach waiters on other servers through LISTEN/NOTIFY (the sweep
  // stays the fallback). One connection listens for all of this store's listeners.
  const instance = randomUUID();
  const listeners = new Set<() => void>();
  let listening: pg.Client | undefined;
  const listen = async () => {
    const client = new pg.Client({ connectionString: opts.url, types });
    client.on('error', () => {}); // a dropped connection: the sweep still wakes waiters
    client.on('notification', (msg) => {
      const [project, sender] = (msg.payload ?? '').split(' ');
      if (project !== p || sender === instance) return;
      for (const l of listeners) l();
    });
    await client.connect();
    await client.query('LISTEN decapod_changes');
    listening = client;
  };

  /**
   * `work` inside one database transaction that `begin` opens: committed, or rolled back on a
   * throw. `begin` and the writes travel with the next read (batched-connection.ts), so
   * BEGIN + the head lock is one round trip and the last writes + COMMIT another.
   */
  const inDatabaseTransaction = async <T>(begin: string, work: (c: BatchedConnection) => Promise<T>): Promise<T> => {
    let client: pg.PoolClient | undefined;
    let conn: BatchedConnection | undefined;
    try {
      client = await pool.connect();
      conn = new BatchedConnection(client, begin);
      const value = await work(conn);
      await conn.finish('COMMIT');
      return value;
    } catch (err) {
      conn?.discard();
      if (client) await client.query('ROLLBACK').catch(() => {});
      throw storeErrorOf(err);
    } finally {
      if (conn) opts.onRoundTrips?.(conn.roundTrips);
      client?.release();
    }
  };
  const readOnly: Write = () => {
    throw new Error('a snapshot cannot write');
  };

  return {
    clock,
    transaction: async <T>(body: (tx: Tx) => Promise<T>, txOpts?: TransactionOptions): Promise<T> => {
      if (!turns.tryTake()) await turns.take(txOpts?.ahead === true);
      try {
        return await inDatabaseTransaction('BEGIN', async (conn) => {
          const q = conn.read;
          const w = conn.write;
          let row = (await q(SQL.lockHead, [p]))[0];
          if (!row) row = (await q(SQL.lockNewHead, [p]))[0]!; // created by this very statement: lock it now
          const repos = repositories(q, w, p);
          let head: ChainHead = { seq: row.event_seq as number, hash: row.event_hash as string, at: row.event_at as number };
          const counters = { fence: row.fence as number, task: row.task_seq as number, proof: row.proof_seq as number };
          const start = { ...counters, seq: head.seq };
          const now = Math.max(opts.clock ? opts.clock.now() : (row.db_now as number), head.at);
          let lineLength = row.waiters as number;
          let lineChanged = false;
          const tx: Tx = {
            now,
            ...repos,
            events: {
              ...repos.events,
              head: async () => head,
              append: async (e) => {
                if (e.seq !== head.seq + 1 || e.prev_hash !== head.hash) throw new Error(`event ${e.seq} does not follow the transaction's head (seq ${head.seq})`);
                w(SQL.eventAppend, [p, e.seq, e.at, e.type, e.agent, e.subject, e.data, e.data_digest, e.prev_hash, e.hash]);
                head = { seq: e.seq, hash: e.hash, at: e.at };
              },
            },
            head: () => head,
            next: async (c: Counter) => ++counters[c],
            // decapod migrate: a copied history's fences and ids, never handed out again (written with the head)
            advance: async (c: Counter, atLeast: number) => void (counters[c] = Math.max(counters[c], atLeast)),
            counters: async () => ({ ...counters }),
            waiters: {
              ...repos.waiters,
              // The head row counts the line: a project with no waiters reads none.
              live: async (at) => (lineLength === 0 ? [] : repos.waiters.live(at)),
              add: async (r) => {
                lineLength++;
                return repos.waiters.add(r);
              },
              remove: async (ticket) => {
                lineChanged = true;
                return repos.waiters.remove(ticket);
              },
              removeDead: async (at) => {
                if (lineLength === 0) return 0;
                const n = await repos.waiters.removeDead(at);
                if (n > 0) lineChanged = true;
                return n;
              },
            },
          };
          const value = await body(tx);
          if (head.seq !== start.seq || counters.fence !== start.fence || counters.task !== start.task || counters.proof !== start.proof) {
            w(SQL.writeHead, [p, head.seq, head.hash, head.at, counters.fence, counters.task, counters.proof]);
          }
          // Anything audited changed the state others may wait on, and so does a waiter leaving the
          // line: tell the other servers (at commit).
          if (head.seq !== start.seq || lineChanged) w(SQL.notify, [p, instance]);
          return value;
        });
      } finally {
        turns.release();
      }
    },
    snapshot: <T>(body: (r: Reader) => Promise<T>): Promise<T> =>
      inDatabaseTransaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async (conn) => {
        const q = conn.read;
        const now = opts.clock ? opts.clock.now() : ((await q(SQL.dbNow, []))[0]!.db_now as number);
        const repos = repositories(q, readOnly, p);
        return body({ now, ...repos, events: { ...repos.events, head: repos.committedHead }, counters: repos.committedCounters });
      }),
    schemaVersion: () => version,
    storage: () => ({ engine: 'postgresql', journal_mode: 'wal', synchronous, project: p, database_host: host }),
    onOtherWriters: (listener) => {
      listeners.add(listener);
      if (!listening) void listen().catch(() => {});
      return () => void listeners.delete(listener);
    },
    close: async () => {
      await listening?.end().catch(() => {});
      await pool.end();
    },
  };
}
