// A throwaway PostgreSQL cluster for the tests (issue 14): initdb in a temp folder, a server on a
// free loopback port, `pg_ctl stop -m immediate` and the folder removed when done. The binaries are
// Debian's postgresql package (/usr/lib/postgresql/<version>/bin, the newest version found first),
// else an initdb and pg_ctl on PATH. initdb refuses to run as root, so as root (CI) both run as
// the `postgres` user that package creates, via runuser, in a folder that user owns.
//
// No vitest import here: the global setup (postgres-global-setup.ts) runs this in vitest's main
// process, and scripts may use it too. Tests get their URL from test-postgres.ts.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import pg from 'pg';

export const INSTALL_HINT = "install Debian's postgresql package: apt-get install -y postgresql";

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres: the superuser, no password (trust on loopback) */
  url: string;
  host: string;
  port: number;
  /** the temp folder holding the data directory, the log and the unix socket */
  dir: string;
  /** the server's version line, e.g. "15.8" (pg_ctl --version) */
  version: string;
  /**
   * With `tls: true`: the server's self-signed certificate (PEM), which is its own CA — what a
   * client names as sslrootcert. Undefined otherwise.
   */
  caFile?: string;
  /** `pg_ctl stop -m immediate`, then the folder is removed; safe to call twice */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /**
   * false (the default) trades durability for speed: fsync, synchronous_commit and
   * full_page_writes are off. That loses nothing the tests can observe (a killed Decapod server
   * does not kill PostgreSQL; only an OS crash would lose data, and the cluster is thrown away),
   * but commits get far cheaper than on a real server, so benchmarks that quote PostgreSQL figures
   * should pass durable: true.
   */
  durable?: boolean;
  /**
   * ssl = on, with a self-signed certificate made by `openssl` in the cluster's folder, valid for
   * 127.0.0.1, 127.0.0.2 and localhost (PostgresCluster.caFile). Plain connections still work.
   */
  tls?: boolean;
  /**
   * The addresses the server listens on (default ['127.0.0.1']). Trust authentication covers
   * 127.0.0.0/8, so e.g. 127.0.0.2 can stand for a database host that is not "loopback" by name.
   */
  listenAddresses?: string[];
}

/** The folder holding initdb and pg_ctl, or undefined. DECAPOD_TEST_POSTGRES_BIN overrides. */
export function findPostgresBin(): string | undefined {
  const has = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'));
  const forced = process.env.DECAPOD_TEST_POSTGRES_BIN;
  if (forced) return has(forced) ? forced : undefined;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+(\.\d+)?$/.test(v) && has(join(debian, v, 'bin')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(debian, versions[0]!, 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || !existsSync(join(dir, 'initdb'))) continue;
    // /usr/local/bin/initdb may be a symlink into the real bin folder, where pg_ctl sits beside it.
    const real = dirname(realpathSync(join(dir, 'initdb')));
    if (has(real)) return real;
    if (has(dir)) return dir;
  }
  return undefined;
}

interface Runner {
  /** runs a PostgreSQL binary as the user that owns the cluster */
  run(file: string, args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  /** the uid/gid to give the temp folder, when it is not ours (root) */
  owner?: { uid: number; gid: number };
}

function execAsync(file: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, rejectPromise) => {
    // cwd /: the postgres user may not be allowed into ours (initdb and pg_ctl complain).
    execFile(file, args, { encoding: 'utf8', timeout: timeoutMs, cwd: '/', env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) {
        const how = err.killed ? `killed after ${timeoutMs} ms` : `exit ${(err as { code?: unknown }).code}`;
        rejectPromise(new Error(`${file} ${args.join(' ')}: ${how}\n${stderr || stdout}`.trimEnd()));
      } else resolvePromise({ stdout, stderr });
    });
  });
}

