import type Database from 'better-sqlite3';
import type { Candidate, ClaimQuery, ClaimView, ClaimWrites } from '../store.js';
import type { Sync } from './resolved.js';
import { ancestorsOf, rangeUnder } from '../prefix-ranges.js';
import { claimIn, claimOut } from './rows.js';

type Raw = Record<string, unknown>;

export interface SqliteClaims extends Sync<ClaimWrites> {
  /**
   * countActive(now), and until when that count holds if nothing is written: the earliest
   * deadline among the claims it counts (null when it counts none).
   */
  countActiveUntil(now: number): { count: number; until: number | null };
}

/** SQL: claim `c` holds now (@now): active, its lease alive, its own deadline not passed. */
export const LIVE_CLAIM = `c.state = 'active' AND (c.expires_at IS NULL OR c.expires_at > @now)
  AND EXISTS (SELECT 1 FROM leases l WHERE l.lease_id = c.lease_id AND l.state = 'active' AND l.expires_at > @now)`;

/** The claim's columns with its lease's state (ClaimView), from `c` joined with its lease `l`. */
const VIEW = 'c.*, l.state AS lease_state, l.expires_at AS lease_expires_at, l.ended_at AS lease_ended_at';
/** `c` joined with its live lease `l`, live itself at @now. */
const LIVE_JOIN = `JOIN leases l ON l.lease_id = c.lease_id
  WHERE c.state = 'active' AND (c.expires_at IS NULL OR c.expires_at > @now) AND l.state = 'active' AND l.expires_at > @now`;

/**
 * For every static prefix of a request at once: the live claim patterns whose prefix is an
 * ancestor-or-equal of it (@ancestors: JSON [[i, prefix], …]) or lies strictly under it (@ranges:
 * JSON [[i, lo, hi], …]). Index lookups per prefix, never a scan of every claim
 * (test/unit/claim-index.test.ts checks the query plans).
 */
export const CANDIDATES_SQL = `WITH
  anc(i, prefix) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(@ancestors)),
  rng(i, lo, hi) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(@ranges)),
  hits(i, claim_id, pattern) AS (
    SELECT anc.i, cp.claim_id, cp.pattern FROM anc CROSS JOIN claim_paths cp ON cp.prefix = anc.prefix
    UNION ALL
    SELECT rng.i, cp.claim_id, cp.pattern FROM rng CROSS JOIN claim_paths cp ON cp.prefix > rng.lo AND cp.prefix < rng.hi)
  SELECT h.i AS cand_of, h.pattern AS cand_pattern, ${VIEW} FROM hits h CROSS JOIN claims c ON c.id = h.claim_id ${LIVE_JOIN}
  ORDER BY c.fence`;

/** The same for a request with one (non-empty) static prefix, the common case: no pairs to unpack. */
export const CANDIDATES_OF_ONE_SQL = `WITH hits(claim_id, pattern) AS (
    SELECT cp.claim_id, cp.pattern FROM json_each(@ancestors) a CROSS JOIN claim_paths cp ON cp.prefix = a.value
    UNION ALL
    SELECT cp.claim_id, cp.pattern FROM claim_paths cp WHERE cp.prefix > @lo AND cp.prefix < @hi)
  SELECT h.pattern AS cand_pattern, ${VIEW} FROM hits h CROSS JOIN claims c ON c.id = h.claim_id ${LIVE_JOIN}
  ORDER BY c.fence`;

/**
 * Under the empty prefix: every live claim pattern, with no upper bound. No string bounds them
 * all: SQLite compares TEXT as UTF-8 bytes, and a bound of U+10FFFF missed every prefix that
 * starts with U+10FFFF (issue 10). Without a bound the planner would rather walk every claim ever
 * made by fence and look its patterns up; the index hint keeps it on the live patterns' index.
 */
export const CANDIDATES_UNDER_ROOT_SQL = `SELECT cp.pattern AS cand_pattern, ${VIEW}
  FROM claim_paths cp INDEXED BY claim_paths_prefix CROSS JOIN claims c ON c.id = cp.claim_id ${LIVE_JOIN.replace('WHERE', "WHERE cp.prefix >= '' AND")}
  ORDER BY c.fence`;


