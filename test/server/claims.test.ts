import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

async function agent(s: TestServer, name: string, ttl_ms = 60_000) {
  return (await s.call('lease.grant', { agent: name, ttl_ms })).lease as string;
}
const types = async (s: TestServer) => (await s.call('audit.list', { limit: 1000 })).events.map((e: { type: string }) => e.type);

test('an exclusive claim gets a fence and blocks overlapping claims of others, naming the holder', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice');
  const b = await agent(s, 'bob');
  const { claim } = await s.call('claim.acquire', { lease: a, paths: ['src/parser'], reason: 'refactor' });
  expect(claim).toMatchObject({ agent: 'alice', paths: ['src/parser'], mode: 'exclusive', state: 'active', task: null, ttl_remaining_ms: 60_000 });
  expect(claim.fence).toBeGreaterThan(0);
  for (const paths of [['src/parser/lex.ts'], ['src/**'], ['src/*/x.ts'], ['src']]) {
    const r = await s.rpc('claim.acquire', { lease: b, paths });
    expect(r.error, JSON.stringify(paths)).toMatchObject({
      code: 1003,
      data: { code: 'CONFLICT', conflicts: [{ claim_id: claim.id, agent: 'alice', mode: 'exclusive', ttl_remaining_ms: 60_000 }] },
    });
  }
  // Unrelated paths are free.
  expect((await s.call('claim.acquire', { lease: b, paths: ['docs', 'src/lexer.ts'] })).claim.agent).toBe('bob');
});

test('shared claims coexist; shared and exclusive conflict both ways; all-or-nothing grants', async () => {
  const s = await startTestServer();
  const [a, b, c] = [await agent(s, 'a'), await agent(s, 'b'), await agent(s, 'c')];
  await s.call('claim.acquire', { lease: a, paths: ['lib'], mode: 'shared' });
  await s.call('claim.acquire', { lease: b, paths: ['lib/x.ts'], mode: 'shared' });
  const r = await s.rpc('claim.acquire', { lease: c, paths: ['free/one.ts', 'lib/x.ts'], mode: 'exclusive' });
  expect(r.error.data.conflicts.map((x: { agent: string }) => x.agent).sort()).toEqual(['a', 'b']);
  // Nothing of the refused request was granted: free/one.ts is still free.
  expect((await s.call('claim.check', { paths: ['free/one.ts'] })).paths[0]).toEqual({ path: 'free/one.ts', free: true, holders: [] });
  await s.call('claim.acquire', { lease: c, paths: ['other'], mode: 'exclusive' });
  expect((await s.rpc('claim.acquire', { lease: a, paths: ['other/y'], mode: 'shared' })).error.code).toBe(1003);
});

test('re-acquiring the same paths and mode on the same lease returns the same claim and fence', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'a');
  const first = (await s.call('claim.acquire', { lease: a, paths: ['src/b.ts', './src/a.ts'] })).claim;
  const again = (await s.call('claim.acquire', { lease: a, paths: ['src/a.ts', 'src/b.ts'] })).claim;
  expect(again.id).toBe(first.id);
  expect(again.fence).toBe(first.fence);
  expect(first.paths).toEqual(['src/a.ts', 'src/b.ts']);
  // A different mode is a different claim, with a new, larger fence.
  const shared = (await s.call('claim.acquire', { lease: a, paths: ['src/a.ts', 'src/b.ts'], mode: 'shared' })).claim;
  expect(shared.fence).toBeGreaterThan(first.fence);
});

