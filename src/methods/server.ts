import { Type } from '@sinclair/typebox';
import { defineMethod } from './define.js';
import { IsoTime } from './schemas.js';

const tasksCount = (c: Record<'open' | 'done' | 'cancelled', number>) => ({
  tasks_open: c.open,
  tasks_done: c.done,
  tasks_cancelled: c.cancelled,
});

export const serverMethods = [
  defineMethod({
    name: 'server.status',
    kind: 'query',
    summary: 'Who serves this root, since when, how long it waits idle, and what the store holds.',
    params: {},
    result: {
      version: Type.String(),
      protocol: Type.Integer(),
      pid: Type.Integer(),
      root: Type.String(),
      instance_id: Type.String(),
      started_at: IsoTime,
      uptime_ms: Type.Integer(),
      idle_timeout_ms: Type.Integer(),
      schema_version: Type.Integer(),
      storage: Type.Object(
        {
          engine: Type.String(),
          journal_mode: Type.String(),
          synchronous: Type.Union([Type.Literal('off'), Type.Literal('normal'), Type.Literal('full'), Type.Literal('extra')], {
            description: 'full: an acknowledged write survives power loss; normal: only process crashes',
          }),
          project: Type.Optional(Type.String({ description: 'postgresql: the project id, the claim space this server shares (docs/design.md §7)' })),
          database_host: Type.Optional(Type.String({ description: 'postgresql: the database host (never credentials)' })),
        },
        { additionalProperties: false },
      ),
      counts: Type.Object(
        {
          events: Type.Integer(),
          leases_active: Type.Integer(),
          leases_revoked: Type.Integer(),
          leases_expired: Type.Integer(),
          claims_active: Type.Integer(),
          tasks_open: Type.Integer(),
          tasks_done: Type.Integer(),
          tasks_cancelled: Type.Integer(),
        },
        { additionalProperties: false },
      ),
    },
    examples: [{ name: 'status', params: {} }],
    handler: async ({ read, server, store }) => {
      const now = read.now;
      const [leases, events, claims, tasks] = await Promise.all([
        read.leases.list(),
        read.events.count(),
        read.claims.countActive(now),
        read.tasks.countByStatus(),
      ]);
      const active = leases.filter((l) => l.state === 'active' && l.expires_at > now).length;
      const revoked = leases.filter((l) => l.state === 'revoked').length;
      return {
        ...server.info(),
        schema_version: store.schemaVersion(),
        storage: store.storage(),
        counts: {
          events,
          leases_active: active,
          leases_revoked: revoked,
          leases_expired: leases.length - active - revoked,
          claims_active: claims,
          ...tasksCount(tasks),
        },
      };
    },
  }),
  defineMethod({
    name: 'server.shutdown',
    kind: 'query', // writes nothing to the store: it stops the process serving it
    summary: 'Stops the server gracefully after answering: in-flight calls finish first.',
    params: {},
    result: { ok: Type.Boolean() },
    examples: [{ name: 'shutdown', params: {} }],
    handler: (ctx) => {
      ctx.server.requestShutdown();
      return { ok: true };
    },
  }),
];
