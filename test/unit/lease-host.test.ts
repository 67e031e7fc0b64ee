// Issue 13: a pid names a process only on its own machine. Once several machines share one
// database (docs/design.md §7), a lease is revoked for a dead process only by a server on the host
// that recorded it; leases recorded before hosts were (migration 006, host NULL) count as this host's.
import { expect, test } from 'vitest';
import { grantLease, revokeOrphanedLeases } from '../../src/domain/leases.js';
import { tempStore } from '../helpers/temp-store.js';

test('a dead pid revokes only leases recorded on this host (or before hosts were recorded)', async () => {
  const { store } = tempStore();
  const granted = await store.transaction(async (tx) => ({
    here: await grantLease(tx, { agent: 'here', pid: 4242 }, 'this-host'),
    there: await grantLease(tx, { agent: 'there', pid: 4242 }, 'other-host'),
    nopid: await grantLease(tx, { agent: 'nopid' }, 'this-host'),
  }));
  // A lease of an older server: same pid, no host.
  await store.transaction((tx) =>
    tx.leases.insert({
      lease_id: 'lease_old',
      secret_hash: 'h',
      agent: 'old',
      state: 'active',
      ttl_ms: 60_000,
      pid: 4242,
      host: null,
      meta: null,
      granted_at: tx.now,
      renewed_at: tx.now,
      expires_at: tx.now + 60_000,
      ended_at: null,
    }),
  );
  const asked: number[] = [];
  const revoked = await store.transaction((tx) => revokeOrphanedLeases(tx, 'this-host', (pid) => (asked.push(pid), false)));
  expect(revoked.sort()).toEqual([granted.here.lease_id, 'lease_old'].sort());
  const states = await store.snapshot(async (r) => Object.fromEntries((await r.leases.list()).map((l) => [l.agent, [l.state, l.host]])));
  expect(states).toEqual({
    here: ['revoked', 'this-host'],
    there: ['active', 'other-host'],
    nopid: ['active', null], // no pid: no host recorded either
    old: ['revoked', null],
  });
  expect(asked).toEqual([4242, 4242]); // the other host's pid was never even looked up here
  // The grant's event carries the host, so replay rebuilds the same row.
  const events = await store.snapshot((r) => r.events.list({ limit: 10 }));
  expect(JSON.parse(events.find((e) => e.subject === granted.there.lease_id)!.data!)).toMatchObject({ pid: 4242, host: 'other-host' });
  expect(JSON.parse(events.find((e) => e.subject === granted.nopid.lease_id)!.data!)).not.toHaveProperty('host');
});
