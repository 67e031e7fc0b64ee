// Issue 11 / docs/design.md §6: a full disk must never hang the server. Real server processes on a
// small tmpfs, filled up by a file: mutations are refused with UNAVAILABLE (disk_full, naming the
// file system, retry_after_ms) and change nothing, gate output that cannot be kept fails the run,
// queries and /healthz answer, and the servers still stop on server.shutdown, on SIGTERM and when
// idle. Once space is freed the same calls succeed, and every acknowledged write is there. A start
// on the full disk fails at once, saying why. Skipped (saying why) where a tmpfs cannot be mounted.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import {
  callDecapod,
  callOk,
  describeRun,
  httpRequest,
  killServersFor,
  readServerJson,
  recordFigures,
  rpcDirect,
  rpcDirectOk,
  runDecapod,
  runPaths,
  serveProcesses,
  serverLog,
  startForegroundServe,
  useBuiltCli,
  waitFor,
} from '../helpers/process.js';
import { fillDisk, freeBytes, freeDisk, mountTmpfs, padToBlock } from '../helpers/tmpfs.js';

useBuiltCli();

const MiB = 1024 * 1024;
/** A gate that prints 200 KB: its output needs room under .decapod/artifacts/. */
const GATES = { gates: { out: { command: "head -c 200000 /dev/zero | tr '\\0' x; echo", timeout_ms: 60_000 } } };

interface Receipt {
  seq: number;
  hash: string;
}

