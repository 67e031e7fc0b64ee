import type Database from 'better-sqlite3';
import type { ProofWrites, StateDump } from '../store.js';
import type { Sync } from './resolved.js';
import { proofIn, proofOut, taskOut } from './rows.js';

type Raw = Record<string, unknown>;

export function sqliteProofs(db: Database.Database): Sync<ProofWrites> & { maxSeq(): number } {
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
    // The newest per gate: SQLite's bare-column rule picks the row holding max(seq) of each group.
    latestPerGate: db.prepare('SELECT *, max(seq) AS newest FROM proofs WHERE task_id = ? GROUP BY gate'),
  };
  return {
    maxSeq: () => q.maxSeq.get() as number,
    insert: (row) => void q.insert.run(proofIn(row)),
    byId: (id) => proofOut(q.byId.get(id) as Raw | undefined),
    ofTask: (taskId) => (q.ofTask.all(taskId) as Raw[]).map((r) => proofOut(r)!),
    latestPerGate: (taskId) =>
      new Map(
        (q.latestPerGate.all(taskId) as Raw[]).map(({ newest: _n, ...r }) => {
          const row = proofOut(r)!;
          return [row.gate, row] as const;
        }),
      ),
  };
}

/**
 * The state tables replay rebuilds, each with the key its rows are ordered by. Rows come out as
 * values (arrays, booleans), as every engine's dump does, so a state digest means the same on
 * any engine (docs/design.md §7). task_labels is left out: it is this engine's index of the
 * tasks' labels, which the tasks rows hold.
 */
export const STATE_TABLES: Record<string, string> = {
  leases: 'lease_id',
  tasks: 'id',
  task_deps: 'task_id, depends_on',
  claims: 'id',
  claim_paths: 'claim_id, pattern',
  proofs: 'id',
};

const AS_VALUES: Record<string, (r: Record<string, unknown>) => unknown> = {
  tasks: taskOut,
  claims: (r) => ({ ...r, paths: JSON.parse(r.paths as string) as string[] }),
  proofs: proofOut,
};

export function sqliteDump(db: Database.Database): () => StateDump {
  const stmts = Object.entries(STATE_TABLES).map(([t, key]) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY ${key}`)] as const);
  return () =>
    Object.fromEntries(
      stmts.map(([t, s]) => {
        const rows = s.all() as Record<string, unknown>[];
        const asValue = AS_VALUES[t];
        return [t, (asValue ? rows.map(asValue) : rows) as Record<string, unknown>[]];
      }),
    );
}
