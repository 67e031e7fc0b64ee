import type Database from 'better-sqlite3';
import type { Counter, IdempotencyRow, IdempotencyWrites, MetaWrites } from '../store.js';
import type { Sync } from './resolved.js';

/**
 * The keys in `meta` this engine keeps its counters under: the fence (since migration 002), and
 * task and proof floors, set only by Tx.advance (ids otherwise follow from the highest row).
 * They are the engine's bookkeeping, read through `counters()`, so `meta.all()` leaves them out.
 */
export const COUNTER_KEYS: Record<Counter, string> = { fence: 'fence', task: 'task_seq', proof: 'proof_seq' };
const BOOKKEEPING = new Set(Object.values(COUNTER_KEYS));

export function sqliteMeta(db: Database.Database): Sync<MetaWrites> {
  const get = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
  const set = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  const all = db.prepare('SELECT key, value FROM meta ORDER BY key');
  return {
    get: (key) => get.get(key) as string | undefined,
    set: (key, value) => void set.run(key, value),
    all: () => new Map((all.all() as { key: string; value: string }[]).filter((r) => !BOOKKEEPING.has(r.key)).map((r) => [r.key, r.value])),
  };
}

export function sqliteIdempotency(db: Database.Database): Sync<IdempotencyWrites> {
  const q = {
    get: db.prepare('SELECT * FROM idempotency WHERE key_hash = ?'),
    list: db.prepare('SELECT * FROM idempotency WHERE key_hash > ? ORDER BY key_hash LIMIT ?'),
    put: db.prepare(`INSERT INTO idempotency (key_hash, method, params_hash, response, created_at)
      VALUES (@key_hash, @method, @params_hash, @response, @created_at)`),
    prune: db.prepare('DELETE FROM idempotency WHERE created_at < ?'),
  };
  return {
    get: (keyHash) => q.get.get(keyHash) as IdempotencyRow | undefined,
    list: (after, limit) => q.list.all(after, limit) as IdempotencyRow[],
    put: (row) => void q.put.run(row),
    prune: (before) => q.prune.run(before).changes,
  };
}
