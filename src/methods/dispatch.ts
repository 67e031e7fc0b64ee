import { DecapodError, invalidParams, toRpcError } from '../errors.js';
import type { Place } from '../domain/claims.js';
import { expireDue } from '../domain/expiry.js';
import { joinLine, leaveLine } from '../domain/waiting.js';
import { iso } from '../util/clock.js';
import { hashCanonical, sha256Hex } from '../util/hash.js';
import { StoreUnavailableError, type Reader } from '../store/store.js';
import type { MethodContext, MethodDef, MutationContext, QueryContext } from './define.js';
import { checkParamsShape, compileParams } from './validate.js';

export type Outcome = { ok: true; result: unknown } | { ok: false; error: DecapodError };

export type Dispatch = (ctx: MethodContext, method: string, params: unknown) => Promise<Outcome>;

/** Fields never hashed into a receipt or an idempotency record (DESIGN §3: no secrets). */
const UNHASHED = new Set(['lease', 'idempotency_key']);
const withoutSecrets = (params: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(params).filter(([k]) => !UNHASHED.has(k)));

const idempotencyKeyHash = (params: Record<string, unknown>): string | undefined =>
  typeof params.idempotency_key === 'string' ? sha256Hex(params.idempotency_key) : undefined;

/**
 * What a repeat must match to be answered from the record: the same params and the same caller.
 * Another agent sending the same key (guessed or leaked) is refused, never handed the first
 * caller's result. Calls without a lease (lease.grant) match on params alone: their keys should be
 * random (UUIDs).
 */
const callHash = (params: Record<string, unknown>): string =>
  hashCanonical({ params: withoutSecrets(params), caller: typeof params.lease === 'string' ? sha256Hex(params.lease) : null });

/** The context a query's handler sees: the method context with its snapshot (no copy of the rest). */
const withRead = (ctx: MethodContext, read: Reader): QueryContext => Object.assign(Object.create(ctx) as MethodContext, { read });

const isConflict = (err: unknown): err is DecapodError => err instanceof DecapodError && err.errorName === 'CONFLICT';

/**
 * One dispatcher behind every surface (POST /rpc, POST /rpc/<method>, MCP, tests). It validates
 * params before any handler runs; a query runs in one snapshot, and a mutation gets what no
 * handler repeats: one transaction, the expiry judged at its instant, the idempotency record and
 * the receipt (docs/architecture.md).
 */
export function createDispatcher(table: ReadonlyMap<string, MethodDef>): Dispatch {
  // Compiled on first use, not at start: compiling all of them cost a cold start ~50 ms.
  const validators = new Map<string, (params: unknown) => void>();
  const validatorOf = (method: MethodDef) => {
    let validate = validators.get(method.name);
    if (!validate) validators.set(method.name, (validate = compileParams(method.params)));
    return validate;
  };

  return async (ctx, name, rawParams) => {
    try {
      if (ctx.server.shuttingDown) {
        throw new DecapodError('SHUTTING_DOWN', 'server is stopping; reconnect and retry');
      }
      const method = table.get(name);
      if (!method) throw new DecapodError('METHOD_NOT_FOUND', `method not found: ${name}`, { method: name });
      const params = rawParams ?? {};
      if (typeof params !== 'object' || Array.isArray(params)) {
        throw invalidParams('params', 'must be an object of named parameters');
      }
      checkParamsShape(params);
      validatorOf(method)(params);
      const p = params as Record<string, unknown>;
      if (method.kind === 'query') {
        // A query's slow part (audit.verify reading git) comes first, outside the snapshot.
        const prepared = method.prepare ? await method.prepare(ctx, p) : undefined;
        return { ok: true, result: await ctx.store.snapshot((read) => Promise.resolve(method.handler(withRead(ctx, read), p, prepared))) };
      }
      let prepared: unknown;
      if (method.prepare) {
        // A repeat of a finished call is answered from its record, without redoing the slow part.
        if (!method.secrets) {
          const prior = await ctx.store.snapshot((read) => recorded(read, method, p));
          if (prior !== undefined) return { ok: true, result: JSON.parse(prior) };
        }
        prepared = await method.prepare(ctx, p);
      }
      const waitMs = method.waitMs?.(p) ?? 0;
      if (waitMs === 0) return { ok: true, result: await runMutation(ctx, method, p, prepared) };
      return await mutationThatWaits(ctx, method, p, waitMs);
    } catch (err) {
      const out = asDecapodError(err);
      if (out.errorName === 'INTERNAL_ERROR') ctx.logError(err, name);
      return { ok: false, error: out };
    }
  };
}

/** The recorded answer (JSON) of an earlier call with this idempotency key, if any (refusing a reuse). */
async function recorded(r: Reader, method: MethodDef, params: Record<string, unknown>): Promise<string | undefined> {
  const keyHash = idempotencyKeyHash(params);
  if (keyHash === undefined) return undefined;
  const prior = await r.idempotency.get(keyHash);
  if (!prior) return undefined;
  if (prior.method !== method.name || prior.params_hash !== callHash(params)) {
    throw invalidParams('idempotency_key', `was already used for a different ${prior.method} call`);
  }
  return prior.response;
}

