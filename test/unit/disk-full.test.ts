// Issue 11: a full disk, on a real (small) file system. The store refuses writes with an
// engine-neutral error naming the file system, fails every call of a commit group whose COMMIT
// the disk refused, and is usable again once space is freed; the server log drops what it cannot
// write (counted, said once space is back) instead of retrying; artifacts and server.json fail
// cleanly. Skipped where a tmpfs cannot be mounted.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { DecapodError } from '../../src/errors.js';
import { openLogFile } from '../../src/lifecycle/log-file.js';
import { runPaths, writeServerJson, type ServerJson } from '../../src/lifecycle/run-files.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { StoreUnavailableError } from '../../src/store/store.js';
import { storeText } from '../../src/workspace/artifacts.js';
import { runGate } from '../../src/workspace/gate-runner.js';
import { migrationsDir } from '../helpers/temp-store.js';
import { fillDisk, freeBytes, freeDisk, mountTmpfs, padToBlock } from '../helpers/tmpfs.js';

const MiB = 1024 * 1024;

test('a commit group the disk refuses fails every member, changes nothing, and the store writes again once space is freed', async (ctx) => {
  const fs = mountTmpfs(ctx, 4 * MiB, async () => {
    reader?.close();
    await store?.close();
  });
  const file = join(fs.dir, 'decapod.db');
  const states: unknown[] = [];
  let store: ReturnType<typeof openSqliteStore> | undefined = openSqliteStore(file, {
    migrationsDir: migrationsDir(),
    onWriteState: (s) => states.push(s.writable ? s : { writable: false, reason: s.error.reason }),
  });
  let reader: Database.Database | undefined = new Database(file, { readonly: true });
  const seen = (key: string) => (reader!.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? null;
  const set = (key: string, value: string) => store!.transaction((tx) => tx.meta.set(key, value));
  const get = (key: string) => store!.snapshot((r) => r.meta.get(key));
  await set('before', 'kept');

  const filler = fillDisk(fs.dir);
  // Once the WAL cannot grow, a group's COMMIT is refused. A group written into room the WAL
  // already had is durable, and acknowledged; keep writing until one is refused (bounded).
  const acknowledged: string[] = [];
  let refused: { members: string[]; errors: unknown[] } | undefined;
  for (let round = 0; round < 500 && !refused; round++) {
    const members = [0, 1, 2].map((i) => `r${round}m${i}`);
    // Started in one turn: one group, committed (or refused) together.
    const outcomes = await Promise.all(members.map((key) => set(key, 'x'.repeat(2000)).then(() => 'acknowledged', (err: unknown) => err)));
    if (outcomes.every((o) => o === 'acknowledged')) acknowledged.push(...members);
    else refused = { members, errors: outcomes };
  }
  expect(refused, 'no commit was refused on a full disk').toBeDefined();
  for (const err of refused!.errors) {
    expect(err).toBeInstanceOf(StoreUnavailableError);
    const e = err as StoreUnavailableError;
    expect(e.reason).toBe('disk_full');
    expect(e.retryAfterMs).toBeGreaterThan(0);
    expect(e.detail).toEqual({ path: file, mount: fs.dir, free_bytes: 0 });
    expect(e.message).toContain(`disk full: the file system mounted at ${fs.dir} (holding ${file})`);
  }
  // Nothing of the refused group is visible, to this connection or another; the rest is.
  for (const key of refused!.members) expect([seen(key), (await get(key)) ?? null]).toEqual([null, null]);
  for (const key of acknowledged) expect(seen(key)).toBe('x'.repeat(2000));
  // Reads still answer, and a transaction alone is refused the same way.
  expect(await get('before')).toBe('kept');
  await expect(set('plain', 'x'.repeat(20_000))).rejects.toThrow(StoreUnavailableError);
  expect(states).toEqual([{ writable: false, reason: 'disk_full' }]); // said once, not per refusal

  freeDisk(filler);
  // The connection is out of the failed transaction: the very same writes now commit.
  await Promise.all(refused!.members.map((key) => set(key, 'again')));
  for (const key of refused!.members) expect(seen(key)).toBe('again');
  expect(seen('before')).toBe('kept');
  expect(states).toEqual([{ writable: false, reason: 'disk_full' }, { writable: true, refused: expect.any(Number) }]);
  expect((states[1] as { refused: number }).refused).toBeGreaterThanOrEqual(4); // the group of 3, the plain one
  expect(reader.pragma('integrity_check', { simple: true })).toBe('ok');
  reader.close();
  reader = undefined;
  await store.close();
  store = undefined;
  const reopened = new Database(file, { readonly: true });
  expect(reopened.prepare('SELECT count(*) FROM meta WHERE key LIKE ?').pluck().get('r%')).toBe(acknowledged.length + refused!.members.length);
  reopened.close();
});

test('the server log drops lines the disk refuses, counts them, and says so once it can write again', async (ctx) => {
  const fs = mountTmpfs(ctx, 1 * MiB, () => log.close());
  const path = join(fs.dir, 'server.log');
  const log = openLogFile(path);
  expect(log.write('{"msg":"first"}\n')).toBe(true);
  padToBlock(path); // the next byte needs a new block
  const filler = fillDisk(fs.dir);
  const line = `{"msg":"refused","pad":"${'y'.repeat(200)}"}\n`;
  for (let i = 0; i < 1000; i++) expect(log.write(line)).toBe(true); // never throws, never waits
  expect(log.dropped).toBe(1000);
  freeDisk(filler);
  log.write('{"msg":"back"}\n');
  expect(log.dropped).toBe(0);
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  expect(lines.length).toBe(3);
  expect(JSON.parse(lines[0]!)).toEqual({ msg: 'first' });
  const notice = JSON.parse(lines[1]!);
  expect(notice).toMatchObject({ level: 40, dropped: 1000, cause: 'ENOSPC', msg: '1000 log lines dropped: the log could not be written (ENOSPC)' });
  expect(JSON.parse(lines[2]!)).toEqual({ msg: 'back' });
});

test('a log line cut short by the disk filling up is ended before the next one', async (ctx) => {
  const fs = mountTmpfs(ctx, 1 * MiB, () => log.close());
  const path = join(fs.dir, 'server.log');
  const log = openLogFile(path);
  padToBlock(path);
  // Room for exactly one more block: a line longer than that is written in part.
  const block = statfsSync(fs.dir).bsize;
  writeFileSync(join(fs.dir, 'almost'), Buffer.alloc(freeBytes(fs.dir) - block));
  expect(freeBytes(fs.dir)).toBe(block);
  log.write(`{"msg":"long","pad":"${'z'.repeat(3 * block)}"}\n`);
  expect(log.dropped).toBe(1);
  freeDisk(join(fs.dir, 'almost'));
  log.write('{"msg":"after"}\n');
  const lines = readFileSync(path, 'utf8').split('\n');
  expect(lines.at(-1)).toBe('');
  expect(JSON.parse(lines.at(-2)!)).toEqual({ msg: 'after' });
  expect(JSON.parse(lines.at(-3)!)).toMatchObject({ dropped: 1, cause: 'ENOSPC' });
  expect(lines.at(-4)!.startsWith('{"msg":"long"')).toBe(true); // the torn part, on a line of its own
});

test('artifacts and server.json on a full disk: UNAVAILABLE or a clear error naming the file system, no partial file left', async (ctx) => {
  const fs = mountTmpfs(ctx, 2 * MiB);
  const root = join(fs.dir, 'root');
  mkdirSync(join(root, '.decapod', 'artifacts'), { recursive: true });
  mkdirSync(runPaths(root).runDir, { recursive: true });
  const filler = fillDisk(fs.dir);
  const artifacts = join(root, '.decapod', 'artifacts');

  let refused: unknown;
  try {
    storeText(root, 'agent output '.repeat(1000), 1024 * 1024);
  } catch (err) {
    refused = err;
  }
  expect(refused).toBeInstanceOf(DecapodError);
  expect((refused as DecapodError).toJSON()).toEqual({
    code: -32004,
    message: `cannot store the proof's output: disk full: the file system mounted at ${fs.dir} (holding ${artifacts}) has 0 bytes free; nothing was recorded: free space there, then retry`,
    data: { code: 'UNAVAILABLE', reason: 'disk_full', retry_after_ms: 5000, path: artifacts, mount: fs.dir, free_bytes: 0 },
  });
  expect(readdirSync(artifacts)).toEqual([]);

  // A gate whose output cannot be kept: the run fails (no crash: the stream's error is handled).
  const liveFile = join(artifacts, 'live', 'T1.test.1.log');
  const run = runGate({ root, command: 'head -c 300000 /dev/zero; sleep 30', timeoutMs: 60_000, capBytes: MiB, env: {}, liveFile });
  const failed = await run.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failed).toBeInstanceOf(DecapodError);
  expect((failed as DecapodError).toJSON().data).toMatchObject({ code: 'UNAVAILABLE', reason: 'disk_full', path: artifacts, mount: fs.dir });
  expect(existsSync(liveFile)).toBe(false);

  const info: ServerJson = {
    url: 'http://127.0.0.1:1',
    port: 1,
    pid: process.pid,
    token: 't'.repeat(43),
    version: '0',
    protocol: 1,
    root,
    instance_id: 'i',
    started_at: new Date().toISOString(),
  };
  const paths = runPaths(root);
  expect(() => writeServerJson(paths, info)).toThrow(`cannot write ${paths.serverJson}: disk full: the file system mounted at ${fs.dir}`);
  expect(readdirSync(paths.runDir)).toEqual([]); // no temp file, no server.json

  freeDisk(filler);
  expect(storeText(root, 'ok', 100).bytes).toBe(2);
  writeServerJson(paths, info);
  expect(JSON.parse(readFileSync(paths.serverJson, 'utf8'))).toEqual(info);
});
