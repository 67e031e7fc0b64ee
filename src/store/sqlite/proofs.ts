import type Database from 'better-sqlite3';
import type { ProofRow, ProofStore } from '../store.js';

export function sqliteProofs(db: Database.Database): ProofStore {
  const q = {
    maxSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM proofs').pluck(),
    insert: db.prepare(`INSERT INTO proofs (id, seq, task_id, gate, claim_id, fence, passed, exit_code, timed_out,
      duration_ms, command, output_sha256, output_bytes, truncated, digest, counts, changed_during_run, attested_by, agent,
      created_at, hash)
      VALUES (@id, @seq, @task_id, @gate, @claim_id, @fence, @passed, @exit_code, @timed_out, @duration_ms, @command,
      @output_sha256, @output_bytes, @truncated, @digest, @counts, @changed_during_run, @attested_by, @agent,
      @created_at, @hash)`),
    byId: db.prepare('SELECT * FROM proofs WHERE id = ?'),
    ofTask: db.prepare('SELECT * FROM proofs WHERE task_id = ? ORDER BY seq'),
    latest: db.prepare('SELECT * FROM proofs WHERE task_id = ? AND gate = ? ORDER BY seq DESC LIMIT 1'),
  };
  return {
    nextSeq: () => (q.maxSeq.get() as number) + 1,
    insert: (row) => void q.insert.run(row),
    byId: (id) => q.byId.get(id) as ProofRow | undefined,
    ofTask: (taskId) => q.ofTask.all(taskId) as ProofRow[],
    latest: (taskId, gate) => q.latest.get(taskId, gate) as ProofRow | undefined,
  };
}

/** The state tables replay rebuilds, each with the key its rows are ordered by. */
export const STATE_TABLES: Record<string, string> = {
  leases: 'lease_id',
  tasks: 'id',
  task_labels: 'task_id, label',
  task_deps: 'task_id, depends_on',
  claims: 'id',
  claim_paths: 'claim_id, pattern',
  proofs: 'id',
};

export function sqliteDump(db: Database.Database): () => Record<string, Record<string, unknown>[]> {
  const stmts = Object.entries(STATE_TABLES).map(([t, key]) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY ${key}`)] as const);
  return () => Object.fromEntries(stmts.map(([t, s]) => [t, s.all() as Record<string, unknown>[]]));
}
