import type Database from 'better-sqlite3';
import type { ClaimQuery, ClaimRow, ClaimStore } from '../store.js';

export interface SqliteClaimStore extends ClaimStore {
  /**
   * countActive(now), and until when that count holds if nothing is written: the earliest
   * deadline among the claims it counts (null when it counts none).
   */
  countActiveUntil(now: number): { count: number; until: number | null };
}

/** SQL: claim `c` holds now (@now): active, its lease alive, its own deadline not passed. */
export const LIVE_CLAIM = `c.state = 'active' AND (c.expires_at IS NULL OR c.expires_at > @now)
  AND EXISTS (SELECT 1 FROM leases l WHERE l.lease_id = c.lease_id AND l.state = 'active' AND l.expires_at > @now)`;

/**
 * Live claim patterns whose prefix is an ancestor-or-equal of a prefix (@ancestors, a JSON array)
 * or lies strictly under it: two index lookups, never a scan of every claim
 * (test/unit/claim-index.test.ts checks the query plans).
 */
const candidatesSql = (under: string) => `WITH hits(claim_id, pattern) AS (
    SELECT claim_id, pattern FROM claim_paths WHERE prefix IN (SELECT value FROM json_each(@ancestors))
    UNION ALL
    SELECT claim_id, pattern FROM claim_paths ${under})
  SELECT c.*, h.pattern AS matched_pattern FROM hits h JOIN claims c ON c.id = h.claim_id
  WHERE ${LIVE_CLAIM} ORDER BY c.fence`;

/** Under a non-empty prefix `p`: `p/…`, the range (@lo, @hi) = (`p/`, `p0`). */
export const CANDIDATES_SQL = candidatesSql('WHERE prefix > @lo AND prefix < @hi');

/**
 * Under the empty prefix: every non-empty prefix, with no upper bound. No string bounds them
 * all: SQLite compares TEXT as UTF-8 bytes, and a bound of U+10FFFF missed every prefix that
 * starts with U+10FFFF (issue 10). Without a bound the planner would rather walk every claim ever
 * made by fence and look its patterns up; the index hint keeps it on the live patterns' index.
 */
export const CANDIDATES_UNDER_ROOT_SQL = candidatesSql("INDEXED BY claim_paths_prefix WHERE prefix > ''");

