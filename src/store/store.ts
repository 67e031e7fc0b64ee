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
  count(): number;
}

export interface LeaseStore {
  insert(row: LeaseRow): void;
  byId(leaseId: string): LeaseRow | undefined;
  bySecretHash(secretHash: string): LeaseRow | undefined;
  list(): LeaseRow[];
  /** active leases whose expires_at <= now */
  dueForExpiry(now: number): LeaseRow[];
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

export interface MetaStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

export interface Store {
  readonly meta: MetaStore;
  readonly events: EventStore;
  readonly leases: LeaseStore;
  readonly idempotency: IdempotencyStore;
  /** Runs fn in one write transaction (SQLite: BEGIN IMMEDIATE); fn must be synchronous. */
  transaction<T>(fn: () => T): T;
  /** The highest migration applied. */
  schemaVersion(): number;
  close(): void;
}
