// Issue 13: task.get reads a task and its holder in one lookup (tasks.withHolder): the holder is
// the live claim only, never one whose lease or own deadline has passed, or that was released.
import { expect, test } from 'vitest';
import { endClaim } from '../../src/domain/claims.js';
import { grantLease } from '../../src/domain/leases.js';
import { claimTask, createTask } from '../../src/domain/tasks.js';
import { tempStore } from '../helpers/temp-store.js';

test('withHolder: the task with its live claim; none once the lease expired or the claim ended; undefined for no task', async () => {
  const { store, clock } = tempStore();
  const { claim } = await store.transaction(async (tx) => {
    const l = await grantLease(tx, { agent: 'alice', ttl_ms: 10_000 }, 'h');
    await createTask(tx, 'alice', { title: 'held', paths: ['src'] });
    await createTask(tx, 'alice', { title: 'free' });
    return claimTask(tx, (await tx.leases.byId(l.lease_id))!, 'T1');
  });
  const read = (id: string) => store.snapshot((r) => r.tasks.withHolder(id, r.now));
  const held = await read('T1');
  expect(held?.task).toMatchObject({ id: 'T1', title: 'held', paths: ['src'], verified: null });
  expect(held?.holder).toMatchObject({ id: claim.id, agent: 'alice', fence: claim.fence, paths: ['src'], lease: { state: 'active' } });
  expect((await read('T2'))?.holder).toBeUndefined();
  expect(await read('T9')).toBeUndefined();
  clock.advance(10_000); // the lease's time is up, even before any sweep ends it
  expect((await read('T1'))?.holder).toBeUndefined();
  clock.advance(-10_000);
  await store.transaction(async (tx) => endClaim(tx, (await tx.claims.byId(claim.id))!, 'released', 'done'));
  expect((await read('T1'))?.holder).toBeUndefined();
});
