import type { Reader } from '../store/store.js';
import { canonicalJson } from '../util/hash.js';
import { contradictedReceipts, describeContradiction } from './audit-chain.js';

// docs/design.md §11: a checkpoint is the log's head {seq, hash} written outside the database (a git
// commit on refs/decapod/audit, see workspace/audit-ref.ts). Here: what its message says, and
// when the log contradicts it.

const KIND = 'decapod.audit.checkpoint';

export interface Checkpoint {
  seq: number;
  hash: string;
  /** when it was taken (server clock, ISO-8601) */
  at: string;
}

/** A commit of the ref's history, as read from git. */
export interface CheckpointCommit {
  commit: string;
  message: string;
}

/** The message of a checkpoint commit: one line of canonical JSON. */
export function checkpointMessage(cp: Checkpoint): string {
  return `${canonicalJson({ kind: KIND, seq: cp.seq, hash: cp.hash, at: cp.at })}\n`;
}

/** The checkpoint a commit message records, or undefined when it is not one of ours. */
export function parseCheckpoint(message: string): Checkpoint | undefined {
  let v: unknown;
  try {
    v = JSON.parse(message.trim());
  } catch {
    return undefined;
  }
  const o = v as Partial<Record<keyof Checkpoint | 'kind', unknown>> | null;
  if (!o || typeof o !== 'object' || o.kind !== KIND) return undefined;
  if (!Number.isSafeInteger(o.seq) || (o.seq as number) < 1) return undefined;
  if (typeof o.hash !== 'string' || !/^[0-9a-f]{64}$/.test(o.hash)) return undefined;
  return { seq: o.seq as number, hash: o.hash, at: typeof o.at === 'string' ? o.at : '' };
}

/** Why the log contradicts this checkpoint, or undefined when the log has its event. */
export async function contradictionOf(r: Reader, cp: { seq: number; hash: string }): Promise<string | undefined> {
  const [c] = await contradictedReceipts(r, [cp]);
  return c ? describeContradiction(c) : undefined;
}

/** What audit.verify says of the checkpoints. */
export interface CheckpointStatus {
  ref: string;
  ok: boolean;
  /** checkpoints of the ref's history held against the log */
  checked: number;
  /** the newest checkpoint the log contradicts, else the newest one */
  commit?: string;
  seq?: number;
  hash?: string;
  /** why ok is false */
  problem?: string;
  /** why nothing was checked */
  note?: string;
}

/**
 * Holds every checkpoint of the ref's history (newest first) against the log. The newest one
 * agreeing is not enough: a log rolled back and then grown past it would agree with a checkpoint
 * taken on the new branch, and only the older checkpoints show the history was replaced.
 */
export async function judgeCheckpoints(r: Reader, ref: string, history: readonly CheckpointCommit[]): Promise<CheckpointStatus> {
  if (history.length === 0) return { ref, ok: true, checked: 0, note: `no checkpoint yet: audit.checkpoint writes one to ${ref}` };
  const parsed = history.map((c) => ({ commit: c.commit, cp: parseCheckpoint(c.message) }));
  // One lookup for every checkpoint's event (the history can be long).
  const judged = await contradictedReceipts(r, parsed.flatMap((p) => (p.cp ? [p.cp] : [])));
  const contradicted = new Map(judged.map((c) => [`${c.seq}:${c.hash}`, c]));
  let checked = 0;
  for (const { commit, cp } of parsed) {
    if (!cp) return { ref, ok: false, checked, commit, problem: `commit ${commit} on ${ref} is not a decapod checkpoint` };
    checked++;
    const c = contradicted.get(`${cp.seq}:${cp.hash}`);
    if (c) {
      return { ref, ok: false, checked, commit, seq: cp.seq, hash: cp.hash, problem: `the log contradicts the checkpoint ${commit} (seq ${cp.seq}): ${describeContradiction(c)}` };
    }
  }
  const tip = parsed[0]!.cp!;
  return { ref, ok: true, checked, commit: history[0]!.commit, seq: tip.seq, hash: tip.hash };
}
