import type Database from 'better-sqlite3';
import type { IdempotencyRow, IdempotencyWrites, MetaWrites } from '../store.js';
import type { Sync } from './resolved.js';

export function sqliteMeta(db: Database.Database): Sync<MetaWrites> {
  const get = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
  const set = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  return { get: (key) => get.get(key) as string | undefined, set: (key, value) => void set.run(key, value) };
}

export function sqliteIdempotency(db: Database.Database): Sync<IdempotencyWrites> {
  const q = {
    get: db.prepare('SELECT * FROM idempotency WHERE key_hash = ?'),
    put: db.prepare(`INSERT INTO idempotency (key_hash, method, params_hash, response, created_at)
      VALUES (@key_hash, @method, @params_hash, @response, @created_at)`),
    prune: db.prepare('DELETE FROM idempotency WHERE created_at < ?'),
  };
  return {
    get: (keyHash) => q.get.get(keyHash) as IdempotencyRow | undefined,
    put: (row) => void q.put.run(row),
    prune: (before) => q.prune.run(before).changes,
  };
}
