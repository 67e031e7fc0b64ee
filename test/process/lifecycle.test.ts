// docs/design.md §2 lifecycle, with real processes and real files: spawn on demand, one server per root,
// recovery after kill -9, idle exit, graceful stop, lost lock, private run files.
import { createServer } from 'node:net';
import { existsSync, mkdirSync, chmodSync, readFileSync, rmSync, statSync, writeFileSync, cpSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
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
  serverLog,
  spawnTracked,
  startForegroundServe,
  tempRoot,
  useBuiltCli,
  waitFor,
  within,
} from '../helpers/process.js';

useBuiltCli();

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function writeStaleServerJson(root: string, fields: { url: string; port: number; pid: number; instance_id: string; root?: string }) {
  const paths = runPaths(root);
  mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  const stale = {
    url: fields.url,
    port: fields.port,
    pid: fields.pid,
    token: 'stale-token-that-must-never-be-sent-anywhere',
    version: '0.1.0',
    protocol: 1,
    root: fields.root ?? root,
    instance_id: fields.instance_id,
    started_at: new Date().toISOString(),
  };
  writeFileSync(paths.serverJson, `${JSON.stringify(stale, null, 2)}\n`, { mode: 0o600 });
  return stale;
}

/**
 * A live foreign process: an HTTP server that answers /healthz as configured, answers any other
 * request with a bait JSON-RPC result, counts those requests (GET /hits), and reports (never obeys)
 * catchable signals on stdout.
 */
async function startForeignHttpServer(health: Record<string, unknown>) {
  const script = `
    const http = require('node:http');
    let hits = 0;
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']) process.on(s, () => process.stdout.write('signal ' + s + '\\n'));
    const health = JSON.parse(process.argv[1]);
    const srv = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/healthz') return res.end(JSON.stringify({ ...health, pid: process.pid }));
      if (req.url === '/hits') return res.end(JSON.stringify({ hits }));
      hits++;
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { foreign: true, pid: process.pid } })));
    });
    srv.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: srv.address().port }) + '\\n'));
  `;
  const child = spawnTracked(process.execPath, ['-e', script, JSON.stringify(health)]);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitFor(() => out.includes('\n'), { timeoutMs: 10_000, what: 'the foreign http server to listen' });
  const { port } = JSON.parse(out.split('\n')[0]!) as { port: number };
  return {
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    hits: async () => (JSON.parse((await httpRequest(`http://127.0.0.1:${port}/hits`)).text) as { hits: number }).hits,
  };
}

describe('spawn on demand', () => {
  test('20 concurrent callers on a fresh root converge on one server', async () => {
    const root = tempRoot();
    const runs = await Promise.all(Array.from({ length: 20 }, () => callDecapod(root, 'server.status')));
    for (const r of runs) expect(r.code, describeRun(r)).toBe(0);
    const answers = runs.map(json);
    const pids = new Set(answers.map((a) => a.pid));
    const instances = new Set(answers.map((a) => a.instance_id));
    expect(pids.size, `pids answered: ${[...pids].join(', ')}`).toBe(1);
    expect(instances.size).toBe(1);
    const [pid] = pids as Set<number>;
    expect(answers[0].root).toBe(root);
    expect(readServerJson(root)?.pid).toBe(pid);
    expect(isAlive(pid!)).toBe(true);
    // Spawned losers exit on their own once they fail to take the lock; wait for that, bounded.
    await waitFor(() => serveProcesses(root).length === 1, {
      timeoutMs: 10_000,
      what: `one serve process for ${root} (have ${serveProcesses(root).join(', ')})`,
    });
    expect(serveProcesses(root)).toEqual([pid]);
  });
});

describe('kill -9', () => {
  test('the next call recovers the lock on a new pid and loses no acknowledged write', async () => {
    const root = tempRoot();
    const granted = await callOk(root, 'lease.grant', { agent: 'survivor', ttl_ms: 600_000 });
    expect(granted.lease_id).toMatch(/\S/);
    const before = readServerJson(root)!;
    expect(before.pid).toEqual(expect.any(Number));
    expect(serveProcesses(root)).toEqual([before.pid]);

    process.kill(before.pid, 'SIGKILL');
    await waitFor(() => !isAlive(before.pid), { timeoutMs: 5_000, what: `pid ${before.pid} to die` });
    // The dead server left its lock folder and server.json behind.
    expect(existsSync(runPaths(root).lockDir)).toBe(true);

    // The guard is free (its process died), so the lock folder is taken over at once.
    const listed = await callDecapod(root, 'lease.list', undefined, { timeoutMs: 25_000 });
    expect(listed.code, `${describeRun(listed)}\nserver.log:\n${serverLog(root)}`).toBe(0);
    const lease = json(listed).leases.find((l: any) => l.lease_id === granted.lease_id);
    expect(lease).toMatchObject({ lease_id: granted.lease_id, agent: 'survivor', state: 'active' });

    const after = await callOk(root, 'server.status');
    expect(after.pid).not.toBe(before.pid);
    expect(after.instance_id).not.toBe(before.instance_id);
    expect(readServerJson(root)?.pid).toBe(after.pid);
    expect(serveProcesses(root)).toEqual([after.pid]);

    const verify = await callOk(root, 'audit.verify');
    expect(verify.ok).toBe(true);
    expect(verify.count).toBeGreaterThanOrEqual(1);
  });
});

