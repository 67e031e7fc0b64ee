import { expireDueLeases } from '../domain/leases.js';
import type { DomainContext } from '../domain/context.js';

export const SWEEP_EVERY_MS = 1_000;
/** DESIGN §4: idempotency records expire after 24 h; audit events are kept. */
export const IDEMPOTENCY_RETENTION_MS = 24 * 3_600_000;

/** While the server runs: expire leases whose time is up, and prune old idempotency records. */
export function startHousekeeping(ctx: DomainContext, onError: (err: unknown) => void): { stop(): void } {
  const timer = setInterval(() => {
    try {
      ctx.store.transaction(() => {
        expireDueLeases(ctx);
        ctx.store.idempotency.prune(ctx.clock.now() - IDEMPOTENCY_RETENTION_MS);
      });
    } catch (err) {
      onError(err);
    }
  }, SWEEP_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
