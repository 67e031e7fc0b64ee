import { DecapodError, invalidParams, toRpcError } from '../errors.js';
import { expireDue } from '../domain/expiry.js';
import { frozenAt, iso } from '../util/clock.js';
import { hashCanonical, sha256Hex } from '../util/hash.js';
import type { GroupCommit } from '../store/sqlite/sqlite-store.js';
import { StoreUnavailableError } from '../store/store.js';
import type { MethodContext, MethodDef } from './define.js';
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

/** The store's group commit, when it offers one (the SQLite store does). */
const groupOf = (store: unknown): GroupCommit | undefined =>
  typeof (store as Partial<GroupCommit>).grouped === 'function' ? (store as GroupCommit) : undefined;

/**
 * Resolves once no write group is open: a query then reads only committed state, and an error
 * found against a group's state is answered only once that state is durable.
 */
export async function settled(ctx: MethodContext): Promise<void> {
  const group = groupOf(ctx.store);
  for (let pending = group?.pendingCommit(); pending; pending = group!.pendingCommit()) await pending.catch(() => {});
}

/**
 * One dispatcher behind every surface (POST /rpc, POST /rpc/<method>, tests). It validates params
 * before any handler runs, and gives every mutation what no handler repeats: one write transaction,
 * the expiry judged now, the idempotency record and the receipt.
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
        // A query's slow part (audit.verify reading git) comes first; the snapshot stays synchronous.
        const prepared = method.prepare ? await method.prepare(ctx, p) : undefined;
        const group = groupOf(ctx.store);
        if (!group) return { ok: true, result: await method.handler(ctx, p, prepared) };
        if (group.pendingCommit()) await settled(ctx);
        return { ok: true, result: await group.snapshot(() => method.handler(ctx, p, prepared)) };
      }
      let prepared: unknown;
      if (method.prepare) {
        // A repeat of a finished call is answered from its record, without redoing the slow part.
        const prior = replayOf(ctx, method, p);
        if (prior !== undefined) return { ok: true, result: prior };
        prepared = await method.prepare(ctx, p);
      }
      try {
        const { value, committed } = runMutation(ctx, method, p, prepared);
        ctx.waits.notify();
        // Answered only once durable: with group commit, when the group this call joined commits.
        if (committed) await committed;
        return { ok: true, result: value };
      } catch (err) {
        const waitMs = method.waitMs?.(p) ?? 0;
        if (!(err instanceof DecapodError && err.errorName === 'CONFLICT' && waitMs > 0)) throw err;
        return await waitForTurn(ctx, method, p, waitMs, err);
      }
    } catch (err) {
      const out = asDecapodError(err);
      if (out.errorName === 'INTERNAL_ERROR') ctx.logError(err, name);
      if (groupOf(ctx.store)?.pendingCommit()) await settled(ctx);
      return { ok: false, error: out };
    }
  };
}

/** The recorded result of an earlier call with this idempotency key, if any (refusing a reuse). */
function replayOf(ctx: MethodContext, method: MethodDef, params: Record<string, unknown>): unknown {
  const keyHash = idempotencyKeyHash(params);
  if (keyHash === undefined) return undefined;
  const prior = ctx.store.idempotency.get(keyHash);
  if (!prior) return undefined;
  if (prior.method !== method.name || prior.params_hash !== callHash(params)) {
    throw invalidParams('idempotency_key', `was already used for a different ${prior.method} call`);
  }
  const stored = JSON.parse(prior.response) as Record<string, unknown>;
  return method.secrets ? method.secrets.restore(ctx, params, stored) : stored;
}

/**
 * Runs one mutation atomically: as one step of the store's open commit group when it offers group
 * commit (`committed` then says when it is durable), else as its own transaction.
 */
function runMutation(
  outer: MethodContext,
  method: MethodDef,
  params: Record<string, unknown>,
  prepared?: unknown,
): { value: unknown; committed?: Promise<void> } {
  const keyHash = idempotencyKeyHash(params);
  const body = () => {
    const ctx: MethodContext = { ...outer, clock: frozenAt(outer.clock) };
    expireDue(ctx);
    const inputsHash = hashCanonical(withoutSecrets(params));
    const prior = replayOf(ctx, method, params);
    if (prior !== undefined) return prior;
    const before = ctx.store.events.head()?.seq ?? 0;
    const out = method.handler(ctx, params, prepared);
    if (out instanceof Promise) throw new Error(`mutation ${method.name} must be synchronous`);
    let result: Record<string, unknown> = out;
    if (method.audited) {
      const head = ctx.store.events.head();
      if (!head || head.seq === before) throw new Error(`mutation ${method.name} wrote no audit event`);
      const receipt = {
        seq: head.seq,
        hash: head.hash,
        op: method.name,
        at: iso(ctx.clock.now()),
        inputs_hash: inputsHash,
        outputs_hash: hashCanonical(out),
      };
      result = { ...out, receipt };
    }
    if (keyHash !== undefined) {
      ctx.store.idempotency.put({
        key_hash: keyHash,
        method: method.name,
        params_hash: callHash(params),
        response: JSON.stringify(method.secrets ? method.secrets.strip(result) : result),
        created_at: ctx.clock.now(),
      });
    }
    return result;
  };
  const group = groupOf(outer.store);
  return group ? group.grouped(body) : { value: outer.store.transaction(body) };
}

/** Retries a conflicting mutation whenever state changes, in arrival order, until it wins or times out. */
function waitForTurn(ctx: MethodContext, method: MethodDef, params: Record<string, unknown>, waitMs: number, first: DecapodError): Promise<Outcome> {
  return new Promise((resolve) => {
    let last = first;
    // Granted (or failed for good) now; answered once what it saw and wrote is committed.
    const finishWhenDurable = (outcome: Outcome, committed?: Promise<void>) => {
      clearTimeout(timer);
      remove();
      const pending = committed ?? groupOf(ctx.store)?.pendingCommit();
      if (!pending) return resolve(outcome);
      pending.then(
        () => resolve(outcome),
        (err: unknown) => resolve(outcome.ok ? { ok: false, error: asDecapodError(err) } : outcome),
      );
    };
    const remove = ctx.waits.add(() => {
      try {
        const { value, committed } = runMutation(ctx, method, params);
        finishWhenDurable({ ok: true, result: value }, committed);
        return true;
      } catch (err) {
        if (err instanceof DecapodError && err.errorName === 'CONFLICT') {
          last = err;
          return false;
        }
        finishWhenDurable({ ok: false, error: asDecapodError(err) });
        return true;
      }
    });
    const timer = setTimeout(() => finishWhenDurable({ ok: false, error: withWaited(last, waitMs) }), waitMs);
  });
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
