import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { EventQuery, EventRow, IdempotencyRow, LeaseRow, LeaseState, Store } from '../store.js';
import { loadMigrations, migrate } from './migrate.js';

export type Durability = 'full' | 'normal';

export interface SqliteStoreOptions {
  /** WAL with synchronous=FULL keeps acknowledged writes across power loss; NORMAL only across crashes. */
  durability?: Durability;
  busyTimeoutMs?: number;
  migrationsDir: string;
}

/** The SQLite implementation of the store contract. Every statement is prepared once. */
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

  const q = {
    head: db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1'),
    append: db.prepare(`INSERT INTO events (seq, at, type, agent, subject, data, data_digest, prev_hash, hash)
      VALUES (@seq, @at, @type, @agent, @subject, @data, @data_digest, @prev_hash, @hash)`),
    list: db.prepare(`SELECT * FROM events WHERE seq > @since
      AND (@subject IS NULL OR subject = @subject) AND (@agent IS NULL OR agent = @agent)
      ORDER BY seq LIMIT @limit`),
    all: db.prepare('SELECT * FROM events ORDER BY seq'),
    countEvents: db.prepare('SELECT count(*) AS n FROM events').pluck(),
    leaseInsert: db.prepare(`INSERT INTO leases (lease_id, secret_hash, agent, state, ttl_ms, pid, meta,
      granted_at, renewed_at, expires_at, ended_at) VALUES (@lease_id, @secret_hash, @agent, @state, @ttl_ms,
      @pid, @meta, @granted_at, @renewed_at, @expires_at, @ended_at)`),
    leaseById: db.prepare('SELECT * FROM leases WHERE lease_id = ?'),
    leaseBySecret: db.prepare('SELECT * FROM leases WHERE secret_hash = ?'),
    leaseList: db.prepare('SELECT * FROM leases ORDER BY granted_at, lease_id'),
    leaseDue: db.prepare("SELECT * FROM leases WHERE state = 'active' AND expires_at <= ? ORDER BY expires_at"),
    leaseRenew: db.prepare('UPDATE leases SET renewed_at = ?, expires_at = ? WHERE lease_id = ?'),
    leaseEnd: db.prepare('UPDATE leases SET state = ?, ended_at = ? WHERE lease_id = ?'),
    leaseCounts: db.prepare('SELECT state, count(*) AS n FROM leases GROUP BY state'),
    idemGet: db.prepare('SELECT * FROM idempotency WHERE key_hash = ?'),
    idemPut: db.prepare(`INSERT INTO idempotency (key_hash, method, params_hash, response, created_at)
      VALUES (@key_hash, @method, @params_hash, @response, @created_at)`),
    metaGet: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
    metaSet: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    idemPrune: db.prepare('DELETE FROM idempotency WHERE created_at < ?'),
  };

  return {
    meta: {
      get: (key) => q.metaGet.get(key) as string | undefined,
      set: (key, value) => void q.metaSet.run(key, value),
    },
    events: {
      head: () => q.head.get() as { seq: number; hash: string } | undefined,
      append: (row) => void q.append.run(row),
      list: (query: EventQuery) =>
        q.list.all({
          since: query.since ?? 0,
          limit: query.limit,
          subject: query.subject ?? null,
          agent: query.agent ?? null,
        }) as EventRow[],
      all: () => q.all.iterate() as IterableIterator<EventRow>,
      count: () => q.countEvents.get() as number,
    },
    leases: {
      insert: (row) => void q.leaseInsert.run(row),
      byId: (id) => q.leaseById.get(id) as LeaseRow | undefined,
      bySecretHash: (h) => q.leaseBySecret.get(h) as LeaseRow | undefined,
      list: () => q.leaseList.all() as LeaseRow[],
      dueForExpiry: (now) => q.leaseDue.all(now) as LeaseRow[],
      renew: (id, renewedAt, expiresAt) => void q.leaseRenew.run(renewedAt, expiresAt, id),
      end: (id, state, endedAt) => void q.leaseEnd.run(state, endedAt, id),
      countByState: () => {
        const counts: Record<LeaseState, number> = { active: 0, revoked: 0, expired: 0 };
        for (const r of q.leaseCounts.all() as { state: LeaseState; n: number }[]) counts[r.state] = r.n;
        return counts;
      },
    },
    idempotency: {
      get: (key) => q.idemGet.get(key) as IdempotencyRow | undefined,
      put: (row) => void q.idemPut.run(row),
      prune: (before) => q.idemPrune.run(before).changes,
    },
    transaction: (fn) => db.transaction(fn).immediate(),
    schemaVersion: () => version,
    close: () => db.close(),
  };
}

/** `<root>/.decapod/decapod.db` */
export const databaseFile = (root: string): string => join(root, '.decapod', 'decapod.db');
