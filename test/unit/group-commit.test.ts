// Issue 6: group commit. Mutations that arrive together share one SQLite transaction (one fsync
// under synchronous=FULL), each atomic in its own savepoint, and nothing is acknowledged before the
// group is committed. A second connection to the same file is what any later reader sees.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { migrationsDir } from '../helpers/temp-store.js';
import { tempRoot } from '../helpers/test-server.js';

function stores() {
  const file = join(tempRoot('decapod-group-'), 'decapod.db');
  const store = openSqliteStore(file, { migrationsDir: migrationsDir() });
  const reader = new Database(file, { readonly: true });
  onTestFinished(() => {
    reader.close();
    store.close();
  });
  const seen = (key: string) => (reader.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? null;
  return { store, seen };
}

test('mutations of one turn share one commit, and are visible to others only once it is done', async () => {
  const { store, seen } = stores();
  const a = store.grouped(() => store.meta.set('a', '1'));
  const b = store.grouped(() => store.meta.set('b', '2'));
  expect(a.committed).toBe(b.committed);
  expect(store.pendingCommit()).toBe(a.committed);
  expect([seen('a'), seen('b')]).toEqual([null, null]); // not committed yet: not acknowledged either
  await a.committed;
  expect([seen('a'), seen('b')]).toEqual(['1', '2']);
  expect(store.pendingCommit()).toBeUndefined();
  // The next turn opens a new group.
  const c = store.grouped(() => store.meta.set('c', '3'));
  expect(c.committed).not.toBe(a.committed);
  await c.committed;
  expect(seen('c')).toBe('3');
});

test('a member that throws rolls back alone; the rest of its group commits', async () => {
  const { store, seen } = stores();
  const ok = store.grouped(() => store.meta.set('kept', 'yes'));
  expect(() =>
    store.grouped(() => {
      store.meta.set('dropped', 'no');
      throw new Error('refused');
    }),
  ).toThrow('refused');
  const after = store.grouped(() => store.meta.get('dropped') ?? 'absent');
  expect(after.value).toBe('absent');
  await ok.committed;
  expect([seen('kept'), seen('dropped')]).toEqual(['yes', null]);
});

test('a plain transaction while a group is open commits both before it returns', async () => {
  const { store, seen } = stores();
  const grouped = store.grouped(() => store.meta.set('grouped', '1'));
  store.transaction(() => store.meta.set('plain', '2'));
  expect([seen('grouped'), seen('plain')]).toEqual(['1', '2']);
  await grouped.committed;
  expect(store.pendingCommit()).toBeUndefined();
});

test('closing the store commits an open group first', () => {
  const file = join(tempRoot('decapod-group-'), 'decapod.db');
  const store = openSqliteStore(file, { migrationsDir: migrationsDir() });
  store.grouped(() => store.meta.set('last', 'word'));
  store.close();
  const reader = new Database(file, { readonly: true });
  onTestFinished(() => {
    reader.close();
  });
  expect(reader.prepare("SELECT value FROM meta WHERE key = 'last'").pluck().get()).toBe('word');
});

test('a snapshot reads committed state once, and its cached reads follow every write', async () => {
  const { store } = stores();
  const read = () => store.snapshot(() => ({ events: store.events.count(), counts: store.tasks.countByStatus() }));
  expect(read()).toEqual({ events: 0, counts: { open: 0, done: 0, cancelled: 0 } });
  await store.grouped(() =>
    store.events.append({
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
  ).committed;
  expect(read().events).toBe(1);
  const rows = store.snapshot(() => store.leases.list());
  expect(Array.isArray(rows)).toBe(true);
});
