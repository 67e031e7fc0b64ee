// The statements of the PostgreSQL store (docs/architecture.md), one place. Every statement is
// scoped to one project ($1 is always the project id). Column lists are spelled out so project_id
// never reaches a row value.

export const LEASE_COLS = 'lease_id, secret_hash, agent, state, ttl_ms, pid, host, meta, granted_at, renewed_at, expires_at, ended_at';
export const TASK_COLS =
  'id, seq, title, description, status, priority, labels, depends_on, paths, gates, acceptance, parent, created_by, created_at, updated_at, completed_at, verified';
export const CLAIM_COLS = 'id, lease_id, agent, task_id, mode, fence, state, paths, ttl_ms, reason, acquired_at, renewed_at, expires_at, ended_at, end_reason';
export const PROOF_COLS =
  'id, seq, task_id, gate, claim_id, fence, passed, exit_code, timed_out, duration_ms, command, output_sha256, output_bytes, truncated, digest, counts, changed_during_run, attested_by, agent, created_at, hash';
export const EVENT_COLS = 'seq, at, type, agent, subject, data, data_digest, prev_hash, hash';

const prefixed = (alias: string, cols: string) =>
  cols
    .split(', ')
    .map((c) => `${alias}.${c}`)
    .join(', ');

/** A claim with its lease's state (ClaimView), from `c` joined with its lease `l`. */
export const CLAIM_VIEW = `${prefixed('c', CLAIM_COLS)}, l.state AS lease_state, l.expires_at AS lease_expires_at, l.ended_at AS lease_ended_at`;
/** `c` holds at $2 (now): active, its own deadline not passed, its lease alive. */
const LIVE = `c.state = 'active' AND (c.expires_at IS NULL OR c.expires_at > $2) AND l.state = 'active' AND l.expires_at > $2`;
export const LIVE_JOIN = `JOIN leases l ON l.project_id = c.project_id AND l.lease_id = c.lease_id WHERE c.project_id = $1 AND ${LIVE}`;
const LEASE_JOIN = 'LEFT JOIN leases l ON l.project_id = c.project_id AND l.lease_id = c.lease_id';

/** The project's head row, locked, with the database's clock read in the same statement. */
const LOCK_HEAD = `SELECT event_seq, event_hash, event_at, fence, task_seq, proof_seq, waiters,
      (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS db_now
    FROM project_head WHERE project_id = $1 FOR UPDATE`;

