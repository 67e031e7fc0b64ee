import type { DomainContext } from '../domain/context.js';
import { expireDue } from '../domain/expiry.js';
import { revokeOrphanedLeases } from '../domain/leases.js';
import { frozenAt } from '../util/clock.js';
import { isProcessAlive } from '../util/process-alive.js';

export const SWEEP_EVERY_MS = 1_000;
/** DESIGN §4: idempotency records expire after 24 h; audit events are kept. */
export const IDEMPOTENCY_RETENTION_MS = 24 * 3_600_000;

/**
 * While the server runs, once a second: expire leases and claims whose time is up, revoke leases
 * whose process is gone, prune old idempotency records. `onChange` runs when something ended
 * (waiters retry then).
 */
export function startHousekeeping(outer: DomainContext, onChange: () => void, onError: (err: unknown) => void): { stop(): void } {
  const timer = setInterval(() => {
    try {
      const changed = outer.store.transaction(() => {
        const ctx = { ...outer, clock: frozenAt(outer.clock) };
        const expired = expireDue(ctx);
        const orphaned = revokeOrphanedLeases(ctx, isProcessAlive).length > 0;
        ctx.store.idempotency.prune(ctx.clock.now() - IDEMPOTENCY_RETENTION_MS);
        return expired || orphaned;
      });
      if (changed) onChange();
    } catch (err) {
      onError(err);
    }
  }, SWEEP_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
