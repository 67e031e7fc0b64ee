import { appendEvent } from './audit-chain.js';
import type { DomainContext } from './context.js';

/** docs/design.md §4 retention: ended leases and claims are kept this long, then pruned; events stay. */
export const DEFAULT_ROW_RETENTION_MS = 7 * 24 * 3_600_000;

/**
 * Prunes claims that ended before the cutoff (unless a proof refers to them) and leases that
 * ended before it and hold no claim rows. Pruning is itself an event, so replaying the log still
 * rebuilds exactly the live state. Returns how many rows went.
 */
export function pruneEnded(ctx: DomainContext, retentionMs: number): { leases: number; claims: number } {
  const before = ctx.clock.now() - retentionMs;
  const claims = ctx.store.claims.endedBefore(before);
  ctx.store.claims.delete(claims);
  const leases = ctx.store.leases.endedBefore(before);
  ctx.store.leases.delete(leases);
  if (claims.length + leases.length > 0) {
    appendEvent(ctx, { type: 'store.pruned', agent: null, subject: null, data: { before, leases, claims } });
  }
  return { leases: leases.length, claims: claims.length };
}
