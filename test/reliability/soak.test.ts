import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

// Issue 7 soak, time-compressed: mixed load with leases expiring and renewing over many hours of
// server-clock time, with pruning on a short schedule. Checks that memory stays flat, no file
// descriptor leaks, and no unbounded table growth (idempotency records and ended leases/claims
// are pruned; audit events are kept). `npm run soak` runs the same load in real time.

const HOUR = 3_600_000;
const fdCount = () => readdirSync('/proc/self/fd').length;
const rssMb = () => Math.round(process.memoryUsage().rss / 1e6);

function tableSizes(root: string): Record<string, number> {
  const db = new Database(join(root, '.decapod', 'decapod.db'), { readonly: true });
  const out: Record<string, number> = {};
  for (const t of ['leases', 'claims', 'claim_paths', 'idempotency', 'events', 'tasks']) out[t] = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
  db.close();
  return out;
}

async function load(s: TestServer, round: number): Promise<void> {
  // Eight short-lived agents: each takes a lease, claims paths and a task, renews some, and lets
  // half of its leases lapse instead of revoking them.
  for (let a = 0; a < 8; a++) {
    const agent = `agent-${a}`;
    const { lease } = await s.call('lease.grant', { agent, ttl_ms: 60_000, idempotency_key: `grant-${round}-${a}` });
    await s.call('lease.grant', { agent, ttl_ms: 60_000, idempotency_key: `grant-${round}-${a}` }); // a retry
    const { claim } = await s.call('claim.acquire', { lease, paths: [`area-${a}/round-${round}`] });
    await s.call('task.create', { lease, title: `r${round} a${a}`, paths: [`work/${round}/${a}`] });
    await s.rpc('task.claim', { lease });
    await s.call('lease.renew', { lease });
    if (a % 2 === 0) await s.call('claim.release', { lease, claim: claim.id, fence: claim.fence });
    if (a % 4 === 0) await s.call('lease.revoke', { lease });
  }
}

async function sweep(s: TestServer): Promise<void> {
  // The housekeeping timer runs every 50 ms of real time here; give it a couple of ticks.
  await new Promise((r) => setTimeout(r, 120));
}

test('soak: hours of mixed load stay flat in memory, descriptors and table sizes', { timeout: 120_000 }, async () => {
  const s = await startTestServer({ retention: { idempotencyMs: 2 * HOUR, rowsMs: 2 * HOUR, pruneEveryMs: HOUR }, sweepEveryMs: 50 });
  const rounds = 36; // 36 rounds × 20 simulated minutes = 12 hours of server time
  const samples: { round: number; rss: number; fds: number; sizes: Record<string, number> }[] = [];
  for (let round = 0; round < rounds; round++) {
    await load(s, round);
    s.clock.advance(20 * 60_000); // leases not renewed expire; time-boxed things lapse
    await sweep(s);
    if (round % 6 === 5) samples.push({ round, rss: rssMb(), fds: fdCount(), sizes: tableSizes(s.root) });
  }
  const first = samples[1]!; // after warm-up
  const last = samples[samples.length - 1]!;
  console.info('soak samples', JSON.stringify(samples));

  // Pruned tables stay bounded: only the last ~2 h of ended rows (6 rounds × 8 agents) remain.
  const perRound = 8;
  expect(last.sizes.leases).toBeLessThanOrEqual(perRound * 10);
  expect(last.sizes.claims).toBeLessThanOrEqual(perRound * 3 * 10);
  expect(last.sizes.idempotency).toBeLessThanOrEqual(perRound * 10);
  expect(last.sizes.leases).toBeLessThan(rounds * perRound / 2);
  // Audit events are kept: they only grow.
  expect(last.sizes.events).toBeGreaterThan(first.sizes.events);
  expect(last.sizes.tasks).toBe(rounds * perRound); // tasks are kept too
  // No descriptor leak, memory flat (a generous bound: the test process hosts the server).
  expect(last.fds).toBeLessThanOrEqual(first.fds + 2);
  expect(last.rss - first.rss).toBeLessThan(60);
  // Pruning is in the log, so the log still rebuilds the live state.
  const replay = await s.call('audit.replay');
  expect(replay).toMatchObject({ ok: true, chain: { ok: true } });
  const types = new Set((await s.call('audit.list', { limit: 1000 })).events.map((e: { type: string }) => e.type));
  expect(types.has('store.pruned')).toBe(true);
});
