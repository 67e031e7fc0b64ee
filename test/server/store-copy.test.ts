// docs/design.md §7 (`decapod migrate`): what the store contract offers for copying a history into
// another store — Tx.advance and counters(), meta.all(), idempotency.list() — on both engines, and
// the engine-neutral copy (src/lifecycle/migrate.ts) from a served history into an empty store:
// same head, chain and state digest, counters at least the source's, and a non-empty target refused.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { copyHistory, MigrateError } from '../../src/lifecycle/migrate.js';
import { openPostgresStore } from '../../src/store/postgres/pg-store.js';
import type { Store, Tx } from '../../src/store/store.js';
import { packageRoot } from '../../src/util/package-root.js';
import { tempStore } from '../helpers/temp-store.js';
import { describePostgres } from '../helpers/test-postgres.js';
import { startTestServer, testOnSqliteFile } from '../helpers/test-server.js';

const idem = (key_hash: string) => ({ key_hash, method: 'm', params_hash: 'p', response: '{}', created_at: 1 });

function contractTests(open: () => Promise<Store>): void {
  test('advance moves a counter up (never down), kept at commit; a rolled-back one keeps nothing', async () => {
    const store = await open();
    try {
      expect(await store.snapshot((r) => r.counters())).toEqual({ fence: 0, task: 0, proof: 0 });
      await store.transaction(async (tx) => void (await tx.next('fence')));
      const inside = await store.transaction(async (tx) => {
        await tx.advance('fence', 40);
        await tx.advance('task', 7);
        await tx.advance('proof', 3);
        await tx.advance('fence', 5); // never back
        return tx.counters();
      });
      expect(inside).toEqual({ fence: 40, task: 7, proof: 3 });
      expect(await store.snapshot((r) => r.counters())).toEqual({ fence: 40, task: 7, proof: 3 });
      expect(await store.transaction(async (tx) => [await tx.next('fence'), await tx.next('task'), await tx.next('proof')])).toEqual([41, 8, 4]);
      await expect(
        store.transaction(async (tx) => {
          await tx.advance('fence', 1000);
          throw new Error('refused');
        }),
      ).rejects.toThrow('refused');
      // Fences are kept as handed out; task and proof ids may follow their rows (none was inserted here).
      const after = await store.snapshot((r) => r.counters());
      expect(after.fence).toBe(41);
      expect(after.task).toBeGreaterThanOrEqual(7);
      expect(after.proof).toBeGreaterThanOrEqual(3);
    } finally {
      await store.close();
    }
  });

  test("meta.all lists the domain's keys (never the counters); idempotency.list pages in key order", async () => {
    const store = await open();
    try {
      await store.transaction(async (tx) => {
        await tx.next('fence');
        await tx.advance('task', 3);
        await tx.meta.set('b', '2');
        await tx.meta.set('a', '1');
        for (const k of ['k3', 'k1', 'k2']) await tx.idempotency.put(idem(k));
      });
      expect([...(await store.snapshot((r) => r.meta.all()))]).toEqual([
        ['a', '1'],
        ['b', '2'],
      ]);
      expect((await store.snapshot((r) => r.idempotency.list('', 2))).map((r) => r.key_hash)).toEqual(['k1', 'k2']);
      expect(await store.snapshot((r) => r.idempotency.list('k2', 2))).toEqual([idem('k3')]);
    } finally {
      await store.close();
    }
  });
}

/** A served history: leases, tasks with dependencies, live and released claims, proofs, idempotent grants. */
async function servedHistory() {
  const s = await startTestServer();
  mkdirSync(join(s.root, '.decapod'), { recursive: true });
  writeFileSync(join(s.root, '.decapod', 'config.json'), JSON.stringify({ gates: { ok: { command: 'true', timeout_ms: 30_000 } } }));
  const alice = await s.call('lease.grant', { agent: 'alice', ttl_ms: 600_000, idempotency_key: randomUUID() });
  const bob = (await s.call('lease.grant', { agent: 'bob', ttl_ms: 600_000 })).lease;
  await s.call('task.create', { lease: alice.lease, title: 'one', paths: ['src/a'], gates: ['ok'] });
  await s.call('task.create', { lease: alice.lease, title: 'two', paths: ['src/b'], depends_on: ['T1'] });
  const held = await s.call('task.claim', { lease: alice.lease, task: 'T1' });
  await s.call('proof.run', { lease: alice.lease, task: 'T1', gate: 'ok', fence: held.claim.fence });
  await s.call('task.complete', { lease: alice.lease, task: 'T1', fence: held.claim.fence });
  const c = (await s.call('claim.acquire', { lease: bob, paths: ['docs/**'] })).claim;
  await s.call('claim.release', { lease: bob, claim: c.id, fence: c.fence });
  await s.call('claim.acquire', { lease: bob, paths: ['lib', 'src/b/x.ts'], mode: 'shared' });
  for (let i = 0; i < 30; i++) {
    const x = (await s.call('claim.acquire', { lease: bob, paths: [`many/${i}`] })).claim;
    await s.call('claim.release', { lease: bob, claim: x.id, fence: x.fence });
  }
  return s;
}