test('release needs the holder and the current fence; never a success-shaped no-op', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice');
  const b = await agent(s, 'bob');
  const { claim } = await s.call('claim.acquire', { lease: a, paths: ['x'] });
  expect((await s.rpc('claim.release', { lease: b, claim: claim.id, fence: claim.fence })).error).toMatchObject({
    code: 1004,
    data: { code: 'NOT_HOLDER', holder: { agent: 'alice' } },
  });
  expect((await s.rpc('claim.release', { lease: a, claim: claim.id, fence: claim.fence + 1 })).error).toMatchObject({
    code: 1005,
    data: { code: 'FENCED_OUT', current_fence: claim.fence },
  });
  expect((await s.rpc('claim.release', { lease: a, claim: 'C999', fence: 1 })).error).toMatchObject({ code: 1002, data: { kind: 'claim', id: 'C999' } });
  const released = await s.call('claim.release', { lease: a, claim: claim.id, fence: claim.fence });
  expect(released.claim).toMatchObject({ id: claim.id, state: 'released', ttl_remaining_ms: 0 });
  expect((await s.rpc('claim.release', { lease: a, claim: claim.id, fence: claim.fence })).error.code).toBe(1005);
  expect((await s.call('claim.acquire', { lease: b, paths: ['x'] })).claim.agent).toBe('bob');
});

test('fencing: A expires, B claims, A cannot release, renew or validate with its old fence', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice', 2_000);
  const b = await agent(s, 'bob');
  const old = (await s.call('claim.acquire', { lease: a, paths: ['src'] })).claim;
  s.clock.advance(2_000);
  const fresh = (await s.call('claim.acquire', { lease: b, paths: ['src/main.ts'] })).claim;
  expect(fresh.fence).toBeGreaterThan(old.fence);
  expect((await s.rpc('claim.release', { lease: a, claim: old.id, fence: old.fence })).error.data).toMatchObject({ code: 'LEASE_INVALID', reason: 'expired' });
  expect((await s.rpc('claim.renew', { lease: a, claim: old.id })).error.data).toMatchObject({ code: 'LEASE_INVALID', reason: 'expired' });
  expect(await s.call('claim.validate', { claim: old.id, fence: old.fence })).toEqual({ valid: false, reason: 'expired', current_fence: fresh.fence });
  expect(await s.call('claim.validate', { claim: fresh.id, fence: fresh.fence })).toEqual({ valid: true });
  expect(await s.call('claim.validate', { claim: fresh.id, fence: old.fence })).toEqual({ valid: false, reason: 'stale fence', current_fence: fresh.fence });
});

test('lease expiry releases every claim in one transaction, one event per claim', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice', 1_000);
  const ids = [];
  for (const p of ['a', 'b', 'c']) ids.push((await s.call('claim.acquire', { lease: a, paths: [p] })).claim.id);
  s.clock.advance(1_000);
  // Judged by the clock at once, even before the sweep writes it down:
  expect((await s.call('claim.check', { paths: ['a', 'b', 'c'] })).paths.every((p: { free: boolean }) => p.free)).toBe(true);
  const b = await agent(s, 'bob'); // a mutation: expiry is recorded first
  const t = await types(s);
  expect(t.filter((x: string) => x === 'claim.expired')).toHaveLength(3);
  expect(t.slice(-5)).toEqual(['claim.expired', 'claim.expired', 'claim.expired', 'lease.expired', 'lease.granted']);
  expect((await s.call('lease.list')).leases.find((l: { agent: string }) => l.agent === 'alice')).toMatchObject({ state: 'expired', claims: [] });
  expect((await s.call('claim.acquire', { lease: b, paths: ['a', 'b', 'c'] })).claim.agent).toBe('bob');
});

test('revoke releases everything the lease held and says which claims', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice');
  const c1 = (await s.call('claim.acquire', { lease: a, paths: ['one'] })).claim;
  const c2 = (await s.call('claim.acquire', { lease: a, paths: ['two'], mode: 'shared' })).claim;
  expect((await s.call('lease.list')).leases[0].claims).toEqual([c1.id, c2.id]);
  const r = await s.call('lease.revoke', { lease: a });
  expect(r.released).toEqual([c1.id, c2.id]);
  expect((await types(s)).slice(-3)).toEqual(['claim.released', 'claim.released', 'lease.revoked']);
  expect((await s.call('claim.list')).claims).toEqual([]);
});