function runner(): Runner {
  if (process.getuid?.() !== 0) return { run: (file, args, t = 60_000) => execAsync(file, args, t) };
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(`PostgreSQL for the tests: running as root, initdb must run as the "postgres" user, and there is none; ${INSTALL_HINT}`);
  }
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
  if (!runuser) throw new Error('PostgreSQL for the tests: running as root, initdb must run as the "postgres" user, and runuser (util-linux) is missing');
  return {
    run: (file, args, t = 60_000) => execAsync(runuser, ['-u', 'postgres', '--', file, ...args], t),
    owner: { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) },
  };
}

/** A temp folder the cluster's user owns and can reach (as root: $TMPDIR may be private, then /tmp). */
async function clusterDir(r: Runner): Promise<string> {
  const bases = [...new Set([tmpdir(), '/tmp'])];
  for (const base of bases) {
    const dir = mkdtempSync(join(realpathSync(base), 'decapod-pg-'));
    if (!r.owner) return dir;
    chownSync(dir, r.owner.uid, r.owner.gid);
    try {
      await r.run('/usr/bin/test', ['-w', dir, '-a', '-x', dir], 5_000);
      return dir;
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`PostgreSQL for the tests: the postgres user cannot reach a temp folder under ${bases.join(' or ')}`);
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, rejectPromise) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rejectPromise);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolvePromise(port));
    });
  });
}

const logTail = (file: string) => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
};