interface RunOptions {
  /** the wait queue's retries run before requests that have not started */
  ahead?: boolean;
  /** tell waiters the state changed (not for the waiters' own retries: a grant only takes) */
  notify?: boolean;
  /** told of a CONFLICT while the transaction still runs (so a waiter misses no change after it) */
  onConflict?: (err: DecapodError) => void;
  /** a waiting request's place in the line (read at each attempt) */
  place?: Place;
}

/** Runs one mutation as one transaction of the store; resolves once it is durable. */
function runMutation(outer: MethodContext, method: MethodDef, params: Record<string, unknown>, prepared: unknown, opts: RunOptions = {}): Promise<unknown> {
  const keyHash = idempotencyKeyHash(params);
  return outer.store.transaction(
    async (tx) => {
      try {
        const ctx: MutationContext = Object.assign(Object.create(outer) as MethodContext, opts.place ? { tx, place: opts.place } : { tx });
        await expireDue(tx);
        const prior = keyHash === undefined ? undefined : await recorded(tx, method, params);
        if (prior !== undefined) {
          const stored = JSON.parse(prior) as Record<string, unknown>;
          return method.secrets ? await method.secrets.restore(ctx, params, stored) : stored;
        }
        const before = tx.head().seq;
        const out = await method.handler(ctx, params, prepared);
        let result: Record<string, unknown> = out;
        if (method.audited) {
          const head = tx.head();
          if (head.seq === before) throw new Error(`mutation ${method.name} wrote no audit event`);
          const receipt = {
            seq: head.seq,
            hash: head.hash,
            op: method.name,
            at: iso(tx.now),
            inputs_hash: hashCanonical(withoutSecrets(params)),
            outputs_hash: hashCanonical(out),
          };
          result = { ...out, receipt };
        }
        if (keyHash !== undefined) {
          await tx.idempotency.put({
            key_hash: keyHash,
            method: method.name,
            params_hash: callHash(params),
            response: JSON.stringify(method.secrets ? method.secrets.strip(result) : result),
            created_at: tx.now,
          });
        }
        if (opts.notify !== false) outer.waits.notify();
        return result;
      } catch (err) {
        if (opts.onConflict && isConflict(err)) opts.onConflict(err);
        throw err;
      }
    },
    { ahead: opts.ahead === true },
  );
}

/**
 * A mutation that may wait (wait_ms): on CONFLICT it is enlisted in the wait queue before its
 * transaction ends, then retried whenever state changes, in arrival order, until it wins or times
 * out. It also stands in the line every server of the project sees (docs/design.md §5, §7), so
 * no request that arrives later, here or on another server, takes what it waits for first.
 */
async function mutationThatWaits(ctx: MethodContext, method: MethodDef, params: Record<string, unknown>, waitMs: number): Promise<Outcome> {
  let waiting: ReturnType<typeof ctx.waits.wait> | undefined;
  const place: Place = { ticket: null };
  /** the place the granting attempt stood at (a grant leaves the line in its transaction) */
  let grantedAt: number | null = null;
  const attempt = async () => {
    const at = place.ticket;
    const value = await runMutation(ctx, method, params, undefined, { ahead: true, notify: false, place });
    grantedAt = at;
    return value;
  };
  try {
    return {
      ok: true,
      result: await runMutation(ctx, method, params, undefined, {
        onConflict: (first) => {
          waiting ??= ctx.waits.wait(attempt, isConflict, first, waitMs);
        },
      }),
    };
  } catch (err) {
    if (!waiting || !isConflict(err)) throw err;
  }
  if (method.waitsFor) {
    const waitsFor = method.waitsFor;
    // A failure to join leaves the local queue waiting as before (order across servers then best
    // effort for this request); said in the log.
    place.ticket = await ctx.store
      .transaction(async (tx) => {
        const { lease, ...wants } = await waitsFor(Object.assign(Object.create(ctx) as MethodContext, { tx }), params);
        return joinLine(tx, lease, wants, waitMs);
      }, { ahead: true })
      .catch((err: unknown) => {
        ctx.logError(err, `${method.name}: joining the wait line`);
        return null;
      });
  }
  const r = await waiting;
  if (place.ticket !== null && !(r.kind === 'done' && grantedAt === place.ticket)) {
    // Out of the line (unless the grant took it out); those behind retry.
    const ticket = place.ticket;
    await ctx.store.transaction((tx) => leaveLine(tx, ticket), { ahead: true }).then(
      () => ctx.waits.notify(),
      (err: unknown) => ctx.logError(err, `${method.name}: leaving the wait line (its wait ends by itself)`),
    );
  }
  if (r.kind === 'done') return { ok: true, result: r.value };
  if (r.kind === 'failed') return { ok: false, error: asDecapodError(r.error) };
  return { ok: false, error: withWaited(r.last as DecapodError, waitMs) };
}

function withWaited(err: DecapodError, waitMs: number): DecapodError {
  return new DecapodError('CONFLICT', `${err.message} (waited ${waitMs} ms)`, { ...err.data, waited_ms: waitMs });
}

/** The store's engine-neutral refusals become BUSY or UNAVAILABLE (DESIGN §3); the rest, toRpcError. */
function asDecapodError(err: unknown): DecapodError {
  if (err instanceof StoreUnavailableError) {
    if (err.reason === 'busy') return new DecapodError('BUSY', err.message, { retry_after_ms: err.retryAfterMs });
    return new DecapodError('UNAVAILABLE', err.message, { reason: err.reason, retry_after_ms: err.retryAfterMs, ...err.detail });
  }
  return toRpcError(err);
}
