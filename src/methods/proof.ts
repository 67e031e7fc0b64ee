import { readFileSync, statSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { peekLease, useLease } from '../domain/leases.js';
import { heldTaskClaim, proofHash, recordProof, toPublicProof } from '../domain/proofs.js';
import { getTask } from '../domain/tasks.js';
import type { Gate } from '../domain/gates.js';
import type { LeaseRow, ProofRow, TaskRow } from '../store/store.js';
import { DecapodError, invalidParams } from '../errors.js';
import { artifactPath, hashArtifact, livePath, storeText } from '../workspace/artifacts.js';
import { changedStamps, fileStamps } from '../workspace/digest.js';
import { runGate, type GateRunResult } from '../workspace/gate-runner.js';
import { defineMethod, type MethodContext } from './define.js';
import { gateDigest } from './proof-digests.js';
import { GateName, LeaseSecret, TaskId } from './schemas.js';

const ProofId = Type.String({ minLength: 1, maxLength: 64, description: 'a proof id such as P3' });
const Fence = Type.Integer({ minimum: 1 });

export const Proof = Type.Object(
  {
    id: Type.String(),
    task: Type.String(),
    gate: Type.String(),
    claim_id: Type.String(),
    fence: Type.Integer(),
    passed: Type.Boolean(),
    exit_code: Type.Union([Type.Integer(), Type.Null()]),
    timed_out: Type.Boolean(),
    duration_ms: Type.Integer(),
    command: Type.Union([Type.String(), Type.Null()], { description: 'what the server ran; null when agent-attested' }),
    output_sha256: Type.String(),
    output_bytes: Type.Integer(),
    truncated: Type.Boolean(),
    digest: Type.String({ description: 'content digest of the task’s paths and the gate’s inputs when the run started' }),
    counts: Type.Boolean({ description: 'false when covered files were written while the gate ran: the proof then vouches for nothing' }),
    changed_during_run: Type.Array(Type.String(), { description: 'the covered files written while the gate ran ([] when it counts)' }),
    attested_by: Type.Union([Type.Literal('server'), Type.Literal('agent')]),
    agent: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    hash: Type.String(),
  },
  { title: 'Proof', additionalProperties: false },
);

export function requireGate(ctx: MethodContext, name: string): Gate {
  const gate = ctx.gates().gates.get(name);
  if (!gate) throw new DecapodError('NOT_FOUND', `no gate ${name} in .decapod/config.json`, { kind: 'gate', id: name });
  return gate;
}

/**
 * What proof.run and proof.record check before anything runs: the caller holds the task with
 * this fence, and the gate is both in the task's proof plan and defined in the config now.
 */
async function checkProofRequest(ctx: MethodContext, p: { lease: string; task: string; gate: string; fence: number }): Promise<{ lease: LeaseRow; task: TaskRow; gate: Gate }> {
  const { lease, task } = await ctx.store.snapshot(async (r) => {
    const lease = await peekLease(r, p.lease);
    const task = await getTask(r, p.task);
    await heldTaskClaim(r, lease, task, p.fence);
    return { lease, task };
  });
  const plan = task.gates;
  if (!plan.includes(p.gate)) {
    throw invalidParams('gate', `is not in task ${task.id}'s proof plan (${plan.join(', ') || 'empty'}): a proof of ${p.gate} would count for nothing`);
  }
  return { lease, task, gate: requireGate(ctx, p.gate) };
}

/**
 * While Decapod runs a gate on an agent's behalf, the agent is waiting on this very call: keep its
 * lease (and so its claim) alive, as any call made with the lease would.
 */
function keepLeaseAlive(ctx: MethodContext, secret: string, ttlMs: number): () => void {
  const renew = () => {
    try {
      void ctx.store.transaction((tx) => useLease(tx, secret)).catch(() => {});
    } catch {
      // expired or revoked meanwhile: recording the proof will say so
    }
  };
  renew();
  const timer = setInterval(renew, Math.max(250, Math.floor(ttlMs / 3)));
  timer.unref();
  return () => clearInterval(timer);
}

// One run per (task, gate, fence) at a time: the live output file is theirs.
const running = new Set<string>();

interface RunPrepared {
  gate: Gate;
  digest: string;
  changed: string[];
  run: GateRunResult;
}

export const proofMethods = [
  defineMethod({
    name: 'proof.run',
    kind: 'mutation',
    summary: 'Decapod runs the gate in the root for the task’s holder, bounded by its timeout, and records the proof.',
    params: { lease: LeaseSecret, task: TaskId, gate: GateName, fence: Fence },
    result: { proof: Proof, output_path: Type.String() },
    errors: ['LEASE_INVALID', 'NOT_FOUND', 'NOT_HOLDER', 'FENCED_OUT', 'INVALID_STATE', 'INVALID_PARAMS'],
    examples: [{ name: 'run the test gate', params: { lease: 'dcl_…', task: 'T1', gate: 'test', fence: 3 } }],
    prepare: async (ctx, p): Promise<RunPrepared> => {
      // Refuse early what would be refused at the end: no gate runs for a non-holder.
      const { lease, task, gate } = await checkProofRequest(ctx, p);
      const key = `${ctx.root}\0${p.task}\0${p.gate}\0${p.fence}`;
      if (running.has(key)) {
        throw new DecapodError('INVALID_STATE', `gate ${p.gate} is already running for ${p.task} under fence ${p.fence}`, { from: 'running', to: 'running' });
      }
      running.add(key);
      const stopRenewing = keepLeaseAlive(ctx, p.lease, lease.ttl_ms);
      try {
        // The proof vouches for the content the gate saw: digested (and stamped) before the run
        // and again after it. Any covered file written in between, even if put back, or any
        // difference in content, and the proof is recorded as not counting.
        const before = await gateDigest(ctx, task, gate);
        const stampsBefore = fileStamps(ctx.root, before.files);
        const run = await runGate({
          root: ctx.root,
          command: gate.command,
          timeoutMs: gate.timeout_ms,
          capBytes: gate.output_cap_bytes,
          env: {
            DECAPOD_ROOT: ctx.root,
            DECAPOD_TASK: p.task,
            DECAPOD_GATE: p.gate,
            DECAPOD_FENCE: String(p.fence),
            DECAPOD_AGENT: lease.agent,
          },
          liveFile: livePath(ctx.root, p.task, p.gate, p.fence),
        });
        const after = await gateDigest(ctx, task, gate);
        const changed = changedStamps(stampsBefore, fileStamps(ctx.root, new Set([...before.files, ...after.files])));
        if (changed.length === 0 && after.digest !== before.digest) changed.push('(content changed; no single file named)');
        return { gate, digest: before.digest, changed, run };
      } finally {
        stopRenewing();
        running.delete(key);
      }
    },
    handler: async ({ tx }, p, prepared) => {
      const { gate, digest, changed, run } = prepared as RunPrepared;
      const proof = await recordProof(tx, await useLease(tx, p.lease), p.task, p.fence, {
        gate,
        attested_by: 'server',
        passed: run.exit_code === 0 && !run.timed_out,
        exit_code: run.exit_code,
        timed_out: run.timed_out,
        duration_ms: run.duration_ms,
        output_sha256: run.output_sha256,
        output_bytes: run.output_bytes,
        truncated: run.truncated,
        digest,
        changed_during_run: changed,
      });
      return { proof, output_path: run.artifact };
    },
  }),
  defineMethod({
    name: 'proof.record',
    kind: 'mutation',
    summary: 'Records an agent-attested result, for gates whose attest policy allows it (never for attest: server).',
    params: {
      lease: LeaseSecret,
      task: TaskId,
      gate: GateName,
      fence: Fence,
      passed: Type.Boolean(),
      exit_code: Type.Optional(Type.Integer({ minimum: -1, maximum: 255 })),
      output: Type.Optional(Type.String({ maxLength: 512 * 1024, description: 'kept up to the gate’s output cap; request bodies are limited to 1 MiB' })),
    },
    result: { proof: Proof },
    errors: ['LEASE_INVALID', 'NOT_FOUND', 'NOT_HOLDER', 'FENCED_OUT', 'PROOF_NOT_ALLOWED', 'INVALID_PARAMS'],
    examples: [{ name: 'record a manual review', params: { lease: 'dcl_…', task: 'T1', gate: 'review', fence: 3, passed: true, output: 'LGTM' } }],
    prepare: async (ctx, p) => {
      const { task, gate } = await checkProofRequest(ctx, p);
      if (gate.attest === 'server') {
        throw new DecapodError('PROOF_NOT_ALLOWED', `gate ${gate.name} accepts only proofs Decapod runs itself: use proof.run`, { gate: gate.name });
      }
      return { gate, digest: (await gateDigest(ctx, task, gate)).digest };
    },
    handler: async ({ tx, root }, p, prepared) => {
      const { gate, digest } = prepared as { gate: Gate; digest: string };
      const out = storeText(root, p.output ?? '', gate.output_cap_bytes);
      const proof = await recordProof(tx, await useLease(tx, p.lease), p.task, p.fence, {
        gate,
        attested_by: 'agent',
        passed: p.passed,
        exit_code: p.exit_code ?? null,
        timed_out: false,
        duration_ms: 0,
        output_sha256: out.sha256,
        output_bytes: out.bytes,
        truncated: out.truncated,
        digest,
        changed_during_run: [],
      });
      return { proof };
    },
  }),
  defineMethod({
    name: 'proof.list',
    kind: 'query',
    summary: 'Every proof of a task, oldest first.',
    params: { task: TaskId },
    result: { proofs: Type.Array(Proof) },
    errors: ['NOT_FOUND'],
    examples: [{ name: 'list', params: { task: 'T1' } }],
    handler: async ({ read }, p) => ({ proofs: (await read.proofs.ofTask((await getTask(read, p.task)).id)).map(toPublicProof) }),
  }),
  defineMethod({
    name: 'proof.get',
    kind: 'query',
    summary: 'One proof, where its captured output lives, and the output’s tail.',
    params: { proof: ProofId },
    result: {
      proof: Proof,
      output_path: Type.String({ description: 'the captured stdout+stderr; read it with e.g. `tail -n 50 <path>`' }),
      output_tail: Type.String({ description: 'the last 4 KiB of the output, as UTF-8' }),
    },
    errors: ['NOT_FOUND'],
    examples: [{ name: 'get', params: { proof: 'P1' } }],
    handler: async ({ read, root }, p) => {
      const row = await read.proofs.byId(p.proof);
      if (!row) throw new DecapodError('NOT_FOUND', `no proof ${p.proof}`, { kind: 'proof', id: p.proof });
      const path = artifactPath(root, row.output_sha256);
      let tail = '';
      try {
        const size = statSync(path).size;
        tail = readFileSync(path).subarray(Math.max(0, size - 4096)).toString('utf8');
      } catch {
        tail = '';
      }
      return { proof: toPublicProof(row), output_path: path, output_tail: tail };
    },
  }),
  defineMethod({
    name: 'proof.verify',
    kind: 'query',
    summary: 'Re-hashes a proof’s artifact and record; reports each mismatch.',
    params: { proof: ProofId },
    result: { ok: Type.Boolean(), problems: Type.Array(Type.String()) },
    errors: ['NOT_FOUND'],
    examples: [{ name: 'verify', params: { proof: 'P1' } }],
    // Hashing the artifact is real I/O: done first, outside the snapshot, on the row read then.
    prepare: async (ctx, p) => {
      const row = await ctx.store.snapshot((r) => r.proofs.byId(p.proof));
      return row === undefined ? undefined : { row, actual: await hashArtifact(ctx.root, row.output_sha256) };
    },
    handler: ({ root }, p, prepared) => {
      const found = prepared as { row: ProofRow; actual: string | undefined } | undefined;
      if (!found) throw new DecapodError('NOT_FOUND', `no proof ${p.proof}`, { kind: 'proof', id: p.proof });
      const { row, actual } = found;
      const problems: string[] = [];
      const pub = toPublicProof(row);
      const { hash, ...body } = pub;
      if (proofHash(body) !== hash) problems.push('record: its hash does not match its fields');
      if (actual === undefined) problems.push(`artifact: ${artifactPath(root, row.output_sha256)} is missing`);
      else if (actual !== row.output_sha256) problems.push(`artifact: content hashes to ${actual}, not ${row.output_sha256}`);
      return { ok: problems.length === 0, problems };
    },
  }),
];
