import { DecapodError } from '../errors.js';
import type { ClaimView, LeaseRow, Reader, Tx } from '../store/store.js';
import { iso } from '../util/clock.js';
import { appendEvent } from './audit-chain.js';
import { staticPrefix } from './claim-paths.js';
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
  /** the holder's claim, or `W<ticket>` for a request waiting ahead */
  claim_id: string;
  agent: string;
  mode: ClaimMode;
  /** how long the claim holds, or the waiter waits, at most */
  ttl_remaining_ms: number;
  /** not held yet: an earlier request waits for it (docs/design.md §5) */
  waiting?: true;
}

/**
 * A request's place in the line of waiting requests (docs/design.md §5, §7): it takes no paths
 * that a live waiter ahead of it wants. `ticket` null: a request not in line, behind every waiter.
 */
export interface Place {
  ticket: number | null;
}

/** A request for paths (and a task) by a lease: what findConflicts judges. */
export interface ClaimRequest {
  leaseId: string;
  paths: string[];
  mode: ClaimMode;
  task: string | null;
}

/** When a claim stops holding: its own deadline if it has one, else its lease's. */
function deadline(claim: ClaimView): number {
  const lease = claim.lease;
  const leaseEnd = lease && lease.state === 'active' ? lease.expires_at : (lease?.ended_at ?? claim.acquired_at);
  return claim.expires_at === null ? leaseEnd : Math.min(claim.expires_at, leaseEnd);
}

/** Does the claim hold at `now`? */
export const holds = (claim: ClaimView, now: number): boolean => claim.state === 'active' && deadline(claim) > now;

export function toPublicClaim(claim: ClaimView, now: number): PublicClaim {
  const until = deadline(claim);
  const live = claim.state === 'active' && until > now;
  return {
    id: claim.id,
    lease_id: claim.lease_id,
    agent: claim.agent,
    task: claim.task_id,
    paths: claim.paths,
    mode: claim.mode,
    fence: claim.fence,
    state: claim.state === 'active' && !live ? 'expired' : claim.state,
    acquired_at: iso(claim.acquired_at),
    expires_at: iso(claim.state === 'active' ? until : (claim.ended_at ?? until)),
    ttl_remaining_ms: live ? until - now : 0,
  };
}

/** A conflict with the holder's fence, which currentFence needs and the public answer does not show. */
interface FoundConflict {
  conflict: Conflict;
  fence: number;
}

/**
 * For each request, every live claim of another lease it would collide with (docs/design.md §4):
 * overlapping paths or the same task, where either side is exclusive. One candidate lookup and one
 * task lookup for all the requests together: the static prefix index narrows the candidates, the
 * overlap relation decides.
 */
async function conflictsOf(r: Reader, reqs: readonly ClaimRequest[], place?: Place): Promise<FoundConflict[][]> {
  const now = r.now;
  const prefixes: string[] = [];
  const prefixIndex = new Map<string, number>();
  const asked: { req: number; pattern: string; of: number }[] = [];
  reqs.forEach((req, i) => {
    for (const pattern of req.paths) {
      const prefix = staticPrefix(pattern);
      let of = prefixIndex.get(prefix);
      if (of === undefined) prefixIndex.set(prefix, (of = prefixes.push(prefix) - 1));
      asked.push({ req: i, pattern, of });
    }
  });
  const tasks = reqs.flatMap((q) => (q.task === null ? [] : [q.task]));
  const [candidates, holders, line] = await Promise.all([
    prefixes.length > 0 ? r.claims.candidates(prefixes, now) : Promise.resolve([]),
    tasks.length > 0 ? r.claims.liveForTasks([...new Set(tasks)], now) : Promise.resolve(new Map<string, ClaimView>()),
    place ? r.waiters.live(now) : Promise.resolve([]),
  ]);
  const byPrefix = new Map<number, { claim: ClaimView; pattern: string }[]>();
  for (const c of candidates) {
    let list = byPrefix.get(c.of);
    if (!list) byPrefix.set(c.of, (list = []));
    list.push(c);
  }
  const found = reqs.map(() => new Map<string, FoundConflict>());
  const add = (i: number, claim: ClaimView, resource: string) => {
    const seen = found[i]!;
    if (seen.has(claim.id)) return;
    const ttl = holds(claim, now) ? deadline(claim) - now : 0;
    seen.set(claim.id, { conflict: { resource, claim_id: claim.id, agent: claim.agent, mode: claim.mode, ttl_remaining_ms: ttl }, fence: claim.fence });
  };
  reqs.forEach((req, i) => {
    if (req.task === null) return;
    const holder = holders.get(req.task);
    if (holder && holder.lease_id !== req.leaseId) add(i, holder, `task:${req.task}`);
  });
  for (const { req: i, pattern, of } of asked) {
    const req = reqs[i]!;
    for (const { claim, pattern: held } of byPrefix.get(of) ?? []) {
      if (claim.lease_id === req.leaseId) continue; // a lease never conflicts with itself
      if (claim.mode === 'shared' && req.mode === 'shared') continue;
      if (patternsOverlap(pattern, held)) add(i, claim, pattern);
    }
  }
  // The waiters ahead of this place: what they want is theirs first.
  const ahead = place?.ticket == null ? line : line.filter((w) => w.ticket < place.ticket!);
  reqs.forEach((req, i) => {
    for (const w of ahead) {
      if (w.lease_id === req.leaseId || (w.mode === 'shared' && req.mode === 'shared')) continue;
      const id = `W${w.ticket}`;
      const resource = req.task !== null && w.task_id === req.task ? `task:${req.task}` : req.paths.find((mine) => w.paths.some((theirs) => patternsOverlap(mine, theirs)));
      if (resource === undefined || found[i]!.has(id)) continue;
      found[i]!.set(id, { conflict: { resource, claim_id: id, agent: w.agent, mode: w.mode, ttl_remaining_ms: Math.max(0, w.until - now), waiting: true }, fence: 0 });
    }
  });
  return found.map((m) => [...m.values()]);
}

