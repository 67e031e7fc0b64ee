// The TypeScript client (clients/ts) against real servers: each started by startEphemeral through
// the real launcher and CLI (a private copy of the built package, so a rebuild cannot race us).
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, onTestFinished, test } from 'vitest';
import {
  connect,
  isRpcError,
  LaunchError,
  TransportError,
  Lease,
  RpcError,
  startEphemeral,
  type Claim,
  type DecapodClient,
  type Ephemeral,
  type Methods,
  type Task,
} from '../../clients/ts/src/index.js';
import { ensureServer } from '../../clients/ts/src/launcher.js';
import { CATALOG } from '../../src/generated/catalog.js';
import { RpcError as LauncherRpcError } from '../../src/launcher/rpc-call.js';
import { binPath, isAlive, killServersFor, runPaths, useBuiltCli, waitFor, within } from '../helpers/process.js';

useBuiltCli();

/** Our environment without DECAPOD_* settings, spawning the copied CLI. */
function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) env[k] = v;
  return { ...env, DECAPOD_BIN: binPath(), DECAPOD_IDLE_TIMEOUT: '60s' };
}

async function ephemeral(): Promise<Ephemeral> {
  const eph = await startEphemeral({ env: cliEnv() });
  onTestFinished(async () => {
    await eph.close();
    await killServersFor(eph.root); // a safety net: close() should have stopped it
  });
  return eph;
}

