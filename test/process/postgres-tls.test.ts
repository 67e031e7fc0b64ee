// docs/design.md §7 (team mode): a database that is not on this machine is reached over TLS. The
// product refuses a URL to a non-loopback host without TLS unless DECAPOD_DATABASE_TLS=off
// (src/workspace/store-config.ts). Here a throwaway PostgreSQL of this file's own runs with
// ssl = on and a self-signed certificate (test/helpers/postgres.ts, tls: true), listening on
// 127.0.0.1 and on 127.0.0.2, which stands for "another host": the name is not loopback to the
// product. A `decapod serve` started by the CLI with a TLS URL connects encrypted (pg_stat_ssl
// says so for every connection it holds), a plain URL is refused before any connection with an
// error that names the fix, and DECAPOD_DATABASE_TLS=off lets it through unencrypted.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDatabase, findPostgresBin, startPostgres, type PostgresCluster } from '../helpers/postgres.js';
import { callDecapod, callOk, describeRun, killServersFor, runDecapod, serverLog, tempRoot, useBuiltCli, waitFor } from '../helpers/process.js';

useBuiltCli();

const skip = process.env.DECAPOD_TEST_POSTGRES === 'off' ? 'DECAPOD_TEST_POSTGRES=off' : !findPostgresBin() ? 'no PostgreSQL binaries' : '';

describe.skipIf(skip !== '')(`team mode over TLS${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres({ tls: true, listenAddresses: ['127.0.0.1', '127.0.0.2'] });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  /** A fresh database on the TLS cluster; its URL for a client on host `host` with `query`. */
  const freshDatabase = async () => {
    const name = `tls_${randomBytes(4).toString('hex')}`;
    await createDatabase(cluster.url, name);
    return {
      name,
      url: (host: string, query: Record<string, string> = {}) => {
        const u = new URL(`postgres://postgres@${host}:${cluster.port}/${name}`);
        for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
        return u.toString();
      },
    };
  };

  /** The client connections to database `name` (other than ours), with what pg_stat_ssl says of each. */
  const connectionsTo = async (name: string) => {
    const client = new pg.Client({ connectionString: cluster.url }); // plain, over 127.0.0.1
    await client.connect();
    try {
      const r = await client.query(
        `SELECT a.pid, a.client_addr::text AS client_addr, s.ssl, s.version
           FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
          WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'`,
        [name],
      );
      return r.rows as { pid: number; client_addr: string; ssl: boolean; version: string | null }[];
    } finally {
      await client.end();
    }
  };

  const env = (url: string, extra: Record<string, string> = {}) => ({ DECAPOD_DATABASE_URL: url, DECAPOD_PROJECT: `tls-${randomBytes(4).toString('hex')}`, ...extra });

  test('a server asked for TLS (sslmode=verify-full with the cluster certificate as sslrootcert) uses an encrypted connection; pg_stat_ssl shows ssl = true for every one', { timeout: 60_000 }, async () => {
    const db = await freshDatabase();
    const root = tempRoot();
    try {
      const e = env(db.url('127.0.0.2', { sslmode: 'verify-full', sslrootcert: cluster.caFile! }));
      const status = await callOk(root, 'server.status', undefined, { env: e });
      expect(status.storage).toMatchObject({ engine: 'postgresql', database_host: '127.0.0.2' });
      // It does real work over that connection.
      const lease = (await callOk(root, 'lease.grant', { agent: 'tls' }, { env: e })).lease;
      await callOk(root, 'claim.acquire', { lease, paths: ['src'] }, { env: e });
      expect(await callOk(root, 'audit.verify', undefined, { env: e })).toMatchObject({ ok: true, count: 2 });
      // The server keeps its LISTEN connection (and its pool) open: every one of them is TLS.
      const conns = (await waitFor(async () => {
        const c = await connectionsTo(db.name);
        return c.length > 0 ? c : undefined;
      }, { timeoutMs: 10_000, what: "the server's connections in pg_stat_activity" }))!;
      expect(conns.map((c) => c.ssl), JSON.stringify(conns)).toEqual(conns.map(() => true));
      for (const c of conns) expect(c.version).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await killServersFor(root);
    }
  });

  test('sslmode=require (what the refusal suggests) without sslrootcert verifies the certificate: this self-signed one is refused, never a plaintext fallback', { timeout: 60_000 }, async () => {
    const db = await freshDatabase();
    const root = tempRoot();
    try {
      const r = await callDecapod(root, 'server.status', undefined, { env: env(db.url('127.0.0.2', { sslmode: 'require' })) });
      // node-postgres 8 reads sslmode=require as verify-full (unlike libpq, which encrypts without
      // verifying): the certificate is checked, and a self-signed one is refused — the server
      // does not start (the reason is in its log; `decapod call` points there). Nothing falls
      // back to a plaintext connection.
      expect(r.code, describeRun(r)).not.toBe(0);
      expect(r.stderr).toContain('server.log');
      expect(serverLog(root), 'the log names the certificate problem').toMatch(/self-signed certificate/);
      expect((await connectionsTo(db.name)).filter((c) => !c.ssl)).toEqual([]);
    } finally {
      await killServersFor(root);
    }
  });

  test('a plain URL to a non-loopback host is refused before connecting, naming the fix; DECAPOD_DATABASE_TLS=off lets it through unencrypted', { timeout: 60_000 }, async () => {
    const db = await freshDatabase();
    const root = tempRoot();
    try {
      const plain = db.url('127.0.0.2');
      const refused = await callDecapod(root, 'server.status', undefined, { env: env(plain) });
      expect(refused.code, describeRun(refused)).not.toBe(0);
      // `decapod call` says the server could not start and where to look; the log says why.
      expect(refused.stderr, describeRun(refused)).toContain('server.log');
      const why = /the database at 127\.0\.0\.2 is not on this machine: add \?sslmode=require \(or verify-full\) to its URL, or set DECAPOD_DATABASE_TLS=off/;
      expect(serverLog(root)).toMatch(why);
      // `decapod serve` itself says it on stderr, and exits 1.
      const served = await runDecapod(['serve'], { root, env: env(plain) });
      expect(served.code, describeRun(served)).toBe(1);
      expect(served.stderr, describeRun(served)).toMatch(why);
      expect(await connectionsTo(db.name), 'no connection was made').toEqual([]);

      // The same URL on a trusted network: connects, in plaintext, as asked.
      const e = env(plain, { DECAPOD_DATABASE_TLS: 'off' });
      expect((await callOk(root, 'server.status', undefined, { env: e })).storage).toMatchObject({ engine: 'postgresql', database_host: '127.0.0.2' });
      const conns = (await waitFor(async () => {
        const c = await connectionsTo(db.name);
        return c.length > 0 ? c : undefined;
      }, { timeoutMs: 10_000, what: "the server's connections in pg_stat_activity" }))!;
      expect(conns.map((c) => c.ssl)).toEqual(conns.map(() => false));
    } finally {
      await killServersFor(root);
    }
  });
});
