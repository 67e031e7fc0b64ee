import { checkpointMessage, contradictionOf, judgeCheckpoints, parseCheckpoint, type CheckpointCommit, type CheckpointStatus } from '../domain/audit-checkpoint.js';
import { DecapodError } from '../errors.js';
import { iso } from '../util/clock.js';
import { appendCommit, auditRepo, AUDIT_REF, NoRepositoryError, readHistory, readTip } from '../workspace/audit-ref.js';
import type { ChainHead, Reader } from '../store/store.js';
import type { MethodContext } from './define.js';

// docs/design.md §11: the audit log's anchor outside the database. Taking a checkpoint (audit.checkpoint,
// and the server's automatic ones) and reading them back for audit.verify and audit.replay.

export const CHECKPOINTED = 'audit.checkpointed';

export interface TakenCheckpoint {
  ref: string;
  commit: string;
  seq: number;
  hash: string;
  /** false when the ref already recorded the head (nothing new since): no commit was made */
  written: boolean;
}

// One checkpoint at a time per root in this process: the manual and the automatic ones would
// otherwise race each other's compare-and-swap.
const queues = new Map<string, Promise<unknown>>();

function oneAtATime<T>(root: string, work: () => Promise<T>): Promise<T> {
  const run = (queues.get(root) ?? Promise.resolve()).then(work, work);
  const tail = run.catch(() => {});
  queues.set(root, tail);
  void tail.then(() => queues.get(root) === tail && queues.delete(root));
  return run;
}

/** How many events may pass without a new commit when all of them are audit.checkpointed. */
const CHECKPOINT_ONLY_SCAN = 1_000;

/**
 * Records the current head on refs/decapod/audit, unless fewer than `minNew` events came since
 * the ref's checkpoint (or only audit.checkpointed ones did). Refused (INVALID_STATE) when the root
 * is not a git repository, the log is empty, or the log contradicts the ref's checkpoint: a log
 * rolled back or rewritten is never anchored, so a checkpoint never goes backwards.
 */
export function takeCheckpoint(ctx: MethodContext, opts: { minNew?: number; signal?: AbortSignal } = {}): Promise<TakenCheckpoint> {
  const minNew = opts.minNew ?? 1;
  return oneAtATime(ctx.root, async () => {
    let repo;
    try {
      repo = await auditRepo(ctx.root, opts.signal);
    } catch (err) {
      if (err instanceof NoRepositoryError) throw new DecapodError('INVALID_STATE', `cannot checkpoint: ${err.message}`, { from: 'no-git-repository', to: 'checkpointed' });
      throw err;
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const tip = await readTip(repo, opts.signal);
      const previous = tip ? parseCheckpoint(tip.message) : undefined;
      if (tip && !previous) {
        throw new DecapodError('INVALID_STATE', `cannot checkpoint: ${AUDIT_REF} points at ${tip.commit}, which is not a decapod checkpoint`, {
          from: 'foreign-ref',
          to: 'checkpointed',
          commit: tip.commit,
        });
      }
      // Only what is committed (a snapshot reads nothing an open write group could still roll back).
      const seen = await ctx.store.snapshot(async (r): Promise<{ head: ChainHead; problem?: string | undefined; onlyCheckpoints?: boolean }> => {
        const head = await r.events.head();
        if (head.seq === 0 || !tip || !previous) return { head };
        return { head, problem: await contradictionOf(r, previous), onlyCheckpoints: await onlyCheckpointsSince(r, previous.seq, head.seq) };
      });
      opts.signal?.throwIfAborted();
      const { head } = seen;
      if (head.seq === 0) throw new DecapodError('INVALID_STATE', 'cannot checkpoint: the audit log is empty', { from: 'empty', to: 'checkpointed' });
      if (tip && previous) {
        const problem = seen.problem;
        if (problem) {
          throw new DecapodError('INVALID_STATE', `cannot checkpoint: the log contradicts the checkpoint ${tip.commit} (seq ${previous.seq}) on ${AUDIT_REF}: ${problem}`, {
            from: 'contradicted',
            to: 'checkpointed',
            checkpoint: { ref: AUDIT_REF, commit: tip.commit, seq: previous.seq, hash: previous.hash },
          });
        }
        const unchanged = { ref: AUDIT_REF, commit: tip.commit, seq: previous.seq, hash: previous.hash, written: false };
        if (head.seq - previous.seq < minNew || seen.onlyCheckpoints) return unchanged;
      }
      const message = checkpointMessage({ seq: head.seq, hash: head.hash, at: iso(ctx.store.clock.now()) });
      const commit = await appendCommit(repo, message, tip?.commit ?? null, opts.signal);
      if (commit) return { ref: AUDIT_REF, commit, seq: head.seq, hash: head.hash, written: true };
      // Someone else moved the ref meanwhile: judge again against what it says now.
    }
    throw new DecapodError('BUSY', `${AUDIT_REF} kept moving under this checkpoint; retry`, { retry_after_ms: 100 });
  });
}

/** True when every event after `since` (up to `head`, a bounded number of them) is a checkpoint's own. */
async function onlyCheckpointsSince(r: Reader, since: number, head: number): Promise<boolean> {
  if (head - since > CHECKPOINT_ONLY_SCAN) return false;
  return (await r.events.list({ since, limit: CHECKPOINT_ONLY_SCAN })).every((e) => e.type === CHECKPOINTED);
}

/** The ref's history as read from git, read before the query's snapshot; judged inside it. */
export type CheckpointHistory =
  | { kind: 'history'; commits: CheckpointCommit[] }
  | { kind: 'none'; note: string }
  | { kind: 'unreadable'; problem: string };

export async function readCheckpoints(ctx: MethodContext): Promise<CheckpointHistory> {
  try {
    return { kind: 'history', commits: await readHistory(await auditRepo(ctx.root)) };
  } catch (err) {
    if (err instanceof NoRepositoryError) return { kind: 'none', note: `${err.message}: nothing outside the database anchors the log` };
    return { kind: 'unreadable', problem: `cannot read ${AUDIT_REF}: ${(err as Error).message}` };
  }
}

export async function checkpointStatus(r: Reader, read: CheckpointHistory): Promise<CheckpointStatus> {
  switch (read.kind) {
    case 'none':
      return { ref: AUDIT_REF, ok: true, checked: 0, note: read.note };
    case 'unreadable':
      return { ref: AUDIT_REF, ok: false, checked: 0, problem: read.problem };
    case 'history':
      return judgeCheckpoints(r, AUDIT_REF, read.commits);
  }
}
