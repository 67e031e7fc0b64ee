import type Database from 'better-sqlite3';
import type { WaiterRow, WaiterWrites } from '../store.js';
import type { Sync } from './resolved.js';

// The line of waiting requests (migration 007, docs/design.md §5). One server writes a SQLite
// file, so the line matters for its order, not for other servers.

type Raw = Record<string, unknown>;
const waiterOut = (r: Raw): WaiterRow => ({ ...(r as unknown as WaiterRow), paths: JSON.parse(r.paths as string) as string[] });

export function sqliteWaiters(db: Database.Database): Sync<WaiterWrites> {
  const LIVE = `w.until > @now AND EXISTS (SELECT 1 FROM leases l WHERE l.lease_id = w.lease_id AND l.state = 'active' AND l.expires_at > @now)`;
  const q = {
    add: db.prepare(`INSERT INTO waiters (lease_id, agent, paths, mode, task_id, since, until)
      VALUES (@lease_id, @agent, @paths, @mode, @task_id, @since, @until)`),
    live: db.prepare(`SELECT * FROM waiters w WHERE ${LIVE} ORDER BY ticket`),
    remove: db.prepare('DELETE FROM waiters WHERE ticket = ?'),
    removeDead: db.prepare(`DELETE FROM waiters AS w WHERE NOT (${LIVE})`),
  };
  return {
    add: (row) => Number(q.add.run({ ...row, paths: JSON.stringify(row.paths) }).lastInsertRowid),
    live: (now) => (q.live.all({ now }) as Raw[]).map(waiterOut),
    remove: (ticket) => void q.remove.run(ticket),
    removeDead: (now) => q.removeDead.run({ now }).changes,
  };
}