describe('on one shared server', () => {
  let eph: Ephemeral;
  let client: DecapodClient;
  beforeAll(async () => {
    eph = await startEphemeral({ env: cliEnv() });
    client = eph.client;
  });
  afterAll(async () => {
    await eph?.close();
    if (eph) await killServersFor(eph.root);
  });

  test('lease, claim and task methods are typed calls, per method and by name', async () => {
    const grant = await client.lease.grant({ agent: 'typed', ttl_ms: 30_000 });
    expectTypeOf(grant.lease).toEqualTypeOf<string>();
    expectTypeOf(grant).toEqualTypeOf<Methods['lease.grant']['result']>();

    const { claim, receipt } = await client.claim.acquire({ lease: grant.lease, paths: ['src/typed'], mode: 'exclusive' });
    expectTypeOf(claim).toEqualTypeOf<Claim>();
    expect(claim).toMatchObject({ agent: 'typed', lease_id: grant.lease_id, paths: ['src/typed'], mode: 'exclusive', state: 'active', task: null });
    expect(receipt.op).toBe('claim.acquire');

    const listed = await client.call('claim.list', { agent: 'typed' });
    expectTypeOf(listed.claims).toEqualTypeOf<Claim[]>();
    expect(listed.claims.map((c) => c.id)).toEqual([claim.id]);
    const released = await client.claim.release({ lease: grant.lease, claim: claim.id, fence: claim.fence });
    expect(released.claim).toMatchObject({ id: claim.id, state: 'released' });

    const { task } = await client.task.create({ lease: grant.lease, title: 'Typed task', paths: ['src/typed'] });
    expectTypeOf(task).toEqualTypeOf<Task>();
    const claimed = await client.call('task.claim', { lease: grant.lease, task: task.id });
    expect(claimed.task.holder).toEqual({ agent: 'typed', lease_id: grant.lease_id, claim_id: claimed.claim.id, fence: claimed.claim.fence });
    expect(claimed.claim.paths).toEqual(['src/typed']);
    expect((await client.task.get({ task: task.id })).task.holder?.claim_id).toBe(claimed.claim.id);

    // Methods without required params take none.
    const status = await client.server.status();
    expectTypeOf(status.pid).toEqualTypeOf<number>();
    expect(status.root).toBe(eph.root);
    expect((await client.info()).pid).toBe(status.pid);
    expect(await client.info()).not.toHaveProperty('token');
  });

  test('every method of the catalog is a function on its namespace', () => {
    const names = Object.keys(CATALOG);
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) {
      const [ns, member] = [name.slice(0, name.indexOf('.')), name.slice(name.indexOf('.') + 1)];
      expect(typeof (client as unknown as Record<string, Record<string, unknown>>)[ns]?.[member], name).toBe('function');
    }
    expect(typeof client.lease.hold).toBe('function');
  });

  test('a CONFLICT is an RpcError with code, name and data, and changes nothing', async () => {
    const alice = await client.lease.grant({ agent: 'alice' });
    const bob = await client.lease.grant({ agent: 'bob' });
    const held = await client.claim.acquire({ lease: alice.lease, paths: ['src/parser'] });
    const err: unknown = await client.claim.acquire({ lease: bob.lease, paths: ['src/parser/lexer.ts'] }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(RpcError);
    expect(err).toBeInstanceOf(LauncherRpcError); // code shared with the CLI recognises it too
    expect(err).toMatchObject({ name: 'CONFLICT', code: 1003 });
    expect((err as RpcError).toJSON()).toEqual({
      code: 1003,
      message: `src/parser/lexer.ts is held by alice (claim ${held.claim.id})`,
      data: {
        code: 'CONFLICT',
        conflicts: [{ resource: 'src/parser/lexer.ts', claim_id: held.claim.id, agent: 'alice', mode: 'exclusive', ttl_remaining_ms: expect.any(Number) }],
      },
    });
    if (!isRpcError(err, 'CONFLICT')) throw new Error('isRpcError should narrow a CONFLICT');
    expectTypeOf(err.data.conflicts[0]!.agent).toEqualTypeOf<string>();
    expect(isRpcError(err, 'FENCED_OUT')).toBe(false);
    expect((await client.claim.list({ agent: 'bob' })).claims).toEqual([]);
  });

  test('a repeated idempotency key returns the first result and writes nothing', async () => {
    const before = (await client.audit.list({ limit: 500 })).events.length;
    const first = await client.task.create({ title: 'once', idempotency_key: 'ts-client-once' });
    const again = await client.task.create({ title: 'once', idempotency_key: 'ts-client-once' });
    expect(again).toEqual(first);
    expect((await client.audit.list({ limit: 500 })).events.length).toBe(before + 1);
  });

  test('a Lease renews itself every third of its TTL, then reports a revoke made elsewhere', async () => {
    const heard: string[] = [];
    const lease = await client.lease.hold({ agent: 'renewer', ttl_ms: 1_500, onLost: (reason) => heard.push(reason) });
    expect(lease).toBeInstanceOf(Lease);
    expect(lease).toMatchObject({ agent: 'renewer', ttlMs: 1_500, state: 'active' });
    expect(lease.secret).toEqual(expect.any(String));
    expect(JSON.stringify(lease)).not.toContain(lease.secret); // safe to log

    const row = async () => (await client.lease.list()).leases.find((l) => l.lease_id === lease.id)!;
    const granted = await row();
    // Renewed in the background until it has outlived its TTL twice over; nobody else calls.
    await waitFor(async () => Date.parse((await row()).expires_at) > Date.parse(granted.granted_at) + 2 * 1_500, {
      timeoutMs: 10_000,
      what: 'the lease to be renewed past twice its TTL',
    });
    expect((await row()).state).toBe('active');
    expect(lease.ttlRemainingMs()).toBeGreaterThan(0);

    const other = await connect({ root: eph.root, spawn: false, env: cliEnv() });
    onTestFinished(() => other.close());
    await other.lease.revoke({ lease: lease.secret });
    const reason = await within(new Promise<string>((r) => lease.onLost(r)), 5_000, 'the Lease to report its loss');
    expect(reason).toBe('revoked');
    expect(lease).toMatchObject({ state: 'lost', lostReason: 'revoked' });
    expect(heard).toEqual(['revoked']);
    expect(await lease.release()).toEqual([]); // already gone: nothing to do
  });

  test('release() revokes the lease and its claims, and reports no loss', async () => {
    const heard: string[] = [];
    const lease = await client.lease.hold({ agent: 'releaser', ttl_ms: 30_000, onLost: (reason) => heard.push(reason) });
    const { claim } = await client.claim.acquire({ lease: lease.secret, paths: ['src/released'] });
    expect(await lease.release()).toEqual([claim.id]);
    expect(lease.state).toBe('released');
    expect((await client.lease.list()).leases.find((l) => l.lease_id === lease.id)?.state).toBe('revoked');
    expect((await client.claim.check({ paths: ['src/released'] })).paths).toEqual([{ path: 'src/released', free: true, holders: [] }]);
    const err = await client.lease.renew({ lease: lease.secret }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'LEASE_INVALID', data: { reason: 'revoked' } });
    expect(await lease.release()).toEqual([]);
    expect(heard).toEqual([]);
  });
});

