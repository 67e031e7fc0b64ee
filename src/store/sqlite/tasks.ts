import type Database from 'better-sqlite3';
import type { TaskQuery, TaskRow, TaskStatus, TaskWrites } from '../store.js';
import { LIVE_CLAIM } from './claims.js';
import type { Sync } from './resolved.js';
import { taskIn, taskOut } from './rows.js';

type Raw = Record<string, unknown>;

export function sqliteTasks(db: Database.Database): Sync<TaskWrites> & { maxSeq(): number } {
  const q = {
    maxSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM tasks').pluck(),
    insert: db.prepare(`INSERT INTO tasks (id, seq, title, description, status, priority, labels, depends_on, paths,
      gates, acceptance, parent, created_by, created_at, updated_at, completed_at, verified) VALUES (@id, @seq, @title,
      @description, @status, @priority, @labels, @depends_on, @paths, @gates, @acceptance, @parent, @created_by, @created_at,
      @updated_at, @completed_at, @verified)`),
    byId: db.prepare('SELECT * FROM tasks WHERE id = ?'),
    byIds: db.prepare('SELECT t.* FROM json_each(?) j CROSS JOIN tasks t ON t.id = j.value'),
    update: db.prepare(`UPDATE tasks SET title = @title, description = @description, status = @status,
      priority = @priority, labels = @labels, depends_on = @depends_on, paths = @paths, gates = @gates,
      acceptance = @acceptance, parent = @parent, updated_at = @updated_at, completed_at = @completed_at, verified = @verified WHERE id = @id`),
    clearLabels: db.prepare('DELETE FROM task_labels WHERE task_id = ?'),
    addLabel: db.prepare('INSERT OR IGNORE INTO task_labels (task_id, label) VALUES (?, ?)'),
    clearDeps: db.prepare('DELETE FROM task_deps WHERE task_id = ?'),
    addDep: db.prepare('INSERT OR IGNORE INTO task_deps (task_id, depends_on) VALUES (?, ?)'),
    closure: db.prepare(`WITH RECURSIVE reach(id) AS (SELECT value FROM json_each(?)
      UNION SELECT d.depends_on FROM task_deps d JOIN reach r ON d.task_id = r.id) SELECT id FROM reach`).pluck(),
    list: db.prepare(`SELECT t.* FROM tasks t
      WHERE (@status IS NULL OR t.status = @status)
        AND (@label IS NULL OR EXISTS (SELECT 1 FROM task_labels tl WHERE tl.task_id = t.id AND tl.label = @label))
        AND (@agent IS NULL OR EXISTS (SELECT 1 FROM claims c WHERE c.task_id = t.id AND c.agent = @agent AND ${LIVE_CLAIM}))
        AND (@ready = 0 OR (t.status = 'open'
          AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks dt ON dt.id = d.depends_on
                          WHERE d.task_id = t.id AND dt.status <> 'done')
          AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.task_id = t.id AND ${LIVE_CLAIM})))
        AND (t.priority > @after_priority OR (t.priority = @after_priority AND t.seq > @after_seq))
      ORDER BY t.priority, t.seq LIMIT @limit`),
    counts: db.prepare('SELECT status, count(*) AS n FROM tasks GROUP BY status'),
  };
  // The label and dependency index tables follow the row: they are how SQLite answers `label`,
  // `ready` and the cycle check, not part of the contract.
  const index = (row: TaskRow) => {
    q.clearLabels.run(row.id);
    for (const l of row.labels) q.addLabel.run(row.id, l);
    q.clearDeps.run(row.id);
    for (const d of row.depends_on) q.addDep.run(row.id, d);
  };
  return {
    maxSeq: () => q.maxSeq.get() as number,
    insert: (row) => {
      q.insert.run(taskIn(row));
      index(row);
    },
    byId: (id) => taskOut(q.byId.get(id) as Raw | undefined),
    byIds: (ids) => new Map((q.byIds.all(JSON.stringify(ids)) as Raw[]).map((r) => [r.id as string, taskOut(r)!])),
    update: (row) => {
      q.update.run(taskIn(row));
      index(row);
    },
    dependencyClosure: (from) => new Set(q.closure.all(JSON.stringify(from)) as string[]),
    list: (query: TaskQuery) =>
      (
        q.list.all({
          status: query.status ?? null,
          label: query.label ?? null,
          agent: query.agent ?? null,
          ready: query.ready ? 1 : 0,
          now: query.now,
          after_priority: query.after?.priority ?? -1,
          after_seq: query.after?.seq ?? 0,
          limit: query.limit,
        }) as Raw[]
      ).map((r) => taskOut(r)!),
    countByStatus: () => {
      const counts: Record<TaskStatus, number> = { open: 0, done: 0, cancelled: 0 };
      for (const r of q.counts.all() as { status: TaskStatus; n: number }[]) counts[r.status] = r.n;
      return counts;
    },
  };
}