export function sqliteClaims(db: Database.Database): SqliteClaims {
  const q = {
    insert: db.prepare(`INSERT INTO claims (id, lease_id, agent, task_id, mode, fence, state, paths, ttl_ms, reason,
      acquired_at, renewed_at, expires_at, ended_at, end_reason) VALUES (@id, @lease_id, @agent, @task_id, @mode,
      @fence, @state, @paths, @ttl_ms, @reason, @acquired_at, @renewed_at, @expires_at, @ended_at, @end_reason)`),
    insertPath: db.prepare('INSERT OR IGNORE INTO claim_paths (claim_id, pattern, prefix) VALUES (?, ?, ?)'),
    deletePaths: db.prepare('DELETE FROM claim_paths WHERE claim_id = ?'),
    byId: db.prepare(`SELECT ${VIEW} FROM claims c LEFT JOIN leases l ON l.lease_id = c.lease_id WHERE c.id = ?`),
    // One statement per combination of filters given, each prepared once: an `(@x IS NULL OR …)`
    // form would keep SQLite from using the lease and task indexes, scanning every claim ever made.
    live: liveStatements(db),
    liveForTasks: db.prepare(`SELECT ${VIEW} FROM json_each(@tasks) j CROSS JOIN claims c INDEXED BY claims_active_task
      ON c.task_id = j.value ${LIVE_JOIN} ORDER BY c.fence`),
    candidates: db.prepare(CANDIDATES_SQL),
    candidatesOfOne: db.prepare(CANDIDATES_OF_ONE_SQL),
    // A task has at most one live claim (task claims are exclusive): no ORDER BY, whose sort cost a third.
    liveForTask: db.prepare(`SELECT ${VIEW} FROM claims c INDEXED BY claims_active_task ${LIVE_JOIN} AND c.task_id = @task LIMIT 1`),
    candidatesUnderRoot: db.prepare(CANDIDATES_UNDER_ROOT_SQL),
    activeOfLeases: db.prepare(`SELECT ${VIEW} FROM json_each(?) j CROSS JOIN claims c INDEXED BY claims_active_lease
      ON c.lease_id = j.value LEFT JOIN leases l ON l.lease_id = c.lease_id WHERE c.state = 'active' ORDER BY c.fence`),
    due: db.prepare(`SELECT ${VIEW} FROM claims c LEFT JOIN leases l ON l.lease_id = c.lease_id
      WHERE c.state = 'active' AND c.expires_at IS NOT NULL AND c.expires_at <= ? ORDER BY c.expires_at, c.fence`),
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
  const views = (rows: unknown[]) => (rows as Raw[]).map((r) => claimOut(r)!);
  const candidateOf = (of: number, raw: Raw): Candidate => {
    const { cand_of: _i, cand_pattern, ...claim } = raw;
    return { of, claim: claimOut(claim)!, pattern: cand_pattern as string };
  };
  const addPaths = (id: string, patterns: readonly { pattern: string; prefix: string }[]) => {
    for (const p of patterns) q.insertPath.run(id, p.pattern, p.prefix);
  };
  return {
    insert: (row, patterns) => {
      q.insert.run(claimIn(row));
      addPaths(row.id, patterns);
    },
    setPaths: (id, paths, patterns) => {
      q.setPaths.run(JSON.stringify(paths), id);
      q.deletePaths.run(id);
      addPaths(id, patterns);
    },
    byId: (id) => claimOut(q.byId.get(id) as Raw | undefined),
    live: (query: ClaimQuery) => {
      const params: Record<string, unknown> = { now: query.now };
      let key = 0;
      if (query.agent !== undefined) (params.agent = query.agent), (key |= 1);
      if (query.task !== undefined) (params.task = query.task), (key |= 2);
      if (query.lease_id !== undefined) (params.lease_id = query.lease_id), (key |= 4);
      return views(q.live[key]!.all(params));
    },
    liveForTasks: (taskIds, now) => {
      const out = new Map<string, ClaimView>();
      if (taskIds.length === 0) return out;
      if (taskIds.length === 1) {
        const one = claimOut(q.liveForTask.get({ task: taskIds[0], now }) as Raw | undefined);
        if (one) out.set(one.task_id!, one);
        return out;
      }
      for (const c of views(q.liveForTasks.all({ tasks: JSON.stringify(taskIds), now }))) if (!out.has(c.task_id!)) out.set(c.task_id!, c);
      return out;
    },
    candidates: (prefixes, now) => {
      if (prefixes.length === 1 && prefixes[0] !== '') {
        const prefix = prefixes[0]!;
        const rows = q.candidatesOfOne.all({ ancestors: JSON.stringify(ancestorsOf(prefix)), ...rangeUnder(prefix), now }) as Raw[];
        return rows.map((raw) => candidateOf(0, raw));
      }
      const out: Candidate[] = [];
      const roots: number[] = [];
      const ancestors: [number, string][] = [];
      const ranges: [number, string, string][] = [];
      prefixes.forEach((prefix, i) => {
        if (prefix === '') return void roots.push(i);
        for (const a of ancestorsOf(prefix)) ancestors.push([i, a]);
        const { lo, hi } = rangeUnder(prefix);
        ranges.push([i, lo, hi]);
      });
      if (roots.length > 0) {
        for (const raw of q.candidatesUnderRoot.all({ now }) as Raw[]) for (const i of roots) out.push(candidateOf(i, raw));
      }
      if (ranges.length > 0) {
        for (const raw of q.candidates.all({ ancestors: JSON.stringify(ancestors), ranges: JSON.stringify(ranges), now }) as Raw[]) {
          out.push(candidateOf(raw.cand_of as number, raw));
        }
      }
      return out;
    },
    activeOfLeases: (leaseIds) => (leaseIds.length === 0 ? [] : views(q.activeOfLeases.all(JSON.stringify(leaseIds)))),
    dueForExpiry: (now) => views(q.due.all(now)),
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
      `SELECT ${VIEW} FROM claims c ${key & 6 ? '' : 'INDEXED BY claims_active_lease '}${LIVE_JOIN}` +
        (key & 1 ? ' AND c.agent = @agent' : '') +
        (key & 2 ? ' AND c.task_id = @task' : '') +
        (key & 4 ? ' AND c.lease_id = @lease_id' : '') +
        ' ORDER BY c.fence',
    ),
  );
}