test('after kill -9 of the server, the next call succeeds on a new one and no write is lost', async () => {
  const { client } = await ephemeral();
  const before = await client.server.status();
  const granted = await client.lease.grant({ agent: 'survivor', ttl_ms: 120_000 });
  process.kill(before.pid, 'SIGKILL');
  await waitFor(() => !isAlive(before.pid), { timeoutMs: 5_000, what: 'the server to die' });

  const { task } = await client.task.create({ lease: granted.lease, title: 'after the crash' });
  const after = await client.server.status();
  expect(after.pid).not.toBe(before.pid);
  expect(after.instance_id).not.toBe(before.instance_id);
  expect((await client.lease.list()).leases.map((l) => l.lease_id)).toContain(granted.lease_id);
  expect((await client.task.list()).tasks.map((t) => t.id)).toEqual([task.id]);
});

test('a mutation whose answer is lost is retried with its automatic idempotency key and returns the first result', async () => {
  const eph = await ephemeral();
  const proxy = await startProxy(eph.root, (rpc) => rpc.method === 'task.create' && !proxy.seen.some((s) => s.method === 'task.create'));
  const client = await connect({ root: eph.root, spawn: false, env: cliEnv() });
  onTestFinished(() => client.close());

  const result = await client.task.create({ title: 'exactly once' });

  const creates = proxy.seen.filter((s) => s.method === 'task.create');
  expect(creates.map((s) => s.dropped)).toEqual([true, false]);
  const key = creates[0]!.params.idempotency_key;
  expect(key).toEqual(expect.any(String));
  expect(creates[1]!.params.idempotency_key).toBe(key);
  expect(result).toEqual(creates[0]!.answer.result); // the very answer that was lost, receipt and all
  expect((await client.task.list()).tasks.filter((t) => t.title === 'exactly once')).toHaveLength(1);
  // Queries carry no key (their schemas would refuse one).
  expect(proxy.seen.find((s) => s.method === 'task.list')!.params).toEqual({});
});

test('many calls reuse one kept-alive connection', async () => {
  const eph = await ephemeral();
  const proxy = await startProxy(eph.root, () => false);
  const client = await connect({ root: eph.root, spawn: false, env: cliEnv() });
  onTestFinished(() => client.close());
  await client.lease.list();
  const opened = proxy.connections();
  for (let i = 0; i < 30; i++) await client.claim.list();
  await Promise.all(Array.from({ length: 5 }, () => client.task.list()));
  expect(proxy.connections() - opened).toBeLessThanOrEqual(4);
});

test('a closed client refuses calls; its leases stop renewing and say so, starting no server', async () => {
  const eph = await ephemeral();
  const lease = await eph.client.lease.hold({ agent: 'closer', ttl_ms: 1_500 });
  const lost = new Promise<string>((r) => lease.onLost(r));
  await eph.close();
  expect(await within(lost, 5_000, 'the Lease to report its client closed')).toBe('closed');
  expect(existsSync(eph.root)).toBe(false); // the renewal did not start a server in the removed root
  await expect(eph.client.lease.list()).rejects.toSatisfy((e) => e instanceof TransportError && e.code === 'ECLOSED');
});

