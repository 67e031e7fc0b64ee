import { expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const lease = async (s: TestServer, agent: string, ttl_ms = 60_000) => (await s.call('lease.grant', { agent, ttl_ms })).lease as string;
const create = async (s: TestServer, params: Record<string, unknown>) => (await s.call('task.create', params)).task;

test('task.create fills defaults and normalises; task.get shows it', async () => {
  const s = await startTestServer();
  const t = await create(s, { title: 'Fix the parser', labels: ['bug', 'bug', 'core'], paths: ['./src/parser/', 'src//lexer.ts'] });
  expect(t).toMatchObject({
    id: 'T1',
    title: 'Fix the parser',
    description: '',
    status: 'open',
    priority: 2,
    labels: ['bug', 'core'],
    depends_on: [],
    paths: ['src/lexer.ts', 'src/parser'],
    gates: [],
    parent: null,
    completed_at: null,
    verified: null,
    holder: null,
  });
  expect((await s.call('task.get', { task: 'T1' })).task).toEqual(t);
  expect((await s.rpc('task.get', { task: 'T9' })).error).toMatchObject({ code: 1002, data: { code: 'NOT_FOUND', kind: 'task', id: 'T9' } });
});

test('unknown dependencies and cycles are refused, naming the field', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'a');
  await create(s, { title: 'one' });
  await create(s, { title: 'two', depends_on: ['T1'] });
  expect((await s.rpc('task.create', { title: 'x', depends_on: ['T1', 'T7'] })).error).toMatchObject({ code: -32602, data: { field: 'depends_on.1' } });
  expect((await s.rpc('task.update', { lease: a, task: 'T1', depends_on: ['T2'] })).error).toMatchObject({ code: -32602, data: { field: 'depends_on' } });
  expect((await s.rpc('task.update', { lease: a, task: 'T1', depends_on: ['T1'] })).error).toMatchObject({ code: -32602, data: { field: 'depends_on' } });
  expect((await s.rpc('task.create', { title: 'x', parent: 'T77' })).error).toMatchObject({ code: -32602, data: { field: 'parent' } });
  expect((await s.call('task.list')).tasks).toHaveLength(2);
});

test('task.claim without a task takes the best ready one: priority, then age; dependencies first', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'a');
  await create(s, { title: 'low', priority: 3 });
  await create(s, { title: 'urgent-old', priority: 0 });
  await create(s, { title: 'urgent-new', priority: 0 });
  await create(s, { title: 'blocked', priority: 0, depends_on: ['T1'] });
  const order = [];
  for (let i = 0; i < 3; i++) order.push((await s.call('task.claim', { lease: a })).task.title);
  expect(order).toEqual(['urgent-old', 'urgent-new', 'low']);
  const none = await s.rpc('task.claim', { lease: a });
  expect(none.error).toMatchObject({ code: 1002, data: { code: 'NOT_FOUND', kind: 'task', reason: 'no ready task' } });
  expect((await s.rpc('task.claim', { lease: a, task: 'T4' })).error).toMatchObject({ code: 1007, data: { depends_on: ['T1'] } });
});

test('a held task shows its holder and fence; others cannot claim it', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice');
  const b = await lease(s, 'bob');
  await create(s, { title: 't', paths: ['src/x'] });
  const { task, claim } = await s.call('task.claim', { lease: a, task: 'T1' });
  expect(claim).toMatchObject({ task: 'T1', paths: ['src/x'], mode: 'exclusive', agent: 'alice' });
  expect(task.holder).toEqual({ agent: 'alice', lease_id: claim.lease_id, claim_id: claim.id, fence: claim.fence });
  expect((await s.call('task.list', { agent: 'alice' })).tasks.map((t: { id: string }) => t.id)).toEqual(['T1']);
  expect((await s.call('task.list', { ready: true })).tasks).toEqual([]);
  expect((await s.rpc('task.claim', { lease: b, task: 'T1' })).error).toMatchObject({ code: 1003, data: { conflicts: [{ resource: 'task:T1', agent: 'alice' }] } });
  // Claiming it again on the same lease gives the same claim back.
  expect((await s.call('task.claim', { lease: a, task: 'T1' })).claim.fence).toBe(claim.fence);
});

