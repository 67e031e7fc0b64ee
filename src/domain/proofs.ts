import { DecapodError } from '../errors.js';
import type { ClaimView, LeaseRow, ProofRow, Reader, TaskRow, Tx } from '../store/store.js';
import { iso } from '../util/clock.js';
import { hashCanonical } from '../util/hash.js';
import { appendEvent } from './audit-chain.js';
import { endClaim } from './claims.js';
import type { Gate } from './gates.js';
import { getTask, taskHolder } from './tasks.js';

export interface PublicProof {
  id: string;
  task: string;
  gate: string;
  claim_id: string;
  fence: number;
  passed: boolean;
  exit_code: number | null;
  timed_out: boolean;
  duration_ms: number;
  command: string | null;
  output_sha256: string;
  output_bytes: number;
  truncated: boolean;
  digest: string;
  /** false when the content changed while the gate ran: the proof then vouches for nothing */
  counts: boolean;
  /** the files written while the gate ran (so the proof does not count); [] when it counts */
  changed_during_run: string[];
  attested_by: 'server' | 'agent';
  agent: string;
  created_at: string;
  hash: string;
}

export function toPublicProof(row: ProofRow): PublicProof {
  return {
    id: row.id,
    task: row.task_id,
    gate: row.gate,
    claim_id: row.claim_id,
    fence: row.fence,
    passed: row.passed,
    exit_code: row.exit_code,
    timed_out: row.timed_out,
    duration_ms: row.duration_ms,
    command: row.command,
    output_sha256: row.output_sha256,
    output_bytes: row.output_bytes,
    truncated: row.truncated,
    digest: row.digest,
    counts: row.counts,
    changed_during_run: row.changed_during_run,
    attested_by: row.attested_by,
    agent: row.agent,
    created_at: iso(row.created_at),
    hash: row.hash,
  };
}

/** The stored row of a public proof (recording it, and replaying its event). */
export function proofRow(p: PublicProof, createdAt: number): ProofRow {
  return {
    id: p.id,
    seq: Number(p.id.slice(1)),
    task_id: p.task,
    gate: p.gate,
    claim_id: p.claim_id,
    fence: p.fence,
    passed: p.passed,
    exit_code: p.exit_code,
    timed_out: p.timed_out,
    duration_ms: p.duration_ms,
    command: p.command,
    output_sha256: p.output_sha256,
    output_bytes: p.output_bytes,
    truncated: p.truncated,
    digest: p.digest,
    // events recorded before migration 004 have neither field: those proofs counted
    counts: p.counts !== false,
    changed_during_run: p.changed_during_run ?? [],
    attested_by: p.attested_by,
    agent: p.agent,
    created_at: createdAt,
    hash: p.hash,
  };
}

/**
 * A proof's own hash: over its canonical record, every field but the hash. A proof that counts
 * hashes without `counts` and `changed_during_run`, exactly as before those fields existed
 * (migration 004), so every proof recorded earlier still verifies.
 */
export function proofHash(p: Omit<PublicProof, 'hash'>): string {
  const { counts, changed_during_run, ...rest } = p;
  return hashCanonical(counts ? rest : p);
}

/**
 * The task's live claim, held by this lease, with this fence (docs/design.md §4: release, proof and
 * completion take the fence and refuse a stale one).
 */
export async function heldTaskClaim(r: Reader, lease: LeaseRow, task: TaskRow, fence: number): Promise<ClaimView> {
  const claim = await taskHolder(r, task.id);
  if (!claim || claim.lease_id !== lease.lease_id) {
    const holder = claim ? { agent: claim.agent, lease_id: claim.lease_id, claim_id: claim.id, fence: claim.fence } : null;
    const why = claim ? `is held by ${claim.agent}` : 'is not claimed: claim it first (task.claim)';
    throw new DecapodError('NOT_HOLDER', `task ${task.id} ${why}`, { holder });
  }
  if (claim.fence !== fence) {
    throw new DecapodError('FENCED_OUT', `fence ${fence} is not current for task ${task.id}`, { current_fence: claim.fence });
  }
  return claim;
}

export interface ProofInput {
  gate: Gate;
  attested_by: 'server' | 'agent';
  passed: boolean;
  exit_code: number | null;
  timed_out: boolean;
  duration_ms: number;
  output_sha256: string;
  output_bytes: number;
  truncated: boolean;
  digest: string;
  /** files written while the gate ran; non-empty: the proof is recorded but does not count */
  changed_during_run: string[];
}

