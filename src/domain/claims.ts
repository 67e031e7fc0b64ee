import { DecapodError } from '../errors.js';
import type { ClaimRow, LeaseRow } from '../store/store.js';
import { iso } from '../util/clock.js';
import { appendEvent } from './audit-chain.js';
import { staticPrefix } from './claim-paths.js';
import type { DomainContext } from './context.js';
import { patternsOverlap } from './path-overlap.js';

export type ClaimMode = 'exclusive' | 'shared';

export interface PublicClaim {
  id: string;
  lease_id: string;
  agent: string;
  task: string | null;
  paths: string[];
  mode: ClaimMode;
  fence: number;
  state: 'active' | 'released' | 'expired';
  acquired_at: string;
  expires_at: string;
  ttl_remaining_ms: number;
}

export interface Conflict {
  resource: string;
  claim_id: string;
  agent: string;
  mode: ClaimMode;
  ttl_remaining_ms: number;
}

/** When a claim stops holding: its own deadline if it has one, else its lease's. */
function deadline(claim: ClaimRow, lease: LeaseRow | undefined): number {
  const leaseEnd = lease && lease.state === 'active' ? lease.expires_at : (lease?.ended_at ?? claim.acquired_at);
  return claim.expires_at === null ? leaseEnd : Math.min(claim.expires_at, leaseEnd);
}

export function toPublicClaim(ctx: DomainContext, claim: ClaimRow): PublicClaim {
  const now = ctx.clock.now();
  const until = deadline(claim, ctx.store.leases.byId(claim.lease_id));
  const live = claim.state === 'active' && until > now;
  return {
    id: claim.id,
    lease_id: claim.lease_id,
    agent: claim.agent,
    task: claim.task_id,
    paths: JSON.parse(claim.paths) as string[],
    mode: claim.mode,
    fence: claim.fence,
    state: claim.state === 'active' && !live ? 'expired' : claim.state,
    acquired_at: iso(claim.acquired_at),
    expires_at: iso(claim.state === 'active' ? until : (claim.ended_at ?? until)),
    ttl_remaining_ms: live ? until - now : 0,
  };
}

/**
 * Every live claim of another lease that a request for these paths (and task) would collide with
 * (docs/design.md §4): overlapping paths or the same task, where either side is exclusive. The static
 * prefix index narrows the candidates; the overlap relation decides.
 */
export function findConflicts(
  ctx: DomainContext,
  req: { leaseId: string; paths: string[]; mode: ClaimMode; task: string | null },
): Conflict[] {
  const now = ctx.clock.now();
  const found = new Map<string, Conflict>();
  const add = (claim: ClaimRow, resource: string) => {
    if (found.has(claim.id)) return;
    const pub = toPublicClaim(ctx, claim);
    found.set(claim.id, { resource, claim_id: claim.id, agent: claim.agent, mode: claim.mode, ttl_remaining_ms: pub.ttl_remaining_ms });
  };
  if (req.task !== null) {
    const holder = ctx.store.claims.liveForTask(req.task, now);
    if (holder && holder.lease_id !== req.leaseId) add(holder, `task:${req.task}`);
  }
  for (const pattern of req.paths) {
    for (const { claim, pattern: held } of ctx.store.claims.candidates(staticPrefix(pattern), now)) {
      if (claim.lease_id === req.leaseId) continue; // a lease never conflicts with itself
      if (claim.mode === 'shared' && req.mode === 'shared') continue;
      if (patternsOverlap(pattern, held)) add(claim, pattern);
    }
  }
  return [...found.values()];
}

/** How many conflicts a CONFLICT message spells out (data.conflicts has them all). */
const MESSAGE_CONFLICTS = 3;

/**
 * What is held and by whom, for a message: `src/a.ts is held by bob (claim C2)`, or for a task
 * `task T3: src/a.ts is held by bob (claim C2)` — a task refused over one of its paths is not
 * itself held, so the message names the path; `task T3 is held by bob (claim C2)` only when it is.
 */
export function describeConflicts(conflicts: Conflict[], task?: string): string {
  const one = (c: Conflict) => `${c.resource === `task:${task}` ? `task ${task}` : c.resource} is held by ${c.agent} (claim ${c.claim_id})`;
  const ofTask = task !== undefined && conflicts.some((c) => c.resource === `task:${task}`);
  const shown = conflicts.slice(0, MESSAGE_CONFLICTS).map(one).join('; ');
  const more = conflicts.length > MESSAGE_CONFLICTS ? `; and ${conflicts.length - MESSAGE_CONFLICTS} more` : '';
  return `${task !== undefined && !ofTask ? `task ${task}: ` : ''}${shown}${more}`;
}

export function conflictError(conflicts: Conflict[], task?: string): DecapodError {
  return new DecapodError('CONFLICT', describeConflicts(conflicts, task), { conflicts });
}

