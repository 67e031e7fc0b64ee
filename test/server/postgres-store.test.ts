// Issue 14 (groundwork): the PostgreSQL store behind the same contract, on a real PostgreSQL
// server the harness starts (test/helpers/postgres-global-setup.ts). The same methods through the
// same dispatcher; several servers on one database share one claim space, one chain and fences
// that only grow; replay rebuilds PostgreSQL's state in a SQLite scratch store with the same digest.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { appendEvent } from '../../src/domain/audit-chain.js';
import { openPostgresStore } from '../../src/store/postgres/pg-store.js';
import type { Store } from '../../src/store/store.js';
import { packageRoot } from '../../src/util/package-root.js';
import { startPostgres } from '../helpers/postgres.js';
import { describePostgres } from '../helpers/test-postgres.js';
import { startTestServer } from '../helpers/test-server.js';

const migrationsDir = join(packageRoot(), 'migrations', 'postgres');

describePostgres('postgres store', (db) => {
  const open = async (projectId = `p-${randomUUID()}`): Promise<Store> => openPostgresStore({ url: db.url, projectId, migrationsDir });

  test('a transaction owns the head and the counters; a failed one keeps nothing; a snapshot sees only committed state', async () => {
    const store = await open();
    try {
      const first = await store.transaction(async (tx) => {
        expect(tx.head()).toEqual({ seq: 0, hash: '0'.repeat(64), at: 0 });
        await appendEvent(tx, { type: 'test.event', agent: null, subject: null, data: { i: 1 } });
        await expect(
          tx.events.append({ seq: 5, at: tx.now, type: 't', agent: null, subject: null, data: '{}', data_digest: 'd', prev_hash: 'x', hash: 'h' }),
        ).rejects.toThrow(/does not follow/);
        return [tx.head().seq, await tx.next('fence'), await tx.next('fence'), await tx.next('task')];
      });
      expect(first).toEqual([1, 1, 2, 1]);
      await expect(
        store.transaction(async (tx) => {
          await tx.next('fence');
          await tx.meta.set('k', 'v');
          throw new Error('refused');
        }),
      ).rejects.toThrow('refused');
      expect(await store.snapshot((r) => r.meta.get('k'))).toBeUndefined();
      expect(await store.transaction(async (tx) => [tx.head().seq, await tx.next('fence')])).toEqual([1, 3]);
      expect(await store.snapshot((r) => r.events.head())).toMatchObject({ seq: 1 });
      expect(store.storage().engine).toBe('postgresql');
    } finally {
      await store.close();
    }
  });

  test('the methods work the same on PostgreSQL: claims conflict, tasks are claimed, the log verifies and replays into SQLite with the same digest', async () => {
    const s = await startTestServer({ database: { url: db.url, projectId: `p-${randomUUID()}` } });
    const alice = (await s.call('lease.grant', { agent: 'alice' })).lease;
    const bob = (await s.call('lease.grant', { agent: 'bob' })).lease;
    const held = (await s.call('claim.acquire', { lease: alice, paths: ['src/parser'] })).claim;
    const refused = await s.rpc('claim.acquire', { lease: bob, paths: ['src/parser/lexer.ts', 'docs'] });
    expect(refused.error).toMatchObject({ data: { code: 'CONFLICT', conflicts: [{ claim_id: held.id, agent: 'alice', resource: 'src/parser/lexer.ts' }] } });
    await s.call('task.create', { lease: alice, title: 'first', priority: 1, paths: ['src/parser/x.ts'], labels: ['bug'] });
    await s.call('task.create', { lease: alice, title: 'second', paths: ['docs'], depends_on: [] });
    // bob's best ready task: T1 touches alice's paths, so T2.
    const got = await s.call('task.claim', { lease: bob });
    expect(got.task).toMatchObject({ id: 'T2', holder: { agent: 'bob' } });
    expect((await s.call('task.list', { ready: true })).tasks.map((t: { id: string }) => t.id)).toEqual(['T1']);
    expect((await s.call('task.list', { label: 'bug' })).tasks.map((t: { id: string }) => t.id)).toEqual(['T1']);
    await s.call('claim.release', { lease: alice, claim: held.id, fence: held.fence });
    const status = await s.call('server.status');
    expect(status.storage).toMatchObject({ engine: 'postgresql', project: expect.stringMatching(/^p-/), database_host: '127.0.0.1' });
    expect(status.counts).toMatchObject({ leases_active: 2, claims_active: 1, tasks_open: 2 });
    expect(await s.call('audit.verify')).toMatchObject({ ok: true, count: status.counts.events });
    const replay = await s.call('audit.replay');
    expect(replay).toMatchObject({ ok: true, events: status.counts.events });
    expect(replay.live_digest).toBe(replay.replay_digest);
  });

  test('round trips to the database per call: a one-path claim.acquire costs at most 8 (docs/architecture.md)', async () => {
    let trips = 0;
    const s = await startTestServer({ database: { url: db.url, projectId: `p-${randomUUID()}`, onRoundTrips: (n) => (trips += n) } });
    const counted = async (method: string, params: Record<string, unknown>) => {
      trips = 0;
      const result = await s.call(method, params);
      return { result, trips };
    };
    const alice = (await counted('lease.grant', { agent: 'alice' })).result.lease;
    const acquire = await counted('claim.acquire', { lease: alice, paths: ['src/parser'] });
    const heartbeat = await counted('lease.renew', { lease: alice });
    const release = await counted('claim.release', { lease: alice, claim: acquire.result.claim.id, fence: acquire.result.claim.fence });
    const task = await counted('task.create', { lease: alice, title: 'one', paths: ['docs'] });
    const get = await counted('task.get', { task: task.result.task.id });
    const claim = await counted('task.claim', { lease: alice });
    const figures = { 'claim.acquire': acquire.trips, 'claim.release': release.trips, 'lease.renew': heartbeat.trips, 'task.create': task.trips, 'task.get': get.trips, 'task.claim': claim.trips };
    console.log('round trips per call on PostgreSQL:', figures);
    // Every call reaches the database; a one-path acquire within the bound.
    for (const n of Object.values(figures)) expect(n).toBeGreaterThan(0);
    expect(acquire.trips).toBeLessThanOrEqual(8);
  });

  test('two servers on one project: every task claimed exactly once, fences strictly increasing, one winner on one path', async () => {
    const projectId = `p-${randomUUID()}`;
    const servers = [await startTestServer({ database: { url: db.url, projectId } }), await startTestServer({ database: { url: db.url, projectId } })];
    const [a, b] = servers as [Awaited<ReturnType<typeof startTestServer>>, Awaited<ReturnType<typeof startTestServer>>];
    const creator = (await a.call('lease.grant', { agent: 'creator' })).lease;
    const TASKS = 24;
    for (let i = 0; i < TASKS; i++) await a.call('task.create', { lease: creator, title: `t${i}`, paths: [`area/${i}`] });
    // 8 agents, 4 on each server, claiming until nothing is ready.
    const agents = await Promise.all(Array.from({ length: 8 }, async (_, i) => ({ s: servers[i % 2]!, lease: (await servers[i % 2]!.call('lease.grant', { agent: `agent${i}` })).lease })));
    const claimed: { task: string; fence: number }[] = [];
    await Promise.all(
      agents.map(async ({ s, lease }) => {
        for (;;) {
          const r = await s.rpc('task.claim', { lease });
          if (r.error) {
            expect(r.error.data.code).toBe('NOT_FOUND');
            return;
          }
          claimed.push({ task: r.result.task.id, fence: r.result.claim.fence });
          await s.call('task.cancel', { lease, task: r.result.task.id, reason: 'done here' });
        }
      }),
    );
    expect(claimed.map((c) => c.task).sort()).toEqual(Array.from({ length: TASKS }, (_, i) => `T${i + 1}`).sort());
    expect(new Set(claimed.map((c) => c.fence)).size).toBe(TASKS);
    // 16-way race for one path across both servers: one winner.
    const racers = await Promise.all(Array.from({ length: 16 }, async (_, i) => ({ s: servers[i % 2]!, lease: (await servers[i % 2]!.call('lease.grant', { agent: `racer${i}` })).lease })));
    const outcomes = await Promise.all(racers.map(({ s, lease }) => s.rpc('claim.acquire', { lease, paths: ['the/one/path'] })));
    expect(outcomes.filter((o) => o.result).length).toBe(1);
    expect(outcomes.filter((o) => o.error?.data?.code === 'CONFLICT').length).toBe(15);
    // One chain, seen the same from both servers.
    const [va, vb] = [await a.call('audit.verify'), await b.call('audit.verify')];
    expect(va).toMatchObject({ ok: true });
    expect(vb.head).toBe(va.head);
    const events = (await b.call('audit.list', { since: 0, limit: 1000 })).events as { type: string; data: { fence?: number } }[];
    const fences = events.filter((e) => e.type === 'claim.acquired').map((e) => e.data.fence!);
    expect(fences).toEqual([...fences].sort((x, y) => x - y));
    expect(new Set(fences).size).toBe(fences.length);
  });
});

