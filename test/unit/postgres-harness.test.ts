// The PostgreSQL harness (issue 14) gives the tests a real server: its own database per file, a
// version line, and row locks that make a second transaction wait until the first commits.
import pg from 'pg';
import { expect, inject, onTestFinished, test } from 'vitest';
import { waitFor } from '../helpers/process.js';
import { createDatabase } from '../helpers/postgres.js';
import { describePostgres } from '../helpers/test-postgres.js';

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  onTestFinished(() => client.end().catch(() => {}));
  return client;
}

describePostgres('PostgreSQL harness', (db) => {
  test('a real PostgreSQL server, this file in a database of its own, its URL in the environment for spawned processes', async () => {
    const c = await connect(db.url);
    const { rows } = await c.query<{ version: string; db: string; num: string }>(
      "SELECT version(), current_database() AS db, current_setting('server_version_num') AS num",
    );
    expect(rows[0]!.version).toMatch(/^PostgreSQL \d+/);
    expect(Number(rows[0]!.num)).toBeGreaterThanOrEqual(130000); // DROP DATABASE … WITH (FORCE)
    expect(rows[0]!.db).toBe(db.name);
    expect(process.env.DECAPOD_TEST_POSTGRES_URL).toBe(inject('postgresUrl'));
    expect(db.serverUrl).toBe(inject('postgresUrl'));
  });

  test('createDatabase makes a database others can connect to, and refuses a name it would have to quote', async () => {
    const name = `${db.name}_x`;
    const url = await createDatabase(db.serverUrl, name);
    const c = await connect(url);
    expect((await c.query('SELECT current_database() AS d')).rows[0].d).toBe(name);
    await c.end();
    const admin = await connect(db.serverUrl);
    await admin.query(`DROP DATABASE ${name}`);
    await expect(createDatabase(db.serverUrl, 'Robert"; DROP')).rejects.toThrow(/not a plain database name/);
  });

  test('SELECT … FOR UPDATE: a second transaction on the row waits (on a lock) until the first commits, then sees its write', async () => {
    const a = await connect(db.url);
    const b = await connect(db.url);
    const watcher = await connect(db.url);
    await a.query('CREATE TABLE head (id int PRIMARY KEY, n int NOT NULL)');
    await a.query('INSERT INTO head VALUES (1, 0)');
    // A bug must fail the test, not hang it.
    await b.query("SET lock_timeout = '20s'");
    const bPid = (await b.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;

    const order: string[] = [];
    await a.query('BEGIN');
    expect((await a.query('SELECT n FROM head WHERE id = 1 FOR UPDATE')).rows[0].n).toBe(0);
    await b.query('BEGIN');
    const bLocked = b.query('SELECT n FROM head WHERE id = 1 FOR UPDATE').then((r) => {
      order.push('b locked');
      return r.rows[0].n as number;
    });
    // b is blocked in the server on a lock that a's backend holds (not merely slow).
    const blocked = await waitFor(
      async () =>
        (
          await watcher.query<{ wait: string | null; blockers: number[] }>(
            'SELECT wait_event_type AS wait, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity WHERE pid = $1',
            [bPid],
          )
        ).rows.find((r) => r.wait === 'Lock'),
      { timeoutMs: 10_000, what: 'the second transaction to wait on the row lock' },
    );
    const aPid = (await a.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    expect(blocked?.blockers).toEqual([aPid]);
    await new Promise((r) => setTimeout(r, 100));
    expect(order).toEqual([]);

    await a.query('UPDATE head SET n = n + 1 WHERE id = 1');
    order.push('a committing');
    await a.query('COMMIT');
    // READ COMMITTED: b's FOR UPDATE re-reads the row a committed.
    expect(await bLocked).toBe(1);
    expect(order).toEqual(['a committing', 'b locked']);
    await b.query('UPDATE head SET n = n + 1 WHERE id = 1');
    await b.query('COMMIT');
    expect((await watcher.query('SELECT n FROM head WHERE id = 1')).rows[0].n).toBe(2);
  });
});
