import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Store } from '../store.js';
import { sqliteClaims } from './claims.js';
import { sqliteEvents } from './events.js';
import { sqliteLeases } from './leases.js';
import { metaCounter, sqliteIdempotency, sqliteMeta } from './meta.js';
import { sqliteDump, sqliteProofs } from './proofs.js';
import { sqliteTasks } from './tasks.js';
import { loadMigrations, migrate } from './migrate.js';

export type Durability = 'full' | 'normal';

export interface SqliteStoreOptions {
  /** WAL with synchronous=FULL keeps acknowledged writes across power loss; NORMAL only across crashes. */
  durability?: Durability;
  busyTimeoutMs?: number;
  migrationsDir: string;
}

/** The SQLite implementation of the store contract. Every statement is prepared once, at open. */
export function openSqliteStore(file: string, opts: SqliteStoreOptions): Store {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.durability === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  db.pragma('foreign_keys = ON');
  let version: number;
  try {
    version = migrate(db, loadMigrations(opts.migrationsDir));
  } catch (err) {
    db.close();
    throw err;
  }

  const meta = sqliteMeta(db);
  return {
    meta,
    events: sqliteEvents(db),
    leases: sqliteLeases(db),
    idempotency: sqliteIdempotency(db),
    tasks: sqliteTasks(db),
    claims: sqliteClaims(db, metaCounter(meta, 'fence')),
    proofs: sqliteProofs(db),
    dump: sqliteDump(db),
    transaction: (fn) => db.transaction(fn).immediate(),
    schemaVersion: () => version,
    storage: () => ({
      engine: 'sqlite',
      journal_mode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: (['off', 'normal', 'full', 'extra'] as const)[Number(db.pragma('synchronous', { simple: true }))]!,
    }),
    close: () => db.close(),
  };
}

/** `<root>/.decapod/decapod.db` */
export const databaseFile = (root: string): string => join(root, '.decapod', 'decapod.db');
