import { afterEach, expect, test, vi } from 'vitest';
import { monotonicWallClock } from '../../src/util/clock.js';
import { startTestServer } from '../helpers/test-server.js';

afterEach(() => vi.restoreAllMocks());

test('the server clock ignores wall-clock jumps while it runs', () => {
  const clock = monotonicWallClock();
  const before = clock.now();
  const realNow = Date.now;
  for (const jump of [3_600_000, -3_600_000, 86_400_000 * 365]) {
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + jump);
    const t = clock.now();
    expect(Math.abs(t - before)).toBeLessThan(60_000); // moved only by elapsed real time
    vi.restoreAllMocks();
  }
});

test('between servers a jump does count: forward expires leases, backward never revives them', async () => {
  // The test clock stands in for the wall clock seen by a restarted server.
  const s = await startTestServer();
  const a = (await s.call('lease.grant', { agent: 'a', ttl_ms: 10_000 })).lease;
  const b = (await s.call('lease.grant', { agent: 'b', ttl_ms: 10_000 })).lease;
  s.clock.advance(-3_600_000); // back one hour: deadlines are wall times, so leases look longer
  expect((await s.call('lease.list')).leases.every((l: { ttl_remaining_ms: number }) => l.ttl_remaining_ms === 3_610_000)).toBe(true);
  s.clock.advance(3_600_000 + 10_000); // forward past the deadline: expired, judged by the server
  await s.call('lease.grant', { agent: 'c' }); // any mutation records the expiry
  expect((await s.rpc('lease.renew', { lease: a })).error.data).toMatchObject({ code: 'LEASE_INVALID', reason: 'expired' });
  s.clock.advance(-86_400_000); // jumping back again does not bring them back
  expect((await s.rpc('lease.renew', { lease: b })).error.data).toMatchObject({ code: 'LEASE_INVALID', reason: 'expired' });
  // Client-supplied times are not accepted anywhere: leases take only a TTL.
  expect((await s.rpc('lease.grant', { agent: 'd', expires_at: '2099-01-01T00:00:00Z' })).error.data.field).toBe('expires_at');
});
