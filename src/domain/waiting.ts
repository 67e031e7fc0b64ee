import type { LeaseRow, Tx } from '../store/store.js';
import type { ClaimMode } from './claims.js';

// docs/design.md §5, §7: requests waiting for paths (claim.acquire with wait_ms) stand in one
// line that every server of the project sees. A request takes no paths a live waiter ahead of it
// wants (claims.ts, grantClaim), so the first to ask is the first served on whichever server.

/** Joins the line for `req` until `waitMs` from now; returns the place (ticket). */
export async function joinLine(tx: Tx, lease: LeaseRow, req: { paths: string[]; mode: ClaimMode; task: string | null }, waitMs: number): Promise<number> {
  return tx.waiters.add({ lease_id: lease.lease_id, agent: lease.agent, paths: req.paths, mode: req.mode, task_id: req.task, since: tx.now, until: tx.now + waitMs });
}

/** Leaves the line (the wait ended without a grant; a grant leaves it in its own transaction). */
export async function leaveLine(tx: Tx, ticket: number): Promise<void> {
  await tx.waiters.remove(ticket);
}

/** Forgets waiters whose wait or lease ended without them leaving (their server died). */
export async function forgetDeadWaiters(tx: Tx): Promise<boolean> {
  return (await tx.waiters.removeDead(tx.now)) > 0;
}