test('the next ready task whose paths are taken is skipped; if all are, CONFLICT says why', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice');
  const b = await lease(s, 'bob');
  await s.call('claim.acquire', { lease: a, paths: ['src'] });
  await create(s, { title: 'touches src', priority: 0, paths: ['src/a.ts'] });
  await create(s, { title: 'touches docs', priority: 1, paths: ['docs'] });
  expect((await s.call('task.claim', { lease: b })).task.title).toBe('touches docs');
  const r = await s.rpc('task.claim', { lease: b });
  expect(r.error).toMatchObject({ code: 1003, data: { skipped: [{ task: 'T1', conflicts: [{ agent: 'alice' }] }] } });
  // alice holds src herself, so she can take T1.
  expect((await s.call('task.claim', { lease: a })).task.id).toBe('T1');
});

test('task.update: holder only while held; open only', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice');
  const b = await lease(s, 'bob');
  await create(s, { title: 't' });
  expect((await s.call('task.update', { lease: b, task: 'T1', priority: 0, labels: ['x'] })).task).toMatchObject({ priority: 0, labels: ['x'] });
  await s.call('task.claim', { lease: a, task: 'T1' });
  expect((await s.rpc('task.update', { lease: b, task: 'T1', title: 'mine now' })).error).toMatchObject({ code: 1004, data: { holder: { agent: 'alice' } } });
  expect((await s.call('task.update', { lease: a, task: 'T1', title: 'renamed' })).task.title).toBe('renamed');
});

test('cancel releases the claim; reopen returns it to open; invalid transitions say from and to', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice');
  await create(s, { title: 't', paths: ['p'] });
  await s.call('task.claim', { lease: a, task: 'T1' });
  const cancelled = (await s.call('task.cancel', { lease: a, task: 'T1', reason: 'duplicate' })).task;
  expect(cancelled).toMatchObject({ status: 'cancelled', holder: null });
  expect((await s.call('claim.list')).claims).toEqual([]);
  expect((await s.rpc('task.cancel', { lease: a, task: 'T1', reason: 'again' })).error).toMatchObject({ code: 1007, data: { from: 'cancelled', to: 'cancelled' } });
  expect((await s.rpc('task.claim', { lease: a, task: 'T1' })).error).toMatchObject({ code: 1007, data: { from: 'cancelled' } });
  expect((await s.call('task.reopen', { lease: a, task: 'T1', reason: 'not a duplicate' })).task.status).toBe('open');
  expect((await s.rpc('task.reopen', { lease: a, task: 'T1', reason: 'x' })).error).toMatchObject({ code: 1007, data: { from: 'open', to: 'open' } });
});

test('a task claim ends with its lease, and the task is ready again', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice', 1_000);
  await create(s, { title: 't' });
  await s.call('task.claim', { lease: a });
  s.clock.advance(1_000);
  const t = (await s.call('task.get', { task: 'T1' })).task;
  expect(t.holder).toBeNull();
  expect((await s.call('task.list', { ready: true })).tasks.map((x: { id: string }) => x.id)).toEqual(['T1']);
});

test('task.list filters and pages with a cursor in priority order', async () => {
  const s = await startTestServer();
  for (let i = 0; i < 7; i++) await create(s, { title: `t${i}`, priority: i % 3, labels: i % 2 ? ['odd'] : ['even'] });
  const seen: string[] = [];
  let cursor: string | null | undefined;
  do {
    const page = await s.call('task.list', { limit: 3, ...(cursor ? { cursor } : {}) });
    seen.push(...page.tasks.map((t: { title: string; priority: number }) => `${t.priority}:${t.title}`));
    cursor = page.next_cursor;
  } while (cursor);
  expect(seen).toEqual(['0:t0', '0:t3', '0:t6', '1:t1', '1:t4', '2:t2', '2:t5']);
  expect((await s.call('task.list', { label: 'odd' })).tasks.map((t: { title: string }) => t.title)).toEqual(['t3', 't1', 't5']);
  expect((await s.rpc('task.list', { cursor: 'bm9wZQ' })).error).toMatchObject({ code: -32602, data: { field: 'cursor' } });
});

