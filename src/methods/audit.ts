import { Type } from '@sinclair/typebox';
import { toPublicEvent, verifyChain } from '../domain/audit-chain.js';
import { firstDifference, replayInto, stateDigest } from '../domain/replay.js';
import { defineMethod } from './define.js';
import { Event } from './schemas.js';

export const auditMethods = [
  defineMethod({
    name: 'audit.list',
    kind: 'query',
    summary: 'Audit events after `since`, oldest first; page on with `next`.',
    params: {
      since: Type.Optional(Type.Integer({ minimum: 0, description: 'return events with seq > since' })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
      task: Type.Optional(Type.String({ minLength: 1, description: 'only events about this task' })),
      agent: Type.Optional(Type.String({ minLength: 1 })),
    },
    result: {
      events: Type.Array(Event),
      next: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as `since` for the next page; null at the end' }),
    },
    examples: [{ name: 'first page', params: { since: 0, limit: 50 } }],
    handler: (ctx, p) => {
      const limit = p.limit ?? 100;
      const rows = ctx.store.events.list({ since: p.since, limit: limit + 1, subject: p.task, agent: p.agent });
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
    summary: 'Walks the hash chain and names the first event that does not hold.',
    params: {},
    result: {
      ok: Type.Boolean(),
      count: Type.Integer(),
      head: Type.String({ description: 'hash of the last good event' }),
      redacted: Type.Integer({ description: 'events whose payload was erased (not tampering)' }),
      first_bad_seq: Type.Optional(Type.Integer()),
      problem: Type.Optional(Type.String()),
    },
    examples: [{ name: 'verify', params: {} }],
    handler: (ctx) => verifyChain(ctx.store),
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
        { ok: Type.Boolean(), first_bad_seq: Type.Optional(Type.Integer()), problem: Type.Optional(Type.String()) },
        { additionalProperties: false, description: 'the hash chain, verified on the way' },
      ),
    },
    examples: [{ name: 'replay', params: {} }],
    handler: (ctx) => {
      const chain = verifyChain(ctx.store);
      const scratch = ctx.scratchStore();
      try {
        const live = ctx.store.dump();
        const events = replayInto(scratch, ctx.store.events.all());
        const rebuilt = scratch.dump();
        const diff = firstDifference(live, rebuilt);
        const live_digest = stateDigest(live);
        const replay_digest = stateDigest(rebuilt);
        return {
          ok: chain.ok && diff === undefined,
          events,
          live_digest,
          replay_digest,
          ...(diff ? { first_difference: diff } : {}),
          chain: { ok: chain.ok, ...(chain.first_bad_seq !== undefined ? { first_bad_seq: chain.first_bad_seq, problem: chain.problem } : {}) },
        };
      } finally {
        scratch.close();
      }
    },
  }),
];
