import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { METHODS } from '../../src/methods/table.js';
import { tokenMatcher } from '../../src/transport/guards.js';
import { createServer } from '../../src/transport/http-server.js';
import { goodHeaders, rawRequest, writtenState } from '../helpers/raw-http.js';
import { startTestServer, tempRoot, type TestServer, testOnSqliteFile } from '../helpers/test-server.js';
import { auditHead, ok, RunLog, runs, SEED, send } from './support.js';

// Issue 7, security checks: the token on every route and method, a constant-time comparison,
// private run files, Host/Origin (DNS rebinding), loopback only, no secret in any log, audit
// event or database file, gate commands only from the config file, lease secrets stored hashed,
// and no agent acting with another's claim.

const log = new RunLog('security.test.ts');
afterAll(() => log.write());

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const portOf = (s: TestServer) => Number(new URL(s.url).port);
const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');

// ---------------------------------------------------------------------------------------------
// The token
// ---------------------------------------------------------------------------------------------

/** Every route fastify serves, read from its own route tree (so a new route is checked too). */
async function servedRoutes(): Promise<{ path: string; methods: string[] }[]> {
  const app = createServer({ ctx: {} as never, token: 'unused', health: () => ({}) });
  await app.ready();
  const tree = app.printRoutes({ commonPrefix: false });
  await app.close();
  const out: { path: string; methods: string[] }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    if (m[3]) out.push({ path: stack.join(''), methods: m[3].split(',').map((x) => x.trim()) });
  }
  return out;
}

/** Params that would do something if they got through: writes for mutations, reads for queries. */
function paramsFor(method: string): Record<string, unknown> {
  const special: Record<string, Record<string, unknown>> = {
    'lease.grant': { agent: 'intruder' },
    'task.create': { title: 'intrusion' },
    'claim.check': { paths: ['src'] },
    'audit.list': { limit: 10 },
  };
  return special[method] ?? JSON.parse(JSON.stringify(METHODS.get(method)!.examples[0]?.params ?? {}).replaceAll('dcl_…', 'dcl_guess'));
}