test('a time-boxed claim lives its own ttl_ms; only claim.renew extends it', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice', 60_000);
  const { claim } = await s.call('claim.acquire', { lease: a, paths: ['tmp'], ttl_ms: 5_000 });
  expect(claim.ttl_remaining_ms).toBe(5_000);
  s.clock.advance(4_000);
  await s.call('lease.renew', { lease: a }); // renews the lease, not the claim
  expect((await s.call('claim.list', { agent: 'alice' })).claims[0].ttl_remaining_ms).toBe(1_000);
  const renewed = await s.call('claim.renew', { lease: a, claim: claim.id });
  expect(renewed.claim.ttl_remaining_ms).toBe(5_000);
  s.clock.advance(5_000);
  expect((await s.call('claim.list')).claims).toEqual([]);
  expect((await s.rpc('claim.renew', { lease: a, claim: claim.id })).error.data).toMatchObject({ code: 'FENCED_OUT', claim_state: 'expired' });
});

test('claim.check names other holders and ignores the asking lease', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice');
  const b = await agent(s, 'bob');
  const { claim } = await s.call('claim.acquire', { lease: a, paths: ['src/*.ts'], mode: 'shared' });
  const seen = await s.call('claim.check', { paths: ['src/a.ts', 'README.md'] });
  expect(seen.paths).toEqual([
    { path: 'src/a.ts', free: false, holders: [{ claim_id: claim.id, agent: 'alice', mode: 'shared', ttl_remaining_ms: 60_000 }] },
    { path: 'README.md', free: true, holders: [] },
  ]);
  expect((await s.call('claim.check', { paths: ['src/a.ts'], lease: a })).paths[0].free).toBe(true);
  expect((await s.call('claim.check', { paths: ['src/a.ts'], lease: b })).paths[0].free).toBe(false);
});

test('claim.list filters by agent, task and path', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice');
  const b = await agent(s, 'bob');
  await s.call('claim.acquire', { lease: a, paths: ['src/a'] });
  await s.call('claim.acquire', { lease: b, paths: ['docs/**'] });
  expect((await s.call('claim.list', { agent: 'bob' })).claims.map((c: { paths: string[] }) => c.paths)).toEqual([['docs/**']]);
  expect((await s.call('claim.list', { path: 'docs/x.md' })).claims.map((c: { agent: string }) => c.agent)).toEqual(['bob']);
  expect((await s.call('claim.list', { path: 'src' })).claims.map((c: { agent: string }) => c.agent)).toEqual(['alice']);
  expect((await s.call('claim.list')).claims).toHaveLength(2);
});

test('wait_ms: waiters are granted in arrival order when the holder releases', async () => {
  const s = await startTestServer();
  const holder = await agent(s, 'holder');
  const w1 = await agent(s, 'first');
  const w2 = await agent(s, 'second');
  const { claim } = await s.call('claim.acquire', { lease: holder, paths: ['hot'] });
  const first = s.call('claim.acquire', { lease: w1, paths: ['hot'], wait_ms: 20_000 });
  await new Promise((r) => setTimeout(r, 50)); // let the first request arrive before the second
  const second = s.call('claim.acquire', { lease: w2, paths: ['hot'], wait_ms: 20_000 });
  await new Promise((r) => setTimeout(r, 50));
  await s.call('claim.release', { lease: holder, claim: claim.id, fence: claim.fence });
  const got = await first;
  expect(got.claim.agent).toBe('first');
  // The second still waits; it is granted when the first releases.
  await s.call('claim.release', { lease: w1, claim: got.claim.id, fence: got.claim.fence });
  expect((await second).claim.agent).toBe('second');
});

