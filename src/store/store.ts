// docs/design.md §7 and docs/architecture.md: the one data contract between domain rules and
// storage. Domain code reaches storage only through this interface and never writes SQL, so any
// engine can sit behind it: SQLite (src/store/sqlite/) answers every call synchronously underneath
// and hands back resolved promises; a networked engine pays a round trip per call, which is why the
// repositories are set-oriented wherever the domain would otherwise loop.
//
// Rows are values: arrays are arrays and flags are booleans. How an engine encodes them (JSON text,
// integers) stays inside that engine's folder.

import type { Clock } from '../util/clock.js';

export interface EventRow {
  seq: number;
  at: number;
  type: string;
  agent: string | null;
  subject: string | null;
  /**
   * The payload as canonical JSON, or null once erased. Kept as text on purpose: the chain covers
   * the digest of these exact bytes (docs/design.md §4).
   */
  data: string | null;
  data_digest: string;
  prev_hash: string;
  hash: string;
}

/** The end of the hash chain: what the next event links to. */
export interface ChainHead {
  /** 0 for an empty log */
  seq: number;
  /** the genesis hash for an empty log */
  hash: string;
  /** when the last event was written; 0 for an empty log */
  at: number;
}

export interface EventQuery {
  since?: number;
  limit: number;
  subject?: string;
  agent?: string;
}

export type LeaseState = 'active' | 'revoked' | 'expired';

export interface LeaseRow {
  lease_id: string;
  secret_hash: string;
  agent: string;
  state: LeaseState;
  ttl_ms: number;
  pid: number | null;
  /** the host of the server that recorded `pid` (a pid means nothing on another machine) */
  host: string | null;
  meta: Record<string, unknown> | null;
  granted_at: number;
  renewed_at: number;
  expires_at: number;
  ended_at: number | null;
}

export interface IdempotencyRow {
  /** sha256 of the caller's key: a key can derive a secret, so it is not stored in clear */
  key_hash: string;
  method: string;
  params_hash: string;
  /** the recorded answer, as JSON text (returned verbatim to a repeat) */
  response: string;
  created_at: number;
}

export type TaskStatus = 'open' | 'done' | 'cancelled';

export interface TaskRow {
  id: string;
  seq: number;
  title: string;
  description: string;
  status: TaskStatus;
  priority: number;
  labels: string[];
  depends_on: string[];
  paths: string[];
  gates: string[];
  acceptance: string[];
  parent: string | null;
  created_by: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
  verified: boolean | null;
}

export interface TaskQuery {
  status?: TaskStatus;
  label?: string;
  /** only tasks held now by this agent */
  agent?: string;
  /** open, dependencies done, not held by a live claim */
  ready?: boolean;
  /** live = lease active and claim not past its own deadline at this time */
  now: number;
  /** seq to start after (ready lists order by priority, others by seq) */
  after?: { priority: number; seq: number };
  limit: number;
}

export type ClaimState = 'active' | 'released' | 'expired';

export interface ClaimRow {
  id: string;
  lease_id: string;
  agent: string;
  task_id: string | null;
  mode: 'exclusive' | 'shared';
  fence: number;
  state: ClaimState;
  /** normalised patterns */
  paths: string[];
  ttl_ms: number | null;
  reason: string | null;
  acquired_at: number;
  renewed_at: number;
  expires_at: number | null;
  ended_at: number | null;
  end_reason: string | null;
}

/** A claim as read: with its lease's state, so judging whether it holds needs no second read. */
export interface ClaimView extends ClaimRow {
  lease: { state: LeaseState; expires_at: number; ended_at: number | null } | null;
}

/** A claimed pattern with the static prefix its index is searched by (docs/design.md §4). */
export interface ClaimPattern {
  pattern: string;
  prefix: string;
}

export interface ClaimQuery {
  agent?: string;
  task?: string;
  lease_id?: string;
  now: number;
}

/** A live claim pattern that may overlap the asked prefix number `of` (an index into the request). */
export interface Candidate {
  of: number;
  claim: ClaimView;
  pattern: string;
}

export interface ProofRow {
  id: string;
  seq: number;
  task_id: string;
  gate: string;
  claim_id: string;
  fence: number;
  passed: boolean;
  exit_code: number | null;
  timed_out: boolean;
  duration_ms: number;
  command: string | null;
  output_sha256: string;
  output_bytes: number;
  truncated: boolean;
  digest: string;
  /** false: the content changed while the gate ran, so the proof does not count */
  counts: boolean;
  /** the files written while the gate ran */
  changed_during_run: string[];
  attested_by: 'server' | 'agent';
  agent: string;
  created_at: number;
  hash: string;
}

// ---- repositories: one per aggregate; reads on every handle, writes only in a transaction ----

