// docs/design.md §2 CLI contract: exit codes, error output, status/stop/env, DECAPOD_NO_SPAWN, DECAPOD_LEASE.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  binPath,
  callDecapod,
  callOk,
  describeRun,
  httpRequest,
  isAlive,
  json,
  readServerJson,
  runDecapod,
  runPaths,
  serveProcesses,
  tempRoot,
  useBuiltCli,
} from '../helpers/process.js';

useBuiltCli();

/** stderr of a failed `call`, which must be exactly one JSON error object */
function rpcError(stderr: string): { code: number; message: string; data: { code: string } & Record<string, unknown> } {
  return JSON.parse(stderr);
}

function expectNoServer(root: string): void {
  expect(serveProcesses(root)).toEqual([]);
  expect(existsSync(runPaths(root).serverJson)).toBe(false);
}

describe('usage errors exit 2 and start nothing', () => {
  test('unknown command', async () => {
    const root = tempRoot();
    const r = await runDecapod(['frobnicate'], { root });
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(r.stdout).toBe('');
    expectNoServer(root);
    expect(existsSync(runPaths(root).decapodDir)).toBe(false);
  });

  test('no command at all, and an unknown option', async () => {
    const root = tempRoot();
    const none = await runDecapod([], { root });
    expect(none.code, describeRun(none)).toBe(2);
    const bogus = await runDecapod(['status', '--bogus'], { root });
    expect(bogus.code, describeRun(bogus)).toBe(2);
    expect(bogus.stderr).toContain('--bogus');
    expectNoServer(root);
  });

  test('params that are not JSON, or not a JSON object', async () => {
    const root = tempRoot();
    const bad = await callDecapod(root, 'lease.grant', '{agent: nope');
    expect(bad.code, describeRun(bad)).toBe(2);
    expect(bad.stderr).toContain('params must be JSON');
    expect(bad.stdout).toBe('');
    const arr = await callDecapod(root, 'lease.grant', '[1,2]');
    expect(arr.code, describeRun(arr)).toBe(2);
    expect(arr.stderr).toContain('params must be a JSON object');
    const noMethod = await runDecapod(['call'], { root });
    expect(noMethod.code, describeRun(noMethod)).toBe(2);
    expectNoServer(root);
    expect(existsSync(runPaths(root).decapodDir)).toBe(false);
  });
});

describe('--root naming something that is not a folder', () => {
  test.each([
    ['a missing folder', (root: string) => join(root, 'no-such-folder'), 'does not exist'],
    ['a file', (root: string) => (writeFileSync(join(root, 'a-file'), ''), join(root, 'a-file')), 'is not a folder'],
  ])('%s: a usage error, exit 2 with one line on stderr; nothing created, nothing started', async (_what, name, why) => {
    const root = tempRoot();
    const bad = name(root);
    for (const args of [['call', 'server.status'], ['serve'], ['status'], ['task', 'list']]) {
      const r = await runDecapod([...args, '--root', bad], { cwd: root });
      expect(r.code, `${args.join(' ')}: ${describeRun(r)}`).toBe(2);
      expect(r.stderr, args.join(' ')).toBe(`decapod: --root ${bad} ${why}\n`);
      expect(r.stdout, args.join(' ')).toBe('');
    }
    expect(existsSync(join(root, 'no-such-folder'))).toBe(false);
    expectNoServer(root);
    expect(existsSync(runPaths(root).decapodDir)).toBe(false);
  });
});

describe('call', () => {
  test('prints the result as JSON and exits 0; params can come from stdin', async () => {
    const root = tempRoot();
    const r = await runDecapod(['call', 'lease.grant', '-'], { root, input: JSON.stringify({ agent: 'from-stdin', ttl_ms: 30_000 }) });
    expect(r.code, describeRun(r)).toBe(0);
    const lease = json(r);
    expect(lease.agent).toBe('from-stdin');
    expect(lease.ttl_ms).toBe(30_000);
    expect(lease.lease).toMatch(/^dcl_/);
    expect(lease.receipt.seq).toBe(1);
  });

  test('an RPC error exits 1 with the error object (code, message, data.code) on stderr', async () => {
    const root = tempRoot();
    const unknownLease = await callDecapod(root, 'lease.renew', { lease: 'dcl_no-such-lease' });
    expect(unknownLease.code, describeRun(unknownLease)).toBe(1);
    expect(unknownLease.stdout).toBe('');
    const err = rpcError(unknownLease.stderr);
    expect(err.code).toBe(1001);
    expect(err.data.code).toBe('LEASE_INVALID');
    expect(err.message).toEqual(expect.any(String));

    const badParams = await callDecapod(root, 'lease.grant', {});
    expect(badParams.code, describeRun(badParams)).toBe(1);
    expect(rpcError(badParams.stderr)).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', field: 'agent' } });

    const noMethod = await callDecapod(root, 'no.such.method');
    expect(noMethod.code, describeRun(noMethod)).toBe(1);
    expect(rpcError(noMethod.stderr)).toMatchObject({ code: -32601, data: { code: 'METHOD_NOT_FOUND' } });

    // Nothing was written by the failed calls.
    expect((await callOk(root, 'lease.list')).leases).toEqual([]);
  });

  test('DECAPOD_LEASE is the lease `call` acts with when params name none', async () => {
    const root = tempRoot();
    const granted = await callOk(root, 'lease.grant', { agent: 'env-agent', ttl_ms: 60_000 });

    const renewed = await callDecapod(root, 'lease.renew', undefined, { env: { DECAPOD_LEASE: granted.lease } });
    expect(renewed.code, describeRun(renewed)).toBe(0);
    expect(json(renewed).lease_id).toBe(granted.lease_id);

    // The variable really is what was sent: a bogus one is refused.
    const bogus = await callDecapod(root, 'lease.renew', undefined, { env: { DECAPOD_LEASE: 'dcl_bogus' } });
    expect(bogus.code, describeRun(bogus)).toBe(1);
    expect(rpcError(bogus.stderr).data.code).toBe('LEASE_INVALID');

    // Params that name a lease win over the variable.
    const explicit = await callDecapod(root, 'lease.renew', { lease: granted.lease }, { env: { DECAPOD_LEASE: 'dcl_bogus' } });
    expect(explicit.code, describeRun(explicit)).toBe(0);
    expect(json(explicit).lease_id).toBe(granted.lease_id);

    // Without the variable, lease.renew has no lease.
    const without = await callDecapod(root, 'lease.renew');
    expect(without.code, describeRun(without)).toBe(1);
    expect(rpcError(without.stderr).data.code).toBe('INVALID_PARAMS');
  });
});

