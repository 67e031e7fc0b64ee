import type { Tx } from '../store/store.js';
import { expireDueClaims } from './claims.js';
import { expireDueLeases } from './leases.js';

/**
 * Judges time now (docs/design.md §4): ends every lease and time-boxed claim whose deadline has passed,
 * with their events. Runs first in every mutation's transaction and in the periodic sweep.
 * Returns whether anything ended.
 */
export async function expireDue(tx: Tx): Promise<boolean> {
  const leases = await expireDueLeases(tx);
  const claims = await expireDueClaims(tx);
  return leases.length + claims.length > 0;
}