describe('the token', () => {
  test('every route but GET /healthz and GET /openapi.json, and every method on both surfaces, answers 401 without the right token; nothing is read or written', async () => {
    const routes = await servedRoutes();
    expect(routes.map((r) => r.path).sort()).toEqual(expect.arrayContaining(['/healthz', '/openapi.json', '/rpc', '/rpc/:method']));
    const s = await startTestServer();
    const secretTitle = `state-${SEED}-${Date.now()}`;
    await ok(s, 'task.create', { title: secretTitle });
    const before = await writtenState(s.call);
    const host = new URL(s.url).host;
    const wrong = [
      undefined,
      `Bearer ${'A'.repeat(s.token.length)}`, // same length, wrong
      `Bearer ${s.token.slice(0, -1)}`,
      `Bearer ${s.token}x`,
      `Bearer ${s.token.toUpperCase()}`,
      s.token,
      `Basic ${Buffer.from(`x:${s.token}`).toString('base64')}`,
      `Bearer ${s.token}, Bearer ${s.token}`,
      `Bearer\t${s.token}`,
      'Bearer ',
    ];
    const names = [...METHODS.keys(), 'no.such'];
    let tried = 0;
    for (const route of routes) {
      const concrete = route.path.includes(':method') ? names.map((m) => ({ path: route.path.replace(':method', m), method: m })) : [{ path: route.path, method: undefined as string | undefined }];
      for (const verb of [...new Set([...route.methods, 'GET', 'POST', 'PUT', 'DELETE', 'PATCH'])]) {
        for (const c of concrete) {
          for (const authorization of wrong) {
            const body =
              verb === 'GET' || verb === 'HEAD'
                ? undefined
                : c.path === '/rpc'
                  ? JSON.stringify(names.map((m, i) => ({ jsonrpc: '2.0', id: i, method: m, params: paramsFor(m === 'no.such' ? 'lease.list' : m) })).slice(0, 100))
                  : JSON.stringify(c.method && c.method !== 'no.such' ? paramsFor(c.method) : {});
            const r = await rawRequest(s.url, {
              method: verb,
              path: c.path,
              headers: { host, 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
              ...(body === undefined ? {} : { body }),
            });
            tried++;
            const publicRead = verb === 'GET' && (c.path === '/healthz' || c.path === '/openapi.json');
            if (publicRead) {
              expect(r.status, `${verb} ${c.path}`).toBe(200);
              expect(r.text).not.toContain(s.token);
              expect(r.text, `${c.path} shows project state`).not.toContain(secretTitle);
            } else {
              expect(r.status, `${verb} ${c.path} with ${JSON.stringify(authorization?.slice(0, 20))}`).toBe(401);
              if (verb !== 'HEAD') expect(r.json).toEqual({ error: { code: 401, message: expect.any(String), data: { code: 'UNAUTHORIZED' } } });
              expect(r.text).not.toContain(secretTitle);
            }
          }
        }
      }
    }
    // And each method in a JSON-RPC envelope of its own, without any token.
    for (const m of names) {
      const r = await rawRequest(s.url, { path: '/rpc', headers: { host, 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: m, params: paramsFor(m === 'no.such' ? 'lease.list' : m) }) });
      tried++;
      expect(r.status, m).toBe(401);
    }
    log.count('token: unauthenticated requests', tried);
    expect(await writtenState(s.call)).toEqual(before);
    expect((await ok(s, 'server.status')).pid).toBe(process.pid); // server.shutdown did not get through
  });

  test('the comparison is constant-time: sha256 digests of equal length through crypto.timingSafeEqual, nothing else', () => {
    const guards = readFileSync(join(SRC, 'transport', 'guards.ts'), 'utf8');
    const body = /export function tokenMatcher[\s\S]*?\n}\n/.exec(guards)?.[0] ?? '';
    expect(body, 'tokenMatcher not found in src/transport/guards.ts').not.toBe('');
    expect(body).toMatch(/const expected = createHash\('sha256'\)\.update\(token\)\.digest\(\)/);
    expect(body).toMatch(/createHash\('sha256'\)\.update\([^)]*\)\.digest\(\)/);
    expect(body).toMatch(/timingSafeEqual\(given, expected\)/);
    // No early exit on the token's text: no string comparison, prefix test or length test of it.
    expect(body).not.toMatch(/===\s*token|token\s*===|!==\s*token|\.startsWith\(|\.includes\(|\.length\s*[!=<>]/);
    // The transport asks it, and only it.
    const server = readFileSync(join(SRC, 'transport', 'http-server.ts'), 'utf8');
    expect(server).toMatch(/const tokenOk = tokenMatcher\(opts\.token\)/);
    expect(server).toMatch(/if \(!tokenOk\(req\.headers\.authorization\)\)/);
    expect(server.match(/opts\.token/g)).toHaveLength(1);
  });

  test('tokens of every length and near misses are refused without an exception; only the token passes', async () => {
    const token = 'k'.repeat(10) + 'Q7-_zz'.repeat(5) + 'abc'; // 43 characters, like a real one
    const matches = tokenMatcher(token);
    expect(matches(`Bearer ${token}`)).toBe(true);
    expect(matches(`bearer ${token}`)).toBe(true);
    const near = [
      ...Array.from({ length: token.length }, (_, i) => token.slice(0, i) + (token[i] === 'x' ? 'y' : 'x') + token.slice(i + 1)),
      ...Array.from({ length: token.length }, (_, i) => token.slice(0, i)),
      `${token}x`,
      `${token} `,
      `x${token}`,
      token.repeat(2),
      'x'.repeat(1 << 20),
    ];
    for (const t of near) expect(matches(`Bearer ${t}`), t.slice(0, 50)).toBe(false);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (t) => {
        log.count('token: random candidates');
        return matches(`Bearer ${t}`) === (t === token);
      }),
      { seed: SEED, numRuns: runs(500) },
    );
    log.count('token: near misses', near.length);
    // Over HTTP, any length is a plain 401.
    const s = await startTestServer();
    for (const len of [0, 1, 16, s.token.length - 1, s.token.length, s.token.length + 1, 64, 1000, 8000]) {
      const candidate = 'Z'.repeat(len);
      const r = await rawRequest(s.url, { path: '/rpc/lease.list', headers: goodHeaders(s.url, s.token, { authorization: `Bearer ${candidate}` }), body: '{}' });
      expect(r.status, `length ${len}`).toBe(401);
      log.count('token: lengths over HTTP');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Files on disk
// ---------------------------------------------------------------------------------------------

describe('files on disk', () => {
  test('with umask 000: the run folder is 0700, server.json and server.log 0600; nothing under .decapod is reachable by others', async () => {
    const root = tempRoot();
    const old = process.umask(0);
    let s: TestServer;
    try {
      s = await startTestServer({ root });
    } finally {
      process.umask(old);
    }
    await ok(s, 'lease.grant', { agent: 'perm' });
    const run = join(root, '.decapod', 'run');
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(run).toString(8)).toBe('700');
    expect(mode(join(run, 'server.json')).toString(8)).toBe('600');
    expect(mode(join(run, 'server.log')).toString(8)).toBe('600');
    // The database holds secret hashes, the lease pepper and every audit payload.
    expect(mode(join(root, '.decapod')) & 0o077, '.decapod is open to others').toBe(0);
  });

  test('a .decapod folder that people created (0755, holding config.json) does not leave the database readable by others', async () => {
    const root = tempRoot();
    mkdirSync(join(root, '.decapod'), { mode: 0o755 });
    chmodSync(join(root, '.decapod'), 0o755);
    writeFileSync(join(root, '.decapod', 'config.json'), JSON.stringify({ gates: {} }));
    const s = await startTestServer({ root });
    await ok(s, 'lease.grant', { agent: 'perm', idempotency_key: 'perm-key' });
    const dir = join(root, '.decapod');
    const folderOpen = (statSync(dir).mode & 0o005) === 0o005;
    const readable = ['decapod.db', 'decapod.db-wal', 'decapod.db-shm']
      .filter((f) => existsSync(join(dir, f)))
      .filter((f) => folderOpen && (statSync(join(dir, f)).mode & 0o004) !== 0);
    expect(readable, `readable by any local user: ${readable.join(', ')} (lease secret hashes, the lease pepper, every audit payload)`).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Host and Origin (DNS rebinding)
// ---------------------------------------------------------------------------------------------

describe('Host and Origin (DNS rebinding)', () => {
  // A rebinding attack needs the browser to send a name the attacker's DNS answers, so what
  // matters is that only names no outside DNS decides are let in: the literal 127.0.0.1 and
  // `localhost` (RFC 6761), with our port. Names are case-insensitive (RFC 9110 §4.2.3), so
  // LOCALHOST is still localhost. Refused: the FQDN `localhost.` (resolvers may ask DNS for it),
  // subdomains, other spellings of loopback addresses that the server does not listen on
  // (0.0.0.0 is how pages reached local services in the "0.0.0.0 day" attack), IPv6 loopback
  // (the server is not on ::1), and anything with a suffix or credentials. An Origin is the page
  // that sent the request: loopback pages (127.0.0.1, localhost, [::1]) on any port are this
  // machine's own; everything else is refused.
  const allowedHosts = (port: number) => [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `LocalHost:${port}`];
  const refusedHosts = (port: number) => [
    `[::1]:${port}`,
    `localhost.:${port}`,
    `127.0.0.1.:${port}`,
    `0.0.0.0:${port}`,
    `127.1:${port}`,
    `2130706433:${port}`,
    `0x7f.0.0.1:${port}`,
    `0177.0.0.1:${port}`,
    `127.0.0.2:${port}`,
    `[::ffff:127.0.0.1]:${port}`,
    `evil.localhost:${port}`,
    `localhost.evil.example:${port}`,
    `127.0.0.1.nip.io:${port}`,
    `127.0.0.1:${port}@evil.example`,
    `evil.example@127.0.0.1:${port}`,
    `127.0.0.1:0${port}`,
    `127.0.0.1:${port}.`,
    `127.0.0.1:${port}/`,
    `127.0.0.1:${port}, evil.example`,
    'localhost',
    // (an empty Host cannot be tested from node: its client then sends the default one)
  ];
  const allowedOrigins = ['http://127.0.0.1:1', 'http://localhost:5173', 'http://LOCALHOST:5173', 'https://localhost', 'http://[::1]:5173'];
  const refusedOrigins = [
    'http://localhost.:5173',
    'http://0.0.0.0:5173',
    'http://127.0.0.1.nip.io',
    'http://evil.localhost',
    'http://localhost@evil.example',
    'http://evil.example#@localhost',
    'http://evil.example/?127.0.0.1',
    'ws://localhost:5173',
    'chrome-extension://abcdefghijklmnop',
    'null',
    'file://',
    'http://127.0.0.1 http://evil.example',
    '',
  ];

  const grantBody = (agent: string) => JSON.stringify({ agent });

  test('Host: loopback names with our port in any case pass; every other spelling is refused (403) and writes nothing', async () => {
    const s = await startTestServer();
    const port = portOf(s);
    for (const host of allowedHosts(port)) {
      await log.one('host', `Host ${host}`, async () => {
        const before = (await writtenState(s.call)).count;
        const r = await rawRequest(s.url, { path: '/rpc/lease.grant', headers: goodHeaders(s.url, s.token, { host }), body: grantBody(`host-${host}`) });
        expect(r.status, `Host ${host}: ${r.text.slice(0, 120)}`).toBe(200);
        expect((await writtenState(s.call)).count).toBe(before + 1);
      });
    }
    for (const host of refusedHosts(port)) {
      await log.one('host', `Host ${JSON.stringify(host)}`, async () => {
        const before = await writtenState(s.call);
        const r = await rawRequest(s.url, { path: '/rpc/lease.grant', headers: goodHeaders(s.url, s.token, { host }), body: grantBody('rebound') });
        expect([400, 403], `Host ${JSON.stringify(host)}: ${r.status}`).toContain(r.status);
        expect(await writtenState(s.call)).toEqual(before);
      });
    }
    expect(log.report(['host'])).toBe('');
  });

  test('Origin: loopback pages on any port pass; every other origin is refused (403) and writes nothing', async () => {
    const s = await startTestServer();
    for (const origin of allowedOrigins) {
      await log.one('origin', `Origin ${origin}`, async () => {
        const before = (await writtenState(s.call)).count;
        const r = await rawRequest(s.url, { path: '/rpc/lease.grant', headers: goodHeaders(s.url, s.token, { origin }), body: grantBody('page') });
        expect(r.status, `Origin ${origin}: ${r.text.slice(0, 120)}`).toBe(200);
        expect((await writtenState(s.call)).count).toBe(before + 1);
      });
    }
    for (const origin of refusedOrigins) {
      await log.one('origin', `Origin ${JSON.stringify(origin)}`, async () => {
        const before = await writtenState(s.call);
        const r = await rawRequest(s.url, { path: '/rpc/lease.grant', headers: goodHeaders(s.url, s.token, { origin }), body: grantBody('rebound') });
        expect(r.status, `Origin ${JSON.stringify(origin)}`).toBe(403);
        expect(await writtenState(s.call)).toEqual(before);
      });
    }
    expect(log.report(['origin'])).toBe('');
  });
});

// ---------------------------------------------------------------------------------------------
// Loopback only
// ---------------------------------------------------------------------------------------------

/** Listening sockets on `port` from /proc/net/tcp{,6}: [family, hex local address]. */
function listeners(port: number): [string, string][] {
  const out: [string, string][] = [];
  for (const family of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/net/${family}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== '0A') continue; // LISTEN
      const [addr, hexPort] = cols[1]!.split(':');
      if (parseInt(hexPort!, 16) === port) out.push([family, addr!]);
    }
  }
  return out;
}

function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, timeout: 2_000 });
    sock.on('connect', () => {
      sock.destroy();
      resolve('connected');
    });
    sock.on('timeout', () => {
      sock.destroy();
      resolve('timeout');
    });
    sock.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test('the server listens on 127.0.0.1 only: one IPv4 loopback listener, and this machine’s other addresses refuse the port', async () => {
  const s = await startTestServer();
  const port = portOf(s);
  expect(new URL(s.url).hostname).toBe('127.0.0.1');
  expect(readFileSync(join(SRC, 'lifecycle', 'serve.ts'), 'utf8')).toMatch(/app\.listen\(\{ host: '127\.0\.0\.1', port: 0 \}\)/);
  if (existsSync('/proc/net/tcp')) expect(listeners(port)).toEqual([['tcp', '0100007F']]);
  // Only this machine's own addresses are dialled: traffic to them never leaves the host.
  const own = Object.values(networkInterfaces())
    .flat()
    .filter((a): a is NonNullable<typeof a> => !!a && !a.internal && !a.address.startsWith('fe80'))
    .map((a) => a.address);
  const results: Record<string, string> = {};
  for (const address of own) {
    results[address] = await tryConnect(address, port);
    log.count('loopback: own non-loopback addresses dialled');
    expect(results[address], `${address}:${port}`).not.toBe('connected');
  }
  console.info(`[security] non-loopback addresses on port ${port}: ${JSON.stringify(results)}${own.length === 0 ? ' (none on this machine)' : ''}`);
  expect(await tryConnect('127.0.0.1', port)).toBe('connected');
});

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/** Every text a local reader could find in the database files, in the encodings SQLite uses. */
function databaseText(root: string): string {
  const dir = join(root, '.decapod');
  return readdirSync(dir)
    .filter((f) => f.startsWith('decapod.db'))
    .map((f) => readFileSync(join(dir, f)))
    .map((b) => `${b.toString('latin1')}\n${b.toString('utf16le')}`)
    .join('\n');
}

test('no secret (token, lease secrets, idempotency keys) in server.log, the database files (-wal included) or any audit event after a session that uses them', async () => {
  const s = await startTestServer();
  mkdirSync(join(s.root, '.decapod'), { recursive: true });
  writeFileSync(join(s.root, '.decapod', 'config.json'), JSON.stringify({ gates: { review: { command: 'true', attest: 'any' }, test: { command: 'echo ran' } } }));
  const rnd = () => createHash('sha256').update(`${Math.random()}${Date.now()}`).digest('base64url').slice(0, 24);
  const keys = Array.from({ length: 8 }, (_, i) => `idem-${i}-${rnd()}`);
  const a = await ok(s, 'lease.grant', { agent: 'alice', ttl_ms: 600_000 });
  const b = await ok(s, 'lease.grant', { agent: 'bob', idempotency_key: keys[0] });
  const bAgain = await ok(s, 'lease.grant', { agent: 'bob', idempotency_key: keys[0] }); // the replay returns the derived secret
  expect(bAgain.lease).toBe(b.lease);
  const c = await ok(s, 'lease.grant', { agent: 'carol', idempotency_key: keys[1] });
  await ok(s, 'lease.revoke', { lease: c.lease, idempotency_key: keys[2] });
  const { claim } = await ok(s, 'claim.acquire', { lease: a.lease, paths: ['src'], idempotency_key: keys[3] });
  await ok(s, 'claim.renew', { lease: a.lease, claim: claim.id });
  await ok(s, 'claim.release', { lease: a.lease, claim: claim.id, fence: claim.fence, idempotency_key: keys[4] });
  await ok(s, 'task.create', { lease: a.lease, title: 'work', gates: ['review', 'test'], idempotency_key: keys[5] });
  const t = await ok(s, 'task.claim', { lease: a.lease, task: 'T1' });
  await ok(s, 'proof.record', { lease: a.lease, task: 'T1', gate: 'review', fence: t.claim.fence, passed: true, output: 'looks good', idempotency_key: keys[6] });
  await ok(s, 'proof.run', { lease: a.lease, task: 'T1', gate: 'test', fence: t.claim.fence });
  await ok(s, 'task.complete', { lease: a.lease, task: 'T1', fence: t.claim.fence, idempotency_key: keys[7] });
  await ok(s, 'lease.renew', { lease: b.lease });
  // Refusals and faults carrying secrets: a wrong token that contains the right one, a lease that
  // is not one, an internal error (logged), a bad idempotency reuse.
  await rawRequest(s.url, { path: '/rpc/lease.list', headers: goodHeaders(s.url, s.token, { authorization: `Bearer ${s.token}${s.token}` }), body: '{}' });
  await send(s, '/rpc/lease.renew', { body: JSON.stringify({ lease: `${a.lease}x` }) });
  await send(s, '/rpc/lease.grant', { body: '{"agent":"fault","meta":{"n":1e309},"idempotency_key":"' + keys[5] + '"}' });
  await send(s, '/rpc/lease.revoke', { body: JSON.stringify({ lease: b.lease, idempotency_key: keys[0] }) });

  const secrets: Record<string, string> = { token: s.token, 'lease a': a.lease, 'lease b (derived)': b.lease, 'lease c (derived)': c.lease };
  keys.forEach((k, i) => (secrets[`idempotency key ${i}`] = k));
  const leaks = (where: string, text: string) => Object.entries(secrets).filter(([, v]) => text.includes(v)).map(([k]) => `${k} in ${where}`);

  const found: string[] = [];
  const events: unknown[] = [];
  for (let since = 0; ; ) {
    const page = await ok(s, 'audit.list', { since, limit: 1000 });
    events.push(...page.events);
    if (page.next === null) break;
    since = page.next;
  }
  found.push(...leaks('audit events', JSON.stringify(events)));
  for (const m of ['lease.list', 'claim.list', 'server.status', 'gate.list', 'audit.verify', 'audit.replay']) found.push(...leaks(`${m} result`, JSON.stringify(await ok(s, m))));
  found.push(...leaks('task.get result', JSON.stringify(await ok(s, 'task.get', { task: 'T1' }))));
  found.push(...leaks('proof.list result', JSON.stringify(await ok(s, 'proof.list', { task: 'T1' }))));
  found.push(...leaks('database files while serving', databaseText(s.root)));

  await s.close();
  const logFile = join(s.root, '.decapod', 'run', 'server.log');
  for (let i = 0; i < 50 && !readFileSync(logFile, 'utf8').includes('stopping'); i++) await new Promise((r) => setTimeout(r, 50));
  const serverLog = readFileSync(logFile, 'utf8');
  expect(serverLog, 'the log was written (else there is nothing to scan)').toContain('stopping');
  found.push(...leaks('server.log', serverLog));
  found.push(...leaks('database files after stop', databaseText(s.root)));
  log.count('secrets: places scanned', 12);
  log.count('secrets: secrets looked for', Object.keys(secrets).length);
  expect(found).toEqual([]);
  expect(events.length).toBeGreaterThan(10);
});

testOnSqliteFile('lease secrets are stored hashed: each lease row holds sha256 of its secret, and no table holds a secret', async () => {
  const s = await startTestServer();
  const granted = [
    await ok(s, 'lease.grant', { agent: 'plain' }),
    await ok(s, 'lease.grant', { agent: 'keyed', idempotency_key: `key-${Date.now()}` }),
    await ok(s, 'lease.grant', { agent: 'meta', meta: { note: 'x' }, pid: process.pid }),
  ];
  const db = new Database(join(s.root, '.decapod', 'decapod.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT lease_id, secret_hash FROM leases').all() as { lease_id: string; secret_hash: string }[];
    for (const g of granted) {
      expect(rows.find((r) => r.lease_id === g.lease_id)?.secret_hash).toBe(sha256(g.lease));
      log.count('hashed secrets: leases checked');
    }
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    for (const table of tables) {
      const dump = JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).all());
      for (const g of granted) expect(dump, `${table} holds a lease secret`).not.toContain(g.lease);
      log.count('hashed secrets: tables scanned');
    }
  } finally {
    db.close();
  }
  // And over RPC nobody reads a secret back.
  expect(JSON.stringify(await ok(s, 'lease.list'))).not.toMatch(/dcl_/);
});