// Issue 10: the claim covers what the task says. Changing a held task's paths moves its claim in
// the same step, or refuses the whole update when another lease holds the new paths.
test('task.update of a held task moves its claim to the new paths (same id and fence)', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice');
  const b = await lease(s, 'bob');
  await create(s, { title: 't', paths: ['src/a.ts'] });
  const { claim } = await s.call('task.claim', { lease: a, task: 'T1' });
  const updated = (await s.call('task.update', { lease: a, task: 'T1', paths: ['./src/b.ts', 'lib'] })).task;
  expect(updated).toMatchObject({ paths: ['lib', 'src/b.ts'], holder: { claim_id: claim.id, fence: claim.fence } });
  expect((await s.call('claim.list', { agent: 'alice' })).claims).toMatchObject([{ id: claim.id, fence: claim.fence, task: 'T1', paths: ['lib', 'src/b.ts'] }]);
  // The new paths are held: bob cannot take them, nor see them as free. The old one is free.
  expect((await s.rpc('claim.acquire', { lease: b, paths: ['src/b.ts'] })).error).toMatchObject({ code: 1003, data: { conflicts: [{ claim_id: claim.id, agent: 'alice' }] } });
  expect((await s.call('claim.check', { paths: ['lib/x', 'src/a.ts'] })).paths.map((p: { free: boolean }) => p.free)).toEqual([false, true]);
  expect((await s.call('claim.acquire', { lease: b, paths: ['src/a.ts'] })).claim.agent).toBe('bob');
  // Claiming the task again on the same lease is the same claim, and completion takes its fence.
  expect((await s.call('task.claim', { lease: a, task: 'T1' })).claim).toMatchObject({ id: claim.id, fence: claim.fence });
  const events = (await s.call('audit.list', { task: 'T1', limit: 100 })).events as { type: string; data: any }[];
  expect(events.map((e) => e.type)).toEqual(['task.created', 'claim.acquired', 'task.updated', 'claim.paths_changed', 'claim.reacquired']);
  expect(events[3]!.data).toMatchObject({ claim_id: claim.id, fence: claim.fence, task: 'T1', paths: ['lib', 'src/b.ts'], previous_paths: ['src/a.ts'] });
  // The log alone rebuilds the moved claim.
  expect(await s.call('audit.replay')).toMatchObject({ ok: true });
  // An update that leaves the paths as they are does not touch the claim.
  await s.call('task.update', { lease: a, task: 'T1', paths: ['src/b.ts', 'lib'], priority: 1 });
  expect((await s.call('audit.list', { task: 'T1', limit: 100 })).events.at(-1).type).toBe('task.updated');
  await s.call('task.complete', { lease: a, task: 'T1', fence: claim.fence });
  expect((await s.call('claim.list', { agent: 'alice' })).claims).toEqual([]);
});

test('paths a held task gives up come free at once: a waiter for them is granted', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice');
  const b = await lease(s, 'bob');
  await create(s, { title: 't', paths: ['src/a.ts'] });
  await s.call('task.claim', { lease: a, task: 'T1' });
  // Whether bob's request arrives before the update (then the update wakes it) or after, it is
  // granted; with the claim left on src/a.ts it would time out with CONFLICT.
  const waiting = s.rpc('claim.acquire', { lease: b, paths: ['src/a.ts'], wait_ms: 5_000 });
  await s.call('task.update', { lease: a, task: 'T1', paths: ['src/b.ts'] });
  expect((await waiting).result?.claim).toMatchObject({ agent: 'bob', paths: ['src/a.ts'] });
});

