import { DecapodError, invalidParams } from '../errors.js';
import type { ClaimRow, LeaseRow, TaskRow, TaskStatus } from '../store/store.js';
import { iso } from '../util/clock.js';
import { appendEvent } from './audit-chain.js';
import { normalizeClaimPaths } from './claim-paths.js';
import {
  changeClaimPaths,
  conflictError,
  describeConflicts,
  endClaim,
  findConflicts,
  grantClaim,
  noteReacquired,
  sameClaim,
  toPublicClaim,
  type Conflict,
  type PublicClaim,
} from './claims.js';
import type { DomainContext } from './context.js';

export const DEFAULT_PRIORITY = 2;

export interface PublicTask {
  id: string;
  title: string;
  description: string;
  status: TaskStatus;
  priority: number;
  labels: string[];
  depends_on: string[];
  paths: string[];
  gates: string[];
  /** docs/design.md §8: what must be true when the task is done, in the order written */
  acceptance: string[];
  parent: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  verified: boolean | null;
  holder: { agent: string; lease_id: string; claim_id: string; fence: number } | null;
}

export interface TaskFields {
  title?: string;
  description?: string;
  priority?: number;
  labels?: string[];
  depends_on?: string[];
  paths?: string[];
  gates?: string[];
  acceptance?: string[];
  parent?: string;
}

const list = (json: string) => JSON.parse(json) as string[];
const uniqueSorted = (xs: string[]) => [...new Set(xs)].sort();

export function toPublicTask(ctx: DomainContext, row: TaskRow): PublicTask {
  const holder = ctx.store.claims.liveForTask(row.id, ctx.clock.now());
  return {
    ...taskData(row),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    completed_at: row.completed_at === null ? null : iso(row.completed_at),
    verified: row.verified === null ? null : row.verified === 1,
    holder: holder ? { agent: holder.agent, lease_id: holder.lease_id, claim_id: holder.id, fence: holder.fence } : null,
  };
}

export function getTask(ctx: DomainContext, id: string): TaskRow {
  const row = ctx.store.tasks.byId(id);
  if (!row) throw new DecapodError('NOT_FOUND', `no task ${id}`, { kind: 'task', id });
  return row;
}

/** depends_on: every id exists, and the task would not come to depend on itself. */
function checkDependencies(ctx: DomainContext, taskId: string | null, deps: string[]): void {
  deps.forEach((d, i) => {
    if (!ctx.store.tasks.byId(d)) throw invalidParams(`depends_on.${i}`, `names no task (${d})`);
  });
  if (taskId !== null && ctx.store.tasks.dependencyClosure(deps).has(taskId)) {
    throw invalidParams('depends_on', `would make ${taskId} depend on itself (a cycle)`);
  }
}

function checkParent(ctx: DomainContext, taskId: string | null, parent: string | undefined): void {
  if (parent === undefined) return;
  if (parent === taskId) throw invalidParams('parent', 'cannot be the task itself');
  if (!ctx.store.tasks.byId(parent)) throw invalidParams('parent', `names no task (${parent})`);
}

export function createTask(ctx: DomainContext, agent: string | null, f: TaskFields & { title: string }): TaskRow {
  const paths = f.paths?.length ? normalizeClaimPaths(f.paths) : [];
  const deps = uniqueSorted(f.depends_on ?? []);
  checkDependencies(ctx, null, deps);
  checkParent(ctx, null, f.parent);
  const now = ctx.clock.now();
  const seq = ctx.store.tasks.nextSeq();
  const row: TaskRow = {
    id: `T${seq}`,
    seq,
    title: f.title,
    description: f.description ?? '',
    status: 'open',
    priority: f.priority ?? DEFAULT_PRIORITY,
    labels: JSON.stringify(uniqueSorted(f.labels ?? [])),
    depends_on: JSON.stringify(deps),
    paths: JSON.stringify(paths),
    gates: JSON.stringify(uniqueSorted(f.gates ?? [])),
    acceptance: JSON.stringify(f.acceptance ?? []),
    parent: f.parent ?? null,
    created_by: agent,
    created_at: now,
    updated_at: now,
    completed_at: null,
    verified: null,
  };
  ctx.store.tasks.insert(row);
  ctx.store.tasks.setLabels(row.id, list(row.labels));
  ctx.store.tasks.setDeps(row.id, deps);
  appendEvent(ctx, { type: 'task.created', agent, subject: row.id, data: { task: taskData(row) } });
  return row;
}

