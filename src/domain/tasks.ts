import { DecapodError, invalidParams } from '../errors.js';
import type { ClaimView, LeaseRow, Reader, TaskRow, TaskStatus, Tx } from '../store/store.js';
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
  findConflictsMany,
  sameClaim,
  toPublicClaim,
  type Conflict,
  type PublicClaim,
} from './claims.js';

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

const uniqueSorted = (xs: string[]) => [...new Set(xs)].sort();

function publicTask(row: TaskRow, holder: ClaimView | undefined): PublicTask {
  return {
    ...taskData(row),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    completed_at: row.completed_at === null ? null : iso(row.completed_at),
    verified: row.verified,
    holder: holder ? { agent: holder.agent, lease_id: holder.lease_id, claim_id: holder.id, fence: holder.fence } : null,
  };
}

/** Tasks as the API shows them, with their holders: one lookup for all of them. */
export async function toPublicTasks(r: Reader, rows: readonly TaskRow[]): Promise<PublicTask[]> {
  const holders = rows.length === 0 ? new Map<string, ClaimView>() : await r.claims.liveForTasks(rows.map((t) => t.id), r.now);
  return rows.map((row) => publicTask(row, holders.get(row.id)));
}

export async function toPublicTask(r: Reader, row: TaskRow): Promise<PublicTask> {
  return publicTask(row, (await r.claims.liveForTasks([row.id], r.now)).get(row.id));
}

export async function getTask(r: Reader, id: string): Promise<TaskRow> {
  const row = await r.tasks.byId(id);
  if (!row) throw new DecapodError('NOT_FOUND', `no task ${id}`, { kind: 'task', id });
  return row;
}

/** The live claim on a task, if any. */
export async function taskHolder(r: Reader, taskId: string): Promise<ClaimView | undefined> {
  return (await r.claims.liveForTasks([taskId], r.now)).get(taskId);
}

/** depends_on: every id exists, and the task would not come to depend on itself. */
async function checkDependencies(r: Reader, taskId: string | null, deps: string[]): Promise<void> {
  const found = await r.tasks.byIds(deps);
  deps.forEach((d, i) => {
    if (!found.has(d)) throw invalidParams(`depends_on.${i}`, `names no task (${d})`);
  });
  if (taskId !== null && (await r.tasks.dependencyClosure(deps)).has(taskId)) {
    throw invalidParams('depends_on', `would make ${taskId} depend on itself (a cycle)`);
  }
}

async function checkParent(r: Reader, taskId: string | null, parent: string | undefined): Promise<void> {
  if (parent === undefined) return;
  if (parent === taskId) throw invalidParams('parent', 'cannot be the task itself');
  if (!(await r.tasks.byId(parent))) throw invalidParams('parent', `names no task (${parent})`);
}

export async function createTask(tx: Tx, agent: string | null, f: TaskFields & { title: string }): Promise<TaskRow> {
  const paths = f.paths?.length ? normalizeClaimPaths(f.paths) : [];
  const deps = uniqueSorted(f.depends_on ?? []);
  await checkDependencies(tx, null, deps);
  await checkParent(tx, null, f.parent);
  const now = tx.now;
  const seq = await tx.next('task');
  const row: TaskRow = {
    id: `T${seq}`,
    seq,
    title: f.title,
    description: f.description ?? '',
    status: 'open',
    priority: f.priority ?? DEFAULT_PRIORITY,
    labels: uniqueSorted(f.labels ?? []),
    depends_on: deps,
    paths,
    gates: uniqueSorted(f.gates ?? []),
    acceptance: f.acceptance ?? [],
    parent: f.parent ?? null,
    created_by: agent,
    created_at: now,
    updated_at: now,
    completed_at: null,
    verified: null,
  };
  await tx.tasks.insert(row);
  await appendEvent(tx, { type: 'task.created', agent, subject: row.id, data: { task: taskData(row) } });
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
    labels: row.labels,
    depends_on: row.depends_on,
    paths: row.paths,
    gates: row.gates,
    acceptance: row.acceptance,
    parent: row.parent,
  };
}

/** Only the holder may change a held task; anyone with a lease may change an unheld one. */
async function requireMayChange(r: Reader, lease: LeaseRow, row: TaskRow): Promise<ClaimView | undefined> {
  const holder = await taskHolder(r, row.id);
  if (holder && holder.lease_id !== lease.lease_id) {
    throw new DecapodError('NOT_HOLDER', `task ${row.id} is held by ${holder.agent}`, {
      holder: { agent: holder.agent, lease_id: holder.lease_id, claim_id: holder.id, fence: holder.fence },
    });
  }
  return holder;
}

