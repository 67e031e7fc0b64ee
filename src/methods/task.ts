import { Type } from '@sinclair/typebox';
import { useLease } from '../domain/leases.js';
import {
  cancelTask,
  claimNextTask,
  claimTask,
  createTask,
  getTask,
  reopenTask,
  toPublicTask,
  toPublicTasks,
  updateTask,
} from '../domain/tasks.js';
import { completeTask } from '../domain/proofs.js';
import { invalidParams } from '../errors.js';
import { defineMethod, type MethodContext } from './define.js';
import { planDigests } from './proof-digests.js';
import { Agent, Claim, GateName, Label, LeaseSecret, Priority, Task, TaskId, TtlMs } from './schemas.js';

const Fields = {
  description: Type.Optional(Type.String({ maxLength: 20_000 })),
  priority: Type.Optional(Priority),
  labels: Type.Optional(Type.Array(Label, { maxItems: 32 })),
  depends_on: Type.Optional(Type.Array(TaskId, { maxItems: 64 })),
  paths: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { maxItems: 256, description: 'the paths the task will touch; claimed with it' })),
  gates: Type.Optional(Type.Array(GateName, { maxItems: 32, description: 'the proof plan: gate names from .decapod/config.json' })),
  acceptance: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { maxItems: 32, description: 'acceptance criteria: what must be true when the task is done, in order' }),
  ),
  parent: Type.Optional(TaskId),
};
const Title = Type.String({ minLength: 1, maxLength: 300 });
const Reason = Type.String({ minLength: 1, maxLength: 2000 });

/** A proof plan may only name gates people defined in .decapod/config.json. */
function checkGates(ctx: MethodContext, gates: string[] | undefined): void {
  const known = ctx.gates().gates;
  gates?.forEach((g, i) => {
    if (!known.has(g)) throw invalidParams(`gates.${i}`, `names no gate of .decapod/config.json (${g}; known: ${[...known.keys()].join(', ') || 'none'})`);
  });
}

