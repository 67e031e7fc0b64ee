import type { DomainContext } from '../domain/context.js';
import { expireDue } from '../domain/expiry.js';
import { revokeOrphanedLeases } from '../domain/leases.js';
import { DEFAULT_ROW_RETENTION_MS, pruneEnded } from '../domain/retention.js';
import { frozenAt } from '../util/clock.js';
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
  outer: DomainContext,
  onChange: () => void,
  onError: (err: unknown) => void,
  retention: Retention = DEFAULT_RETENTION,
  everyMs = SWEEP_EVERY_MS,
): { stop(): void } {
  let lastPrune = outer.clock.now();
  const timer = setInterval(() => {
    try {
      const changed = outer.store.transaction(() => {
        const ctx = { ...outer, clock: frozenAt(outer.clock) };
        const expired = expireDue(ctx);
        const orphaned = revokeOrphanedLeases(ctx, isProcessAlive).length > 0;
        if (ctx.clock.now() - lastPrune >= retention.pruneEveryMs) {
          lastPrune = ctx.clock.now();
          ctx.store.idempotency.prune(ctx.clock.now() - retention.idempotencyMs);
          pruneEnded(ctx, retention.rowsMs);
        }
        return expired || orphaned;
      });
      if (changed) onChange();
    } catch (err) {
      onError(err);
    }
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