export async function updateTask(tx: Tx, lease: LeaseRow, id: string, f: TaskFields): Promise<TaskRow> {
  const paths = f.paths ? (f.paths.length ? normalizeClaimPaths(f.paths) : []) : undefined; // bad input first: it names a field
  const row = await getTask(tx, id);
  const holder = await requireMayChange(tx, lease, row);
  if (row.status !== 'open') throw new DecapodError('INVALID_STATE', `task ${id} is ${row.status}; reopen it first`, { from: row.status, to: 'open' });
  if (f.depends_on) await checkDependencies(tx, id, uniqueSorted(f.depends_on));
  await checkParent(tx, id, f.parent);
  // Issue 10: the claim covers what the task says. Held, with other paths: the claim moves with
  // them in this same step, or, when another lease holds any of them, nothing changes at all.
  const moveClaim = holder !== undefined && paths !== undefined && JSON.stringify(paths) !== JSON.stringify(holder.paths);
  if (moveClaim) {
    const conflicts = await findConflicts(tx, { leaseId: holder.lease_id, paths, mode: holder.mode, task: null });
    if (conflicts.length > 0) throw conflictError(conflicts, id);
  }
  const next: TaskRow = {
    ...row,
    ...(f.title !== undefined ? { title: f.title } : {}),
    ...(f.description !== undefined ? { description: f.description } : {}),
    ...(f.priority !== undefined ? { priority: f.priority } : {}),
    ...(f.labels ? { labels: uniqueSorted(f.labels) } : {}),
    ...(f.depends_on ? { depends_on: uniqueSorted(f.depends_on) } : {}),
    ...(paths ? { paths } : {}),
    ...(f.gates ? { gates: uniqueSorted(f.gates) } : {}),
    ...(f.acceptance ? { acceptance: f.acceptance } : {}),
    ...(f.parent !== undefined ? { parent: f.parent } : {}),
    updated_at: tx.now,
  };
  await tx.tasks.update(next);
  await appendEvent(tx, { type: 'task.updated', agent: lease.agent, subject: id, data: { task: taskData(next) } });
  if (moveClaim) await changeClaimPaths(tx, holder, paths, `task ${id} paths changed`);
  return next;
}

/** Dependencies not yet done, or [] when the task may start. */
async function unfinishedDeps(r: Reader, row: TaskRow): Promise<string[]> {
  if (row.depends_on.length === 0) return [];
  const deps = await r.tasks.byIds(row.depends_on);
  return row.depends_on.filter((d) => deps.get(d)?.status !== 'done');
}

export interface ClaimedTask {
  task: TaskRow;
  claim: PublicClaim;
}

/** Claims one named task with its paths, atomically: all or nothing. */
export async function claimTask(tx: Tx, lease: LeaseRow, id: string, ttlMs?: number): Promise<ClaimedTask> {
  return claimTaskRow(tx, lease, await getTask(tx, id), ttlMs);
}

async function claimTaskRow(tx: Tx, lease: LeaseRow, row: TaskRow, ttlMs?: number): Promise<ClaimedTask> {
  const id = row.id;
  if (row.status !== 'open') throw new DecapodError('INVALID_STATE', `task ${id} is ${row.status}`, { from: row.status, to: 'claimed' });
  const waiting = await unfinishedDeps(tx, row);
  if (waiting.length > 0) {
    throw new DecapodError('INVALID_STATE', `task ${id} waits for ${waiting.join(', ')}`, { from: 'open', to: 'claimed', depends_on: waiting });
  }
  const req = { paths: row.paths, mode: 'exclusive' as const, task: id };
  const existing = await sameClaim(tx, lease, req);
  if (existing) {
    await noteReacquired(tx, existing);
    return { task: row, claim: toPublicClaim(existing, tx.now) };
  }
  const claim = await grantClaim(tx, lease, { ...req, ...(ttlMs !== undefined ? { ttl_ms: ttlMs } : {}), reason: `task ${id}` });
  return { task: row, claim: toPublicClaim(claim, tx.now) };
}

/**
 * task.claim without a task: the best ready task (priority, then age) whose paths are free too.
 * If none can be claimed, says why: nothing ready, or every ready task's paths are held.
 */
export async function claimNextTask(tx: Tx, lease: LeaseRow, ttlMs?: number): Promise<ClaimedTask> {
  const now = tx.now;
  const skipped: { task: string; conflicts: Conflict[] }[] = [];
  let after: { priority: number; seq: number } | undefined;
  for (;;) {
    const page = await tx.tasks.list({ ready: true, now, limit: 50, ...(after ? { after } : {}) });
    // The whole page judged at once: one candidate lookup, not one per task.
    const judged = await findConflictsMany(
      tx,
      page.map((row) => ({ leaseId: lease.lease_id, paths: row.paths, mode: 'exclusive' as const, task: row.id })),
      { ticket: null }, // behind every waiting request
    );
    for (const [i, row] of page.entries()) {
      const conflicts = judged[i]!;
      if (conflicts.length === 0) return claimTaskRow(tx, lease, row, ttlMs);
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
  const counts = await tx.tasks.countByStatus();
  throw new DecapodError('NOT_FOUND', `no task is ready (${counts.open} open, none free with its dependencies done)`, {
    kind: 'task',
    id: null,
    reason: 'no ready task',
    open: counts.open,
  });
}

export async function cancelTask(tx: Tx, lease: LeaseRow, id: string, reason: string): Promise<TaskRow> {
  const row = await getTask(tx, id);
  const holder = await requireMayChange(tx, lease, row);
  if (row.status !== 'open') throw new DecapodError('INVALID_STATE', `task ${id} is ${row.status}`, { from: row.status, to: 'cancelled' });
  if (holder) await endClaim(tx, holder, 'released', 'task cancelled');
  return setStatus(tx, lease, row, 'cancelled', reason);
}

export async function reopenTask(tx: Tx, lease: LeaseRow, id: string, reason: string): Promise<TaskRow> {
  const row = await getTask(tx, id);
  if (row.status === 'open') throw new DecapodError('INVALID_STATE', `task ${id} is already open`, { from: 'open', to: 'open' });
  return setStatus(tx, lease, row, 'open', reason);
}

async function setStatus(tx: Tx, lease: LeaseRow, row: TaskRow, status: TaskStatus, reason: string): Promise<TaskRow> {
  const next: TaskRow = { ...row, status, updated_at: tx.now, completed_at: null, verified: null };
  await tx.tasks.update(next);
  await appendEvent(tx, {
    type: status === 'open' ? 'task.reopened' : 'task.cancelled',
    agent: lease.agent,
    subject: row.id,
    data: { task: row.id, from: row.status, to: status, reason },
  });
  return next;
}