/** The task's own fields as an event records them (enough for replay to rebuild the row). */
function taskData(row: TaskRow): Omit<PublicTask, 'created_at' | 'updated_at' | 'completed_at' | 'verified' | 'holder'> {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    status: row.status,
    priority: row.priority,
    labels: list(row.labels),
    depends_on: list(row.depends_on),
    paths: list(row.paths),
    gates: list(row.gates),
    acceptance: list(row.acceptance),
    parent: row.parent,
  };
}

/** Only the holder may change a held task; anyone with a lease may change an unheld one. */
function requireMayChange(ctx: DomainContext, lease: LeaseRow, row: TaskRow): ClaimRow | undefined {
  const holder = ctx.store.claims.liveForTask(row.id, ctx.clock.now());
  if (holder && holder.lease_id !== lease.lease_id) {
    throw new DecapodError('NOT_HOLDER', `task ${row.id} is held by ${holder.agent}`, {
      holder: { agent: holder.agent, lease_id: holder.lease_id, claim_id: holder.id, fence: holder.fence },
    });
  }
  return holder;
}

export function updateTask(ctx: DomainContext, lease: LeaseRow, id: string, f: TaskFields): TaskRow {
  const paths = f.paths ? (f.paths.length ? normalizeClaimPaths(f.paths) : []) : undefined; // bad input first: it names a field
  const row = getTask(ctx, id);
  const holder = requireMayChange(ctx, lease, row);
  if (row.status !== 'open') throw new DecapodError('INVALID_STATE', `task ${id} is ${row.status}; reopen it first`, { from: row.status, to: 'open' });
  if (f.depends_on) checkDependencies(ctx, id, uniqueSorted(f.depends_on));
  checkParent(ctx, id, f.parent);
  // Issue 10: the claim covers what the task says. Held, with other paths: the claim moves with
  // them in this same step, or, when another lease holds any of them, nothing changes at all.
  const moveClaim = holder !== undefined && paths !== undefined && JSON.stringify(paths) !== holder.paths;
  if (moveClaim) {
    const conflicts = findConflicts(ctx, { leaseId: holder.lease_id, paths, mode: holder.mode, task: null });
    if (conflicts.length > 0) throw conflictError(conflicts, id);
  }
  const next: TaskRow = {
    ...row,
    ...(f.title !== undefined ? { title: f.title } : {}),
    ...(f.description !== undefined ? { description: f.description } : {}),
    ...(f.priority !== undefined ? { priority: f.priority } : {}),
    ...(f.labels ? { labels: JSON.stringify(uniqueSorted(f.labels)) } : {}),
    ...(f.depends_on ? { depends_on: JSON.stringify(uniqueSorted(f.depends_on)) } : {}),
    ...(paths ? { paths: JSON.stringify(paths) } : {}),
    ...(f.gates ? { gates: JSON.stringify(uniqueSorted(f.gates)) } : {}),
    ...(f.acceptance ? { acceptance: JSON.stringify(f.acceptance) } : {}),
    ...(f.parent !== undefined ? { parent: f.parent } : {}),
    updated_at: ctx.clock.now(),
  };
  ctx.store.tasks.update(next);
  if (f.labels) ctx.store.tasks.setLabels(id, list(next.labels));
  if (f.depends_on) ctx.store.tasks.setDeps(id, list(next.depends_on));
  appendEvent(ctx, { type: 'task.updated', agent: lease.agent, subject: id, data: { task: taskData(next) } });
  if (moveClaim) changeClaimPaths(ctx, holder, paths, `task ${id} paths changed`);
  return next;
}

/** Dependencies not yet done, or [] when the task may start. */
function unfinishedDeps(ctx: DomainContext, row: TaskRow): string[] {
  return list(row.depends_on).filter((d) => ctx.store.tasks.byId(d)?.status !== 'done');
}

export interface ClaimedTask {
  task: TaskRow;
  claim: PublicClaim;
}