export interface EventReads {
  list(query: EventQuery): Promise<EventRow[]>;
  /** every event in seq order, streamed */
  all(): AsyncIterable<EventRow>;
  /** the hash of each of these seqs that the log has (absent seqs are left out) */
  hashesAt(seqs: readonly number[]): Promise<Map<number, string>>;
  count(): Promise<number>;
  /** the committed end of the chain */
  head(): Promise<ChainHead>;
}
export interface EventWrites extends EventReads {
  /** Appends after the transaction's head (row.seq = head.seq + 1, row.prev_hash = head.hash); moves the head. */
  append(row: EventRow): Promise<void>;
}

export interface LeaseReads {
  byId(leaseId: string): Promise<LeaseRow | undefined>;
  bySecretHash(secretHash: string): Promise<LeaseRow | undefined>;
  list(): Promise<LeaseRow[]>;
  /** active leases whose expires_at <= now */
  dueForExpiry(now: number): Promise<LeaseRow[]>;
  /** active leases that named a process on this host */
  activeWithPid(host: string): Promise<LeaseRow[]>;
  /** leases that ended before `before` and have no claim rows left */
  endedBefore(before: number): Promise<string[]>;
  countByState(): Promise<Record<LeaseState, number>>;
}
export interface LeaseWrites extends LeaseReads {
  insert(row: LeaseRow): Promise<void>;
  delete(ids: readonly string[]): Promise<void>;
  renew(leaseId: string, renewedAt: number, expiresAt: number): Promise<void>;
  end(leaseId: string, state: Exclude<LeaseState, 'active'>, endedAt: number): Promise<void>;
}

export interface IdempotencyReads {
  get(keyHash: string): Promise<IdempotencyRow | undefined>;
  /** records in key_hash order after `after` ('' for the first page), at most `limit` (copying a store: decapod migrate) */
  list(after: string, limit: number): Promise<IdempotencyRow[]>;
}
export interface IdempotencyWrites extends IdempotencyReads {
  put(row: IdempotencyRow): Promise<void>;
  /** removes records created before `before`; returns how many */
  prune(before: number): Promise<number>;
}

export interface TaskReads {
  byId(id: string): Promise<TaskRow | undefined>;
  /** the tasks of these ids that exist */
  byIds(ids: readonly string[]): Promise<Map<string, TaskRow>>;
  /** ids reachable from `from` through depends_on (for cycle checks) */
  dependencyClosure(from: readonly string[]): Promise<Set<string>>;
  list(query: TaskQuery): Promise<TaskRow[]>;
  countByStatus(): Promise<Record<TaskStatus, number>>;
}
export interface TaskWrites extends TaskReads {
  insert(row: TaskRow): Promise<void>;
  update(row: TaskRow): Promise<void>;
}

export interface ClaimReads {
  byId(id: string): Promise<ClaimView | undefined>;
  /** live claims (active, lease alive, own deadline not passed) of these filters, by fence */
  live(query: ClaimQuery): Promise<ClaimView[]>;
  /** the live claim of each of these tasks that has one */
  liveForTasks(taskIds: readonly string[], now: number): Promise<Map<string, ClaimView>>;
  /**
   * For each static prefix of a request (docs/design.md §4), the live claim patterns that could
   * overlap it: those whose prefix is an ancestor of it (or equal), and those under it. One
   * lookup for the whole request.
   */
  candidates(prefixes: readonly string[], now: number): Promise<Candidate[]>;
  /** active claims of these leases, whatever their deadline, by fence */
  activeOfLeases(leaseIds: readonly string[]): Promise<ClaimView[]>;
  /** active claims whose own deadline has passed */
  dueForExpiry(now: number): Promise<ClaimView[]>;
  countActive(now: number): Promise<number>;
  /** claims that ended before `before` and that no proof refers to */
  endedBefore(before: number): Promise<string[]>;
}
export interface ClaimWrites extends ClaimReads {
  insert(row: ClaimRow, patterns: readonly ClaimPattern[]): Promise<void>;
  /** replaces an active claim's paths (and their index rows); id and fence stay */
  setPaths(id: string, paths: readonly string[], patterns: readonly ClaimPattern[]): Promise<void>;
  renew(id: string, renewedAt: number, expiresAt: number | null): Promise<void>;
  end(id: string, state: Exclude<ClaimState, 'active'>, endedAt: number, reason: string): Promise<void>;
  delete(ids: readonly string[]): Promise<void>;
}

export interface ProofReads {
  byId(id: string): Promise<ProofRow | undefined>;
  ofTask(taskId: string): Promise<ProofRow[]>;
  /** the newest proof of each gate of a task */
  latestPerGate(taskId: string): Promise<Map<string, ProofRow>>;
}
export interface ProofWrites extends ProofReads {
  insert(row: ProofRow): Promise<void>;
}

export interface MetaReads {
  get(key: string): Promise<string | undefined>;
  /**
   * Every key the domain has set, with its value (copying a store: decapod migrate). Not the
   * engine's own bookkeeping: the counters are read with `counters()`.
   */
  all(): Promise<Map<string, string>>;
}
export interface MetaWrites extends MetaReads {
  set(key: string, value: string): Promise<void>;
}