test('without the CLI\'s guard probe, a stalled server is waited for (said once), never replaced, and answers after SIGCONT', async () => {
  const eph = await ephemeral();
  const { pid } = await eph.client.server.status();
  process.kill(pid, 'SIGSTOP');
  onTestFinished(() => {
    if (isAlive(pid)) process.kill(pid, 'SIGCONT');
  });
  const heard: number[] = [];
  // The package's own launcher, as an installed client runs it: the server it spawns is the probe.
  const found = ensureServer(eph.root, { env: cliEnv(), onWaiting: (s) => void heard.push(s.pid) });
  await waitFor(() => heard.length > 0, { timeoutMs: 10_000, what: 'the launcher to say it waits for the stalled server' });
  process.kill(pid, 'SIGCONT');
  expect((await found).pid).toBe(pid);
  expect(heard).toEqual([pid]);
});

test('connect({spawn: false}) fails with NO_SERVER when nothing serves the root', async () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'decapod-nospawn-')));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  const err = await connect({ root, spawn: false, env: cliEnv() }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LaunchError);
  expect(err).toMatchObject({ code: 'NO_SERVER', data: { root } });
});

// Type-level checks: compiled by `tsc --noEmit -p .`, never run.
function typeChecks(client: DecapodClient) {
  // @ts-expect-error paths is required
  void client.claim.acquire({ lease: 'dcl_x' });
  // @ts-expect-error there is no such method
  void client.call('claim.steal', {});
  // @ts-expect-error mode is exclusive or shared
  void client.call('claim.acquire', { lease: 'dcl_x', paths: ['a'], mode: 'mine' });
  // @ts-expect-error no such namespace
  void client.nope;
}
void typeChecks;

// ---------------------------------------------------------------------------------------------

interface Seen {
  method: string;
  params: Record<string, unknown>;
  answer: { result?: unknown; error?: unknown };
  dropped: boolean;
}

/**
 * A pass-through HTTP proxy in front of the root's server, advertised in its server.json (restored
 * when the test ends): it records every JSON-RPC call and, when `drop` says so, forwards the call
 * but cuts the connection instead of answering, as if the server had died after the write.
 */
async function startProxy(root: string, drop: (rpc: { method: string }) => boolean) {
  const file = runPaths(root).serverJson;
  const original = readFileSync(file, 'utf8');
  const target = JSON.parse(original) as { url: string; port: number };
  const seen: Seen[] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const upstream = await forward(`${target.url}${req.url}`, req.method!, { ...req.headers, host: `127.0.0.1:${target.port}` }, body);
      if (req.url === '/rpc') {
        const rpc = JSON.parse(body) as { method: string; params?: Record<string, unknown> };
        const dropped = drop(rpc);
        seen.push({ method: rpc.method, params: rpc.params ?? {}, answer: JSON.parse(upstream.body), dropped });
        if (dropped) return req.socket.destroy();
      }
      res.writeHead(upstream.status, { 'content-type': upstream.headers['content-type'] ?? 'application/json' });
      res.end(upstream.body);
    })();
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const tmp = `${file}.proxy.tmp`;
  writeFileSync(tmp, JSON.stringify({ ...JSON.parse(original), url: `http://127.0.0.1:${port}`, port }), { mode: 0o600 });
  renameSync(tmp, file);
  onTestFinished(async () => {
    writeFileSync(tmp, original, { mode: 0o600 });
    renameSync(tmp, file);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { seen, connections: () => connections };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolvePromise, rejectPromise) => {
    let text = '';
    req.setEncoding('utf8').on('data', (d: string) => (text += d));
    req.on('end', () => resolvePromise(text));
    req.on('error', rejectPromise);
  });
}

function forward(url: string, method: string, headers: IncomingHttpHeaders, body: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolvePromise, rejectPromise) => {
    const req = request(url, { method, headers });
    req.on('error', rejectPromise);
    req.on('response', (res) => {
      void readBody(res).then((text) => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: text }), rejectPromise);
    });
    req.end(body);
  });
}