/** Grants a claim (a new fence) or throws CONFLICT; never a partial grant. Writes claim.acquired. */
export function grantClaim(
  ctx: DomainContext,
  lease: LeaseRow,
  req: { paths: string[]; mode: ClaimMode; task: string | null; ttl_ms?: number; reason?: string },
): ClaimRow {
  const conflicts = findConflicts(ctx, { leaseId: lease.lease_id, paths: req.paths, mode: req.mode, task: req.task });
  if (conflicts.length > 0) throw conflictError(conflicts, req.task ?? undefined);
  const now = ctx.clock.now();
  const fence = ctx.store.claims.nextFence();
  const row: ClaimRow = {
    id: `C${fence}`,
    lease_id: lease.lease_id,
    agent: lease.agent,
    task_id: req.task,
    mode: req.mode,
    fence,
    state: 'active',
    paths: JSON.stringify(req.paths),
    ttl_ms: req.ttl_ms ?? null,
    reason: req.reason ?? null,
    acquired_at: now,
    renewed_at: now,
    expires_at: req.ttl_ms === undefined ? null : now + req.ttl_ms,
    ended_at: null,
    end_reason: null,
  };
  ctx.store.claims.insert(row, req.paths.map((pattern) => ({ pattern, prefix: staticPrefix(pattern) })));
  appendEvent(ctx, {
    type: 'claim.acquired',
    agent: lease.agent,
    subject: req.task ?? row.id,
    data: { claim_id: row.id, lease_id: lease.lease_id, task: req.task, paths: req.paths, mode: req.mode, fence, ttl_ms: row.ttl_ms, reason: row.reason },
  });
  return row;
}

/** The live claim of this lease with exactly these paths, mode and task, if any (re-acquire). */
export function sameClaim(ctx: DomainContext, lease: LeaseRow, req: { paths: string[]; mode: ClaimMode; task: string | null }): ClaimRow | undefined {
  const key = JSON.stringify(req.paths);
  return ctx.store.claims
    .live({ lease_id: lease.lease_id, now: ctx.clock.now() })
    .find((c) => c.paths === key && c.mode === req.mode && c.task_id === req.task);
}

/**
 * Moves a live claim onto other paths, keeping its id and fence (a held task's paths changed:
 * the claim covers what the task says). The caller has checked `findConflicts` for the new paths
 * in the same transaction. Writes claim.paths_changed, which replay applies to rebuild the claim.
 */
export function changeClaimPaths(ctx: DomainContext, claim: ClaimRow, paths: string[], reason: string): ClaimRow {
  const json = JSON.stringify(paths);
  ctx.store.claims.setPaths(claim.id, json, paths.map((pattern) => ({ pattern, prefix: staticPrefix(pattern) })));
  appendEvent(ctx, {
    type: 'claim.paths_changed',
    agent: claim.agent,
    subject: claim.task_id ?? claim.id,
    data: { claim_id: claim.id, fence: claim.fence, task: claim.task_id, paths, previous_paths: JSON.parse(claim.paths) as string[], reason },
  });
  return { ...claim, paths: json };
}

/** A repeated acquire changes nothing but is recorded: the log shows every request that succeeded. */
export function noteReacquired(ctx: DomainContext, claim: ClaimRow): void {
  appendEvent(ctx, { type: 'claim.reacquired', agent: claim.agent, subject: claim.task_id ?? claim.id, data: { claim_id: claim.id, fence: claim.fence } });
}

/** Ends a claim with one audit event: released by its holder, or expired with its lease or TTL. */
export function endClaim(ctx: DomainContext, claim: ClaimRow, state: 'released' | 'expired', reason: string): void {
  ctx.store.claims.end(claim.id, state, ctx.clock.now(), reason);
  appendEvent(ctx, {
    type: state === 'released' ? 'claim.released' : 'claim.expired',
    agent: claim.agent,
    subject: claim.task_id ?? claim.id,
    data: { claim_id: claim.id, fence: claim.fence, reason },
  });
}

/** Ends every active claim of a lease (expiry or revocation): one event each. Returns their ids. */
export function endClaimsOfLease(ctx: DomainContext, leaseId: string, state: 'released' | 'expired', reason: string): string[] {
  const claims = ctx.store.claims.activeOfLease(leaseId);
  for (const c of claims) endClaim(ctx, c, state, reason);
  return claims.map((c) => c.id);
}

/** The claim, held by this lease, with this fence; otherwise the precise refusal (docs/design.md §3). */
export function heldClaim(ctx: DomainContext, lease: LeaseRow, claimId: string, fence?: number): ClaimRow {
  const claim = ctx.store.claims.byId(claimId);
  if (!claim) throw new DecapodError('NOT_FOUND', `no claim ${claimId}`, { kind: 'claim', id: claimId });
  if (claim.lease_id !== lease.lease_id) {
    throw new DecapodError('NOT_HOLDER', `claim ${claimId} is held by ${claim.agent}, not by this lease`, {
      holder: { agent: claim.agent, lease_id: claim.lease_id },
    });
  }
  const live = toPublicClaim(ctx, claim).state === 'active';
  if (!live || (fence !== undefined && fence !== claim.fence)) {
    throw new DecapodError('FENCED_OUT', `claim ${claimId} with fence ${fence ?? claim.fence} is no longer current`, {
      current_fence: live ? claim.fence : currentFence(ctx, claim),
      claim_state: live ? 'active' : toPublicClaim(ctx, claim).state,
    });
  }
  return claim;
}

/** The newest fence now holding any resource of this claim (another holder's), or null. */
export function currentFence(ctx: DomainContext, claim: ClaimRow): number | null {
  const paths = JSON.parse(claim.paths) as string[];
  const others = findConflicts(ctx, { leaseId: claim.lease_id, paths, mode: 'exclusive', task: claim.task_id });
  const fences = others.map((c) => ctx.store.claims.byId(c.claim_id)!.fence);
  return fences.length ? Math.max(...fences) : null;
}

/** Claims whose own TTL ran out: one event each. */
export function expireDueClaims(ctx: DomainContext): string[] {
  const due = ctx.store.claims.dueForExpiry(ctx.clock.now());
  for (const c of due) endClaim(ctx, c, 'expired', 'ttl');
  return due.map((c) => c.id);
}
