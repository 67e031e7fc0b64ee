// DESIGN §7: the one data contract between domain rules and storage. Domain code reaches storage
// only through this interface and never writes SQL, so a PostgreSQL backend can sit behind it.
// Calls are synchronous: a mutation's checks and writes run inside one transaction with no await.

export interface EventRow {
  seq: number;
  at: number;
  type: string;
  agent: string | null;
  subject: string | null;
  /** canonical JSON of the payload, or null once erased */
  data: string | null;
  data_digest: string;
  prev_hash: string;
  hash: string;
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
  meta: string | null;
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
  response: string;
  created_at: number;
}

export interface EventStore {
  head(): { seq: number; hash: string } | undefined;
  append(row: EventRow): void;
  list(query: EventQuery): EventRow[];
  /** every event in seq order, streamed */
  all(): IterableIterator<EventRow>;
  /** the hash of event `seq`, or undefined when the log has no such event */
  hashAt(seq: number): string | undefined;
  count(): number;
}

export interface LeaseStore {
  insert(row: LeaseRow): void;
  byId(leaseId: string): LeaseRow | undefined;
  bySecretHash(secretHash: string): LeaseRow | undefined;
  list(): LeaseRow[];
  /** active leases whose expires_at <= now */
  dueForExpiry(now: number): LeaseRow[];
  /** active leases that named a process */
  activeWithPid(): LeaseRow[];
  /** leases that ended before `before` and have no claim rows left */
  endedBefore(before: number): string[];
  delete(ids: string[]): void;
  renew(leaseId: string, renewedAt: number, expiresAt: number): void;
  end(leaseId: string, state: Exclude<LeaseState, 'active'>, endedAt: number): void;
  countByState(): Record<LeaseState, number>;
}

export interface IdempotencyStore {
  get(keyHash: string): IdempotencyRow | undefined;
  put(row: IdempotencyRow): void;
  /** removes records created before `before`; returns how many */
  prune(before: number): number;
}

export type TaskStatus = 'open' | 'done' | 'cancelled';

export interface TaskRow {
  id: string;
  seq: number;
  title: string;
  description: string;
  status: TaskStatus;
  priority: number;
  /** JSON arrays */
  labels: string;
  depends_on: string;
  paths: string;
  gates: string;
  acceptance: string;
  parent: string | null;
  created_by: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
  verified: number | null;
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

export interface TaskStore {
  nextSeq(): number;
  insert(row: TaskRow): void;
  byId(id: string): TaskRow | undefined;
  update(row: TaskRow): void;
  setLabels(taskId: string, labels: string[]): void;
  setDeps(taskId: string, dependsOn: string[]): void;
  /** ids reachable from `from` through depends_on (for cycle checks) */
  dependencyClosure(from: string[]): Set<string>;
  list(query: TaskQuery): TaskRow[];
  countByStatus(): Record<TaskStatus, number>;
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
  /** JSON array of normalised patterns */
  paths: string;
  ttl_ms: number | null;
  reason: string | null;
  acquired_at: number;
  renewed_at: number;
  expires_at: number | null;
  ended_at: number | null;
  end_reason: string | null;
}

export interface ClaimQuery {
  agent?: string;
  task?: string;
  lease_id?: string;
  now: number;
}

export interface ClaimStore {
  /** the next fence: one counter for the whole store that only grows */
  nextFence(): number;
  insert(row: ClaimRow, patterns: { pattern: string; prefix: string }[]): void;
  /** replaces an active claim's paths (its JSON array and its pattern index rows); id and fence stay */
  setPaths(id: string, paths: string, patterns: { pattern: string; prefix: string }[]): void;
  byId(id: string): ClaimRow | undefined;
  /** live claims (active, lease alive, own deadline not passed) of these filters */
  live(query: ClaimQuery): ClaimRow[];
  /** the live claim on a task, if any */
  liveForTask(taskId: string, now: number): ClaimRow | undefined;
  /**
   * Live claim patterns that could overlap a pattern with this static prefix: those whose prefix
   * is an ancestor of it (or equal), and those under it.
   */
  candidates(prefix: string, now: number): { claim: ClaimRow; pattern: string }[];
  /** active claims of a lease, whatever their deadline */
  activeOfLease(leaseId: string): ClaimRow[];
  /** active claims whose own deadline has passed */
  dueForExpiry(now: number): ClaimRow[];
  renew(id: string, renewedAt: number, expiresAt: number | null): void;
  end(id: string, state: Exclude<ClaimState, 'active'>, endedAt: number, reason: string): void;
  countActive(now: number): number;
  /** claims that ended before `before` and that no proof refers to */
  endedBefore(before: number): string[];
  delete(ids: string[]): void;
}

export interface ProofRow {
  id: string;
  seq: number;
  task_id: string;
  gate: string;
  claim_id: string;
  fence: number;
  passed: number;
  exit_code: number | null;
  timed_out: number;
  duration_ms: number;
  command: string | null;
  output_sha256: string;
  output_bytes: number;
  truncated: number;
  digest: string;
  /** 0: the content changed while the gate ran, so the proof does not count */
  counts: number;
  /** JSON array of the files written while the gate ran */
  changed_during_run: string;
  attested_by: 'server' | 'agent';
  agent: string;
  created_at: number;
  hash: string;
}

export interface ProofStore {
  nextSeq(): number;
  insert(row: ProofRow): void;
  byId(id: string): ProofRow | undefined;
  ofTask(taskId: string): ProofRow[];
  /** the newest proof of each gate of a task */
  latest(taskId: string, gate: string): ProofRow | undefined;
}

/** Every row of the state tables, for replay's comparison (tables in a fixed order, rows by key). */
export type StateDump = Record<string, Record<string, unknown>[]>;

export interface MetaStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

export interface Store {
  readonly meta: MetaStore;
  readonly events: EventStore;
  readonly leases: LeaseStore;
  readonly idempotency: IdempotencyStore;
  readonly tasks: TaskStore;
  readonly claims: ClaimStore;
  readonly proofs: ProofStore;
  /** every row of every state table (not the log, meta or idempotency records) */
  dump(): StateDump;
  /** Runs fn in one write transaction (SQLite: BEGIN IMMEDIATE); fn must be synchronous. */
  transaction<T>(fn: () => T): T;
  /** The highest migration applied. */
  schemaVersion(): number;
  /** how writes are made durable, as the connection reports it */
  storage(): { engine: string; journal_mode: string; synchronous: 'off' | 'normal' | 'full' | 'extra' };
  close(): void;
}

/**
 * The store cannot take this call now, and nothing was changed: the engine's lock was not obtained
 * in time (`busy`), or its disk is full (`disk_full`). Engine-neutral, so the layers above never see
 * an engine's own codes (SQLITE_BUSY, SQLITE_FULL); the dispatcher answers BUSY or UNAVAILABLE.
 */
export class StoreUnavailableError extends Error {
  constructor(
    readonly reason: 'busy' | 'disk_full',
    message: string,
    readonly retryAfterMs: number,
    /** what names the cause: for disk_full, `{path, mount?, free_bytes?}` */
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}