test('task.update to paths another lease holds is refused with CONFLICT and changes nothing', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice');
  const b = await lease(s, 'bob');
  const theirs = (await s.call('claim.acquire', { lease: b, paths: ['docs'] })).claim;
  await create(s, { title: 't', paths: ['src/a.ts'] });
  const { claim } = await s.call('task.claim', { lease: a, task: 'T1' });
  const before = await s.call('audit.verify');
  const r = await s.rpc('task.update', { lease: a, task: 'T1', title: 'renamed', paths: ['src/a.ts', 'docs/x.md'] });
  expect(r.error).toMatchObject({
    code: 1003,
    message: `task T1: docs/x.md is held by bob (claim ${theirs.id})`,
    data: { code: 'CONFLICT', conflicts: [{ resource: 'docs/x.md', claim_id: theirs.id, agent: 'bob', mode: 'exclusive' }] },
  });
  expect((await s.call('audit.verify')).head).toEqual(before.head);
  expect((await s.call('task.get', { task: 'T1' })).task).toMatchObject({ title: 't', paths: ['src/a.ts'] });
  expect((await s.call('claim.list', { agent: 'alice' })).claims).toMatchObject([{ id: claim.id, paths: ['src/a.ts'] }]);
  // A shared claim of bob's blocks the exclusive task claim from moving onto it as well.
  await s.call('claim.acquire', { lease: b, paths: ['lib'], mode: 'shared' });
  expect((await s.rpc('task.update', { lease: a, task: 'T1', paths: ['lib/y.ts'] })).error).toMatchObject({ code: 1003 });
  // An unheld task's paths change as before, whoever holds them.
  await create(s, { title: 'u', paths: ['x'] });
  expect((await s.call('task.update', { lease: a, task: 'T2', paths: ['docs'] })).task.paths).toEqual(['docs']);
});

test('a task refused for a held path names the path, the holder and the claim', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice');
  const b = await lease(s, 'bob');
  const held = (await s.call('claim.acquire', { lease: b, paths: ['src'] })).claim;
  await create(s, { title: 't', paths: ['src/a.ts', 'docs'] });
  const r = await s.rpc('task.claim', { lease: a, task: 'T1' });
  expect(r.error).toMatchObject({ code: 1003, message: `task T1: src/a.ts is held by bob (claim ${held.id})` });
  // When the task itself is held, that is what it says.
  await s.call('claim.release', { lease: b, claim: held.id, fence: held.fence });
  const mine = (await s.call('task.claim', { lease: a, task: 'T1' })).claim;
  expect((await s.rpc('task.claim', { lease: b, task: 'T1' })).error).toMatchObject({ code: 1003, message: `task T1 is held by alice (claim ${mine.id})` });
});

test('task.claim of the next ready task names the held paths when every ready task is blocked', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'alice');
  const b = await lease(s, 'bob');
  const held = (await s.call('claim.acquire', { lease: b, paths: ['src'] })).claim;
  await create(s, { title: 't', paths: ['src/a.ts'] });
  const r = await s.rpc('task.claim', { lease: a });
  expect(r.error).toMatchObject({ code: 1003, message: `every ready task touches paths held by others: task T1: src/a.ts is held by bob (claim ${held.id})` });
});

test('acceptance criteria: kept in the order written, replaced by task.update, rebuilt by replay', async () => {
  const s = await startTestServer();
  const a = await lease(s, 'a');
  const t = await create(s, { title: 'Parse commas', acceptance: ['a trailing comma parses', 'an error names the line'] });
  expect(t.acceptance).toEqual(['a trailing comma parses', 'an error names the line']);
  expect((await create(s, { title: 'no criteria' })).acceptance).toEqual([]);
  const updated = (await s.call('task.update', { lease: a, task: 'T1', acceptance: ['b', 'a'] })).task;
  expect(updated.acceptance).toEqual(['b', 'a']);
  // Other changes leave them alone.
  expect((await s.call('task.update', { lease: a, task: 'T1', priority: 0 })).task.acceptance).toEqual(['b', 'a']);
  expect((await s.call('task.get', { task: 'T1' })).task.acceptance).toEqual(['b', 'a']);
  const events = (await s.call('audit.list', { limit: 10 })).events.filter((e: { type: string }) => e.type.startsWith('task.'));
  expect(events.map((e: { data: { task: { acceptance: string[] } } }) => e.data.task.acceptance)).toEqual([
    ['a trailing comma parses', 'an error names the line'],
    [],
    ['b', 'a'],
    ['b', 'a'],
  ]);
  expect(await s.call('audit.replay')).toMatchObject({ ok: true });
  // An empty criterion is refused, naming it.
  expect((await s.rpc('task.create', { title: 'x', acceptance: ['ok', ''] })).error).toMatchObject({ code: -32602, data: { field: 'acceptance.1' } });
});