// The cursor is opaque to callers: base64url of "priority.seq" of the last task returned.
const encodeCursor = (priority: number, seq: number) => Buffer.from(`${priority}.${seq}`).toString('base64url');
function decodeCursor(cursor: string): { priority: number; seq: number } {
  const m = /^(\d)\.(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw invalidParams('cursor', 'is not a cursor this server gave out');
  return { priority: Number(m[1]), seq: Number(m[2]) };
}

export const taskMethods = [
  defineMethod({
    name: 'task.create',
    kind: 'mutation',
    summary: 'Adds a task: a unit of intent with its paths, dependencies and proof plan.',
    params: { lease: Type.Optional(LeaseSecret), title: Title, ...Fields },
    result: { task: Task },
    errors: ['LEASE_INVALID', 'INVALID_PARAMS'],
    examples: [{ name: 'a task touching src/parser', params: { title: 'Fix the parser', priority: 1, labels: ['bug'], paths: ['src/parser'], acceptance: ['a trailing comma parses'] } }],
    handler: async (ctx, p) => {
      const { lease: secret, idempotency_key: _k, ...fields } = p as typeof p & { idempotency_key?: string };
      checkGates(ctx, fields.gates);
      const agent = secret === undefined ? null : (await useLease(ctx.tx, secret)).agent;
      return { task: await toPublicTask(ctx.tx, await createTask(ctx.tx, agent, fields)) };
    },
  }),
  defineMethod({
    name: 'task.get',
    kind: 'query',
    summary: 'One task, with its holder (agent, lease, claim, fence) while someone works on it.',
    params: { task: TaskId },
    result: { task: Task },
    errors: ['NOT_FOUND'],
    examples: [{ name: 'get', params: { task: 'T1' } }],
    handler: async ({ read }, p) => ({ task: await toPublicTask(read, await getTask(read, p.task)) }),
  }),
  defineMethod({
    name: 'task.list',
    kind: 'query',
    summary: 'Tasks by priority then age; `ready` = open, dependencies done, unclaimed. Page with next_cursor.',
    params: {
      status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('done'), Type.Literal('cancelled')])),
      label: Type.Optional(Label),
      agent: Type.Optional(Agent),
      ready: Type.Optional(Type.Boolean()),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
      cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    },
    result: { tasks: Type.Array(Task), next_cursor: Type.Union([Type.String(), Type.Null()]) },
    examples: [{ name: 'ready work', params: { ready: true, limit: 10 } }],
    handler: async ({ read }, p) => {
      const limit = p.limit ?? 100;
      const rows = await read.tasks.list({
        now: read.now,
        limit: limit + 1,
        ...(p.status ? { status: p.status } : {}),
        ...(p.label ? { label: p.label } : {}),
        ...(p.agent ? { agent: p.agent } : {}),
        ...(p.ready ? { ready: true } : {}),
        ...(p.cursor ? { after: decodeCursor(p.cursor) } : {}),
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        tasks: await toPublicTasks(read, page),
        next_cursor: rows.length > limit && last ? encodeCursor(last.priority, last.seq) : null,
      };
    },
  }),
  defineMethod({
    name: 'task.update',
    kind: 'mutation',
    summary: "Changes an open task. Only its holder may change a held task; new paths move its claim with them (CONFLICT if another lease holds them).",
    params: { lease: LeaseSecret, task: TaskId, title: Type.Optional(Title), ...Fields },
    result: { task: Task },
    errors: ['LEASE_INVALID', 'NOT_FOUND', 'NOT_HOLDER', 'CONFLICT', 'INVALID_STATE', 'INVALID_PARAMS'],
    examples: [{ name: 'raise priority', params: { lease: 'dcl_…', task: 'T1', priority: 0 } }],
    handler: async (ctx, p) => {
      const { lease: secret, task, idempotency_key: _k, ...fields } = p as typeof p & { idempotency_key?: string };
      checkGates(ctx, fields.gates);
      const { tx } = ctx;
      return { task: await toPublicTask(tx, await updateTask(tx, await useLease(tx, secret), task, fields)) };
    },
  }),
  defineMethod({
    name: 'task.claim',
    kind: 'mutation',
    summary: 'Claims a task and its paths atomically; without `task`, the best ready one whose paths are free.',
    params: { lease: LeaseSecret, task: Type.Optional(TaskId), ttl_ms: Type.Optional(TtlMs) },
    result: { task: Task, claim: Claim },
    errors: ['LEASE_INVALID', 'NOT_FOUND', 'CONFLICT', 'INVALID_STATE'],
    examples: [
      { name: 'the next ready task', params: { lease: 'dcl_…' } },
      { name: 'a given task', params: { lease: 'dcl_…', task: 'T3' } },
    ],
    handler: async ({ tx }, p) => {
      const lease = await useLease(tx, p.lease);
      const { task, claim } = p.task === undefined ? await claimNextTask(tx, lease, p.ttl_ms) : await claimTask(tx, lease, p.task, p.ttl_ms);
      return { task: await toPublicTask(tx, task), claim };
    },
  }),
  defineMethod({
    name: 'task.complete',
    kind: 'mutation',
    summary: 'Marks the task done: only its holder, with the current fence, when every gate of its plan has a passing, fresh proof.',
    params: { lease: LeaseSecret, task: TaskId, fence: Type.Integer({ minimum: 1 }), summary: Type.Optional(Type.String({ maxLength: 5000 })) },
    result: { task: Task },
    errors: ['LEASE_INVALID', 'NOT_FOUND', 'NOT_HOLDER', 'FENCED_OUT', 'PROOF_REQUIRED', 'INVALID_STATE'],
    examples: [{ name: 'complete', params: { lease: 'dcl_…', task: 'T1', fence: 3, summary: 'parser fixed; tests pass' } }],
    // Proofs are judged against the gates as configured now, and freshness needs each plan gate's
    // content digest now: both taken first, outside the transaction.
    prepare: async (ctx, p) => {
      const gates = ctx.gates().gates;
      const task = await ctx.store.snapshot((r) => getTask(r, p.task));
      return { gates, digests: await planDigests(ctx, task, gates) };
    },
    handler: async ({ tx }, p, judged) => ({
      task: await toPublicTask(tx, await completeTask(tx, await useLease(tx, p.lease), p.task, p.fence, judged as Parameters<typeof completeTask>[4], p.summary)),
    }),
  }),
  defineMethod({
    name: 'task.cancel',
    kind: 'mutation',
    summary: 'Cancels an open task (releasing its claim). Only its holder may cancel a held task.',
    params: { lease: LeaseSecret, task: TaskId, reason: Reason },
    result: { task: Task },
    errors: ['LEASE_INVALID', 'NOT_FOUND', 'NOT_HOLDER', 'INVALID_STATE'],
    examples: [{ name: 'cancel', params: { lease: 'dcl_…', task: 'T2', reason: 'duplicate of T1' } }],
    handler: async ({ tx }, p) => ({ task: await toPublicTask(tx, await cancelTask(tx, await useLease(tx, p.lease), p.task, p.reason)) }),
  }),
  defineMethod({
    name: 'task.reopen',
    kind: 'mutation',
    summary: 'Returns a done or cancelled task to open.',
    params: { lease: LeaseSecret, task: TaskId, reason: Reason },
    result: { task: Task },
    errors: ['LEASE_INVALID', 'NOT_FOUND', 'INVALID_STATE'],
    examples: [{ name: 'reopen', params: { lease: 'dcl_…', task: 'T2', reason: 'regressed' } }],
    handler: async ({ tx }, p) => ({ task: await toPublicTask(tx, await reopenTask(tx, await useLease(tx, p.lease), p.task, p.reason)) }),
  }),
];
