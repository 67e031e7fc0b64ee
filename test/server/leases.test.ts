import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { startTestServer } from '../helpers/test-server.js';

const leaseInvalid = (reason: string) =>
  expect.objectContaining({ code: 1001, data: expect.objectContaining({ code: 'LEASE_INVALID', reason }) });

test('grant returns a secret, a public id and the TTL; the lease is listed without its secret', async () => {
  const s = await startTestServer();
  const g = await s.call('lease.grant', { agent: 'alice', ttl_ms: 30_000 });
  expect(g).toMatchObject({ agent: 'alice', ttl_ms: 30_000, ttl_remaining_ms: 30_000 });
  expect(g.lease).toMatch(/^dcl_[\w-]{43}$/);
  expect(g.lease_id).toMatch(/^lease_/);
  expect(g.expires_at).toBe(new Date(s.clock.now() + 30_000).toISOString());
  const { leases } = await s.call('lease.list');
  expect(leases).toEqual([
    {
      lease_id: g.lease_id,
      agent: 'alice',
      state: 'active',
      granted_at: new Date(s.clock.now()).toISOString(),
      expires_at: g.expires_at,
      ttl_ms: 30_000,
      ttl_remaining_ms: 30_000,
      claims: [],
    },
  ]);
  expect(JSON.stringify(leases)).not.toContain(g.lease);
});

test('the default TTL is 60 s; values out of 1000…86400000 are refused, never clamped', async () => {
  const s = await startTestServer();
  expect((await s.call('lease.grant', { agent: 'a' })).ttl_ms).toBe(60_000);
  for (const ttl of [999, 86_400_001, 0, -5, 1.5]) {
    const r = await s.rpc('lease.grant', { agent: 'a', ttl_ms: ttl });
    expect(r.error).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', field: 'ttl_ms' } });
  }
  expect((await s.call('lease.grant', { agent: 'a', ttl_ms: 1000 })).ttl_ms).toBe(1000);
  expect((await s.call('lease.grant', { agent: 'a', ttl_ms: 86_400_000 })).ttl_ms).toBe(86_400_000);
  expect((await s.call('lease.list')).leases).toHaveLength(3);
});

test('renewal extends by the TTL from now, judged by the server clock, and writes no audit event', async () => {
  const s = await startTestServer();
  const g = await s.call('lease.grant', { agent: 'a', ttl_ms: 10_000 });
  s.clock.advance(9_000);
  const r = await s.call('lease.renew', { lease: g.lease });
  expect(r).toEqual({ lease_id: g.lease_id, ttl_remaining_ms: 10_000, expires_at: new Date(s.clock.now() + 10_000).toISOString() });
  expect(r).not.toHaveProperty('receipt');
  s.clock.advance(9_999);
  expect((await s.call('lease.renew', { lease: g.lease })).ttl_remaining_ms).toBe(10_000);
  const { events } = await s.call('audit.list');
  expect(events.map((e: { type: string }) => e.type)).toEqual(['lease.granted']);
});

test('expiry is judged by the server clock; renewal never revives an expired lease', async () => {
  const s = await startTestServer();
  const g = await s.call('lease.grant', { agent: 'a', ttl_ms: 5_000 });
  s.clock.advance(5_000);
  expect((await s.rpc('lease.renew', { lease: g.lease })).error).toEqual(leaseInvalid('expired'));
  expect((await s.call('lease.list')).leases[0]).toMatchObject({ state: 'expired', ttl_remaining_ms: 0 });
  // A mutation judges expiry now and records it once.
  await s.call('lease.grant', { agent: 'b' });
  const { events } = await s.call('audit.list');
  expect(events.map((e: { type: string; subject: string }) => [e.type, e.subject])).toEqual([
    ['lease.granted', g.lease_id],
    ['lease.expired', g.lease_id],
    ['lease.granted', expect.any(String)],
  ]);
  expect((await s.rpc('lease.revoke', { lease: g.lease })).error).toEqual(leaseInvalid('expired'));
});

test('a client-supplied time cannot stretch a lease: only the server clock counts', async () => {
  const s = await startTestServer();
  const r = await s.rpc('lease.grant', { agent: 'a', ttl_ms: 5_000, expires_at: '2099-01-01T00:00:00Z' });
  expect(r.error).toMatchObject({ code: -32602, data: { field: 'expires_at' } });
});

test('revoke ends the lease at once, with one event; a revoked lease stays dead', async () => {
  const s = await startTestServer();
  const g = await s.call('lease.grant', { agent: 'a' });
  const r = await s.call('lease.revoke', { lease: g.lease });
  expect(r.released).toEqual([]);
  expect(r.receipt).toMatchObject({ seq: 2, op: 'lease.revoke' });
  expect((await s.rpc('lease.renew', { lease: g.lease })).error).toEqual(leaseInvalid('revoked'));
  expect((await s.rpc('lease.revoke', { lease: g.lease })).error).toEqual(leaseInvalid('revoked'));
  expect((await s.rpc('lease.renew', { lease: 'dcl_not-a-lease' })).error).toEqual(leaseInvalid('unknown'));
  expect((await s.call('audit.list')).events).toHaveLength(2);
});

test('the periodic sweep expires leases while the server runs', async () => {
  const s = await startTestServer();
  const g = await s.call('lease.grant', { agent: 'a', ttl_ms: 1_000 });
  s.clock.advance(1_000);
  // The sweep runs every second on the real timer; wait (bounded) for its event.
  let types: string[] = [];
  for (let i = 0; i < 40 && !types.includes('lease.expired'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    types = (await s.call('audit.list', { agent: 'a' })).events.map((e: { type: string }) => e.type);
  }
  expect(types).toEqual(['lease.granted', 'lease.expired']);
  expect((await s.call('server.status')).counts).toMatchObject({ leases_active: 0, leases_expired: 1 });
  void g;
});

test('lease secrets are never stored or logged in clear', async () => {
  const s = await startTestServer();
  const secrets: string[] = [];
  for (let i = 0; i < 3; i++) secrets.push((await s.call('lease.grant', { agent: `a${i}` })).lease);
  // With an idempotency key too: the record keeps no secret, and a replay derives the same one.
  const keyed = await s.call('lease.grant', { agent: 'k', idempotency_key: 'grant-k-1' });
  const replay = await s.call('lease.grant', { agent: 'k', idempotency_key: 'grant-k-1' });
  expect(replay).toEqual(keyed);
  secrets.push(keyed.lease);
  for (const secret of secrets) await s.call('lease.renew', { lease: secret });
  await s.call('lease.revoke', { lease: secrets[0] });
  await s.close();
  const decapod = join(s.root, '.decapod');
  const files = [...readdirSync(decapod).map((f) => join(decapod, f)), ...readdirSync(join(decapod, 'run')).map((f) => join(decapod, 'run', f))];
  let scanned = 0;
  for (const file of files) {
    let bytes: string;
    try {
      bytes = readFileSync(file, 'latin1');
    } catch {
      continue; // a folder
    }
    scanned++;
    for (const secret of secrets) expect(bytes.includes(secret), `${file} holds a lease secret`).toBe(false);
    expect(bytes.includes('grant-k-1'), `${file} holds an idempotency key`).toBe(false);
  }
  expect(scanned).toBeGreaterThanOrEqual(2); // at least the database and the log
});