describe('status and stop', () => {
  test('status exits 3 with running:false when no server runs, and starts none', async () => {
    const root = tempRoot();
    const r = await runDecapod(['status'], { root });
    expect(r.code, describeRun(r)).toBe(3);
    expect(json(r)).toMatchObject({ running: false, root });
    expectNoServer(root);
  });

  test('status shows the running server; stop stops it gracefully; status then exits 3', async () => {
    const root = tempRoot();
    const started = await callOk(root, 'server.status');

    const status = await runDecapod(['status'], { root });
    expect(status.code, describeRun(status)).toBe(0);
    expect(json(status)).toMatchObject({ running: true, pid: started.pid, instance_id: started.instance_id, root, url: readServerJson(root)?.url });

    const stop = await runDecapod(['stop'], { root });
    expect(stop.code, describeRun(stop)).toBe(0);
    expect(json(stop)).toMatchObject({ stopped: true, pid: started.pid });
    expect(isAlive(started.pid)).toBe(false);
    expect(existsSync(runPaths(root).serverJson)).toBe(false);
    expect(existsSync(runPaths(root).lockDir)).toBe(false);
    expect(serveProcesses(root)).toEqual([]);

    const after = await runDecapod(['status'], { root });
    expect(after.code, describeRun(after)).toBe(3);
    expect(json(after).running).toBe(false);

    const again = await runDecapod(['stop'], { root });
    expect(again.code, describeRun(again)).toBe(0);
    expect(json(again).stopped).toBe(false);
    expectNoServer(root);
  });
});

describe('env', () => {
  test('prints DECAPOD_URL and DECAPOD_TOKEN that a shell can eval, spawning a server', async () => {
    const root = tempRoot();
    const script = `eval "$("$0" "$1" env --root "$2")" || exit 9; printf '%s\\n%s\\n' "$DECAPOD_URL" "$DECAPOD_TOKEN"`;
    const sh = spawnSync('bash', ['-c', script, process.execPath, binPath(), root], {
      encoding: 'utf8',
      timeout: 25_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DECAPOD_IDLE_TIMEOUT: '30s' },
    });
    expect(sh.status, sh.stderr).toBe(0);
    const [url, token] = sh.stdout.split('\n');
    const info = readServerJson(root)!;
    expect(info).toBeDefined();
    expect(url).toBe(info.url);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(token).toBe(info.token);
    expect(serveProcesses(root)).toEqual([info.pid]);

    // And they are enough to call the server directly.
    const res = await httpRequest(`${url}/rpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server.status' }),
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).result.pid).toBe(info.pid);
  });
});

describe('DECAPOD_NO_SPAWN=1', () => {
  test('a call fails with exit 1 instead of starting a server', async () => {
    const root = tempRoot();
    const r = await callDecapod(root, 'server.status', undefined, { env: { DECAPOD_NO_SPAWN: '1' } });
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('DECAPOD_NO_SPAWN');
    // A detached spawn would already be visible in ps when the caller exits.
    expectNoServer(root);
    const env = await runDecapod(['env'], { root, env: { DECAPOD_NO_SPAWN: '1' } });
    expect(env.code, describeRun(env)).toBe(1);
    expectNoServer(root);
  });

  test('a call still reaches a server that is already running', async () => {
    const root = tempRoot();
    const started = await callOk(root, 'server.status');
    const r = await callDecapod(root, 'server.status', undefined, { env: { DECAPOD_NO_SPAWN: '1' } });
    expect(r.code, describeRun(r)).toBe(0);
    expect(json(r).pid).toBe(started.pid);
  });
});
