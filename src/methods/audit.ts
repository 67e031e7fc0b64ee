import { Type } from '@sinclair/typebox';
import { appendEvent, contradictedReceipts, describeContradiction, toPublicEvent, verifyChain, type ChainReport } from '../domain/audit-chain.js';
import type { CheckpointStatus } from '../domain/audit-checkpoint.js';
import type { StateDump } from '../store/store.js';
import { firstDifference, replayLog, stateDigest } from '../domain/replay.js';
import { checkpointStatus, CHECKPOINTED, readCheckpoints, takeCheckpoint, type CheckpointHistory, type TakenCheckpoint } from './audit-anchor.js';
import { defineMethod } from './define.js';
import { Event } from './schemas.js';

/** audit.verify holds at most this many kept receipts to the log per call (about 850 kB of params). */
export const MAX_RECEIPTS = 10_000;

const Hash = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256, lowercase hex' });

const KeptReceipt = Type.Object(
  { seq: Type.Integer({ minimum: 1 }), hash: Hash },
  { additionalProperties: false, description: 'the seq and hash of a receipt a caller kept' },
);

const Contradiction = Type.Object(
  {
    seq: Type.Integer(),
    hash: Type.String(),
    problem: Type.Union([Type.Literal('missing'), Type.Literal('different')], {
      description: 'missing: the log has no event seq (rolled back or truncated); different: it has another event there',
    }),
    log_hash: Type.Optional(Type.String({ description: 'the hash the log has at seq' })),
  },
  { additionalProperties: false },
);

const CheckpointStatus = Type.Object(
  {
    ref: Type.String(),
    ok: Type.Boolean({ description: 'false when the log contradicts a checkpoint of the ref, or the ref cannot be read' }),
    checked: Type.Integer({ description: 'checkpoints of the ref’s history held against the log' }),
    commit: Type.Optional(Type.String({ description: 'the newest checkpoint the log contradicts, else the newest one' })),
    seq: Type.Optional(Type.Integer()),
    hash: Type.Optional(Type.String()),
    problem: Type.Optional(Type.String({ description: 'why ok is false' })),
    note: Type.Optional(Type.String({ description: 'why nothing was checked (no checkpoint yet, not a git repository)' })),
  },
  { additionalProperties: false, description: 'the log held against the checkpoints on the git ref refs/decapod/audit (docs/design.md §11)' },
);