/**
 * A request waiting for paths (claim.acquire with wait_ms): its place in one line that every
 * server of the project sees, so arrival order holds across servers (docs/design.md §5, §7).
 * Ephemeral: not audited, not replayed, not in the dump.
 */
export interface WaiterRow {
  /** its place: larger than every earlier waiter's */
  ticket: number;
  lease_id: string;
  agent: string;
  paths: string[];
  mode: 'exclusive' | 'shared';
  task_id: string | null;
  since: number;
  /** when its wait ends */
  until: number;
}
export interface WaiterReads {
  /** the waiters whose wait has not ended and whose lease is alive at `now`, by ticket */
  live(now: number): Promise<WaiterRow[]>;
}
export interface WaiterWrites extends WaiterReads {
  /** joins the line; returns the ticket */
  add(row: Omit<WaiterRow, 'ticket'>): Promise<number>;
  /** leaves the line (nothing when already gone) */
  remove(ticket: number): Promise<void>;
  /** forgets the waiters no longer live at `now` (a crashed server's); how many */
  removeDead(now: number): Promise<number>;
}

/** Every row of the state tables, for replay's comparison (tables in a fixed order, rows by key). */
export type StateDump = Record<string, Record<string, unknown>[]>;

/** A consistent view of committed state at one instant. */
export interface Reader {
  /** the instant this view is judged at (the store's clock, read once) */
  readonly now: number;
  readonly meta: MetaReads;
  readonly events: EventReads;
  readonly leases: LeaseReads;
  readonly idempotency: IdempotencyReads;
  readonly tasks: TaskReads;
  readonly claims: ClaimReads;
  readonly proofs: ProofReads;
  readonly waiters: WaiterReads;
  /** every row of every state table (not the log, meta or idempotency records) */
  dump(): Promise<StateDump>;
  /** the last value each counter has handed out (0: none yet), as of this view */
  counters(): Promise<Record<Counter, number>>;
}

/** What the transaction numbers: fences (one counter that only grows), task ids, proof ids. */
export type Counter = 'fence' | 'task' | 'proof';

/**
 * One atomic unit of work. It owns its instant, the chain head and the counters: read once when
 * it starts, moved in memory as it goes, written back at commit, so no caller re-reads them.
 */
export interface Tx extends Reader {
  readonly meta: MetaWrites;
  readonly events: EventWrites;
  readonly leases: LeaseWrites;
  readonly idempotency: IdempotencyWrites;
  readonly tasks: TaskWrites;
  readonly claims: ClaimWrites;
  readonly proofs: ProofWrites;
  readonly waiters: WaiterWrites;
  /** the chain head as this transaction has moved it */
  head(): ChainHead;
  /** the next value of a counter (each call takes one) */
  next(counter: Counter): Promise<number>;
  /**
   * Moves a counter to at least `atLeast` (never back), so the next value it hands out is larger:
   * for copying a history into another store (decapod migrate, docs/design.md §7), whose rows
   * carry fences and ids the target's counters have not handed out. Written at commit like `next`.
   */
  advance(counter: Counter, atLeast: number): Promise<void>;
}

export interface TransactionOptions {
  /**
   * Runs before every transaction already waiting its turn but not yet started: the wait queue's
   * retries (docs/design.md §5), so a request that arrived later never takes paths first.
   */
  ahead?: boolean;
}

export interface Store {
  /**
   * Runs `body` as one atomic unit of work on this project, serialized with every other writer of
   * it, and resolves once that work is durable. When `body` throws, nothing of it is kept and the
   * promise rejects with what it threw, once the state it judged against is durable.
   */
  transaction<T>(body: (tx: Tx) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /** Runs a read-only `body` against committed state, in one consistent snapshot. */
  snapshot<T>(body: (r: Reader) => Promise<T>): Promise<T>;
  /** the store's clock (the server's; an injected one in tests): what `now` is read from */
  readonly clock: Clock;
  /**
   * For a store other servers write too (a shared database): `listener` runs after another
   * server commits a change to this project, so waiters here retry (docs/design.md §7). Returns
   * a function that stops listening. Absent for a store only this server writes.
   */
  onOtherWriters?(listener: () => void): () => void;
  /** The highest migration applied. */
  schemaVersion(): number;
  /** how writes are made durable, as the connection reports it; a shared database names its claim space and host */
  storage(): { engine: string; journal_mode: string; synchronous: 'off' | 'normal' | 'full' | 'extra'; project?: string; database_host?: string };
  close(): Promise<void>;
}

/**
 * The store cannot take this call now, and nothing was changed: its lock was not obtained in time
 * (`busy`), its disk is full (`disk_full`), or it cannot be reached (`unavailable`). Engine-neutral,
 * so the layers above never see an engine's own codes; the dispatcher answers BUSY or UNAVAILABLE.
 */
export class StoreUnavailableError extends Error {
  constructor(
    readonly reason: 'busy' | 'disk_full' | 'unavailable',
    message: string,
    readonly retryAfterMs: number,
    /** what names the cause: for disk_full, `{path, mount?, free_bytes?}` */
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}