test('on a full disk writes are refused with UNAVAILABLE and change nothing, reads and stops keep working, and nothing acknowledged is lost', { timeout: 180_000 }, async (ctx) => {
  // One file system per server, so that one server's exit (its files removed) frees no room for another.
  const roots: string[] = [];
  const mount = () =>
    mountTmpfs(ctx, 8 * MiB, async () => {
      for (const root of roots) await killServersFor(root);
    });
  const newRoot = (on: { dir: string }, name: string) => {
    const root = join(on.dir, name);
    mkdirSync(root);
    roots.push(root);
    return root;
  };
  const fs = mount();
  const fsB = mount();
  const fsC = mount();
  const a = newRoot(fs, 'a');
  // A git repository: the shutdown checkpoint (docs/design.md §11) is tried on the full disk too.
  const git = spawnSync('git', ['init', '-q', a], { encoding: 'utf8' });
  expect(git.status, git.stderr).toBe(0);
  mkdirSync(join(a, '.decapod'));
  writeFileSync(join(a, '.decapod', 'config.json'), JSON.stringify(GATES));
  const b = newRoot(fsB, 'b');
  const c = newRoot(fsC, 'c');

  const serverA = await startForegroundServe(a, ['--idle-timeout', '120s']);
  const serverB = await startForegroundServe(b, ['--idle-timeout', '120s']);
  const acknowledged: Receipt[] = [];
  const ack = <T extends { receipt: Receipt }>(result: T): T => {
    acknowledged.push({ seq: result.receipt.seq, hash: result.receipt.hash });
    return result;
  };
  const { lease } = ack(await rpcDirectOk(a, 'lease.grant', { agent: 'disk', ttl_ms: 3_600_000 }));
  const gated = ack(await rpcDirectOk(a, 'task.create', { lease, title: 'gated', gates: ['out'] })).task.id as string;
  const { claim } = ack(await rpcDirectOk(a, 'task.claim', { lease, task: gated }));
  for (let i = 0; i < 5; i++) ack(await rpcDirectOk(a, 'task.create', { lease, title: `before ${i}` }));

  // C exits when idle: its disk fills right after it starts, it is called once, then left alone.
  const serverC = await startForegroundServe(c, ['--idle-timeout', '5s']);
  fillDisk(fsC.dir);
  const refusedC = await rpcDirect(c, 'lease.grant', { agent: 'c' });
  expect(refusedC.error?.data, JSON.stringify(refusedC)).toMatchObject({ code: 'UNAVAILABLE', reason: 'disk_full', mount: fsC.dir });

  padToBlock(runPaths(a).logFile); // A's next log line needs a block the disk no longer has
  const filler = fillDisk(fs.dir);
  const database = join(a, '.decapod', 'decapod.db');

  // Refused as soon as the database needs room it does not have (a commit that fitted in room the
  // WAL already had is durable, and acknowledged).
  let refused: { key: string; error: any } | undefined;
  let beforeRefusal = 0;
  for (let i = 0; i < 300 && !refused; i++) {
    beforeRefusal = (await rpcDirectOk(a, 'audit.verify')).count;
    const key = `after-${i}`;
    const answer = await rpcDirect(a, 'task.create', { lease, title: `after ${i}`, idempotency_key: key });
    if (answer.result) ack(answer.result);
    else refused = { key, error: answer.error };
  }
  expect(refused, 'no write was refused on the full disk').toBeDefined();
  expect(refused!.error).toEqual({
    code: -32004,
    message: expect.stringContaining(`storage unavailable: disk full: the file system mounted at ${fs.dir} (holding ${database})`),
    data: { code: 'UNAVAILABLE', reason: 'disk_full', retry_after_ms: 5000, path: database, mount: fs.dir, free_bytes: expect.any(Number) },
  });
  expect(refused!.error.data.free_bytes).toBeLessThan(MiB);
  // It changed nothing, and neither do its repeats, on either surface.
  expect((await rpcDirectOk(a, 'audit.verify')).count).toBe(beforeRefusal);
  const again = await rpcDirect(a, 'task.create', { lease, title: 'again', idempotency_key: refused!.key });
  expect(again.error?.data?.code).toBe('UNAVAILABLE');
  const info = readServerJson(a)!;
  const body = JSON.stringify({ lease, title: 'over REST' });
  const rest = await httpRequest(`${info.url}/rpc/task.create`, {
    method: 'POST',
    headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    body,
  });
  expect(rest.status).toBe(503);
  expect(JSON.parse(rest.text).error.data).toMatchObject({ code: 'UNAVAILABLE', reason: 'disk_full', retry_after_ms: 5000 });
  // A gate whose output cannot be kept fails the run cleanly: nothing recorded, nothing left over.
  const gate = await rpcDirect(a, 'proof.run', { lease, task: gated, gate: 'out', fence: claim.fence });
  expect(gate.error?.data, JSON.stringify(gate)).toMatchObject({ code: 'UNAVAILABLE', reason: 'disk_full', path: join(a, '.decapod', 'artifacts'), mount: fs.dir });
  expect(readdirSync(join(a, '.decapod', 'artifacts', 'live'))).toEqual([]);
  expect((await rpcDirectOk(a, 'audit.verify')).count).toBe(beforeRefusal);

  // Queries and /healthz answer throughout.
  const health = await httpRequest(`${info.url}/healthz`);
  expect([health.status, JSON.parse(health.text).instance_id]).toEqual([200, info.instance_id]);
  expect((await rpcDirectOk(a, 'server.status')).pid).toBe(serverA.pid);
  expect((await rpcDirectOk(a, 'task.list', { limit: 100 })).tasks).toHaveLength(acknowledged.length - 2); // all but the grant and the claim
  expect((await rpcDirectOk(a, 'proof.list', { task: gated })).proofs).toEqual([]);
  const verifyFull = await rpcDirectOk(a, 'audit.verify', { receipts: acknowledged });
  expect([verifyFull.ok, verifyFull.receipts]).toEqual([true, { checked: acknowledged.length, contradicted: [] }]);

  // SIGTERM stops B on its full disk; C has exited by itself, idle (never signalled).
  fillDisk(fsB.dir);
  expect((await rpcDirect(b, 'lease.grant', { agent: 'b' })).error?.data?.code).toBe('UNAVAILABLE');
  process.kill(serverB.pid, 'SIGTERM');
  expect(await serverB.exited).toEqual({ code: 0, signal: null });
  expect(existsSync(runPaths(b).serverJson)).toBe(false);
  expect(await serverC.exited).toEqual({ code: 0, signal: null });
  expect(existsSync(runPaths(c).serverJson)).toBe(false);
  expect([freeBytes(fs.dir), freeBytes(fsC.dir)].every((n) => n < MiB)).toBe(true); // exited while full

  // Space freed: the very same calls succeed, once.
  freeDisk(filler);
  const created = ack(await rpcDirectOk(a, 'task.create', { lease, title: 'again', idempotency_key: refused!.key }));
  expect((await rpcDirectOk(a, 'task.create', { lease, title: 'again', idempotency_key: refused!.key })).receipt).toEqual(created.receipt);
  const proof = ack(await rpcDirectOk(a, 'proof.run', { lease, task: gated, gate: 'out', fence: claim.fence })).proof;
  expect([proof.passed, proof.output_bytes]).toEqual([true, 200_001]);
  // The log dropped what it could not write, and says so now.
  const log = serverLog(a)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const notice = log.find((l) => typeof l.dropped === 'number');
  expect(notice, serverLog(a)).toMatchObject({ cause: 'ENOSPC', msg: expect.stringMatching(/^\d+ log lines? dropped: the log could not be written \(ENOSPC\)$/) });
  expect(notice.dropped).toBeGreaterThanOrEqual(1);
  expect(log.find((l) => l.msg === 'writes accepted again')?.refused).toBeGreaterThanOrEqual(2);

  // Every acknowledged write is there, and the log replays to the live state.
  const verified = await rpcDirectOk(a, 'audit.verify', { receipts: acknowledged });
  expect([verified.ok, verified.receipts]).toEqual([true, { checked: acknowledged.length, contradicted: [] }]);
  expect((await rpcDirectOk(a, 'audit.replay')).ok).toBe(true);
  expect((await rpcDirectOk(a, 'task.get', { task: created.task.id })).task.title).toBe('again');

  // Full again: server.shutdown stops A.
  const filledAgain = fillDisk(fs.dir);
  expect((await rpcDirect(a, 'lease.grant', { agent: 'late' })).error?.data?.code).toBe('UNAVAILABLE');
  expect(await rpcDirectOk(a, 'server.shutdown')).toEqual({ ok: true });
  expect(await serverA.exited).toEqual({ code: 0, signal: null });
  expect(existsSync(runPaths(a).serverJson)).toBe(false);

  // A start on the full disk fails at once, saying why, and leaves nothing running: `decapod serve`
  // itself names the file system on stderr (a spawned server's stderr goes to server.log, on the
  // same full disk, so a caller that spawns one is told only that it failed). A's exit removed its
  // files: fill up what that freed, before each start.
  const fresh = newRoot(fs, 'fresh');
  for (const root of [a, fresh]) {
    fillDisk(fs.dir);
    const serve = await runDecapod(['serve', '--idle-timeout', '120s'], { root });
    expect(serve.code, describeRun(serve)).toBe(1);
    expect(serve.stderr).toContain(`disk full: the file system mounted at ${fs.dir}`);
    expect(existsSync(runPaths(root).serverJson)).toBe(false);
    fillDisk(fs.dir);
    const call = await callDecapod(root, 'server.status', undefined, { env: { DECAPOD_IDLE_TIMEOUT: '120s' } });
    expect(call.code, describeRun(call)).toBe(1);
    await waitFor(() => serveProcesses(root).length === 0, { timeoutMs: 10_000, what: `no server left for ${root}` });
  }

  // Freed again: the next caller starts a server on A, and every acknowledged write survived.
  freeDisk(filledAgain);
  const after = await callOk(a, 'audit.verify', { receipts: acknowledged }, { env: { DECAPOD_IDLE_TIMEOUT: '120s' } });
  expect([after.ok, after.receipts]).toEqual([true, { checked: acknowledged.length, contradicted: [] }]);
  await callOk(a, 'server.shutdown');
  recordFigures('disk-full', {
    tmpfs_bytes: fs.size,
    acknowledged: acknowledged.length,
    stops_on_full_disk: ['SIGTERM', 'server.shutdown', 'idle'],
    log_lines_dropped: notice.dropped,
  });
});
