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
