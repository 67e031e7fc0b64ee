// Issue 11: the guard decides takeover (src/lifecycle/server-lock.ts). A dead server is replaced at
// once (the kill -9 figures are in BENCHMARKS.md: a figure, never a timed assertion here); a
// stalled one, however long past the lock folder's stale time, is waited for and never replaced, and
// the waiting caller says so once. And a serving process can be found by its title.
import { spawn } from 'node:child_process';
import { readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  binPath,
  callOk,
  cliEnv,
  isAlive,
  readServerJson,
  runPaths,
  serveProcesses,
  servedInstances,
  serverLog,
  spawnTracked,
  tempRoot,
  useBuiltCli,
  waitFor,
  within,
} from '../helpers/process.js';

useBuiltCli();

/** proper-lockfile's stale time for the lock folder (src/lifecycle/server-lock.ts) */
const LOCK_STALE_MS = 5_000;

describe('a stalled server', () => {
  test('SIGSTOPped past the lock folder’s stale time: the caller says once that it waits, nothing is spawned, the same pid answers after SIGCONT', async () => {
    const root = tempRoot();
    const paths = runPaths(root);
    const first = await callOk(root, 'server.status');
    const pid = first.pid as number;
    process.kill(pid, 'SIGSTOP');
    onTestFinished(() => {
      if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    });

    const caller = spawnTracked(process.execPath, [binPath(), 'call', 'lease.grant', JSON.stringify({ agent: 'patient', ttl_ms: 60_000 }), '--root', root], {
      cwd: root,
      env: cliEnv(),
    });
    let stdout = '';
    let stderr = '';
    caller.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    caller.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => caller.on('exit', (code) => r(code)));
    const notice = `decapod: server pid ${pid} is not answering; waiting…\n`;
    await waitFor(() => stderr.includes(notice) || caller.exitCode !== null, { timeoutMs: 15_000, what: 'the caller to say it waits' });
    expect(stderr, 'the caller says whom it waits for').toContain(notice);

    // Keep it stopped until its lock folder is stale (no refresh for the stale time), sampling the
    // root's serve processes all along: the guard, still held, says the server lives.
    const seen = new Set<number>();
    let samples = 0;
    await waitFor(
      () => {
        for (const p of serveProcesses(root)) seen.add(p);
        samples++;
        return Date.now() - statSync(paths.lockDir).mtimeMs > LOCK_STALE_MS + 500;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the stopped server’s lock folder to go stale' },
    );
    expect([...seen], `serve processes seen in ${samples} samples while stopped`).toEqual([pid]);
    expect(caller.exitCode, `the caller still waits (stderr: ${stderr})`).toBeNull();

    process.kill(pid, 'SIGCONT');
    const code = await within(exited, 20_000, 'the caller to be answered');
    expect(code, `stdout: ${stdout}\nstderr: ${stderr}`).toBe(0);
    expect(JSON.parse(stdout).agent).toBe('patient');
    expect(stderr, 'said once, and nothing else').toBe(notice);
    expect((await callOk(root, 'server.status')).instance_id).toBe(first.instance_id);
    expect(serveProcesses(root)).toEqual([pid]);
    expect(servedInstances(root)).toEqual([first.instance_id]);
    expect(serverLog(root)).not.toContain('compromised');
  });
});

describe.runIf(process.platform === 'linux')('process title', () => {
  /** What ps shows: the args column, /proc/<pid>/cmdline with NULs as spaces. */
  const psArgs = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');

  test('a spawned server is `decapod-server ROOT` in ps, and its name is `decapod-server`', async () => {
    const root = tempRoot();
    const { pid } = await callOk(root, 'server.status');
    expect(psArgs(pid)).toBe(`decapod-server ${root}`);
    // ps -e, top, pgrep: the kernel's 15-byte name
    expect(comm(pid)).toBe('decapod-server ');
  });

  test('started with a short command line, the title is cut to that length (Linux rewrites argv in place)', async () => {
    const root = tempRoot();
    symlinkSync(binPath(), join(root, 'd'));
    // `node d serve`: what the kernel set aside for argv is shorter than the title.
    const argv = [process.execPath, 'd', 'serve'];
    const child = spawn(argv[0]!, argv.slice(1), { cwd: root, env: cliEnv(), stdio: 'ignore' });
    onTestFinished(() => {
      if (isAlive(child.pid!)) process.kill(child.pid!, 'SIGKILL');
    });
    await waitFor(() => readServerJson(root)?.pid === child.pid, { timeoutMs: 15_000, what: 'the server to advertise' });
    const title = `decapod-server ${root}`;
    const room = argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0) - 1; // the strings and their NULs, less the last
    expect(psArgs(child.pid!)).toBe(title.slice(0, room));
    expect(psArgs(child.pid!).startsWith('decapod-server')).toBe(true);
  });
});
