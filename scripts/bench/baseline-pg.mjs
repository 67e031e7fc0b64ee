// Baseline (g), team mode's floor: baseline (a)'s fastify + json-rpc-2.0 with node-postgres doing,
// per call, the shape of work every Decapod write does on PostgreSQL (src/store/postgres/), and
// nothing else: BEGIN; lock the project's head row (SELECT … FOR UPDATE); INSERT the claim row
// (claim.release: UPDATE it, checking its fence); INSERT one hash-chained event row; UPDATE the
// head row; COMMIT. Six round trips. task.get is one primary-key SELECT. The tables are Decapod's
// own (migrations/postgres, applied to a database of its own by scripts/bench/postgres.mjs, which
// also inserts the head row and the task); a pool of 4 connections, as Decapod's store keeps.
// Usage: node baseline-pg.mjs --url postgres://… --project ID. Prints {"port": N}; exits on SIGTERM.
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { JSONRPCServer } from 'json-rpc-2.0';
import pg from 'pg';

const { values } = parseArgs({ options: { url: { type: 'string' }, project: { type: 'string' } } });
if (!values.url || !values.project) throw new Error('usage: baseline-pg.mjs --url postgres://… --project ID');
const P = values.project;

// bigint columns as numbers, as Decapod's store reads them
const types = { getTypeParser: (oid, format) => (oid === 20 ? (v) => Number(v) : pg.types.getTypeParser(oid, format)) };
const pool = new pg.Pool({ connectionString: values.url, max: 4, types });
pool.on('error', () => {});

const LOCK = 'SELECT event_seq, event_hash, fence FROM project_head WHERE project_id = $1 FOR UPDATE';
const CLAIM_INSERT = `INSERT INTO claims (project_id, id, lease_id, agent, mode, fence, state, paths, acquired_at, renewed_at)
  VALUES ($1, $2, $3, $4, 'exclusive', $5, 'active', $6, $7, $7)`;
const CLAIM_END = `UPDATE claims SET state = 'released', ended_at = $4, end_reason = 'released'
  WHERE project_id = $1 AND id = $2 AND fence = $3 AND state = 'active'`;
const EVENT_INSERT = `INSERT INTO events (project_id, seq, at, type, agent, subject, data, data_digest, prev_hash, hash)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;
const HEAD_UPDATE = 'UPDATE project_head SET event_seq = $2, event_hash = $3, event_at = $4, fence = $5 WHERE project_id = $1';
const TASK_GET = `SELECT id, seq, title, description, status, priority, labels, depends_on, paths, gates, acceptance, parent,
  created_by, created_at, updated_at, completed_at, verified FROM tasks WHERE project_id = $1 AND id = $2`;

const sha256 = (s) => createHash('sha256').update(s).digest('hex');

/** One write: lock the head, `work(client, head, now)` (one statement; → { result, fence }), one event, the head moved. */
async function write(type, agent, subject, work) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const head = (await client.query(LOCK, [P])).rows[0];
    const now = Date.now();
    const { result, fence } = await work(client, head, now);
    const data = JSON.stringify(result);
    const digest = sha256(data);
    const seq = head.event_seq + 1;
    const hash = sha256(JSON.stringify({ seq, at: now, type, agent, subject, data_digest: digest, prev_hash: head.event_hash }));
    await client.query(EVENT_INSERT, [P, seq, now, type, agent, subject, data, digest, head.event_hash, hash]);
    await client.query(HEAD_UPDATE, [P, seq, hash, now, fence]);
    await client.query('COMMIT');
    return { ...result, receipt: { seq, hash } };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

const rpc = new JSONRPCServer();
rpc.addMethod('claim.acquire', ({ lease, paths }) =>
  write('claim.acquired', String(lease), null, async (client, head, now) => {
    const fence = head.fence + 1;
    const claim = { id: `C${fence}`, lease_id: String(lease), agent: String(lease), fence, paths, acquired_at: now };
    await client.query(CLAIM_INSERT, [P, claim.id, claim.lease_id, claim.agent, fence, paths, now]);
    return { result: { claim }, fence };
  }),
);
rpc.addMethod('claim.release', ({ lease, claim, fence }) =>
  write('claim.released', String(lease), String(claim), async (client, head, now) => {
    const { rowCount } = await client.query(CLAIM_END, [P, claim, fence, now]);
    if (rowCount !== 1) throw new Error(`claim ${claim} with fence ${fence} is not active`);
    return { result: { claim: { id: claim, fence, state: 'released', ended_at: now } }, fence: head.fence };
  }),
);
rpc.addMethod('task.get', async ({ task }) => {
  const row = (await pool.query(TASK_GET, [P, task])).rows[0];
  if (!row) throw new Error(`no task ${task}`);
  return { task: row };
});

const app = Fastify({ logger: false });
app.post('/rpc', async (req, reply) => {
  const answer = await rpc.receive(req.body);
  return answer === null ? reply.code(204).send() : reply.send(answer);
});
await pool.query('SELECT 1'); // fail now, not under load, if the database is not there
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => app.close().then(() => pool.end()).then(() => process.exit(0)));
