import type Database from 'better-sqlite3';
import type { LeaseRow, LeaseState, LeaseWrites } from '../store.js';
import type { Sync } from './resolved.js';
import { leaseIn, leaseOut } from './rows.js';

type Raw = Record<string, unknown>;

export function sqliteLeases(db: Database.Database): Sync<LeaseWrites> {
  const q = {
    insert: db.prepare(`INSERT INTO leases (lease_id, secret_hash, agent, state, ttl_ms, pid, host, meta,
      granted_at, renewed_at, expires_at, ended_at) VALUES (@lease_id, @secret_hash, @agent, @state, @ttl_ms,
      @pid, @host, @meta, @granted_at, @renewed_at, @expires_at, @ended_at)`),
    byId: db.prepare('SELECT * FROM leases WHERE lease_id = ?'),
    bySecret: db.prepare('SELECT * FROM leases WHERE secret_hash = ?'),
    list: db.prepare('SELECT * FROM leases ORDER BY granted_at, lease_id'),
    due: db.prepare("SELECT * FROM leases WHERE state = 'active' AND expires_at <= ? ORDER BY expires_at, lease_id"),
    // A lease recorded before hosts were (migration 006) was recorded by a server on this machine.
    withPid: db.prepare("SELECT * FROM leases WHERE state = 'active' AND pid IS NOT NULL AND (host IS NULL OR host = ?) ORDER BY lease_id"),
    endedBefore: db.prepare(`SELECT lease_id FROM leases l WHERE state <> 'active' AND ended_at < ?
      AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.lease_id = l.lease_id) ORDER BY lease_id`).pluck(),
    delete: db.prepare('DELETE FROM leases WHERE lease_id = ?'),
    renew: db.prepare('UPDATE leases SET renewed_at = ?, expires_at = ? WHERE lease_id = ?'),
    end: db.prepare('UPDATE leases SET state = ?, ended_at = ? WHERE lease_id = ?'),
    counts: db.prepare('SELECT state, count(*) AS n FROM leases GROUP BY state'),
  };
  const many = (rows: unknown[]) => (rows as Raw[]).map((r) => leaseOut(r)!);
  return {
    insert: (row) => void q.insert.run(leaseIn(row)),
    byId: (id) => leaseOut(q.byId.get(id) as Raw | undefined),
    bySecretHash: (h) => leaseOut(q.bySecret.get(h) as Raw | undefined),
    list: () => many(q.list.all()),
    dueForExpiry: (now) => many(q.due.all(now)),
    activeWithPid: (host) => many(q.withPid.all(host)),
    endedBefore: (before) => q.endedBefore.all(before) as string[],
    delete: (ids) => {
      for (const id of ids) q.delete.run(id);
    },
    renew: (id, renewedAt, expiresAt) => void q.renew.run(renewedAt, expiresAt, id),
    end: (id, state, endedAt) => void q.end.run(state, endedAt, id),
    countByState: () => {
      const counts: Record<LeaseState, number> = { active: 0, revoked: 0, expired: 0 };
      for (const r of q.counts.all() as { state: LeaseState; n: number }[]) counts[r.state] = r.n;
      return counts;
    },
  };
}

export type { LeaseRow };
