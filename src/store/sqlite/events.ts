import type Database from 'better-sqlite3';
import type { EventQuery, EventRow, EventStore } from '../store.js';

export function sqliteEvents(db: Database.Database): EventStore {
  const q = {
    head: db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1'),
    append: db.prepare(`INSERT INTO events (seq, at, type, agent, subject, data, data_digest, prev_hash, hash)
      VALUES (@seq, @at, @type, @agent, @subject, @data, @data_digest, @prev_hash, @hash)`),
    list: db.prepare(`SELECT * FROM events WHERE seq > @since
      AND (@subject IS NULL OR subject = @subject) AND (@agent IS NULL OR agent = @agent)
      ORDER BY seq LIMIT @limit`),
    all: db.prepare('SELECT * FROM events ORDER BY seq'),
    hashAt: db.prepare('SELECT hash FROM events WHERE seq = ?').pluck(),
    count: db.prepare('SELECT count(*) AS n FROM events').pluck(),
  };
  return {
    head: () => q.head.get() as { seq: number; hash: string } | undefined,
    append: (row) => void q.append.run(row),
    list: (query: EventQuery) =>
      q.list.all({ since: query.since ?? 0, limit: query.limit, subject: query.subject ?? null, agent: query.agent ?? null }) as EventRow[],
    all: () => q.all.iterate() as IterableIterator<EventRow>,
    hashAt: (seq) => q.hashAt.get(seq) as string | undefined,
    count: () => q.count.get() as number,
  };
}