export function sqliteClaims(db: Database.Database, nextFence: () => number): SqliteClaimStore {
  const q = {
    insert: db.prepare(`INSERT INTO claims (id, lease_id, agent, task_id, mode, fence, state, paths, ttl_ms, reason,
      acquired_at, renewed_at, expires_at, ended_at, end_reason) VALUES (@id, @lease_id, @agent, @task_id, @mode,
      @fence, @state, @paths, @ttl_ms, @reason, @acquired_at, @renewed_at, @expires_at, @ended_at, @end_reason)`),
    insertPath: db.prepare('INSERT OR IGNORE INTO claim_paths (claim_id, pattern, prefix) VALUES (?, ?, ?)'),
    deletePaths: db.prepare('DELETE FROM claim_paths WHERE claim_id = ?'),
    byId: db.prepare('SELECT * FROM claims WHERE id = ?'),
    // One statement per combination of filters given, each prepared once: an `(@x IS NULL OR …)`
    // form would keep SQLite from using the lease and task indexes, scanning every claim ever made.
    live: liveStatements(db),
    liveForTask: db.prepare(`SELECT c.* FROM claims c WHERE c.task_id = @task AND ${LIVE_CLAIM} LIMIT 1`),
    candidates: db.prepare(CANDIDATES_SQL),
    candidatesUnderRoot: db.prepare(CANDIDATES_UNDER_ROOT_SQL),
    activeOfLease: db.prepare("SELECT * FROM claims WHERE lease_id = ? AND state = 'active' ORDER BY fence"),
    due: db.prepare("SELECT * FROM claims WHERE state = 'active' AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at"),
    setPaths: db.prepare('UPDATE claims SET paths = ? WHERE id = ?'),
    renew: db.prepare('UPDATE claims SET renewed_at = ?, expires_at = ? WHERE id = ?'),
    end: db.prepare('UPDATE claims SET state = ?, ended_at = ?, end_reason = ? WHERE id = ?'),
    endedBefore: db.prepare(`SELECT id FROM claims c WHERE state <> 'active' AND ended_at < ?
      AND NOT EXISTS (SELECT 1 FROM proofs p WHERE p.claim_id = c.id) ORDER BY fence`).pluck(),
    delete: db.prepare('DELETE FROM claims WHERE id = ?'),
    countLive: db.prepare(`SELECT count(*) FROM claims c INDEXED BY claims_active_lease WHERE ${LIVE_CLAIM}`).pluck(),
    // The same count (a lease row per claim: lease_id is its key), with the earliest deadline counted.
    countLiveUntil: db.prepare(`SELECT count(*) AS count,
        min(CASE WHEN c.expires_at IS NULL OR c.expires_at > l.expires_at THEN l.expires_at ELSE c.expires_at END) AS until
      FROM claims c INDEXED BY claims_active_lease JOIN leases l ON l.lease_id = c.lease_id
      WHERE c.state = 'active' AND (c.expires_at IS NULL OR c.expires_at > @now) AND l.state = 'active' AND l.expires_at > @now`),
  };
  return {
    nextFence,
    insert: (row, patterns) => {
      q.insert.run(row);
      for (const p of patterns) q.insertPath.run(row.id, p.pattern, p.prefix);
    },
    setPaths: (id, paths, patterns) => {
      q.setPaths.run(paths, id);
      q.deletePaths.run(id);
      for (const p of patterns) q.insertPath.run(id, p.pattern, p.prefix);
    },
    byId: (id) => q.byId.get(id) as ClaimRow | undefined,
    live: (query: ClaimQuery) => {
      const params: Record<string, unknown> = { now: query.now };
      let key = 0;
      if (query.agent !== undefined) (params.agent = query.agent), (key |= 1);
      if (query.task !== undefined) (params.task = query.task), (key |= 2);
      if (query.lease_id !== undefined) (params.lease_id = query.lease_id), (key |= 4);
      return q.live[key]!.all(params) as ClaimRow[];
    },
    liveForTask: (task, now) => q.liveForTask.get({ task, now }) as ClaimRow | undefined,
    candidates: (prefix, now) => {
      const segments = prefix === '' ? [] : prefix.split('/');
      const ancestors = [''];
      for (let i = 1; i <= segments.length; i++) ancestors.push(segments.slice(0, i).join('/'));
      // Under 'a/b' is 'a/b/…': '0' is the byte right after '/', in UTF-8 as in UTF-16, so the
      // range holds exactly the strings that continue 'a/b' with '/', whatever follows.
      const rows =
        prefix === ''
          ? q.candidatesUnderRoot.all({ ancestors: JSON.stringify(ancestors), now })
          : q.candidates.all({ ancestors: JSON.stringify(ancestors), lo: `${prefix}/`, hi: `${prefix}0`, now });
      return (rows as (ClaimRow & { matched_pattern: string })[]).map(({ matched_pattern, ...claim }) => ({ claim, pattern: matched_pattern }));
    },
    activeOfLease: (leaseId) => q.activeOfLease.all(leaseId) as ClaimRow[],
    dueForExpiry: (now) => q.due.all(now) as ClaimRow[],
    renew: (id, renewedAt, expiresAt) => void q.renew.run(renewedAt, expiresAt, id),
    end: (id, state, endedAt, reason) => {
      q.end.run(state, endedAt, reason, id);
      q.deletePaths.run(id);
    },
    countActive: (now) => q.countLive.get({ now }) as number,
    countActiveUntil: (now) => q.countLiveUntil.get({ now }) as { count: number; until: number | null },
    endedBefore: (before) => q.endedBefore.all(before) as string[],
    delete: (ids) => {
      for (const id of ids) {
        q.deletePaths.run(id);
        q.delete.run(id);
      }
    },
  };
}

/** `live` statements indexed by which filters are given: bit 1 agent, 2 task, 4 lease_id. */
function liveStatements(db: Database.Database): Database.Statement[] {
  return Array.from({ length: 8 }, (_, key) =>
    db.prepare(
      // Without a lease or task to look up, walk the partial index of active claims: ended claims
      // (kept for days) are never read.
      `SELECT c.* FROM claims c ${key & 6 ? '' : 'INDEXED BY claims_active_lease '}WHERE ${LIVE_CLAIM}` +
        (key & 1 ? ' AND c.agent = @agent' : '') +
        (key & 2 ? ' AND c.task_id = @task' : '') +
        (key & 4 ? ' AND c.lease_id = @lease_id' : '') +
        ' ORDER BY c.fence',
    ),
  );
}
