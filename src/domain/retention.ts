import type { Tx } from '../store/store.js';
import { appendEvent } from './audit-chain.js';

/** docs/design.md §4 retention: ended leases and claims are kept this long, then pruned; events stay. */
export const DEFAULT_ROW_RETENTION_MS = 7 * 24 * 3_600_000;

/**
 * Prunes claims that ended before the cutoff (unless a proof refers to them) and leases that
 * ended before it and hold no claim rows. Pruning is itself an event, so replaying the log still
 * rebuilds exactly the live state. Returns how many rows went.
 */
export async function pruneEnded(tx: Tx, retentionMs: number): Promise<{ leases: number; claims: number }> {
  const before = tx.now - retentionMs;
  const claims = await tx.claims.endedBefore(before);
  await tx.claims.delete(claims);
  const leases = await tx.leases.endedBefore(before);
  await tx.leases.delete(leases);
  if (claims.length + leases.length > 0) {
    await appendEvent(tx, { type: 'store.pruned', agent: null, subject: null, data: { before, leases, claims } });
  }
  return { leases: leases.length, claims: claims.length };
}