/** For each request, every live claim of another lease it would collide with (one lookup for all). */
export async function findConflictsMany(r: Reader, reqs: readonly ClaimRequest[], place?: Place): Promise<Conflict[][]> {
  return (await conflictsOf(r, reqs, place)).map((found) => found.map((f) => f.conflict));
}

/** Every live claim of another lease that this request would collide with. */
export async function findConflicts(r: Reader, req: ClaimRequest, place?: Place): Promise<Conflict[]> {
  return (await findConflictsMany(r, [req], place))[0]!;
}

/** How many conflicts a CONFLICT message spells out (data.conflicts has them all). */
const MESSAGE_CONFLICTS = 3;

/**
 * What is held and by whom, for a message: `src/a.ts is held by bob (claim C2)`, or for a task
 * `task T3: src/a.ts is held by bob (claim C2)` — a task refused over one of its paths is not
 * itself held, so the message names the path; `task T3 is held by bob (claim C2)` only when it is.
 */
export function describeConflicts(conflicts: Conflict[], task?: string): string {
  const one = (c: Conflict) =>
    `${c.resource === `task:${task}` ? `task ${task}` : c.resource} ${c.waiting ? `is awaited by ${c.agent}, waiting ahead (${c.claim_id})` : `is held by ${c.agent} (claim ${c.claim_id})`}`;
  const ofTask = task !== undefined && conflicts.some((c) => c.resource === `task:${task}`);
  const shown = conflicts.slice(0, MESSAGE_CONFLICTS).map(one).join('; ');
  const more = conflicts.length > MESSAGE_CONFLICTS ? `; and ${conflicts.length - MESSAGE_CONFLICTS} more` : '';
  return `${task !== undefined && !ofTask ? `task ${task}: ` : ''}${shown}${more}`;
}

export function conflictError(conflicts: Conflict[], task?: string): DecapodError {
  return new DecapodError('CONFLICT', describeConflicts(conflicts, task), { conflicts });
}

const patternsOf = (paths: readonly string[]) => paths.map((pattern) => ({ pattern, prefix: staticPrefix(pattern) }));

/**
 * Grants a claim (a new fence) or throws CONFLICT; never a partial grant. Writes claim.acquired.
 * Neither held paths nor paths a waiter ahead of `place` wants are taken; a waiter granted leaves
 * the line in the same transaction.
 */
export async function grantClaim(
  tx: Tx,
  lease: LeaseRow,
  req: { paths: string[]; mode: ClaimMode; task: string | null; ttl_ms?: number; reason?: string },
  place: Place = { ticket: null },
): Promise<ClaimView> {
  const conflicts = await findConflicts(tx, { leaseId: lease.lease_id, paths: req.paths, mode: req.mode, task: req.task }, place);
  if (conflicts.length > 0) throw conflictError(conflicts, req.task ?? undefined);
  if (place.ticket !== null) await tx.waiters.remove(place.ticket);
  const now = tx.now;
  const fence = await tx.next('fence');
  const row: ClaimView = {
    id: `C${fence}`,
    lease_id: lease.lease_id,
    agent: lease.agent,
    task_id: req.task,
    mode: req.mode,
    fence,
    state: 'active',
    paths: req.paths,
    ttl_ms: req.ttl_ms ?? null,
    reason: req.reason ?? null,
    acquired_at: now,
    renewed_at: now,
    expires_at: req.ttl_ms === undefined ? null : now + req.ttl_ms,
    ended_at: null,
    end_reason: null,
    lease: { state: lease.state, expires_at: lease.expires_at, ended_at: lease.ended_at },
  };
  const { lease: _l, ...stored } = row;
  await tx.claims.insert(stored, patternsOf(req.paths));
  await appendEvent(tx, {
    type: 'claim.acquired',
    agent: lease.agent,
    subject: req.task ?? row.id,
    data: { claim_id: row.id, lease_id: lease.lease_id, task: req.task, paths: req.paths, mode: req.mode, fence, ttl_ms: row.ttl_ms, reason: row.reason },
  });
  return row;
}

