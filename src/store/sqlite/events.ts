import type Database from 'better-sqlite3';
import type { ChainHead, EventQuery, EventRow, EventWrites } from '../store.js';
import type { Sync } from './resolved.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The events repository, and the committed head (read once per transaction by the store). */
export function sqliteEvents(db: Database.Database): Omit<Sync<EventWrites>, 'append'> & { append(row: EventRow): void } {
  const q = {
    head: db.prepare('SELECT seq, hash, at FROM events ORDER BY seq DESC LIMIT 1'),
    append: db.prepare(`INSERT INTO events (seq, at, type, agent, subject, data, data_digest, prev_hash, hash)
      VALUES (@seq, @at, @type, @agent, @subject, @data, @data_digest, @prev_hash, @hash)`),
    list: db.prepare(`SELECT * FROM events WHERE seq > @since
      AND (@subject IS NULL OR subject = @subject) AND (@agent IS NULL OR agent = @agent)
      ORDER BY seq LIMIT @limit`),
    all: db.prepare('SELECT * FROM events ORDER BY seq'),
    hashesAt: db.prepare('SELECT e.seq, e.hash FROM json_each(?) j CROSS JOIN events e ON e.seq = j.value'),
    count: db.prepare('SELECT count(*) AS n FROM events').pluck(),
  };
  return {
    head: (): ChainHead => (q.head.get() as ChainHead | undefined) ?? { seq: 0, hash: GENESIS_HASH, at: 0 },
    append: (row) => void q.append.run(row),
    list: (query: EventQuery) =>
      q.list.all({ since: query.since ?? 0, limit: query.limit, subject: query.subject ?? null, agent: query.agent ?? null }) as EventRow[],
    all: () => q.all.iterate() as IterableIterator<EventRow>,
    hashesAt: (seqs) => new Map((q.hashesAt.all(JSON.stringify(seqs)) as { seq: number; hash: string }[]).map((r) => [r.seq, r.hash])),
    count: () => q.count.get() as number,
  };
}