// ---------------------------------------------------------------------------------------------
// Gates: commands come only from the config file
// ---------------------------------------------------------------------------------------------

test('proof gate commands come only from .decapod/config.json: no method takes a command, gate.list mirrors the file, and only its commands run', async () => {
  // No params schema anywhere has a field that could carry a command.
  const suspicious = /^(command|cmd|shell|script|exec|run|args|argv|env)$/i;
  const walk = (schema: any, at: string, out: string[]) => {
    if (!schema || typeof schema !== 'object') return;
    for (const [k, v] of Object.entries(schema.properties ?? {})) {
      if (suspicious.test(k)) out.push(`${at}.${k}`);
      walk(v, `${at}.${k}`, out);
    }
    if (schema.items) walk(schema.items, `${at}[]`, out);
    for (const alt of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) walk(alt, at, out);
  };
  const fields: string[] = [];
  for (const [name, m] of METHODS) walk(m.params, name, fields);
  expect(fields).toEqual([]);

  const s = await startTestServer();
  const config = { gates: { test: { command: 'echo from-config > ran-by-gate.txt' }, review: { command: 'true', attest: 'any', timeout_ms: 5000 } } };
  const configFile = join(s.root, '.decapod', 'config.json');
  mkdirSync(join(s.root, '.decapod'), { recursive: true });
  writeFileSync(configFile, JSON.stringify(config));
  const configHash = sha256(readFileSync(configFile, 'utf8'));
  const lease = (await ok(s, 'lease.grant', { agent: 'gatekeeper' })).lease;
  await ok(s, 'task.create', { title: 'gated', gates: ['test'] });
  const { claim } = await ok(s, 'task.claim', { lease, task: 'T1' });
  const head = await auditHead(s);

  // Every method refuses a `command` (or `cmd`, `shell`) param, on both surfaces, naming it.
  for (const name of [...METHODS.keys()].filter((m) => m !== 'server.shutdown').concat('server.shutdown')) {
    for (const field of ['command', 'cmd', 'shell']) {
      const params = { ...paramsFor(name), [field]: 'touch PWNED' };
      const viaRest = await send(s, `/rpc/${name}`, { body: JSON.stringify(params) });
      expect(viaRest.json?.error, `${name} ${field}`).toMatchObject({ code: -32602, data: { field } });
      const viaRpc = await s.rpc(name, params);
      expect(viaRpc.error, `${name} ${field}`).toMatchObject({ code: -32602, data: { field } });
      log.count('gates: command params refused', 2);
    }
  }
  // Nor can one ride in a gate name or a plan entry.
  const sneaky = [
    ['task.create', { title: 'x', gates: [{ name: 'test', command: 'touch PWNED' }] }, 'gates.0'],
    ['task.create', { title: 'x', gates: ['test; touch PWNED'] }, 'gates.0'],
    ['task.create', { title: 'x', gates: ['$(touch PWNED)'] }, 'gates.0'],
    ['task.create', { title: 'x', gates: ['not-in-config'] }, 'gates.0'],
    ['proof.run', { lease, task: 'T1', gate: 'test;touch PWNED', fence: claim.fence }, 'gate'],
    ['proof.record', { lease, task: 'T1', gate: '`touch PWNED`', fence: claim.fence, passed: true }, 'gate'],
  ] as const;
  for (const [method, params, field] of sneaky) {
    const r = await s.rpc(method, params);
    expect(r.error, `${method} ${JSON.stringify(params)}`).toMatchObject({ code: -32602, data: { field } });
    log.count('gates: smuggled commands refused');
  }
  const unknown = await s.rpc('proof.run', { lease, task: 'T1', gate: 'nope', fence: claim.fence });
  // not in the task's proof plan (nor in the config): refused before anything runs
  expect(unknown.error).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', field: 'gate' } });
  expect(await auditHead(s)).toBe(head);
  expect(existsSync(join(s.root, 'PWNED'))).toBe(false);
  expect((await ok(s, 'server.status')).pid).toBe(process.pid);

  // gate.list is the file, exactly; it follows the file, and only the file's command runs.
  const listed = (await ok(s, 'gate.list')).gates.map((g: any) => ({ name: g.name, command: g.command, attest: g.attest }));
  expect(listed).toEqual([
    { name: 'test', command: config.gates.test.command, attest: 'server' },
    { name: 'review', command: 'true', attest: 'any' },
  ]);
  const ran = await ok(s, 'proof.run', { lease, task: 'T1', gate: 'test', fence: claim.fence });
  expect(ran.proof).toMatchObject({ command: config.gates.test.command, attested_by: 'server', passed: true });
  expect(readFileSync(join(s.root, 'ran-by-gate.txt'), 'utf8')).toBe('from-config\n');
  const changed = { gates: { lint: { command: 'echo lint' } } };
  writeFileSync(configFile, JSON.stringify(changed));
  expect((await ok(s, 'gate.list')).gates.map((g: any) => [g.name, g.command])).toEqual([['lint', 'echo lint']]);
  expect(sha256(readFileSync(configFile, 'utf8'))).not.toBe(configHash); // (we changed it; no method could)
  expect(existsSync(join(s.root, 'PWNED'))).toBe(false);
});