describe('idle exit', () => {
  test('an idle server exits by itself, removes server.json and its lock; the next call respawns', async () => {
    const root = tempRoot();
    const env = { DECAPOD_IDLE_TIMEOUT: '500ms' };
    const first = await callOk(root, 'server.status', undefined, { env });
    expect(first.idle_timeout_ms).toBe(500);
    await waitFor(() => !isAlive(first.pid), { timeoutMs: 10_000, what: `idle server ${first.pid} to exit` });
    // Clean exit: nothing advertised, no lock left to go stale.
    expect(existsSync(runPaths(root).serverJson)).toBe(false);
    expect(existsSync(runPaths(root).lockDir)).toBe(false);
    expect(serveProcesses(root)).toEqual([]);

    const second = await callOk(root, 'server.status', undefined, { env });
    expect(second.pid).not.toBe(first.pid);
    expect(second.instance_id).not.toBe(first.instance_id);
    expect(isAlive(second.pid)).toBe(true);
    expect(readServerJson(root)?.instance_id).toBe(second.instance_id);
  });
});

describe('one server per root', () => {
  test('a second serve on a served root exits 3 without serving and leaves server.json alone', async () => {
    const root = tempRoot();
    const first = await startForegroundServe(root, ['--idle-timeout', '60s']);
    expect(first.info.pid).toBe(first.pid);
    expect(first.info).not.toHaveProperty('token');
    const jsonBefore = readFileSync(runPaths(root).serverJson, 'utf8');
    expect(JSON.parse(jsonBefore).instance_id).toBe(first.info.instance_id);

    const second = await runDecapod(['serve', '--idle-timeout', '60s'], { root });
    expect(second.code, describeRun(second)).toBe(3);
    expect(second.stdout).toBe(''); // printed no server line: never served
    expect(second.stderr).toContain(`pid ${first.pid}`);

    expect(readFileSync(runPaths(root).serverJson, 'utf8')).toBe(jsonBefore);
    expect(serveProcesses(root)).toEqual([first.pid]);
    const status = await callOk(root, 'server.status');
    expect(status.pid).toBe(first.pid);
    expect(status.instance_id).toBe(first.info.instance_id);
  });
});

