import { expireDue } from '../domain/expiry.js';
import { revokeOrphanedLeases } from '../domain/leases.js';
import { forgetDeadWaiters } from '../domain/waiting.js';
import { DEFAULT_ROW_RETENTION_MS, pruneEnded } from '../domain/retention.js';
import type { Store } from '../store/store.js';
import { isProcessAlive } from '../util/process-alive.js';

export const SWEEP_EVERY_MS = 1_000;

export interface Retention {
  /** idempotency records (docs/design.md §4: 24 h by default) */
  idempotencyMs: number;
  /** ended leases and claims (7 days by default); audit events are always kept */
  rowsMs: number;
  /** how often (server clock) to prune */
  pruneEveryMs: number;
}

export const DEFAULT_RETENTION: Retention = {
  idempotencyMs: 24 * 3_600_000,
  rowsMs: DEFAULT_ROW_RETENTION_MS,
  pruneEveryMs: 3_600_000,
};

/**
 * While the server runs, once a second: expire leases and claims whose time is up and revoke
 * leases whose process is gone; once an hour (server clock): prune idempotency records and ended
 * rows past their retention. `onChange` runs when something ended (waiters retry then).
 */
export function startHousekeeping(
  outer: { store: Store; host: string },
  onChange: () => void,
  onError: (err: unknown) => void,
  retention: Retention = DEFAULT_RETENTION,
  everyMs = SWEEP_EVERY_MS,
): { stop(): void } {
  const { store, host } = outer;
  let lastPrune = store.clock.now();
  let running = false;
  const sweep = async () => {
    const changed = await store.transaction(async (tx) => {
      const expired = await expireDue(tx);
      const orphaned = (await revokeOrphanedLeases(tx, host, isProcessAlive)).length > 0;
      // A dead server's waiters stop counting once their wait or lease ends; the ones behind retry.
      const forgotten = await forgetDeadWaiters(tx);
      if (tx.now - lastPrune >= retention.pruneEveryMs) {
        lastPrune = tx.now;
        await tx.idempotency.prune(tx.now - retention.idempotencyMs);
        await pruneEnded(tx, retention.rowsMs);
      }
      // Inside the transaction: waiters retry right after it, before any request not yet started.
      if (expired || orphaned || forgotten) onChange();
      return expired || orphaned || forgotten;
    });
    return changed;
  };
  const timer = setInterval(() => {
    if (running) return; // one sweep at a time: a slow one is not stacked on
    running = true;
    sweep()
      .catch(onError)
      .finally(() => (running = false));
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
