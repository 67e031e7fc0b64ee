// Issue 6: group commit; issue 13: the asynchronous contract on top of it. Transactions that
// arrive together share one SQLite transaction (one fsync under synchronous=FULL), each atomic in
// its own savepoint, and none resolves before the group is committed. Bodies take turns (FIFO, one
// lane ahead for the wait queue) and never interleave; a body that awaits real I/O is refused.
// A second connection to the same file is what any later reader sees.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { migrationsDir } from '../helpers/temp-store.js';
import { tempRoot } from '../helpers/test-server.js';

function stores(opts: { strictBodies?: boolean } = {}) {
  const file = join(tempRoot('decapod-group-'), 'decapod.db');
  const store = openSqliteStore(file, { migrationsDir: migrationsDir(), ...opts });
  const reader = new Database(file, { readonly: true });
  onTestFinished(async () => {
    reader.close();
    await store.close();
  });
  const seen = (key: string) => (reader.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? null;
  return { store, seen, file };
}

test('transactions of one turn share one commit, and are visible to others only once it is done', async () => {
  const { store, seen } = stores();
  let resolved = 0;
  const a = store.transaction((tx) => tx.meta.set('a', '1')).then(() => resolved++);
  const b = store.transaction((tx) => tx.meta.set('b', '2')).then(() => resolved++);
  await new Promise<void>((r) => queueMicrotask(r));
  expect([seen('a'), seen('b')]).toEqual([null, null]); // not committed yet: not acknowledged either
  expect(resolved).toBe(0);
  await Promise.race([a, b]);
  expect([seen('a'), seen('b')]).toEqual(['1', '2']); // the first to resolve found both committed: one commit
  await Promise.all([a, b]);
  // The next turn opens a new group.
  await store.transaction((tx) => tx.meta.set('c', '3'));
  expect(seen('c')).toBe('3');
});

test('a body that throws rolls back alone; the rest of its group commits', async () => {
  const { store, seen } = stores();
  const ok = store.transaction((tx) => tx.meta.set('kept', 'yes'));
  const failed = store.transaction(async (tx) => {
    await tx.meta.set('dropped', 'no');
    throw new Error('refused');
  });
  const after = store.transaction(async (tx) => (await tx.meta.get('dropped')) ?? 'absent');
  await expect(failed).rejects.toThrow('refused');
  expect(await after).toBe('absent');
  await ok;
  expect([seen('kept'), seen('dropped')]).toEqual(['yes', null]);
});

test('bodies take turns in arrival order and never interleave; the ahead lane goes first', async () => {
  const { store } = stores();
  const steps: string[] = [];
  const body = (name: string) => async () => {
    for (let i = 0; i < 3; i++) {
      steps.push(`${name}${i}`);
      await Promise.resolve(); // yields to other microtasks, never to another body
    }
  };
  const all = [store.transaction(body('a')), store.transaction(body('b')), store.transaction(body('c'), { ahead: true })];
  await Promise.all(all);
  expect(steps).toEqual(['a0', 'a1', 'a2', 'c0', 'c1', 'c2', 'b0', 'b1', 'b2']);
});

test('a body that awaits real I/O or a timer is refused and changes nothing (strict bodies)', async () => {
  const { store, seen } = stores({ strictBodies: true });
  const stray = store.transaction(async (tx) => {
    await tx.meta.set('stray', 'x');
    await new Promise((r) => setTimeout(r, 5));
  });
  await expect(stray).rejects.toThrow(/awaited real I\/O or a timer/);
  expect(seen('stray')).toBeNull();
  await expect(store.snapshot(async () => new Promise((r) => setTimeout(r, 5)))).rejects.toThrow(/awaited real I\/O/);
  // Bodies that await only the store pass.
  await store.transaction(async (tx) => {
    for (let i = 0; i < 50; i++) await tx.meta.set(`k${i}`, String(i));
  });
  expect(seen('k49')).toBe('49');
});

test('a snapshot reads committed state only: it waits for an open group', async () => {
  const { store, seen } = stores();
  const writing = store.transaction((tx) => tx.meta.set('w', 'done'));
  // Inside the snapshot, another connection already sees the write: the group committed first
  // (reading inside the open group on the same connection would see 'done' too, uncommitted).
  const read = await store.snapshot(async (r) => ({ mine: await r.meta.get('w'), others: seen('w') }));
  expect(read).toEqual({ mine: 'done', others: 'done' });
  await writing;
});

test('closing the store commits an open group first', async () => {
  const file = join(tempRoot('decapod-group-'), 'decapod.db');
  const store = openSqliteStore(file, { migrationsDir: migrationsDir() });
  const last = store.transaction((tx) => tx.meta.set('last', 'word'));
  await store.close();
  await last;
  const reader = new Database(file, { readonly: true });
  onTestFinished(() => {
    reader.close();
  });
  expect(reader.prepare("SELECT value FROM meta WHERE key = 'last'").pluck().get()).toBe('word');
});

test('a snapshot reads committed state once, and its cached reads follow every write', async () => {
  const { store } = stores();
  const read = () => store.snapshot(async (r) => ({ events: await r.events.count(), counts: await r.tasks.countByStatus() }));
  expect(await read()).toEqual({ events: 0, counts: { open: 0, done: 0, cancelled: 0 } });
  await store.transaction((tx) =>
    tx.events.append({
      seq: 1,
      at: 1,
      type: 'test.event',
      agent: null,
      subject: null,
      data: '{}',
      data_digest: 'd',
      prev_hash: '0'.repeat(64),
      hash: 'h',
    }),
  );
  expect((await read()).events).toBe(1);
  const rows = await store.snapshot((r) => r.leases.list());
  expect(Array.isArray(rows)).toBe(true);
});

test('the transaction owns the head and the counters: read once, moved in memory, the fence stored', async () => {
  const { store, file } = stores();
  const first = await store.transaction(async (tx) => {
    expect(tx.head()).toEqual({ seq: 0, hash: '0'.repeat(64), at: 0 });
    await tx.events.append({ seq: 1, at: 5, type: 't', agent: null, subject: null, data: '{}', data_digest: 'd', prev_hash: '0'.repeat(64), hash: 'h1' });
    expect(tx.head()).toEqual({ seq: 1, hash: 'h1', at: 5 });
    // Appending anywhere but after the head is refused: the chain cannot fork inside a transaction.
    await expect(tx.events.append({ seq: 3, at: 5, type: 't', agent: null, subject: null, data: '{}', data_digest: 'd', prev_hash: 'h1', hash: 'h3' })).rejects.toThrow(/does not follow/);
    return [await tx.next('fence'), await tx.next('fence'), await tx.next('task'), await tx.next('proof')];
  });
  expect(first).toEqual([1, 2, 1, 1]);
  expect(await store.transaction(async (tx) => [tx.head().seq, await tx.next('fence')])).toEqual([1, 3]);
  const reader = new Database(file, { readonly: true });
  expect(reader.prepare("SELECT value FROM meta WHERE key = 'fence'").pluck().get()).toBe('3');
  reader.close();
  // A body that fails takes no fence: the counter is written back only with a body that commits.
  await expect(store.transaction(async (tx) => (await tx.next('fence'), Promise.reject(new Error('no'))))).rejects.toThrow('no');
  expect(await store.transaction((tx) => tx.next('fence'))).toBe(4);
});