/** Records a proof under the caller's claim, with its hash and one audit event. */
export async function recordProof(tx: Tx, lease: LeaseRow, taskId: string, fence: number, input: ProofInput): Promise<PublicProof> {
  const task = await getTask(tx, taskId);
  const claim = await heldTaskClaim(tx, lease, task, fence);
  const seq = await tx.next('proof');
  const body: Omit<PublicProof, 'hash'> = {
    id: `P${seq}`,
    task: task.id,
    gate: input.gate.name,
    claim_id: claim.id,
    fence: claim.fence,
    passed: input.passed,
    exit_code: input.exit_code,
    timed_out: input.timed_out,
    duration_ms: input.duration_ms,
    command: input.attested_by === 'server' ? input.gate.command : null,
    output_sha256: input.output_sha256,
    output_bytes: input.output_bytes,
    truncated: input.truncated,
    digest: input.digest,
    counts: input.changed_during_run.length === 0,
    changed_during_run: input.changed_during_run,
    attested_by: input.attested_by,
    agent: lease.agent,
    created_at: iso(tx.now),
  };
  const proof: PublicProof = { ...body, hash: proofHash(body) };
  await tx.proofs.insert(proofRow(proof, tx.now));
  await appendEvent(tx, { type: 'proof.recorded', agent: lease.agent, subject: task.id, data: { proof } });
  return proof;
}

export type BlockReason = 'missing' | 'failed' | 'stale' | 'changed_during_run' | 'agent_attested';

export interface Block {
  gate: string;
  reason: BlockReason;
  proof?: string;
  /** what exactly, where the reason alone does not say it */
  detail?: string;
}

/**
 * What stands between the task and completion (docs/design.md §4): for each gate of its plan, as the gate
 * is configured now, the newest proof under the current claim must exist, be of an attestation
 * the gate accepts, have passed, count (no change while it ran), be of the gate's current command,
 * and cover content whose digest (`digests`, per gate: the task's paths plus the gate's inputs) is
 * still the same.
 */
export function blockedBy(
  task: TaskRow,
  claim: ClaimView,
  latestPerGate: ReadonlyMap<string, ProofRow>,
  gates: ReadonlyMap<string, Gate>,
  digests: ReadonlyMap<string, string>,
): Block[] {
  const out: Block[] = [];
  for (const gate of task.gates) {
    const def = gates.get(gate);
    if (!def) {
      out.push({ gate, reason: 'missing', detail: `gate ${gate} is no longer defined in .decapod/config.json` });
      continue;
    }
    const latest = latestPerGate.get(gate);
    if (!latest || latest.claim_id !== claim.id) out.push({ gate, reason: 'missing' });
    else if (latest.attested_by === 'agent' && def.attest === 'server') {
      out.push({ gate, reason: 'agent_attested', proof: latest.id, detail: `gate ${gate} now accepts only proofs Decapod runs itself: proof.run` });
    } else if (!latest.passed) out.push({ gate, reason: 'failed', proof: latest.id });
    else if (!latest.counts) {
      out.push({ gate, reason: 'changed_during_run', proof: latest.id, detail: `changed while the gate ran: ${latest.changed_during_run.join(', ')}` });
    } else if (latest.command !== null && latest.command !== def.command) {
      out.push({ gate, reason: 'stale', proof: latest.id, detail: `the gate's command changed since this proof ran (${latest.command})` });
    } else if (latest.digest !== digests.get(gate)) out.push({ gate, reason: 'stale', proof: latest.id });
  }
  return out;
}

/**
 * docs/design.md §4 completion: only the holder with the current fence, and only when every gate of the
 * plan has a passing, fresh proof. Then done, verified (false for an empty plan), claims released:
 * all in the caller's one transaction.
 */
export async function completeTask(
  tx: Tx,
  lease: LeaseRow,
  taskId: string,
  fence: number,
  judged: { gates: ReadonlyMap<string, Gate>; digests: ReadonlyMap<string, string> },
  summary?: string,
): Promise<TaskRow> {
  const task = await getTask(tx, taskId);
  if (task.status !== 'open') throw new DecapodError('INVALID_STATE', `task ${task.id} is ${task.status}`, { from: task.status, to: 'done' });
  const claim = await heldTaskClaim(tx, lease, task, fence);
  const latest = await tx.proofs.latestPerGate(task.id);
  const blocked = blockedBy(task, claim, latest, judged.gates, judged.digests);
  if (blocked.length > 0) {
    throw new DecapodError('PROOF_REQUIRED', `task ${task.id} needs passing, fresh proofs: ${blocked.map((b) => `${b.gate} (${b.reason})`).join(', ')}`, {
      blocked_by: blocked,
      next: 'proof.run',
    });
  }
  const plan = task.gates;
  const proofs = plan.map((g) => latest.get(g)!.id);
  const now = tx.now;
  const done: TaskRow = { ...task, status: 'done', updated_at: now, completed_at: now, verified: plan.length > 0 };
  await tx.tasks.update(done);
  for (const c of await tx.claims.live({ task: task.id, now })) await endClaim(tx, c, 'released', 'task completed');
  await appendEvent(tx, {
    type: 'task.completed',
    agent: lease.agent,
    subject: task.id,
    data: { task: task.id, claim_id: claim.id, fence: claim.fence, verified: plan.length > 0, proofs, summary: summary ?? null, digests: Object.fromEntries(plan.map((g) => [g, judged.digests.get(g)!])) },
  });
  return done;
}