export const auditMethods = [
  defineMethod({
    name: 'audit.list',
    kind: 'query',
    summary: 'Audit events after `since`, oldest first; page on with `next`.',
    params: {
      since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'return events with seq > since' })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
      task: Type.Optional(Type.String({ minLength: 1, description: 'only events about this task' })),
      agent: Type.Optional(Type.String({ minLength: 1 })),
    },
    result: {
      events: Type.Array(Event),
      next: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as `since` for the next page; null at the end' }),
    },
    examples: [{ name: 'first page', params: { since: 0, limit: 50 } }],
    handler: async ({ read }, p) => {
      const limit = p.limit ?? 100;
      const rows = await read.events.list({ since: p.since, limit: limit + 1, subject: p.task, agent: p.agent });
      const page = rows.slice(0, limit);
      return {
        events: page.map(toPublicEvent),
        next: rows.length > limit ? page[page.length - 1]!.seq : null,
      };
    },
  }),
  defineMethod({
    name: 'audit.verify',
    kind: 'query',
    summary:
      'Walks the hash chain and names the first event that does not hold; holds the log to the checkpoints on refs/decapod/audit and to the receipts callers kept, reporting each one it contradicts.',
    params: {
      receipts: Type.Optional(
        Type.Array(KeptReceipt, { maxItems: MAX_RECEIPTS, description: `receipts kept from earlier mutations ({seq, hash}), at most ${MAX_RECEIPTS}` }),
      ),
    },
    result: {
      ok: Type.Boolean({ description: 'the chain holds, and no checkpoint and no kept receipt is contradicted' }),
      count: Type.Integer(),
      head: Type.String({ description: 'hash of the last good event' }),
      redacted: Type.Integer({ description: 'events whose payload was erased (not tampering)' }),
      first_bad_seq: Type.Optional(Type.Integer({ description: 'the first event of the chain that does not hold' })),
      problem: Type.Optional(Type.String({ description: 'the first thing that does not hold: the chain, else a checkpoint, else a receipt' })),
      checkpoint: CheckpointStatus,
      receipts: Type.Optional(
        Type.Object(
          { checked: Type.Integer(), contradicted: Type.Array(Contradiction, { description: 'in the order given' }) },
          { additionalProperties: false, description: 'present when receipts were given' },
        ),
      ),
    },
    examples: [
      { name: 'verify', params: {} },
      { name: 'hold the log to kept receipts', params: { receipts: [{ seq: 12, hash: '9f2c41d0a7be3e55c8a1f06b2d94e7c3a5b8d1f0e6c2a4b7d9e1f3a5c7b9d0e2' }] } },
    ],
    prepare: (ctx) => readCheckpoints(ctx),
    handler: async ({ read }, p, prepared) => {
      const chain = await verifyChain(read);
      const checkpoint = await checkpointStatus(read, prepared as CheckpointHistory);
      const contradicted = p.receipts ? await contradictedReceipts(read, p.receipts) : [];
      const problem =
        chain.problem ??
        checkpoint.problem ??
        (contradicted.length > 0 ? `${contradicted.length} of ${p.receipts!.length} kept receipts are contradicted: ${describeContradiction(contradicted[0]!)}` : undefined);
      return {
        ...chain,
        ok: chain.ok && checkpoint.ok && contradicted.length === 0,
        ...(problem !== undefined ? { problem } : {}),
        checkpoint,
        ...(p.receipts ? { receipts: { checked: p.receipts.length, contradicted } } : {}),
      };
    },
  }),
  defineMethod({
    name: 'audit.replay',
    kind: 'query',
    summary: 'Rebuilds the state from the log in a scratch store and compares it with the live state.',
    params: {},
    result: {
      ok: Type.Boolean(),
      events: Type.Integer({ description: 'events replayed' }),
      live_digest: Type.String(),
      replay_digest: Type.String(),
      first_difference: Type.Optional(
        Type.Object(
          {
            table: Type.String(),
            row: Type.Integer({ description: 'index in key order' }),
            live: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
            replay: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
          },
          { additionalProperties: false },
        ),
      ),
      chain: Type.Object(
        { ok: Type.Boolean(), first_bad_seq: Type.Optional(Type.Integer()), problem: Type.Optional(Type.String()), checkpoint: CheckpointStatus },
        { additionalProperties: false, description: 'the hash chain and its checkpoints, verified on the way (as audit.verify does)' },
      ),
    },
    examples: [{ name: 'replay', params: {} }],
    // The live state and the chain are read in one snapshot; the log up to that head is then
    // replayed page by page into a scratch store (events never change once written, so replaying
    // them later rebuilds the state of that same instant) without holding the store meanwhile.
    prepare: async (ctx) => {
      const history = await readCheckpoints(ctx);
      const seen = await ctx.store.snapshot(async (r) => ({
        hashes: await verifyChain(r),
        checkpoint: await checkpointStatus(r, history),
        live: await r.dump(),
        head: (await r.events.head()).seq,
      }));
      const scratch = ctx.scratchStore();
      try {
        const events = await replayLog(ctx.store, scratch, seen.head);
        return { ...seen, events, rebuilt: await scratch.snapshot((r) => r.dump()) };
      } finally {
        await scratch.close();
      }
    },
    handler: (_ctx, _p, prepared) => {
      const { hashes, checkpoint, live, events, rebuilt } = prepared as { hashes: ChainReport; checkpoint: CheckpointStatus; live: StateDump; events: number; rebuilt: StateDump };
      const chain = { ...hashes, ok: hashes.ok && checkpoint.ok, problem: hashes.problem ?? checkpoint.problem };
      const diff = firstDifference(live, rebuilt);
      return {
        ok: chain.ok && diff === undefined,
        events,
        live_digest: stateDigest(live),
        replay_digest: stateDigest(rebuilt),
        ...(diff ? { first_difference: diff } : {}),
        chain: {
          ok: chain.ok,
          ...(chain.first_bad_seq !== undefined ? { first_bad_seq: chain.first_bad_seq } : {}),
          ...(chain.problem !== undefined ? { problem: chain.problem } : {}),
          checkpoint,
        },
      };
    },
  }),
  defineMethod({
    name: 'audit.checkpoint',
    kind: 'mutation',
    summary:
      'Records the head of the log outside the database, as a commit on the git ref refs/decapod/audit of the project’s repository; refused when the log contradicts the ref’s last checkpoint.',
    params: {},
    result: {
      checkpoint: Type.Object(
        {
          ref: Type.String(),
          commit: Type.String({ description: 'the checkpoint commit (push the ref to anchor it remotely)' }),
          seq: Type.Integer({ description: 'the head recorded: the last event before this call’s own' }),
          hash: Type.String(),
          written: Type.Boolean({ description: 'false when the ref already recorded every event but checkpoints: no commit was made' }),
        },
        { additionalProperties: false },
      ),
    },
    errors: ['INVALID_STATE', 'BUSY'],
    examples: [{ name: 'checkpoint', params: {} }],
    // The git work, outside the transaction; the event records what it wrote.
    prepare: (ctx) => takeCheckpoint(ctx),
    handler: async ({ tx }, _p, prepared) => {
      const checkpoint = prepared as TakenCheckpoint;
      await appendEvent(tx, { type: CHECKPOINTED, agent: null, subject: null, data: { ...checkpoint } });
      return { checkpoint };
    },
  }),
];