// ---------------------------------------------------------------------------------------------
// One agent, another's claim
// ---------------------------------------------------------------------------------------------

test('one agent cannot release, renew, complete or prove with another agent’s claim: NOT_HOLDER or FENCED_OUT (or LEASE_INVALID with a public id), nothing written', async () => {
  const s = await startTestServer();
  mkdirSync(join(s.root, '.decapod'), { recursive: true });
  writeFileSync(join(s.root, '.decapod', 'config.json'), JSON.stringify({ gates: { test: { command: 'touch gate-ran' }, review: { command: 'true', attest: 'any' } } }));
  const alice = await ok(s, 'lease.grant', { agent: 'alice', ttl_ms: 600_000 });
  const bob = await ok(s, 'lease.grant', { agent: 'bob', ttl_ms: 600_000 });
  await ok(s, 'task.create', { title: 'alice’s', gates: ['review'] });
  const task = (await ok(s, 'task.claim', { lease: alice.lease, task: 'T1' })).claim;
  await ok(s, 'proof.record', { lease: alice.lease, task: 'T1', gate: 'review', fence: task.fence, passed: true });
  const paths = (await ok(s, 'claim.acquire', { lease: alice.lease, paths: ['src/alice'], idempotency_key: 'alice-claims-src' })).claim;
  // Bob has a claim of his own, so his fences are real ones too.
  const own = (await ok(s, 'claim.acquire', { lease: bob.lease, paths: ['docs'] })).claim;
  // Time moves on, so a renewal slipped into a refused call would show as a new expires_at.
  s.clock.advance(5_000);
  const before = await writtenState(s.call);

  const attempts: [string, Record<string, unknown>, string[]][] = [
    ['claim.release', { lease: bob.lease, claim: paths.id, fence: paths.fence }, ['NOT_HOLDER']],
    ['claim.release', { lease: bob.lease, claim: paths.id, fence: own.fence }, ['NOT_HOLDER', 'FENCED_OUT']],
    ['claim.release', { lease: bob.lease, claim: task.id, fence: task.fence }, ['NOT_HOLDER']],
    ['claim.renew', { lease: bob.lease, claim: paths.id }, ['NOT_HOLDER']],
    ['claim.renew', { lease: bob.lease, claim: paths.id, fence: paths.fence }, ['NOT_HOLDER']],
    ['claim.renew', { lease: bob.lease, claim: task.id }, ['NOT_HOLDER']],
    ['task.complete', { lease: bob.lease, task: 'T1', fence: task.fence }, ['NOT_HOLDER']],
    ['task.complete', { lease: bob.lease, task: 'T1', fence: own.fence }, ['NOT_HOLDER', 'FENCED_OUT']],
    ['proof.record', { lease: bob.lease, task: 'T1', gate: 'review', fence: task.fence, passed: true }, ['NOT_HOLDER']],
    ['proof.run', { lease: bob.lease, task: 'T1', gate: 'test', fence: task.fence }, ['NOT_HOLDER']],
    ['task.update', { lease: bob.lease, task: 'T1', title: 'hijacked' }, ['NOT_HOLDER']],
    ['task.cancel', { lease: bob.lease, task: 'T1', reason: 'mine now' }, ['NOT_HOLDER']],
    // The public lease id is not the lease.
    ['claim.release', { lease: alice.lease_id, claim: paths.id, fence: paths.fence }, ['LEASE_INVALID']],
    ['lease.renew', { lease: alice.lease_id }, ['LEASE_INVALID']],
    ['lease.revoke', { lease: alice.lease_id }, ['LEASE_INVALID']],
    ['task.complete', { lease: alice.lease_id, task: 'T1', fence: task.fence }, ['LEASE_INVALID']],
    // Alice's idempotency key does not hand Bob her result (her claim) as if it were his.
    ['claim.acquire', { lease: bob.lease, paths: ['src/alice'], idempotency_key: 'alice-claims-src' }, ['CONFLICT', 'INVALID_PARAMS']],
  ];
  for (const [method, params, allowed] of attempts) {
    await log.one('cross-agent', `${method} ${JSON.stringify(params).replace(/dcl_[\w-]+/g, 'dcl_…')}`, async () => {
      for (const viaRest of [false, true]) {
        const r = viaRest ? await send(s, `/rpc/${method}`, { body: JSON.stringify(params) }) : { json: await s.rpc(method, params) };
        const error = r.json?.error;
        expect(error, `${method} by bob was not refused: ${JSON.stringify(r.json).slice(0, 200)}`).toBeDefined();
        expect(allowed, `${method}: refused with ${error.data.code}`).toContain(error.data.code);
        expect(await writtenState(s.call)).toEqual(before);
      }
    });
  }
  expect(existsSync(join(s.root, 'gate-ran'))).toBe(false);
  // Alice still holds everything, with the same fences, and can finish.
  expect((await ok(s, 'claim.validate', { claim: paths.id, fence: paths.fence })).valid).toBe(true);
  expect((await ok(s, 'task.complete', { lease: alice.lease, task: 'T1', fence: task.fence })).task.status).toBe('done');
  expect(log.report(['cross-agent'])).toBe('');
});