test('wait_ms: a waiter stands in line: a later request does not take what it waits for; other paths stay free', async () => {
  const s = await startTestServer();
  const holder = await agent(s, 'holder');
  const waiter = await agent(s, 'waiter');
  const late = await agent(s, 'late');
  const { claim } = await s.call('claim.acquire', { lease: holder, paths: ['hot/inner.ts'] });
  const waiting = s.call('claim.acquire', { lease: waiter, paths: ['hot/inner.ts'], wait_ms: 20_000 });
  // The line is visible to other requests: their CONFLICT names the waiter ahead of them.
  let refused: { error?: { data: { conflicts: { agent: string; waiting?: boolean; claim_id: string }[] } } };
  for (;;) {
    refused = await s.rpc('claim.acquire', { lease: late, paths: ['hot/inner.ts'] });
    if (refused.error?.data.conflicts.some((c) => c.waiting)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(refused.error!.data.conflicts).toEqual(
    expect.arrayContaining([expect.objectContaining({ agent: 'holder' }), expect.objectContaining({ agent: 'waiter', waiting: true, claim_id: expect.stringMatching(/^W\d+$/) })]),
  );
  // A path the waiter does not want stays free for anyone.
  expect((await s.call('claim.acquire', { lease: late, paths: ['hot/other.ts'], mode: 'shared' })).claim.agent).toBe('late');
  await s.call('claim.release', { lease: holder, claim: claim.id, fence: claim.fence });
  expect((await waiting).claim.agent).toBe('waiter');
  // Granted, it has left the line: a later request is refused only by its claim now.
  const after = await s.rpc('claim.acquire', { lease: late, paths: ['hot/inner.ts'] });
  expect(after.error.data.conflicts).toEqual([expect.objectContaining({ agent: 'waiter' })]);
  expect(after.error.data.conflicts[0].waiting).toBeUndefined();
});

test('wait_ms: a waiter whose wait ended leaves the line; the paths go to the next request', async () => {
  const s = await startTestServer();
  const holder = await agent(s, 'holder');
  const waiter = await agent(s, 'waiter');
  const next = await agent(s, 'next');
  const { claim } = await s.call('claim.acquire', { lease: holder, paths: ['hot'] });
  const r = await s.rpc('claim.acquire', { lease: waiter, paths: ['hot'], wait_ms: 200 });
  expect(r.error).toMatchObject({ data: { code: 'CONFLICT', waited_ms: 200 } });
  await s.call('claim.release', { lease: holder, claim: claim.id, fence: claim.fence });
  expect((await s.call('claim.acquire', { lease: next, paths: ['hot'] })).claim.agent).toBe('next');
});

test('wait_ms times out cleanly with CONFLICT and changes nothing', async () => {
  const s = await startTestServer();
  const holder = await agent(s, 'holder');
  const waiter = await agent(s, 'waiter');
  await s.call('claim.acquire', { lease: holder, paths: ['hot'] });
  const before = (await s.call('audit.verify')).count;
  const r = await s.rpc('claim.acquire', { lease: waiter, paths: ['hot'], wait_ms: 300 });
  expect(r.error).toMatchObject({ code: 1003, data: { code: 'CONFLICT', waited_ms: 300, conflicts: [{ agent: 'holder' }] } });
  expect((await s.call('audit.verify')).count).toBe(before);
});

test('a waiter is granted when the holder’s lease expires (the sweep wakes it)', async () => {
  const s = await startTestServer();
  const holder = await agent(s, 'holder', 1_000);
  const waiter = await agent(s, 'waiter');
  await s.call('claim.acquire', { lease: holder, paths: ['hot'] });
  const waiting = s.call('claim.acquire', { lease: waiter, paths: ['hot'], wait_ms: 10_000 });
  s.clock.advance(1_000);
  expect((await waiting).claim.agent).toBe('waiter');
});

test('fences only grow, across a restart of the server on the same root', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'a');
  const f1 = (await s.call('claim.acquire', { lease: a, paths: ['one'] })).claim.fence;
  await s.close();
  const s2 = await startTestServer({ root: s.root });
  const b = await agent(s2, 'b');
  const f2 = (await s2.call('claim.acquire', { lease: b, paths: ['two'] })).claim.fence;
  expect(f2).toBeGreaterThan(f1);
});

