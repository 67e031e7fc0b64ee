import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import type { ErrorName } from '../errors.js';
import type { WaitQueue } from './wait-queue.js';
import type { GateSnapshot } from '../workspace/gate-config.js';
import type { ClaimMode, Place } from '../domain/claims.js';
import type { LeaseRow, Reader, Store, Tx } from '../store/store.js';

/** What a waiting request waits for: its lease and the paths (or task) it wants. */
export interface WaitsFor {
  lease: LeaseRow;
  paths: string[];
  mode: ClaimMode;
  task: string | null;
}

/** What the running server lets methods see of it; absent pieces are filled by tests. */
export interface ServerControl {
  info(): {
    version: string;
    protocol: number;
    pid: number;
    root: string;
    instance_id: string;
    started_at: string;
    uptime_ms: number;
    idle_timeout_ms: number;
  };
  requestShutdown(): void;
  readonly shuttingDown: boolean;
}

/** What every method may use, outside any transaction. Nothing about HTTP. */
export interface MethodContext {
  /** the project's store: `prepare` reads it in snapshots of its own; handlers get theirs */
  store: Store;
  /** this machine's name: leases with a pid are judged only by servers on their host */
  host: string;
  server: ServerControl;
  /** the project root (gates run there; digests cover it) */
  root: string;
  /** the gates of `.decapod/config.json` as they read now */
  gates(): GateSnapshot;
  /** a fresh, empty store with the same schema: audit.replay rebuilds into it */
  scratchStore(): Store;
  /** requests waiting for paths to come free; notified after every change */
  waits: WaitQueue;
  /** logs an unexpected fault with its cause; never shown to the caller */
  logError(err: unknown, method: string): void;
}

/** A query's handler runs in one consistent snapshot: `read`. */
export interface QueryContext extends MethodContext {
  read: Reader;
}

/** A mutation's handler runs in its one transaction: `tx` (docs/architecture.md). */
export interface MutationContext extends MethodContext {
  tx: Tx;
  /** a waiting request's place in the line (docs/design.md §5); absent: behind every waiter */
  place?: Place;
}

export type Kind = 'query' | 'mutation';

export interface MethodExample {
  name: string;
  params: Record<string, unknown>;
  result?: Record<string, unknown>;
}

/**
 * A method is data (STYLE: tRPC procedures): its schemas give validation, the published documents
 * and the client types. `audited` mutations get the idempotency key, one transaction, their audit
 * events and a receipt from the dispatcher; handlers never repeat that.
 */
export interface MethodDef<P extends TObject = TObject, R extends TObject = TObject> {
  name: string;
  kind: Kind;
  /** false for mutations that write no audit event (lease.renew); they get no receipt */
  audited: boolean;
  summary: string;
  params: P;
  result: R;
  errors: ErrorName[];
  examples: MethodExample[];
  /**
   * For mutations with slow work (running a gate, hashing files): done first, outside the
   * transaction, so the event loop stays free; its result reaches the handler, which re-checks
   * everything it relies on inside the transaction. A query may have one too (audit.verify reads
   * git): it runs before the query's read snapshot.
   */
  prepare?: (ctx: MethodContext, params: Static<P>) => Promise<unknown>;
  /** Given a QueryContext for a query, a MutationContext for a mutation. */
  handler(ctx: QueryContext | MutationContext, params: Static<P>, prepared?: unknown): Omit<Static<R>, 'receipt'> | Promise<Omit<Static<R>, 'receipt'>>;
  /** For mutations that may wait: how long (ms) to keep retrying on CONFLICT, in arrival order. */
  waitMs?: (params: Static<P>) => number | undefined;
  /** For mutations that may wait: what they wait for, to stand in the line every server sees. */
  waitsFor?: (ctx: MutationContext, params: Static<P>) => Promise<WaitsFor>;
  /** For results that carry a secret: what the idempotency record keeps, and how a replay restores it. */
  secrets?: {
    strip(result: Record<string, unknown>): Record<string, unknown>;
    restore(ctx: MutationContext, params: Static<P>, stored: Record<string, unknown>): Promise<Record<string, unknown>>;
  };
}

export const Receipt = Type.Object(
  {
    seq: Type.Integer({ minimum: 1, description: 'sequence number of the last audit event written' }),
    hash: Type.String({ description: 'hash of that event' }),
    op: Type.String({ description: 'the method name' }),
    at: Type.String({ format: 'date-time' }),
    inputs_hash: Type.String({ description: 'sha256 of the canonical params, secrets removed' }),
    outputs_hash: Type.String({ description: 'sha256 of the canonical result, receipt removed' }),
  },
  { title: 'Receipt', additionalProperties: false },
);

const IdempotencyKey = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'a repeat with the same key returns the first result and writes nothing',
});

interface SpecBase<P extends TProperties, R extends TProperties> {
  name: string;
  audited?: boolean;
  summary: string;
  params: P;
  result: R;
  errors?: ErrorName[];
  examples?: MethodExample[];
  secrets?: MethodDef['secrets'];
  waitMs?: (params: Static<TObject<P>>) => number | undefined;
  waitsFor?: (ctx: MutationContext, params: Static<TObject<P>>) => Promise<WaitsFor>;
  prepare?: (ctx: MethodContext, params: Static<TObject<P>>) => Promise<unknown>;
}

type Handler<C, P extends TProperties, R extends TProperties> = (
  ctx: C,
  params: Static<TObject<P>>,
  prepared?: unknown,
) => Static<TObject<R>> | Promise<Static<TObject<R>>>;

type Spec<P extends TProperties, R extends TProperties> = SpecBase<P, R> &
  ({ kind: 'query'; handler: Handler<QueryContext, P, R> } | { kind: 'mutation'; handler: Handler<MutationContext, P, R> });

/** Builds a MethodDef; audited mutations get `idempotency_key` in and `receipt` out. */
export function defineMethod<P extends TProperties, R extends TProperties>(spec: Spec<P, R>): MethodDef {
  const audited = spec.kind === 'mutation' && spec.audited !== false;
  const params = Type.Object(audited ? { ...spec.params, idempotency_key: Type.Optional(IdempotencyKey) } : spec.params, {
    additionalProperties: false,
  });
  const result = Type.Object(audited ? { ...spec.result, receipt: Receipt } : spec.result, {
    additionalProperties: false,
  });
  return {
    name: spec.name,
    kind: spec.kind,
    audited,
    summary: spec.summary,
    // The precise static types live in `spec`; the table only needs plain JSON Schema objects.
    params: params as unknown as TObject,
    result: result as unknown as TObject,
    errors: spec.errors ?? [],
    examples: spec.examples ?? [],
    ...(spec.secrets ? { secrets: spec.secrets } : {}),
    ...(spec.waitMs ? { waitMs: spec.waitMs as MethodDef['waitMs'] } : {}),
    ...(spec.waitsFor ? { waitsFor: spec.waitsFor as MethodDef['waitsFor'] } : {}),
    ...(spec.prepare ? { prepare: spec.prepare as MethodDef['prepare'] } : {}),
    handler: spec.handler as unknown as MethodDef['handler'],
  };
}

export type { Static, TSchema };
