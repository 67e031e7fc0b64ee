import { performance } from 'node:perf_hooks';
import { CLOSED } from './connection.js';
import { isRpcError, TransportError } from './errors.js';
import type { MethodName, Params, ParamsArg, Result } from './types.js';

type Call = <M extends MethodName>(method: M, ...args: ParamsArg<M>) => Promise<Result<M>>;

/**
 * Why a lease was lost: the server's `LEASE_INVALID` reason (`revoked`, `expired`, `unknown`),
 * `expired` when it could not be renewed in time, or `closed` when its client was closed.
 */
export type LostReason = string;

/** `lease.grant` params, plus a listener for losing the lease. */
export type HoldOptions = Params<'lease.grant'> & {
  /** called once if the lease is revoked elsewhere, expires, or cannot be renewed before it runs out */
  onLost?: (reason: LostReason) => void;
};

export type LeaseState = 'active' | 'lost' | 'released';

/**
 * A held lease: renewed in the background every third of its TTL until `release()`, or until the
 * server says it is gone (revoked or expired elsewhere), which `onLost` listeners hear about.
 * Its timer never keeps the process alive. Get one with `client.lease.hold(...)`.
 *
 * @example
 * const me = await client.lease.hold({ agent: 'alice', ttl_ms: 30_000 });
 * me.onLost((reason) => console.error(`lease lost (${reason}): stop writing`));
 * await client.claim.acquire({ lease: me.secret, paths: ['src/parser'] });
 * await me.release();
 */
export class Lease {
  /** the public lease id (`lease_id`) */
  readonly id: string;
  readonly agent: string;
  /** the TTL the server granted, in ms */
  readonly ttlMs: number;
  readonly #secret: string;
  readonly #call: Call;
  readonly #listeners = new Set<(reason: LostReason) => void>();
  #state: LeaseState = 'active';
  #lostReason: LostReason | undefined;
  #expiresAt: string;
  /** performance.now() by which the server's TTL runs out, at the latest */
  #deadline: number;
  #timer: NodeJS.Timeout | undefined;

  /** @internal use `client.lease.hold(...)` */
  constructor(call: Call, granted: Result<'lease.grant'>, sentAt: number, onLost?: (reason: LostReason) => void) {
    this.#call = call;
    this.#secret = granted.lease;
    this.id = granted.lease_id;
    this.agent = granted.agent;
    this.ttlMs = granted.ttl_ms;
    this.#expiresAt = granted.expires_at;
    // docs/design.md §3: ttl_remaining_ms lets us track the deadline on our own monotonic clock.
    this.#deadline = sentAt + granted.ttl_remaining_ms;
    if (onLost) this.#listeners.add(onLost);
    this.#schedule(this.#interval);
  }

  /** The secret lease string: pass it as `lease`. A getter, so logging the object never shows it. */
  get secret(): string {
    return this.#secret;
  }

  get state(): LeaseState {
    return this.#state;
  }

  /** why the lease was lost, once it is */
  get lostReason(): LostReason | undefined {
    return this.#lostReason;
  }

  /** the server's expiry time as of the last renewal (ISO-8601 UTC) */
  get expiresAt(): string {
    return this.#expiresAt;
  }

  /** ms left before the lease runs out, as last renewed, on this process's monotonic clock */
  ttlRemainingMs(): number {
    return Math.max(0, Math.round(this.#deadline - performance.now()));
  }

  /**
   * Calls `listener(reason)` once when the lease is lost (at once if it already is). Returns a
   * function that removes the listener.
   *
   * @example
   * const off = me.onLost((reason) => abort.abort(reason));
   */
  onLost(listener: (reason: LostReason) => void): () => void {
    if (this.#state === 'lost') {
      const reason = this.#lostReason!;
      queueMicrotask(() => listener(reason));
      return () => {};
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Renews now (the background timer does this by itself). A `LEASE_INVALID` answer marks the
   * lease lost, tells the listeners and is thrown.
   *
   * @example
   * const { ttl_remaining_ms } = await me.renew();
   */
  async renew(): Promise<Result<'lease.renew'>> {
    const sentAt = performance.now();
    try {
      const renewed = await this.#call('lease.renew', { lease: this.#secret });
      if (this.#state === 'active') {
        this.#deadline = sentAt + renewed.ttl_remaining_ms;
        this.#expiresAt = renewed.expires_at;
      }
      return renewed;
    } catch (err) {
      if (isRpcError(err, 'LEASE_INVALID')) this.#lose(err.data.reason ?? 'invalid');
      throw err;
    }
  }

  /**
   * Stops renewing and revokes the lease, which releases its claims (docs/design.md §4). Returns the
   * released claim ids; `[]` when the lease was already gone. If the server cannot be reached,
   * this throws, and the lease still ends by itself once its TTL runs out.
   *
   * @example
   * const releasedClaims = await me.release();
   */
  async release(): Promise<string[]> {
    const wasActive = this.#state === 'active';
    this.#stop('released');
    if (!wasActive) return [];
    try {
      const { released } = await this.#call('lease.revoke', { lease: this.#secret });
      return released;
    } catch (err) {
      if (isRpcError(err, 'LEASE_INVALID')) return [];
      throw err;
    }
  }

  /** No secret: safe to log. */
  toJSON(): { id: string; agent: string; state: LeaseState; expires_at: string } {
    return { id: this.id, agent: this.agent, state: this.#state, expires_at: this.#expiresAt };
  }

  get #interval(): number {
    return Math.max(1, Math.floor(this.ttlMs / 3));
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), ms);
    this.#timer.unref(); // a held lease never keeps the process alive
  }

  async #tick(): Promise<void> {
    if (this.#state !== 'active') return;
    try {
      await this.renew();
    } catch (err) {
      if (this.#state !== 'active') return; // renew() reported the loss
      // The client was closed: nobody renews any more, so the lease will run out.
      if (err instanceof TransportError && err.code === CLOSED) return this.#lose('closed');
      // Unreachable or busy: try again before the deadline; past it, the server's TTL has run out.
      const left = this.ttlRemainingMs();
      if (left <= 0) return this.#lose('expired');
      return this.#schedule(Math.max(10, Math.min(this.#interval, Math.floor(left / 2))));
    }
    if (this.#state === 'active') this.#schedule(this.#interval);
  }

  #lose(reason: LostReason): void {
    if (this.#state !== 'active') return;
    this.#lostReason = reason;
    this.#stop('lost');
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) queueMicrotask(() => listener(reason));
  }

  #stop(state: LeaseState): void {
    if (this.#state === 'active') this.#state = state;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
