import { randomUUID } from 'node:crypto';
import { CATALOG } from './generated/catalog.js';
import { ERROR_CODES } from './generated/errors.js';

// The one retry policy (docs/design.md §2), for the client and the CLI alike; README "Retries"
// says the same in words. A call is sent again only when that cannot apply anything twice:
//
// - reconnect and retry, once per call, after
//     - connection refused (the request never reached a server): any method;
//     - HTTP 401 (server.json named a server since replaced; the call never ran): any method;
//     - SHUTTING_DOWN (refused while stopping; nothing ran): any method, once the old server is gone;
//     - a connection lost after the request left (reset, hang-up): only a query, or a call that
//       carries an idempotency key (every audited mutation gets one here, so those always do);
// - BUSY (storage lock not obtained; nothing changed): wait its data.retry_after_ms (10 ms … 2 s),
//   at most BUSY_RETRIES times, on the same server;
// - never server.shutdown: reconnecting would start a server only to stop it;
// - anything else is thrown: every other error, UNAVAILABLE (a full disk) included, is for the
//   caller to act on.

/** How many BUSY answers one call waits out before it throws the last one. */
export const BUSY_RETRIES = 5;
const BUSY_PAUSE_MS = { min: 10, max: 2_000, fallback: 100 };
/** How long to wait for a stopping server to exit before looking for the next one. */
export const STOPPING_WAIT_MS = 5_000;

const { BUSY, SHUTTING_DOWN } = ERROR_CODES;

/** Every audited mutation carries an idempotency key (a random UUID unless the caller chose one). */
export function withIdempotencyKey(method: string, params: Record<string, unknown>): Record<string, unknown> {
  return CATALOG[method]?.audited && params.idempotency_key === undefined ? { ...params, idempotency_key: randomUUID() } : params;
}

/** What went wrong with one attempt. */
export type Failure =
  | { kind: 'transport'; undelivered: boolean }
  | { kind: 'unauthorized' }
  | { kind: 'rpc'; code: number; data?: Record<string, unknown> };

/** What to do next: find the server again and resend, resend here after a pause, or give up. */
export type Decision = { action: 'reconnect'; waitForExit: boolean } | { action: 'pause'; ms: number } | { action: 'fail' };

/** How far this call has come: whether it already reconnected, how many BUSY answers it waited out. */
export interface Attempts {
  reconnected: boolean;
  busy: number;
}

/** The policy, as one function of the call, the failure and the attempts so far. */
export function decide(method: string, params: Record<string, unknown>, failure: Failure, attempts: Attempts): Decision {
  if (failure.kind === 'rpc' && failure.code === BUSY) {
    if (attempts.busy >= BUSY_RETRIES) return { action: 'fail' };
    const asked = Number(failure.data?.retry_after_ms ?? BUSY_PAUSE_MS.fallback);
    const ms = Number.isFinite(asked) ? Math.min(Math.max(asked, BUSY_PAUSE_MS.min), BUSY_PAUSE_MS.max) : BUSY_PAUSE_MS.fallback;
    return { action: 'pause', ms };
  }
  if (attempts.reconnected || method === 'server.shutdown') return { action: 'fail' };
  switch (failure.kind) {
    case 'unauthorized':
      return { action: 'reconnect', waitForExit: false };
    case 'transport':
      return failure.undelivered || replaySafe(method, params) ? { action: 'reconnect', waitForExit: false } : { action: 'fail' };
    case 'rpc':
      return failure.code === SHUTTING_DOWN ? { action: 'reconnect', waitForExit: true } : { action: 'fail' };
  }
}

/** Sending it twice changes nothing more than sending it once: a query, or a call with a key. */
export function replaySafe(method: string, params: Record<string, unknown>): boolean {
  return CATALOG[method]?.kind === 'query' || params.idempotency_key !== undefined;
}
