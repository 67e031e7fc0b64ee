// Issue 7, spawn storms and stale state (docs/design.md §2, §6), past what test/process/lifecycle.test.ts
// covers: 50 racing first callers; leftover locks (many callers after a kill, a server killed before
// it advertised, a caller whose own server is killed under it, a racer slow to take over a dead
// server's lock); server.json naming live foreign processes; a lock replaced by another owner's; a
// stalled server that must not be replaced while it holds the guard.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  binPath,
  callDecapod,
  callOk,
  cliEnv,
  describeRun,
  httpRequest,
  isAlive,
  json,
  readServerJson,
  recordFigures,
  runDecapod,
  runPaths,
  serveProcesses,
  servedInstances,
  serverLog,
  spawnTracked,
  startForegroundServe,
  tempRoot,
  useBuiltCli,
  waitFor,
  within,
} from '../helpers/process.js';

useBuiltCli();

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Lines of `child`'s stdout as they come, and its exit. */
function follow(child: ChildProcess) {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r((exit = { code, signal }))),
  );
  return { stdout: () => out, stderr: () => err, exited, exit: () => exit };
}

async function startForeign(opts: { mode: 'answer' | 'hang'; health?: Record<string, unknown> }) {
  const child = spawnTracked(process.execPath, [join(FIXTURES, 'foreign-http.mjs'), JSON.stringify(opts)]);
  const f = follow(child);
  await waitFor(() => f.stdout().includes('\n'), { timeoutMs: 10_000, what: 'the foreign http server to listen' });
  const { port } = JSON.parse(f.stdout().split('\n')[0]!) as { port: number };
  return {
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    output: f.stdout,
    hits: async () => (JSON.parse((await httpRequest(`http://127.0.0.1:${port}/hits`)).text) as { hits: number }).hits,
  };
}

function forgeServerJson(root: string, fields: { url: string; port: number; pid: number; instance_id: string; protocol?: number }) {
  const paths = runPaths(root);
  mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  const forged = {
    token: 'forged-token-that-must-never-be-sent-anywhere',
    version: '0.1.0',
    protocol: 1,
    root,
    started_at: new Date().toISOString(),
    ...fields,
  };
  writeFileSync(paths.serverJson, `${JSON.stringify(forged, null, 2)}\n`, { mode: 0o600 });
}

// ------------------------------------------------------------------------------------------------

describe('spawn storm', () => {
  test('50 concurrent first callers on a fresh root converge on exactly one server', async () => {
    const root = tempRoot();
    const runs = await Promise.all(Array.from({ length: 50 }, () => callDecapod(root, 'server.status', undefined, { timeoutMs: 90_000 })));
    for (const r of runs) expect(r.code, describeRun(r)).toBe(0);
    const answers = runs.map(json);
    const pids = new Set(answers.map((a) => a.pid));
    const instances = new Set(answers.map((a) => a.instance_id));
    expect([...pids], 'one pid in every answer').toHaveLength(1);
    expect([...instances], 'one instance_id in every answer').toHaveLength(1);
    const [pid] = [...pids] as number[];
    // Not merely one survivor: exactly one server ever served this root.
    expect(servedInstances(root)).toEqual([...instances]);
    expect(serverLog(root)).not.toContain('compromised');
    expect(readServerJson(root)).toMatchObject({ pid, instance_id: answers[0].instance_id });
    await waitFor(() => serveProcesses(root).length === 1, {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: `the spawned losers to exit (serve processes: ${serveProcesses(root).join(', ')})`,
    });
    expect(serveProcesses(root)).toEqual([pid]);
    const losers = (serverLog(root).match(/not serving/g) ?? []).length;
    recordFigures('spawn-storm', { callers: 50, servers: 1, losing_serve_processes: losers });
  });
});