const samePaths = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((p, i) => p === b[i]);

/** The live claim of this lease with exactly these paths, mode and task, if any (re-acquire). */
export async function sameClaim(r: Reader, lease: LeaseRow, req: { paths: string[]; mode: ClaimMode; task: string | null }): Promise<ClaimView | undefined> {
  const live = await r.claims.live({ lease_id: lease.lease_id, now: r.now });
  return live.find((c) => samePaths(c.paths, req.paths) && c.mode === req.mode && c.task_id === req.task);
}

/**
 * Moves a live claim onto other paths, keeping its id and fence (a held task's paths changed:
 * the claim covers what the task says). The caller has checked `findConflicts` for the new paths
 * in the same transaction. Writes claim.paths_changed, which replay applies to rebuild the claim.
 */
export async function changeClaimPaths(tx: Tx, claim: ClaimView, paths: string[], reason: string): Promise<ClaimView> {
  await tx.claims.setPaths(claim.id, paths, patternsOf(paths));
  await appendEvent(tx, {
    type: 'claim.paths_changed',
    agent: claim.agent,
    subject: claim.task_id ?? claim.id,
    data: { claim_id: claim.id, fence: claim.fence, task: claim.task_id, paths, previous_paths: claim.paths, reason },
  });
  return { ...claim, paths };
}

/** A repeated acquire changes nothing but is recorded: the log shows every request that succeeded. */
export async function noteReacquired(tx: Tx, claim: ClaimView): Promise<void> {
  await appendEvent(tx, { type: 'claim.reacquired', agent: claim.agent, subject: claim.task_id ?? claim.id, data: { claim_id: claim.id, fence: claim.fence } });
}

/** Ends a claim with one audit event: released by its holder, or expired with its lease or TTL. */
export async function endClaim(tx: Tx, claim: ClaimView, state: 'released' | 'expired', reason: string): Promise<ClaimView> {
  await tx.claims.end(claim.id, state, tx.now, reason);
  await appendEvent(tx, {
    type: state === 'released' ? 'claim.released' : 'claim.expired',
    agent: claim.agent,
    subject: claim.task_id ?? claim.id,
    data: { claim_id: claim.id, fence: claim.fence, reason },
  });
  return { ...claim, state, ended_at: tx.now, end_reason: reason };
}

/** The claim, held by this lease, with this fence; otherwise the precise refusal (docs/design.md §3). */
export async function heldClaim(r: Reader, lease: LeaseRow, claimId: string, fence?: number): Promise<ClaimView> {
  const claim = await r.claims.byId(claimId);
  if (!claim) throw new DecapodError('NOT_FOUND', `no claim ${claimId}`, { kind: 'claim', id: claimId });
  if (claim.lease_id !== lease.lease_id) {
    throw new DecapodError('NOT_HOLDER', `claim ${claimId} is held by ${claim.agent}, not by this lease`, {
      holder: { agent: claim.agent, lease_id: claim.lease_id },
    });
  }
  const live = holds(claim, r.now);
  if (!live || (fence !== undefined && fence !== claim.fence)) {
    throw new DecapodError('FENCED_OUT', `claim ${claimId} with fence ${fence ?? claim.fence} is no longer current`, {
      current_fence: live ? claim.fence : await currentFence(r, claim),
      claim_state: live ? 'active' : toPublicClaim(claim, r.now).state,
    });
  }
  return claim;
}

/** The newest fence now holding any resource of this claim (another holder's), or null. */
export async function currentFence(r: Reader, claim: ClaimView): Promise<number | null> {
  const [others] = await conflictsOf(r, [{ leaseId: claim.lease_id, paths: claim.paths, mode: 'exclusive', task: claim.task_id }]);
  const fences = others!.map((c) => c.fence);
  return fences.length ? Math.max(...fences) : null;
}

/** Claims whose own TTL ran out: one event each. */
export async function expireDueClaims(tx: Tx): Promise<string[]> {
  const due = await tx.claims.dueForExpiry(tx.now);
  for (const c of due) await endClaim(tx, c, 'expired', 'ttl');
  return due.map((c) => c.id);
}
