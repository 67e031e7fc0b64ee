import { expireDueClaims } from './claims.js';
import type { DomainContext } from './context.js';
import { expireDueLeases } from './leases.js';

/**
 * Judges time now (docs/design.md §4): ends every lease and time-boxed claim whose deadline has passed,
 * with their events. Runs first in every mutation's transaction and in the periodic sweep.
 * Returns whether anything ended.
 */
export function expireDue(ctx: DomainContext): boolean {
  const leases = expireDueLeases(ctx);
  const claims = expireDueClaims(ctx);
  return leases.length + claims.length > 0;
}