describe('a leftover lock from a killed server', () => {
  test('kill -9, then 10 callers at once: all recover onto one new server', async () => {
    const root = tempRoot();
    const first = await callOk(root, 'server.status');
    process.kill(first.pid, 'SIGKILL');
    await waitFor(() => !isAlive(first.pid), { timeoutMs: 5_000, what: `pid ${first.pid} to die` });
    expect(existsSync(runPaths(root).lockDir), 'the killed server left its lock').toBe(true);
    expect(readServerJson(root)?.pid, 'and its server.json').toBe(first.pid);

    const runs = await Promise.all(Array.from({ length: 10 }, () => callDecapod(root, 'server.status', undefined, { timeoutMs: 40_000 })));
    for (const r of runs) expect(r.code, `${describeRun(r)}\nserver.log:\n${serverLog(root)}`).toBe(0);
    const answers = runs.map(json);
    expect(new Set(answers.map((a) => a.instance_id)).size).toBe(1);
    const next = answers[0];
    expect(next.pid).not.toBe(first.pid);
    expect(servedInstances(root)).toEqual([first.instance_id, next.instance_id]);
    expect(serverLog(root)).not.toContain('compromised');
    await waitFor(() => serveProcesses(root).length === 1, { timeoutMs: 15_000, intervalMs: 200, what: 'one serve process' });
    expect(serveProcesses(root)).toEqual([next.pid]);
  });

  test('a server killed after taking the lock but before advertising: the next caller recovers the lock', async () => {
    const root = tempRoot();
    const paths = runPaths(root);
    const child = spawnTracked(process.execPath, [binPath(), 'serve', '--root', root, '--idle-timeout', '60s'], { env: cliEnv(), cwd: root });
    // Kill it the moment its lock folder appears: it has not opened the store or listened yet.
    const deadline = Date.now() + 10_000;
    while (!existsSync(paths.lockDir) && Date.now() < deadline) {
      // a tight loop on purpose: the window between the lock and server.json is ~100 ms
    }
    expect(existsSync(paths.lockDir), 'the serve process took the lock').toBe(true);
    process.kill(child.pid!, 'SIGKILL');
    await waitFor(() => !isAlive(child.pid!), { timeoutMs: 5_000, what: 'the starting server to die' });
    expect(existsSync(paths.serverJson), 'killed before advertising').toBe(false);
    expect(existsSync(paths.lockDir)).toBe(true);

    const status = await callOk(root, 'server.status', undefined, { timeoutMs: 40_000 });
    expect(status.pid).not.toBe(child.pid);
    expect(readServerJson(root)).toMatchObject({ pid: status.pid, instance_id: status.instance_id });
    expect(serveProcesses(root)).toEqual([status.pid]);
    expect((await callOk(root, 'audit.verify')).ok).toBe(true);
  });

  test("a caller whose own spawned server is killed under it respawns instead of failing", async () => {
    // docs/design.md §2: the launcher waits with a bound for a healthy server; a server it spawned that
    // started, served and then died (kill -9) is a dead server to recover, not a failed start.
    const root = tempRoot();
    const caller = spawnTracked(process.execPath, [binPath(), 'call', 'server.status', '--root', root], { env: cliEnv(), cwd: root });
    const c = follow(caller);
    const spawned = await waitFor(() => serveProcesses(root)[0], { timeoutMs: 15_000, intervalMs: 10, what: 'the caller to spawn a server' });
    // Freeze the caller before it sees that server healthy, then kill the server once it serves.
    process.kill(caller.pid!, 'SIGSTOP');
    onTestFinished(() => {
      if (isAlive(caller.pid!)) process.kill(caller.pid!, 'SIGCONT');
    });
    const info = await waitFor(() => (readServerJson(root)?.pid === spawned ? readServerJson(root) : undefined), {
      timeoutMs: 15_000,
      what: `server ${spawned} to advertise`,
    });
    expect((await httpRequest(`${info!.url}/healthz`)).status).toBe(200);
    expect(c.exit(), 'the caller had not finished').toBeUndefined();
    process.kill(spawned, 'SIGKILL');
    await waitFor(() => !isAlive(spawned), { timeoutMs: 5_000, what: `server ${spawned} to die` });
    process.kill(caller.pid!, 'SIGCONT');

    const exit = await within(c.exited, 40_000, 'the caller to finish');
    expect(exit.code, `the caller failed instead of respawning:\nstdout: ${c.stdout()}\nstderr: ${c.stderr()}`).toBe(0);
    const answer = JSON.parse(c.stdout());
    expect(answer.pid).not.toBe(spawned);
    expect(serveProcesses(root)).toEqual([answer.pid]);
  });

  test('a server slow to take over a dead server’s lock keeps it: a newcomer meanwhile neither serves nor touches the lock', async () => {
    // This used to race. proper-lockfile takes over a stale lock with stat → rmdir → mkdir; a racer
    // descheduled between its stat and its rmdir removed the fresh lock of the server that took
    // over meanwhile (proper-lockfile issue #121), and which of the two then served depended on the
    // wall clock: the first mtime of a lock is rounded up to the next second, so when both mkdirs
    // fell in the same second the first server could not tell, kept serving and the racer gave up;
    // when they fell in different seconds the first server saw a foreign mtime at its next refresh,
    // exited, and the racer served. Now a takeover happens only under the guard (server-lock.ts),
    // which only one process can hold: here the racer stops (fixtures/slow-takeover.cjs, the whole
    // process) after taking the guard, just before it removes the dead server's lock folder.
    const root = tempRoot();
    const paths = runPaths(root);
    const killed = await callOk(root, 'server.status');
    process.kill(killed.pid, 'SIGKILL');
    await waitFor(() => !isAlive(killed.pid), { timeoutMs: 5_000, what: 'the first server to die' });
    const dead = statSync(paths.lockDir); // left behind, and as fresh as a dead server's lock gets

    const dir = mkdtempSync(join(tmpdir(), 'decapod-takeover-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const paused = join(dir, 'paused');
    const go = join(dir, 'go');
    const slow = spawnTracked(process.execPath, [binPath(), 'serve', '--root', root, '--idle-timeout', '60s'], {
      cwd: root,
      env: cliEnv({
        NODE_OPTIONS: `--require ${join(FIXTURES, 'slow-takeover.cjs')}`,
        DECAPOD_TEST_TAKEOVER_PAUSED: paused,
        DECAPOD_TEST_TAKEOVER_GO: go,
      }),
    });
    const s = follow(slow);
    await waitFor(() => existsSync(paused) || s.exit(), { timeoutMs: 15_000, what: 'the slow racer to reach its takeover' });
    expect(existsSync(paused), `the racer stopped in its takeover (stderr: ${s.stderr()})`).toBe(true);

    // Meanwhile a newcomer tries to serve the root: it does not, and leaves the dead lock alone.
    const late = spawnTracked(process.execPath, [binPath(), 'serve', '--root', root, '--idle-timeout', '60s'], { cwd: root, env: cliEnv() });
    const l = follow(late);
    const lateExit = await within(l.exited, 15_000, 'the newcomer to give up');
    expect(lateExit.code, `the newcomer exits as "already serving" (stderr: ${l.stderr()})`).toBe(3);
    expect(l.stdout(), 'the newcomer never served').toBe('');
    expect(l.stderr()).toContain('not serving');
    const now = statSync(paths.lockDir);
    expect({ ino: now.ino, mtimeMs: now.mtimeMs }, 'the dead lock folder, untouched').toEqual({ ino: dead.ino, mtimeMs: dead.mtimeMs });

    // The racer resumes, takes over and serves; past its first lock refresh it still does.
    writeFileSync(go, '');
    await waitFor(() => s.exit() || s.stdout().includes('\n'), { timeoutMs: 15_000, what: 'the racer to serve or give up' });
    expect(s.stdout(), `the racer serves (exit ${JSON.stringify(s.exit())}, stderr: ${s.stderr()})`).toContain('\n');
    const racer = JSON.parse(s.stdout().split('\n')[0]!) as { instance_id: string; pid: number };
    expect(racer.pid).toBe(slow.pid);
    const taken = statSync(paths.lockDir).mtimeMs;
    await waitFor(() => statSync(paths.lockDir).mtimeMs !== taken || s.exit(), { timeoutMs: 5_000, what: 'the racer to refresh its lock once' });
    expect(s.exit(), `the racer kept serving\nserver.log:\n${serverLog(root).slice(-2000)}`).toBeUndefined();
    expect((await callOk(root, 'server.status')).instance_id).toBe(racer.instance_id);
    expect(servedInstances(root), 'one server at a time: the killed one, then the racer').toEqual([killed.instance_id, racer.instance_id]);
    expect(serverLog(root)).not.toContain('compromised');
    expect(serveProcesses(root)).toEqual([slow.pid]);
  });
});

describe('a server.json naming a live foreign process', () => {
  test('that answers /healthz as this root and instance but in another protocol: a clear error naming both, nothing spawned, nothing sent, nothing signalled', async () => {
    const root = tempRoot();
    const foreign = await startForeign({ mode: 'answer', health: { ok: true, version: '9.0.0', protocol: 2, instance_id: 'same-instance', root } });
    forgeServerJson(root, { url: foreign.url, port: foreign.port, pid: foreign.pid, instance_id: 'same-instance', protocol: 2 });

    const r = await callDecapod(root, 'server.status');
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/protocol mismatch/);
    expect(r.stderr, 'names the client protocol').toMatch(/speaks protocol 1\b/);
    expect(r.stderr, "names the server's protocol").toMatch(/speaks 2\b/);
    // Not replaced: a server of another protocol is still a server (nothing spawned over it) ...
    expect(serveProcesses(root)).toEqual([]);
    expect(existsSync(runPaths(root).lockDir)).toBe(false);
    // ... nor trusted with a call or the token, nor signalled.
    expect(await foreign.hits()).toBe(0);
    expect(isAlive(foreign.pid)).toBe(true);
    expect(foreign.output()).not.toContain('signal');
    expect(readServerJson(root)?.pid).toBe(foreign.pid);
  });

  test('that accepts connections but never answers: not trusted; a fresh server is spawned, the foreign one left alone', async () => {
    const root = tempRoot();
    const foreign = await startForeign({ mode: 'hang' });
    forgeServerJson(root, { url: foreign.url, port: foreign.port, pid: foreign.pid, instance_id: 'hung-instance' });

    const status = await callOk(root, 'server.status', undefined, { timeoutMs: 40_000 });
    expect(status.pid).not.toBe(foreign.pid);
    expect(status.instance_id).not.toBe('hung-instance');
    expect(status.root).toBe(root);
    expect(serveProcesses(root)).toEqual([status.pid]);
    expect(readServerJson(root)).toMatchObject({ pid: status.pid, instance_id: status.instance_id });
    expect(await foreign.hits(), 'only /healthz ever went to it: no RPC, no token').toBe(0);
    expect(isAlive(foreign.pid)).toBe(true);
    expect(foreign.output()).not.toContain('signal');
  });
});

describe('a server whose lock is taken from it', () => {
  test("the lock folder replaced by another process's live lock: the server stops at once and leaves the new owner's lock alone", async () => {
    const root = tempRoot();
    const paths = runPaths(root);
    const server = await startForegroundServe(root, ['--idle-timeout', '60s']);
    const url = server.info.url as string;
    expect((await httpRequest(`${url}/healthz`)).status).toBe(200);
    // Past the server's first lock refresh. (Before it, the lock's mtime is the probe value
    // proper-lockfile rounds up to the next second + 5 ms; a replacement taken in that same second
    // carries the very same mtime and is not noticed: the newcomer is then the one compromised.)
    const probed = statSync(paths.lockDir).mtimeMs;
    await waitFor(() => statSync(paths.lockDir).mtimeMs !== probed, { timeoutMs: 5_000, what: 'the server to refresh its lock once' });

    const holder = spawnTracked(process.execPath, [join(FIXTURES, 'lock-holder.mjs'), root]);
    const h = follow(holder);
    await waitFor(() => h.stdout().includes('"locked"') || h.exit(), { timeoutMs: 10_000, what: 'the other process to take the lock' });
    expect(h.stdout(), h.stderr()).toContain('"locked":true');
    const ownersMtime = statSync(paths.lockDir).mtimeMs;

    const exit = await within(server.exited, 8_000, `pid ${server.pid} to stop after its lock was replaced`).catch((err: Error) => {
      throw new Error(`${err.message}; alive: ${isAlive(server.pid)}; server.log tail:\n${serverLog(root).slice(-1000)}`);
    });
    expect(exit.code, 'a compromised lock is a failure exit').toBe(1);
    expect(serverLog(root)).toContain('compromised');
    expect(existsSync(paths.serverJson)).toBe(false);
    await expect(httpRequest(`${url}/healthz`, { timeoutMs: 2_000 })).rejects.toThrow();

    // The stopping server removed nothing of the new owner's: its lock stands and stays fresh.
    expect(existsSync(paths.lockDir)).toBe(true);
    await waitFor(() => statSync(paths.lockDir).mtimeMs > ownersMtime, { timeoutMs: 5_000, what: 'the new owner to refresh its lock' });
    expect(h.stdout()).not.toContain('compromised');
    expect(isAlive(holder.pid!)).toBe(true);
    // And no caller starts a server over a lock that is held.
    const st = await runDecapod(['status'], { root });
    expect(st.code, describeRun(st)).toBe(3);
    expect(serveProcesses(root)).toEqual([]);
  });
});

describe('a stalled server', () => {
  test('SIGSTOP for ~2 s (under the 5 s stale time): callers wait, nothing is spawned, and they are answered by the same pid', async () => {
    const root = tempRoot();
    const first = await callOk(root, 'server.status');
    const pid = first.pid as number;

    process.kill(pid, 'SIGSTOP');
    onTestFinished(() => {
      if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    });
    const stoppedAt = Date.now();
    const calls = [
      callDecapod(root, 'server.status', undefined, { timeoutMs: 30_000 }),
      callDecapod(root, 'lease.grant', { agent: 'patient', ttl_ms: 60_000 }, { timeoutMs: 30_000 }),
      callDecapod(root, 'lease.list', undefined, { timeoutMs: 30_000 }),
    ];
    let finished = 0;
    for (const c of calls) void c.then(() => finished++);
    // While it is stopped, sample the serve processes: never a second one.
    const seen = new Set<number>();
    let samples = 0;
    while (Date.now() - stoppedAt < 2_000) {
      for (const p of serveProcesses(root)) seen.add(p);
      samples++;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect([...seen], `serve processes seen in ${samples} samples while stopped`).toEqual([pid]);
    expect(finished, 'no call was answered while the server was stopped').toBe(0);
    expect(readServerJson(root)?.pid).toBe(pid);

    process.kill(pid, 'SIGCONT');
    const [status, granted, listed] = await Promise.all(calls);
    for (const r of [status!, granted!, listed!]) expect(r.code, describeRun(r)).toBe(0);
    expect(json(status!).pid).toBe(pid);
    expect(json(status!).instance_id).toBe(first.instance_id);
    expect(json(granted!).agent).toBe('patient');
    expect(serveProcesses(root)).toEqual([pid]);
    expect(servedInstances(root)).toEqual([first.instance_id]);
    expect(serverLog(root)).not.toContain('compromised');
    // The mutation applied once.
    const leases = (await callOk(root, 'lease.list')).leases.filter((l: any) => l.agent === 'patient');
    expect(leases).toHaveLength(1);
    expect(readFileSync(runPaths(root).serverJson, 'utf8')).toContain(first.instance_id);
  });
});