export const SQL = {
  lockHead: `WITH ensured AS (INSERT INTO project_head (project_id) VALUES ($1) ON CONFLICT (project_id) DO NOTHING)
    ${LOCK_HEAD}`,
  // The INSERT above makes the row visible only after it commits: a first transaction of a new
  // project locks it here instead.
  lockNewHead: LOCK_HEAD,
  writeHead: `UPDATE project_head SET event_seq = $2, event_hash = $3, event_at = $4, fence = $5, task_seq = $6, proof_seq = $7
    WHERE project_id = $1`,
  // Delivered at commit, to every server LISTENing (the payload names the project and the sender).
  notify: `SELECT pg_notify('decapod_changes', $1 || ' ' || $2)`,
  dbNow: `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS db_now`,
  committedHead: `SELECT event_seq AS seq, event_hash AS hash, event_at AS at FROM project_head WHERE project_id = $1`,
  committedCounters: 'SELECT fence, task_seq AS task, proof_seq AS proof FROM project_head WHERE project_id = $1',

  metaGet: 'SELECT value FROM meta WHERE project_id = $1 AND key = $2',
  metaAll: 'SELECT key, value FROM meta WHERE project_id = $1 ORDER BY key',
  metaSet: `INSERT INTO meta (project_id, key, value) VALUES ($1, $2, $3)
    ON CONFLICT (project_id, key) DO UPDATE SET value = excluded.value`,

  eventAppend: `INSERT INTO events (project_id, ${EVENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
  eventList: `SELECT ${EVENT_COLS} FROM events WHERE project_id = $1 AND seq > $2
    AND ($3::text IS NULL OR subject = $3) AND ($4::text IS NULL OR agent = $4) ORDER BY seq LIMIT $5`,
  eventPage: `SELECT ${EVENT_COLS} FROM events WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
  eventHashesAt: 'SELECT seq, hash FROM events WHERE project_id = $1 AND seq = ANY($2::bigint[])',
  eventCount: 'SELECT count(*)::bigint AS n FROM events WHERE project_id = $1',

  leaseInsert: `INSERT INTO leases (project_id, ${LEASE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
  leaseById: `SELECT ${LEASE_COLS} FROM leases WHERE project_id = $1 AND lease_id = $2`,
  leaseBySecret: `SELECT ${LEASE_COLS} FROM leases WHERE project_id = $1 AND secret_hash = $2`,
  leaseList: `SELECT ${LEASE_COLS} FROM leases WHERE project_id = $1 ORDER BY granted_at, lease_id`,
  leaseDue: `SELECT ${LEASE_COLS} FROM leases WHERE project_id = $1 AND state = 'active' AND expires_at <= $2 ORDER BY expires_at, lease_id`,
  leaseWithPid: `SELECT ${LEASE_COLS} FROM leases WHERE project_id = $1 AND state = 'active' AND pid IS NOT NULL AND (host IS NULL OR host = $2) ORDER BY lease_id`,
  leaseEndedBefore: `SELECT lease_id FROM leases l WHERE project_id = $1 AND state <> 'active' AND ended_at < $2
    AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.project_id = l.project_id AND c.lease_id = l.lease_id) ORDER BY lease_id`,
  leaseDelete: 'DELETE FROM leases WHERE project_id = $1 AND lease_id = ANY($2::text[])',
  leaseRenew: 'UPDATE leases SET renewed_at = $3, expires_at = $4 WHERE project_id = $1 AND lease_id = $2',
  leaseEnd: 'UPDATE leases SET state = $3, ended_at = $4 WHERE project_id = $1 AND lease_id = $2',
  leaseCounts: 'SELECT state, count(*)::bigint AS n FROM leases WHERE project_id = $1 GROUP BY state',

  idemGet: 'SELECT key_hash, method, params_hash, response, created_at FROM idempotency WHERE project_id = $1 AND key_hash = $2',
  idemList: `SELECT key_hash, method, params_hash, response, created_at FROM idempotency WHERE project_id = $1 AND key_hash > $2
    ORDER BY key_hash LIMIT $3`,
  idemPut: 'INSERT INTO idempotency (project_id, key_hash, method, params_hash, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
  idemPrune: 'DELETE FROM idempotency WHERE project_id = $1 AND created_at < $2',

  taskInsert: `INSERT INTO tasks (project_id, ${TASK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
  taskUpdate: `UPDATE tasks SET title = $3, description = $4, status = $5, priority = $6, labels = $7, depends_on = $8, paths = $9,
    gates = $10, acceptance = $11, parent = $12, updated_at = $13, completed_at = $14, verified = $15 WHERE project_id = $1 AND id = $2`,
  taskById: `SELECT ${TASK_COLS} FROM tasks WHERE project_id = $1 AND id = $2`,
  taskByIds: `SELECT ${TASK_COLS} FROM tasks WHERE project_id = $1 AND id = ANY($2::text[])`,
  taskDepsClear: 'DELETE FROM task_deps WHERE project_id = $1 AND task_id = $2',
  taskDepsAdd: 'INSERT INTO task_deps (project_id, task_id, depends_on) SELECT $1, $2, d FROM unnest($3::text[]) AS d ON CONFLICT DO NOTHING',
  taskClosure: `WITH RECURSIVE reach(id) AS (SELECT unnest($2::text[]) COLLATE "C"
    UNION SELECT d.depends_on FROM task_deps d JOIN reach r ON d.project_id = $1 AND d.task_id = r.id) SELECT id FROM reach`,
  taskList: `SELECT ${prefixed('t', TASK_COLS)} FROM tasks t
    WHERE t.project_id = $1
      AND ($3::text IS NULL OR t.status = $3)
      AND ($4::text IS NULL OR t.labels @> ARRAY[$4::text])
      AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM claims c JOIN leases l ON l.project_id = c.project_id AND l.lease_id = c.lease_id
           WHERE c.project_id = t.project_id AND c.task_id = t.id AND c.agent = $5 AND ${LIVE}))
      AND (NOT $6::boolean OR (t.status = 'open'
        AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks dt ON dt.project_id = d.project_id AND dt.id = d.depends_on
                        WHERE d.project_id = t.project_id AND d.task_id = t.id AND dt.status <> 'done')
        AND NOT EXISTS (SELECT 1 FROM claims c JOIN leases l ON l.project_id = c.project_id AND l.lease_id = c.lease_id
                        WHERE c.project_id = t.project_id AND c.task_id = t.id AND ${LIVE})))
      AND (t.priority > $7 OR (t.priority = $7 AND t.seq > $8))
    ORDER BY t.priority, t.seq LIMIT $9`,
  taskCounts: 'SELECT status, count(*)::bigint AS n FROM tasks WHERE project_id = $1 GROUP BY status',

  claimInsert: `INSERT INTO claims (project_id, ${CLAIM_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
  claimPathsAdd: `INSERT INTO claim_paths (project_id, claim_id, pattern, prefix)
    SELECT $1, $2, p, x FROM unnest($3::text[], $4::text[]) AS u(p, x) ON CONFLICT DO NOTHING`,
  claimPathsClear: 'DELETE FROM claim_paths WHERE project_id = $1 AND claim_id = $2',
  claimSetPaths: 'UPDATE claims SET paths = $3 WHERE project_id = $1 AND id = $2',
  claimById: `SELECT ${CLAIM_VIEW} FROM claims c ${LEASE_JOIN} WHERE c.project_id = $1 AND c.id = $2`,
  claimLive: `SELECT ${CLAIM_VIEW} FROM claims c ${LIVE_JOIN}
    AND ($3::text IS NULL OR c.agent = $3) AND ($4::text IS NULL OR c.task_id = $4) AND ($5::text IS NULL OR c.lease_id = $5) ORDER BY c.fence`,
  claimLiveForTasks: `SELECT DISTINCT ON (c.task_id) ${CLAIM_VIEW} FROM claims c ${LIVE_JOIN} AND c.task_id = ANY($3::text[])
    ORDER BY c.task_id, c.fence`,
  // For each prefix i of a request: live patterns whose prefix is an ancestor-or-equal
  // ($3 indexes, $4 prefixes) or lies strictly under it ($5 indexes, $6 lo, $7 hi).
  claimCandidates: `WITH hits(i, claim_id, pattern) AS (
      SELECT a.i, cp.claim_id, cp.pattern FROM unnest($3::int[], $4::text[]) AS a(i, prefix)
        JOIN claim_paths cp ON cp.project_id = $1 AND cp.prefix = a.prefix
      UNION ALL
      SELECT r.i, cp.claim_id, cp.pattern FROM unnest($5::int[], $6::text[], $7::text[]) AS r(i, lo, hi)
        JOIN claim_paths cp ON cp.project_id = $1 AND cp.prefix > r.lo AND cp.prefix < r.hi)
    SELECT h.i AS cand_of, h.pattern AS cand_pattern, ${CLAIM_VIEW}
    FROM hits h JOIN claims c ON c.project_id = $1 AND c.id = h.claim_id ${LIVE_JOIN.replace('WHERE c.project_id = $1 AND', 'WHERE')}
    ORDER BY c.fence`,
  claimCandidatesUnderRoot: `SELECT cp.pattern AS cand_pattern, ${CLAIM_VIEW}
    FROM claim_paths cp JOIN claims c ON c.project_id = cp.project_id AND c.id = cp.claim_id ${LIVE_JOIN} AND cp.project_id = $1
    ORDER BY c.fence`,
  claimActiveOfLeases: `SELECT ${CLAIM_VIEW} FROM claims c ${LEASE_JOIN} WHERE c.project_id = $1 AND c.state = 'active' AND c.lease_id = ANY($2::text[])
    ORDER BY c.fence`,
  claimDue: `SELECT ${CLAIM_VIEW} FROM claims c ${LEASE_JOIN}
    WHERE c.project_id = $1 AND c.state = 'active' AND c.expires_at IS NOT NULL AND c.expires_at <= $2 ORDER BY c.expires_at, c.fence`,
  claimRenew: 'UPDATE claims SET renewed_at = $3, expires_at = $4 WHERE project_id = $1 AND id = $2',
  claimEnd: 'UPDATE claims SET state = $3, ended_at = $4, end_reason = $5 WHERE project_id = $1 AND id = $2',
  claimCountLive: `SELECT count(*)::bigint AS n FROM claims c ${LIVE_JOIN}`,
  claimEndedBefore: `SELECT id FROM claims c WHERE project_id = $1 AND state <> 'active' AND ended_at < $2
    AND NOT EXISTS (SELECT 1 FROM proofs p WHERE p.project_id = c.project_id AND p.claim_id = c.id) ORDER BY fence`,
  claimPathsDelete: 'DELETE FROM claim_paths WHERE project_id = $1 AND claim_id = ANY($2::text[])',
  claimDelete: 'DELETE FROM claims WHERE project_id = $1 AND id = ANY($2::text[])',

  proofInsert: `INSERT INTO proofs (project_id, ${PROOF_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
  proofById: `SELECT ${PROOF_COLS} FROM proofs WHERE project_id = $1 AND id = $2`,
  proofOfTask: `SELECT ${PROOF_COLS} FROM proofs WHERE project_id = $1 AND task_id = $2 ORDER BY seq`,
  proofLatestPerGate: `SELECT DISTINCT ON (gate) ${PROOF_COLS} FROM proofs WHERE project_id = $1 AND task_id = $2 ORDER BY gate, seq DESC`,
};

/** The line of waiting requests (migration 002): live = its wait not over, its lease alive at $2. */
const WAITER_COLS = 'ticket, lease_id, agent, paths, mode, task_id, since, until';
const WAITER_LIVE = `w.until > $2 AND EXISTS (SELECT 1 FROM leases l WHERE l.project_id = w.project_id AND l.lease_id = w.lease_id
  AND l.state = 'active' AND l.expires_at > $2)`;
export const WAITER_SQL = {
  // The head row counts the line, under the head lock every writer holds.
  add: `WITH added AS (INSERT INTO waiters (project_id, lease_id, agent, paths, mode, task_id, since, until)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ticket),
    counted AS (UPDATE project_head SET waiters = waiters + 1 WHERE project_id = $1)
    SELECT ticket FROM added`,
  live: `SELECT ${WAITER_COLS} FROM waiters w WHERE w.project_id = $1 AND ${WAITER_LIVE} ORDER BY ticket`,
  remove: `WITH gone AS (DELETE FROM waiters WHERE project_id = $1 AND ticket = $2 RETURNING 1)
    UPDATE project_head SET waiters = waiters - (SELECT count(*) FROM gone) WHERE project_id = $1`,
  removeDead: `WITH gone AS (DELETE FROM waiters w WHERE w.project_id = $1 AND NOT (${WAITER_LIVE}) RETURNING 1),
    counted AS (UPDATE project_head SET waiters = waiters - (SELECT count(*) FROM gone) WHERE project_id = $1)
    SELECT count(*)::bigint AS n FROM gone`,
};

/** The state tables replay rebuilds, each with the key its rows are ordered by (as SQLite's dump). */
export const DUMP = {
  leases: `SELECT ${LEASE_COLS} FROM leases WHERE project_id = $1 ORDER BY lease_id`,
  tasks: `SELECT ${TASK_COLS} FROM tasks WHERE project_id = $1 ORDER BY id`,
  task_deps: 'SELECT task_id, depends_on FROM task_deps WHERE project_id = $1 ORDER BY task_id, depends_on',
  claims: `SELECT ${CLAIM_COLS} FROM claims WHERE project_id = $1 ORDER BY id`,
  claim_paths: 'SELECT claim_id, pattern, prefix FROM claim_paths WHERE project_id = $1 ORDER BY claim_id, pattern',
  proofs: `SELECT ${PROOF_COLS} FROM proofs WHERE project_id = $1 ORDER BY id`,
};