async function copyTests(openTarget: () => Promise<Store>): Promise<void> {
  const s = await servedHistory();
  const target = await openTarget();
  try {
    const progress: number[] = [];
    const report = await copyHistory(s.server.store, target, { onProgress: (n) => progress.push(n) });
    expect(report.target.head).toEqual(report.source.head);
    expect(report.target.digest).toBe(report.source.digest);
    expect(report.source.head.seq).toBeGreaterThan(60);
    expect(report.copied).toMatchObject({ events: report.source.head.seq, leases: 2, tasks: 2, claims: 33, proofs: 1, meta: ['lease_pepper'] });
    expect(report.copied.idempotency).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(report.source.head.seq);
    const counters = await target.snapshot((r) => r.counters());
    expect(counters).toEqual(report.source.counters);
    expect(counters).toMatchObject({ task: 2, proof: 1 });
    expect(counters.fence).toBeGreaterThanOrEqual(33);
    // The copy answers like the source: the lease by its secret's hash, the state digest, the pepper.
    const [src, dst] = await Promise.all(
      [s.server.store, target].map((st) => st.snapshot(async (r) => ({ leases: await r.leases.list(), pepper: await r.meta.get('lease_pepper'), head: await r.events.head() }))),
    );
    expect(dst).toEqual(src);

    // A second copy into the same (now non-empty) target is refused and changes nothing.
    const refused = await copyHistory(s.server.store, target).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(MigrateError);
    expect((refused as MigrateError).kind).toBe('refused');
    expect((refused as Error).message).toMatch(new RegExp(`already has ${report.source.head.seq} events`));
    expect(await target.snapshot((r) => r.events.count())).toBe(report.source.head.seq);
  } finally {
    await target.close();
  }
}

/** The target as a faulty engine would be: every task it is given is stored with another title. */
function altersTasks(store: Store): Store {
  const wrap = (tx: Tx): Tx =>
    new Proxy(tx, {
      get(t, k) {
        if (k === 'tasks') return { ...t.tasks, insert: (row: Parameters<Tx['tasks']['insert']>[0]) => t.tasks.insert({ ...row, title: `${row.title}!` }) };
        const v = Reflect.get(t, k, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  return { ...store, transaction: (body, o) => store.transaction((tx) => body(wrap(tx)), o) };
}

async function mismatchTest(openTarget: () => Promise<Store>): Promise<void> {
  const s = await servedHistory();
  const target = await openTarget();
  try {
    const failed = await copyHistory(s.server.store, altersTasks(target)).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(MigrateError);
    expect((failed as MigrateError).kind).toBe('failed');
    expect((failed as Error).message).toMatch(/does not match: its state digest is [0-9a-f]{64}, the source's [0-9a-f]{64} \(first difference: tasks row 0\); rolled back, nothing was kept/);
    expect(await target.snapshot(async (r) => [await r.events.count(), await r.meta.all(), await r.counters()])).toEqual([0, new Map(), { fence: 0, task: 0, proof: 0 }]);
  } finally {
    await target.close();
  }
}

describe('store contract for copies: SQLite', () => {
  contractTests(async () => tempStore().store);
  // A SQLite transaction awaits only SQLite (DECAPOD_STRICT_TX): it can be fed by a SQLite source
  // (decapod migrate copies from SQLite), not by the PostgreSQL-served history of that engine's run.
  testOnSqliteFile('a served history copies into an empty SQLite store: same head, chain, digest; counters carried; a second copy refused', async () => {
    await copyTests(async () => tempStore().store);
  });
  testOnSqliteFile('a copy that does not read back the same is rolled back whole, saying where it differs', async () => {
    await mismatchTest(async () => tempStore().store);
  });
});

describePostgres('store contract for copies: PostgreSQL', (db) => {
  const open = () => openPostgresStore({ url: db.url, projectId: `p-${randomUUID()}`, migrationsDir: join(packageRoot(), 'migrations', 'postgres') });
  contractTests(open);
  test('a served history copies into an empty PostgreSQL project: same head, chain, digest; counters carried; a second copy refused', async () => {
    await copyTests(open);
  });
  test('a copy that does not read back the same is rolled back whole, saying where it differs', async () => {
    await mismatchTest(open);
  });
});