describe('a stale server.json is never trusted', () => {
  test('pointing at a dead pid and a closed port: the call spawns a fresh server', async () => {
    const root = tempRoot();
    const dead = spawnTracked(process.execPath, ['-e', '']);
    await new Promise((r) => dead.on('exit', r));
    const port = await closedPort();
    writeStaleServerJson(root, { url: `http://127.0.0.1:${port}`, port, pid: dead.pid!, instance_id: 'stale-instance' });

    const status = await callOk(root, 'server.status');
    expect(status.pid).not.toBe(dead.pid);
    expect(status.instance_id).not.toBe('stale-instance');
    expect(status.root).toBe(root);
    expect(serveProcesses(root)).toEqual([status.pid]);
    expect(readServerJson(root)).toMatchObject({ pid: status.pid, instance_id: status.instance_id });
  });

  test('pointing at a live sleep process: the call spawns a fresh server and the sleeper is left alone', async () => {
    const root = tempRoot();
    const sleeper = spawnTracked('sleep', ['300']);
    const port = await closedPort();
    writeStaleServerJson(root, { url: `http://127.0.0.1:${port}`, port, pid: sleeper.pid!, instance_id: 'stale-instance' });

    const status = await callOk(root, 'server.status');
    expect(status.pid).not.toBe(sleeper.pid);
    expect(status.instance_id).not.toBe('stale-instance');
    expect(serveProcesses(root)).toEqual([status.pid]);
    expect(isAlive(sleeper.pid!)).toBe(true);
    expect(sleeper.exitCode).toBe(null);
    expect(sleeper.signalCode).toBe(null);
  });

  test.each([
    ['answers /healthz with another instance_id', (root: string) => ({ instance_id: 'someone-else', root })],
    ['answers /healthz with the advertised instance_id but another root', () => ({ instance_id: 'stale-instance', root: '/elsewhere' })],
  ])('pointing at a live foreign http server that %s: never called, never signalled', async (_name, healthFor) => {
    const root = tempRoot();
    const foreign = await startForeignHttpServer({ ok: true, version: '0.1.0', protocol: 1, ...healthFor(root) });
    writeStaleServerJson(root, { url: foreign.url, port: foreign.port, pid: foreign.pid, instance_id: 'stale-instance' });

    const status = await callOk(root, 'server.status');
    expect(status.foreign).toBeUndefined();
    expect(status.pid).not.toBe(foreign.pid);
    expect(status.root).toBe(root);
    expect(serveProcesses(root)).toEqual([status.pid]);
    expect(readServerJson(root)?.instance_id).toBe(status.instance_id);

    expect(await foreign.hits()).toBe(0); // no RPC (and no token) ever went to it
    expect(isAlive(foreign.pid)).toBe(true);
    expect(foreign.output()).not.toContain('signal');
  });

  test("a copy of another project's server.json (a live decapod server for another root) is not trusted", async () => {
    const rootA = tempRoot();
    const rootB = tempRoot();
    const a = await callOk(rootA, 'server.status');
    expect(a.root).toBe(rootA);
    // e.g. the project folder was copied (cp -a) while its server ran
    mkdirSync(runPaths(rootB).runDir, { recursive: true, mode: 0o700 });
    cpSync(runPaths(rootA).serverJson, runPaths(rootB).serverJson);

    const b = await callOk(rootB, 'server.status');
    expect(b.root, `the call for ${rootB} was answered by the server of ${b.root} (pid ${b.pid})`).toBe(rootB);
    expect(b.pid).not.toBe(a.pid);
    expect(serveProcesses(rootB)).toEqual([b.pid]);
    expect(isAlive(a.pid)).toBe(true);
    expect((await callOk(rootA, 'server.status')).instance_id).toBe(a.instance_id);
  });
});

describe('stopping', () => {
  test.each(['SIGTERM', 'SIGINT'] as const)('%s stops gracefully: exit 0, server.json and lock removed', async (signal) => {
    const root = tempRoot();
    const server = await startForegroundServe(root, ['--idle-timeout', '60s']);
    expect(existsSync(runPaths(root).serverJson)).toBe(true);
    expect(existsSync(runPaths(root).lockDir)).toBe(true);

    server.proc.kill(signal);
    const exit = await within(server.exited, 10_000, `serve to exit on ${signal}`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(existsSync(runPaths(root).serverJson)).toBe(false);
    expect(existsSync(runPaths(root).lockDir)).toBe(false);
    expect(existsSync(runPaths(root).runDir)).toBe(true);
  });

  test('a server whose lock is taken from it stops serving and exits', async () => {
    const root = tempRoot();
    const server = await startForegroundServe(root, ['--idle-timeout', '60s']);
    const url = server.info.url as string;
    expect((await httpRequest(`${url}/healthz`)).status).toBe(200);

    rmSync(runPaths(root).lockDir, { recursive: true, force: true });
    // proper-lockfile notices at its next refresh (~1 s); "exits at once" after that.
    const exit = await within(server.exited, 8_000, `pid ${server.pid} to exit after losing its lock`).catch((err: Error) => {
      throw new Error(`${err.message}; alive: ${isAlive(server.pid)}; server.log tail:\n${serverLog(root).slice(-800)}`);
    });
    expect(exit.code).not.toBe(0);
    expect(existsSync(runPaths(root).serverJson)).toBe(false);
    await expect(httpRequest(`${url}/healthz`, { timeoutMs: 2_000 })).rejects.toThrow();
  });
});

describe('run files', () => {
  test('server.json is 0600 and .decapod/run is 0700, even over a looser earlier run folder', async () => {
    const root = tempRoot();
    const paths = runPaths(root);
    mkdirSync(paths.runDir, { recursive: true });
    chmodSync(paths.runDir, 0o777);
    writeFileSync(paths.serverJson, 'not a server.json\n');
    chmodSync(paths.serverJson, 0o644);

    const status = await callOk(root, 'server.status');
    expect(readServerJson(root)?.pid).toBe(status.pid);
    expect((statSync(paths.serverJson).mode & 0o777).toString(8)).toBe('600');
    expect((statSync(paths.runDir).mode & 0o777).toString(8)).toBe('700');
  });

  test('a fresh root gets a 0700 run folder and a 0600 server.json', async () => {
    const root = tempRoot();
    await callOk(root, 'server.status');
    expect((statSync(runPaths(root).serverJson).mode & 0o777).toString(8)).toBe('600');
    expect((statSync(runPaths(root).runDir).mode & 0o777).toString(8)).toBe('700');
  });
});