/** Claims one named task with its paths, atomically: all or nothing. */
export function claimTask(ctx: DomainContext, lease: LeaseRow, id: string, ttlMs?: number): ClaimedTask {
  const row = getTask(ctx, id);
  if (row.status !== 'open') throw new DecapodError('INVALID_STATE', `task ${id} is ${row.status}`, { from: row.status, to: 'claimed' });
  const waiting = unfinishedDeps(ctx, row);
  if (waiting.length > 0) {
    throw new DecapodError('INVALID_STATE', `task ${id} waits for ${waiting.join(', ')}`, { from: 'open', to: 'claimed', depends_on: waiting });
  }
  const req = { paths: list(row.paths), mode: 'exclusive' as const, task: id };
  const existing = sameClaim(ctx, lease, req);
  if (existing) {
    noteReacquired(ctx, existing);
    return { task: row, claim: toPublicClaim(ctx, existing) };
  }
  const claim = grantClaim(ctx, lease, { ...req, ...(ttlMs !== undefined ? { ttl_ms: ttlMs } : {}), reason: `task ${id}` });
  return { task: row, claim: toPublicClaim(ctx, claim) };
}

/**
 * task.claim without a task: the best ready task (priority, then age) whose paths are free too.
 * If none can be claimed, says why: nothing ready, or every ready task's paths are held.
 */
export function claimNextTask(ctx: DomainContext, lease: LeaseRow, ttlMs?: number): ClaimedTask {
  const now = ctx.clock.now();
  const skipped: { task: string; conflicts: Conflict[] }[] = [];
  let after: { priority: number; seq: number } | undefined;
  for (;;) {
    const page = ctx.store.tasks.list({ ready: true, now, limit: 50, ...(after ? { after } : {}) });
    for (const row of page) {
      const conflicts = findConflicts(ctx, { leaseId: lease.lease_id, paths: list(row.paths), mode: 'exclusive', task: row.id });
      if (conflicts.length === 0) return claimTask(ctx, lease, row.id, ttlMs);
      if (skipped.length < 20) skipped.push({ task: row.id, conflicts });
    }
    if (page.length < 50) break;
    const last = page[page.length - 1]!;
    after = { priority: last.priority, seq: last.seq };
  }
  if (skipped.length > 0) {
    const shown = skipped.slice(0, 3).map((s) => describeConflicts(s.conflicts, s.task));
    const more = skipped.length > 3 ? `; and ${skipped.length - 3} more tasks` : '';
    throw new DecapodError('CONFLICT', `every ready task touches paths held by others: ${shown.join('; ')}${more}`, {
      conflicts: skipped.flatMap((s) => s.conflicts),
      skipped,
    });
  }
  const counts = ctx.store.tasks.countByStatus();
  throw new DecapodError('NOT_FOUND', `no task is ready (${counts.open} open, none free with its dependencies done)`, {
    kind: 'task',
    id: null,
    reason: 'no ready task',
    open: counts.open,
  });
}

export function cancelTask(ctx: DomainContext, lease: LeaseRow, id: string, reason: string): TaskRow {
  const row = getTask(ctx, id);
  const holder = requireMayChange(ctx, lease, row);
  if (row.status !== 'open') throw new DecapodError('INVALID_STATE', `task ${id} is ${row.status}`, { from: row.status, to: 'cancelled' });
  if (holder) endClaim(ctx, holder, 'released', 'task cancelled');
  return setStatus(ctx, lease, row, 'cancelled', reason);
}

export function reopenTask(ctx: DomainContext, lease: LeaseRow, id: string, reason: string): TaskRow {
  const row = getTask(ctx, id);
  if (row.status === 'open') throw new DecapodError('INVALID_STATE', `task ${id} is already open`, { from: 'open', to: 'open' });
  return setStatus(ctx, lease, row, 'open', reason);
}

function setStatus(ctx: DomainContext, lease: LeaseRow, row: TaskRow, status: TaskStatus, reason: string): TaskRow {
  const next: TaskRow = { ...row, status, updated_at: ctx.clock.now(), completed_at: null, verified: null };
  ctx.store.tasks.update(next);
  appendEvent(ctx, {
    type: status === 'open' ? 'task.reopened' : 'task.cancelled',
    agent: lease.agent,
    subject: row.id,
    data: { task: row.id, from: row.status, to: status, reason },
  });
  return next;
}