describePostgres('postgres store: waiting across servers', (db) => {
  test('a release on one server wakes a waiter on another (LISTEN/NOTIFY), well before its wait ends', async () => {
    const projectId = `p-${randomUUID()}`;
    const a = await startTestServer({ database: { url: db.url, projectId } });
    const b = await startTestServer({ database: { url: db.url, projectId } });
    const alice = (await a.call('lease.grant', { agent: 'alice' })).lease;
    const bob = (await b.call('lease.grant', { agent: 'bob' })).lease;
    const held = (await a.call('claim.acquire', { lease: alice, paths: ['shared/file.ts'] })).claim;
    // Long enough that only a wake-up, not the end of the wait, can grant it inside the test's time.
    const waiting = b.rpc('claim.acquire', { lease: bob, paths: ['shared/file.ts'], wait_ms: 600_000 });
    let answered = false;
    void waiting.then(() => (answered = true));
    // bob is queued on b (the first attempt was refused) before alice lets go.
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false);
    await a.call('claim.release', { lease: alice, claim: held.id, fence: held.fence });
    const granted = await waiting;
    expect(granted.result?.claim).toMatchObject({ agent: 'bob', paths: ['shared/file.ts'] });
    expect(granted.result.claim.fence).toBeGreaterThan(held.fence);
  }, 20_000);
});