test('a lease bound to a pid is revoked, with its claims, soon after that process is gone', async () => {
  const s = await startTestServer();
  const child = spawn('sleep', ['30']);
  const a = (await s.call('lease.grant', { agent: 'short-lived', pid: child.pid })).lease;
  const other = (await s.call('lease.grant', { agent: 'steady', pid: process.pid })).lease;
  const { claim } = await s.call('claim.acquire', { lease: a, paths: ['build'] });
  await s.call('claim.acquire', { lease: other, paths: ['src'] });
  child.kill('SIGKILL');
  await once(child, 'exit');
  let leases: { agent: string; state: string }[] = [];
  for (let i = 0; i < 50; i++) {
    leases = (await s.call('lease.list')).leases;
    if (leases.find((l) => l.agent === 'short-lived')?.state === 'revoked') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(leases.map((l) => [l.agent, l.state]).sort()).toEqual([
    ['short-lived', 'revoked'],
    ['steady', 'active'],
  ]);
  const events = (await s.call('audit.list', { agent: 'short-lived' })).events;
  expect(events.slice(-2).map((e: { type: string; data: Record<string, unknown> }) => [e.type, e.data.claim_id ?? e.data.reason])).toEqual([
    ['claim.released', claim.id],
    ['lease.revoked', `process ${child.pid} is gone`],
  ]);
});

test('claim.check answers each requested path in request order, normalised, repeats included', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice');
  const { claim } = await s.call('claim.acquire', { lease: a, paths: ['src/b.ts'] });
  const held = { free: false, holders: [{ claim_id: claim.id, agent: 'alice', mode: 'exclusive', ttl_remaining_ms: 60_000 }] };
  const free = { free: true, holders: [] };
  const seen = await s.call('claim.check', { paths: ['zz.md', './src//b.ts', 'src/a.ts', 'src/b.ts', 'a.md'] });
  expect(seen.paths).toEqual([
    { path: 'zz.md', ...free },
    { path: 'src/b.ts', ...held },
    { path: 'src/a.ts', ...free },
    { path: 'src/b.ts', ...held },
    { path: 'a.md', ...free },
  ]);
  // Bad input still names the element, by its index in the request.
  expect((await s.rpc('claim.check', { paths: ['ok.ts', 'b.ts', '../out'] })).error).toMatchObject({ code: -32602, data: { field: 'paths.2' } });
});

// Issue 10: every code point. U+10FFFF is the greatest code point (and its UTF-8 the greatest
// bytes); a claim on a name that starts with it must be seen by patterns with no static prefix.
test('a claim on a path starting with U+10FFFF blocks **, *, *.ts and shows in claim.check', async () => {
  const s = await startTestServer();
  const a = await agent(s, 'alice');
  const b = await agent(s, 'bob');
  const top = (await s.call('claim.acquire', { lease: a, paths: ['\u{10FFFF}.ts'] })).claim;
  const deep = (await s.call('claim.acquire', { lease: a, paths: ['\u{10FFFF}/x/y.md'] })).claim;
  const before = (await s.call('audit.verify')).count;
  for (const [paths, ids] of [
    [['**'], [top.id, deep.id]],
    [['*'], [top.id, deep.id]],
    [['*.ts'], [top.id]],
    [['*/x/*.md'], [top.id, deep.id]], // a file's name may also be a folder's (docs/design.md §4)
    [['*.md'], []],
  ] as const) {
    const check = (await s.call('claim.check', { paths, lease: b })).paths[0];
    expect(check.holders.map((h: { claim_id: string }) => h.claim_id), JSON.stringify(paths)).toEqual(ids);
    if (ids.length === 0) continue;
    const r = await s.rpc('claim.acquire', { lease: b, paths });
    expect(r.error?.data, JSON.stringify(paths)).toMatchObject({ code: 'CONFLICT' });
    expect(r.error.data.conflicts.map((c: { claim_id: string }) => c.claim_id), JSON.stringify(paths)).toEqual(ids);
  }
  expect((await s.call('audit.verify')).count).toBe(before);
  expect((await s.call('claim.list', { agent: 'bob' })).claims).toEqual([]);
});
