// The store's refusals are engine-neutral (src/store/store.ts StoreUnavailableError): SQLite's codes
// stop in src/store/sqlite/, and the dispatcher answers BUSY or UNAVAILABLE from them (docs/design.md §3).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import type { MethodContext } from '../../src/methods/define.js';
import { createDispatcher } from '../../src/methods/dispatch.js';
import { METHODS } from '../../src/methods/table.js';
import { WaitQueue } from '../../src/methods/wait-queue.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { StoreUnavailableError } from '../../src/store/store.js';
import { migrationsDir } from '../helpers/temp-store.js';
import { tempRoot } from '../helpers/test-server.js';

function busyStore() {
  const root = tempRoot('decapod-busy-');
  const file = join(root, 'decapod.db');
  const store = openSqliteStore(file, { migrationsDir: migrationsDir(), busyTimeoutMs: 20 });
  const other = new Database(file);
  onTestFinished(async () => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    await store.close();
  });
  const ctx: MethodContext = {
    store,
    host: 'test-host',
    root,
    gates: () => ({ gates: new Map() }) as unknown as ReturnType<MethodContext['gates']>,
    scratchStore: () => openSqliteStore(':memory:', { migrationsDir: migrationsDir() }),
    waits: new WaitQueue(),
    logError: (err) => {
      throw err;
    },
    server: { info: () => ({}) as never, requestShutdown: () => {}, shuttingDown: false },
  };
  return { store, other, ctx };
}

test('a write lock held elsewhere is a StoreUnavailableError (busy), and the dispatcher answers BUSY, writing nothing', async () => {
  const { store, other, ctx } = busyStore();
  other.exec('BEGIN IMMEDIATE');
  const refused = await store.transaction((tx) => tx.meta.set('k', 'v')).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(StoreUnavailableError);
  expect(refused).toMatchObject({ name: 'StoreUnavailableError', reason: 'busy', retryAfterMs: 100 });

  const out = await createDispatcher(METHODS)(ctx, 'lease.grant', { agent: 'a' });
  expect(out.ok).toBe(false);
  expect(!out.ok && out.error.toJSON()).toEqual({ code: -32001, message: 'storage is busy; retry shortly', data: { code: 'BUSY', retry_after_ms: 100 } });
  other.exec('ROLLBACK');
  const events = () => store.snapshot((r) => r.events.count());
  expect(await events()).toBe(0);
  const ok = await createDispatcher(METHODS)(ctx, 'lease.grant', { agent: 'a' });
  expect(ok.ok).toBe(true);
  expect(await events()).toBe(1);
});