describePostgres('postgres store: one line of waiters across servers', (db) => {
  type Server = Awaited<ReturnType<typeof startTestServer>>;
  /** Three servers sharing one fresh project (standing for three machines). */
  const threeServers = async (): Promise<[Server, Server, Server]> => {
    const projectId = `p-${randomUUID()}`;
    const open = () => startTestServer({ database: { url: db.url, projectId } });
    return [await open(), await open(), await open()];
  };
  /** Resolves once a probe on `s` is refused naming `agent` as a waiter ahead (it stands in the line). */
  const inLine = async (s: Server, probe: string, path: string, agent: string) => {
    for (;;) {
      const r = await s.rpc('claim.acquire', { lease: probe, paths: [path] });
      if (r.error?.data?.conflicts?.some((c: { agent: string; waiting?: boolean }) => c.waiting && c.agent === agent)) return;
      await new Promise((done) => setTimeout(done, 20));
    }
  };

  test('wait_ms keeps arrival order across servers: a release on the second waiter’s server still serves the first waiter first', async () => {
    const [a, b, c] = await threeServers();
    const alice = (await c.call('lease.grant', { agent: 'alice' })).lease;
    const bob = (await b.call('lease.grant', { agent: 'bob' })).lease;
    const carol = (await c.call('lease.grant', { agent: 'carol' })).lease;
    const probe = (await a.call('lease.grant', { agent: 'probe' })).lease;
    const held = (await c.call('claim.acquire', { lease: alice, paths: ['hot/file.ts'] })).claim;
    const bobWaits = b.rpc('claim.acquire', { lease: bob, paths: ['hot/file.ts'], wait_ms: 600_000 });
    await inLine(a, probe, 'hot/file.ts', 'bob');
    const carolWaits = c.rpc('claim.acquire', { lease: carol, paths: ['hot'], wait_ms: 600_000 });
    await inLine(a, probe, 'hot/file.ts', 'carol');
    let carolAnswered = false;
    void carolWaits.then(() => (carolAnswered = true));
    // Released on c, where carol waits: she retries at once, bob hears of it through the database.
    // Best effort would hand it to carol; the line hands it to bob, who asked first.
    await c.call('claim.release', { lease: alice, claim: held.id, fence: held.fence });
    const first = await bobWaits;
    expect(first.result?.claim).toMatchObject({ agent: 'bob', paths: ['hot/file.ts'] });
    expect(carolAnswered).toBe(false);
    // A newcomer on a is behind carol too, though nothing but bob's claim is in its way.
    const newcomer = await a.rpc('claim.acquire', { lease: probe, paths: ['hot/other.ts'] });
    expect(newcomer.error?.data?.conflicts).toEqual([expect.objectContaining({ agent: 'carol', waiting: true })]);
    await b.call('claim.release', { lease: bob, claim: first.result.claim.id, fence: first.result.claim.fence });
    const second = await carolWaits;
    expect(second.result?.claim).toMatchObject({ agent: 'carol', paths: ['hot'] });
    expect(second.result.claim.fence).toBeGreaterThan(first.result.claim.fence);
  }, 30_000);

  test('a lease expiring on one server releases its claims for waiters on the others, in arrival order', async () => {
    const [a, b, c] = await threeServers();
    const probe = (await a.call('lease.grant', { agent: 'probe' })).lease;
    const bob = (await b.call('lease.grant', { agent: 'bob' })).lease;
    const carol = (await c.call('lease.grant', { agent: 'carol' })).lease;
    // alice's lease, granted on a, lives 1.5 s without a heartbeat; a's sweep ends it once a's
    // (test) clock has passed that (the others' transactions are never judged earlier than the
    // last event, so they see it ended too).
    const alice = (await a.call('lease.grant', { agent: 'alice', ttl_ms: 1_500 })).lease;
    await a.call('claim.acquire', { lease: alice, paths: ['build'] });
    const carolWaits = c.rpc('claim.acquire', { lease: carol, paths: ['build'], wait_ms: 600_000 });
    await inLine(a, probe, 'build', 'carol');
    const bobWaits = b.rpc('claim.acquire', { lease: bob, paths: ['build'], wait_ms: 600_000 });
    await inLine(a, probe, 'build', 'bob');
    let bobAnswered = false;
    void bobWaits.then(() => (bobAnswered = true));
    a.clock.advance(10_000); // the servers' test clocks started apart: well past alice's end on any
    const first = await carolWaits;
    expect(first.result?.claim).toMatchObject({ agent: 'carol' });
    expect(bobAnswered).toBe(false);
    await c.call('claim.release', { lease: carol, claim: first.result.claim.id, fence: first.result.claim.fence });
    expect((await bobWaits).result?.claim).toMatchObject({ agent: 'bob' });
    const expired = (await b.call('audit.list', { since: 0, limit: 1000 })).events.filter((e: { type: string }) => e.type === 'lease.expired');
    expect(expired).toHaveLength(1);
  }, 30_000);
});

describePostgres('postgres store: the database goes away', () => {
  test('an unreachable database is UNAVAILABLE with retry_after_ms, never a silent switch to local state; /healthz still answers', async () => {
    const cluster = await startPostgres();
    let stopped = false;
    try {
      const s = await startTestServer({ database: { url: cluster.url, projectId: `p-${randomUUID()}` } });
      await s.call('lease.grant', { agent: 'before' });
      await cluster.stop();
      stopped = true;
      const refused = await s.rpc('lease.grant', { agent: 'after' });
      expect(refused.error).toMatchObject({ data: { code: 'UNAVAILABLE', reason: 'unavailable', retry_after_ms: expect.any(Number) } });
      const read = await s.rpc('task.list', {});
      expect(read.error).toMatchObject({ data: { code: 'UNAVAILABLE' } });
      expect((await s.http('/healthz', { method: 'GET', headers: {} })).status).toBe(200);
      expect(existsSync(join(s.root, '.decapod', 'decapod.db'))).toBe(false); // no local SQLite fallback
    } finally {
      if (!stopped) await cluster.stop();
    }
  });
});