const quoted = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Starts a throwaway cluster (about 1.2 s: initdb, then the server) on 127.0.0.1 and a free port,
 * trust authentication, the unix socket inside its temp folder. Throws naming what failed.
 */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresCluster> {
  const bin = findPostgresBin();
  if (!bin) {
    const where = process.env.DECAPOD_TEST_POSTGRES_BIN ? `DECAPOD_TEST_POSTGRES_BIN=${process.env.DECAPOD_TEST_POSTGRES_BIN}` : '/usr/lib/postgresql/*/bin or on PATH';
    throw new Error(`PostgreSQL for the tests: no initdb and pg_ctl in ${where}; ${INSTALL_HINT}`);
  }
  const r = runner();
  const dir = await clusterDir(r);
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  const pgCtl = join(bin, 'pg_ctl');
  let started = false;
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const version = (await r.run(pgCtl, ['--version'], 10_000)).stdout.trim().replace(/^pg_ctl \(PostgreSQL\)\s*/, '');
    try {
      // --no-sync: nothing of a throwaway cluster needs to reach the disk. C locale: byte order,
      // as SQLite compares text, and no dependence on the machine's installed locales.
      await r.run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
    } catch (err) {
      throw new Error(`PostgreSQL for the tests: initdb failed (${bin}): ${(err as Error).message}`);
    }
    let caFile: string | undefined;
    if (opts.tls) caFile = await selfSignedCertificate(data, r);
    if (opts.listenAddresses) appendFileSync(join(data, 'pg_hba.conf'), '\n# decapod test harness: all of 127.0.0.0/8\nhost all all 127.0.0.0/8 trust\n');
    // The socket path must fit in sun_path (107 bytes); with a long $TMPDIR, TCP only.
    const socketFits = Buffer.byteLength(join(dir, '.s.PGSQL.65535')) < 107;
    const settings = [
      `listen_addresses = ${quoted((opts.listenAddresses ?? ['127.0.0.1']).join(','))}`,
      `unix_socket_directories = ${socketFits ? quoted(dir) : "''"}`,
      // Small: several clusters (Node 22 and 24 runs, developers' parallel runs) share the machine.
      'shared_buffers = 32MB',
      'max_connections = 200',
      "timezone = 'UTC'",
      // Tests run many short statements: JIT compiling only costs time there.
      'jit = off',
      ...(opts.durable ? [] : ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off']),
      ...(caFile ? ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"] : []),
    ];
    appendFileSync(join(data, 'postgresql.conf'), `\n# decapod test harness (test/helpers/postgres.ts)\n${settings.join('\n')}\n`);
    // A port can be taken between our probe and the server's bind: try a few.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        await r.run(pgCtl, ['start', '-D', data, '-l', log, '-w', '-t', '30', '-o', `-p ${port}`], 40_000);
      } catch (err) {
        const tail = logTail(log);
        if (attempt < 5 && /could not bind|already in use/i.test(tail)) continue;
        throw new Error(`PostgreSQL for the tests: pg_ctl start failed (${bin}): ${(err as Error).message}\nserver log ${log}:\n${tail}`);
      }
      started = true;
      const host = '127.0.0.1';
      const pidFile = join(data, 'postmaster.pid');
      const postmasterPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      // If our process ends without stop(), the server goes with it: on exit (a crash,
      // process.exit) at once, and if we are killed (SIGKILL gives no exit event) a watchdog of
      // ours notices within a second. SIGQUIT is PostgreSQL's immediate shutdown.
      const onExit = () => {
        try {
          process.kill(postmasterPid, 'SIGQUIT');
        } catch {
          // already gone
        }
        cleanup();
      };
      process.once('exit', onExit);
      const watchdog = spawn(
        '/bin/sh',
        ['-c', 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -QUIT "$2" 2>/dev/null; sleep 1; rm -rf "$3"', 'watchdog', String(process.pid), String(postmasterPid), dir],
        { detached: true, stdio: 'ignore', cwd: '/' },
      );
      watchdog.on('error', () => {}); // without /bin/sh, only the exit hook guards
      watchdog.unref();
      let stopping: Promise<void> | undefined;
      const stop = () =>
        (stopping ??= (async () => {
          process.removeListener('exit', onExit);
          if (watchdog.exitCode === null && watchdog.pid) {
            try {
              process.kill(watchdog.pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
          try {
            if (existsSync(pidFile)) await r.run(pgCtl, ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30'], 40_000);
          } finally {
            cleanup();
          }
        })());
      return { url: `postgres://postgres@${host}:${port}/postgres`, host, port, dir, version, ...(caFile ? { caFile } : {}), stop };
    }
  } catch (err) {
    if (!started) cleanup();
    throw err;
  }
}

/**
 * server.crt and server.key in the data folder (the key readable by the cluster's user only, as
 * PostgreSQL demands): a self-signed certificate for 127.0.0.1, 127.0.0.2 and localhost, valid
 * for a day. Returns the certificate's path (it is its own CA).
 */
async function selfSignedCertificate(data: string, r: Runner): Promise<string> {
  const crt = join(data, 'server.crt');
  const key = join(data, 'server.key');
  try {
    await execAsync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=decapod-test-postgres', '-addext', 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost', '-keyout', key, '-out', crt],
      30_000,
    );
  } catch (err) {
    throw new Error(`PostgreSQL for the tests: making a TLS certificate with openssl failed: ${(err as Error).message}`);
  }
  chmodSync(key, 0o600);
  chmodSync(crt, 0o644);
  if (r.owner) for (const f of [crt, key]) chownSync(f, r.owner.uid, r.owner.gid);
  return crt;
}

/** A name PostgreSQL takes unquoted: lower-case letters, digits and _, at most 63 bytes. */
const DB_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The URL with its database replaced. */
export function databaseUrl(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** CREATE DATABASE name on the server at url (any of its databases); returns the new database's URL. */
export async function createDatabase(url: string, name: string): Promise<string> {
  if (!DB_NAME.test(name)) throw new Error(`createDatabase: ${JSON.stringify(name)} is not a plain database name (${DB_NAME})`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return databaseUrl(url, name);
}

/** DROP DATABASE IF EXISTS name WITH (FORCE) (PostgreSQL 13+): closes its other connections first. */
export async function dropDatabase(url: string, name: string): Promise<void> {
  if (!DB_NAME.test(name)) throw new Error(`dropDatabase: ${JSON.stringify(name)} is not a plain database name (${DB_NAME})`);
  const client = new pg.Client({ connectionString: databaseUrl(url, 'postgres') });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

