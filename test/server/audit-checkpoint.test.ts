// docs/design.md §11: history that a file copy cannot rewrite. The log's head is checkpointed on the git
// ref refs/decapod/audit (on request, on shutdown, every N events); audit.verify holds the log to
// every checkpoint of that ref and to the receipts callers kept. Real servers on real git
// repositories; the database file is replaced or edited between runs, as an attacker would.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { appendEvent } from '../../src/domain/audit-chain.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ManualClock } from '../../src/util/clock.js';
import { migrationsDir } from '../helpers/temp-store.js';
import { waitFor } from '../helpers/process.js';
import { startTestServer, tempRoot, type TestServer, testOnSqliteFile } from '../helpers/test-server.js';

const REF = 'refs/decapod/audit';
const DB_FILES = ['decapod.db', 'decapod.db-wal', 'decapod.db-shm'];

function gitRoot(): string {
  const root = tempRoot('decapod-anchor-');
  execFileSync('git', ['init', '-q', root]);
  return root;
}

const git = (root: string, ...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

/** The checkpoints on the ref, newest first: commit, parents and the parsed message. */
function checkpoints(root: string): { commit: string; parents: string[]; seq: number; hash: string }[] {
  let out: string;
  try {
    out = execFileSync('git', ['log', '-z', '--format=%H %P%n%B', REF, '--'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return [];
  }
  return out
    .split('\0')
    .filter(Boolean)
    .map((entry) => {
      const [ids, body] = [entry.slice(0, entry.indexOf('\n')), entry.slice(entry.indexOf('\n') + 1)];
      const [commit, ...parents] = ids.split(' ').filter(Boolean);
      const msg = JSON.parse(body);
      return { commit: commit!, parents, seq: msg.seq, hash: msg.hash };
    });
}

/** A few mutations; returns their receipts. */
async function work(s: TestServer, n: number, agent = 'alice'): Promise<{ seq: number; hash: string }[]> {
  const { lease, receipt } = await s.call('lease.grant', { agent });
  const receipts = [receipt];
  for (let i = 0; i < n; i++) receipts.push((await s.call('task.create', { lease, title: `${agent} task ${i}` })).receipt);
  return receipts.map((r: { seq: number; hash: string }) => ({ seq: r.seq, hash: r.hash }));
}

/** A copy of the database files of a stopped server, as someone with file access would keep. */
function copyDatabase(root: string): string {
  const dir = join(tempRoot('decapod-db-copy-'), 'copy');
  mkdirSync(dir);
  for (const f of DB_FILES) if (existsSync(join(root, '.decapod', f))) copyFileSync(join(root, '.decapod', f), join(dir, f));
  return dir;
}

function restoreDatabase(root: string, copy: string): void {
  for (const f of DB_FILES) rmSync(join(root, '.decapod', f), { force: true });
  for (const f of DB_FILES) if (existsSync(join(copy, f))) copyFileSync(join(copy, f), join(root, '.decapod', f));
}

const head = async (s: TestServer) => (await s.call('audit.list', { since: 0, limit: 1000 })).events.at(-1);

test('audit.checkpoint records the head on refs/decapod/audit; verify and replay hold the log to it', async () => {
  const s = await startTestServer({ root: gitRoot() });
  await work(s, 3);
  const before = await head(s);
  const r = await s.call('audit.checkpoint');
  const [cp, ...older] = checkpoints(s.root);
  expect(older).toEqual([]);
  expect(r.checkpoint).toEqual({ ref: REF, commit: cp!.commit, seq: before.seq, hash: before.hash, written: true });
  expect(cp).toMatchObject({ seq: before.seq, hash: before.hash, parents: [] });
  expect(git(s.root, 'rev-parse', REF)).toBe(cp!.commit);
  // Its own event, after the head it recorded; the receipt names it.
  const ev = await head(s);
  expect(ev).toMatchObject({ seq: before.seq + 1, type: 'audit.checkpointed', agent: null, data: { ...r.checkpoint } });
  expect(r.receipt).toMatchObject({ seq: ev.seq, hash: ev.hash, op: 'audit.checkpoint' });

  const v = await s.call('audit.verify');
  expect(v).toMatchObject({ ok: true, count: ev.seq, checkpoint: { ref: REF, ok: true, checked: 1, commit: cp!.commit, seq: before.seq, hash: before.hash } });
  expect(v.problem).toBeUndefined();
  const replay = await s.call('audit.replay');
  expect(replay).toMatchObject({ ok: true, chain: { ok: true, checkpoint: { ok: true, seq: before.seq } } });

  // The next one builds on it: the ref only moves forward, each commit the previous one's child.
  await work(s, 1, 'bob');
  const next = (await s.call('audit.checkpoint')).checkpoint;
  expect(next.seq).toBeGreaterThan(before.seq);
  expect(checkpoints(s.root).map((c) => c.parents)).toEqual([[cp!.commit], []]);
  expect((await s.call('audit.verify')).checkpoint).toMatchObject({ ok: true, checked: 2, commit: next.commit });
});

test('a checkpoint with nothing new since the last one makes no commit', async () => {
  const s = await startTestServer({ root: gitRoot() });
  await work(s, 1);
  const first = (await s.call('audit.checkpoint')).checkpoint;
  const again = (await s.call('audit.checkpoint')).checkpoint;
  expect(again).toEqual({ ...first, written: false });
  expect(checkpoints(s.root)).toHaveLength(1);
});

testOnSqliteFile('the database replaced by an older copy: verify names the checkpoint, kept receipts are contradicted, no new checkpoint goes on top', async () => {
  const root = gitRoot();
  let s = await startTestServer({ root });
  await work(s, 2);
  await s.close();
  const older = copyDatabase(root);

  s = await startTestServer({ root });
  const kept = await work(s, 3, 'bob');
  const cp = (await s.call('audit.checkpoint')).checkpoint;
  expect((await s.call('audit.verify', { receipts: kept })).ok).toBe(true); // untampered: all hold
  await s.close();

  restoreDatabase(root, older);
  s = await startTestServer({ root });
  const v = await s.call('audit.verify', { receipts: kept });
  expect(v.ok).toBe(false);
  expect(v.checkpoint).toMatchObject({ ref: REF, ok: false, commit: cp.commit, seq: cp.seq, hash: cp.hash });
  expect(v.checkpoint.problem).toContain(`the log has no event ${cp.seq}`);
  expect(v.problem).toBe(v.checkpoint.problem);
  expect(v.receipts).toEqual({ checked: kept.length, contradicted: kept.map((r) => ({ ...r, problem: 'missing' })) });
  // The replay's chain report says the same.
  const replay = await s.call('audit.replay');
  expect(replay.ok).toBe(false);
  expect(replay.chain).toMatchObject({ ok: false, problem: v.checkpoint.problem, checkpoint: { ok: false, commit: cp.commit } });

  // A checkpoint would go backwards: refused, naming the one it would contradict; nothing written.
  const before = await head(s);
  const r = await s.rpc('audit.checkpoint');
  expect(r.error).toMatchObject({
    code: 1007,
    message: expect.stringContaining(`contradicts the checkpoint ${cp.commit} (seq ${cp.seq})`),
    data: { code: 'INVALID_STATE', from: 'contradicted', to: 'checkpointed', checkpoint: { ref: REF, commit: cp.commit, seq: cp.seq, hash: cp.hash } },
  });
  expect(await head(s)).toEqual(before);
  expect(git(root, 'rev-parse', REF)).toBe(cp.commit);
});

testOnSqliteFile('a rolled-back log grown past the checkpoint still contradicts it, and shutdown does not anchor the new branch', async () => {
  const root = gitRoot();
  let s = await startTestServer({ root });
  await work(s, 1);
  await s.close();
  const older = copyDatabase(root);
  s = await startTestServer({ root });
  await work(s, 2, 'bob');
  const cp = (await s.call('audit.checkpoint')).checkpoint;
  await s.close();
  const anchored = checkpoints(root); // the first server's shutdown one, then cp
  expect(anchored[0]!.commit).toBe(cp.commit);

  restoreDatabase(root, older);
  s = await startTestServer({ root });
  await work(s, 10, 'mallory'); // past the checkpoint's seq, on another history
  expect((await head(s)).seq).toBeGreaterThan(cp.seq);
  const v = await s.call('audit.verify');
  expect(v).toMatchObject({ ok: false, checkpoint: { ok: false, commit: cp.commit, seq: cp.seq, hash: cp.hash } });
  expect(v.checkpoint.problem).toContain(`event ${cp.seq} has hash`);
  await s.close(); // its shutdown checkpoint is refused
  expect(checkpoints(root)).toEqual(anchored);
});

testOnSqliteFile('the server checkpoints on shutdown, writing no event; a copy from before it is caught', async () => {
  const root = gitRoot();
  let s = await startTestServer({ root });
  await work(s, 1);
  await s.close();
  const first = checkpoints(root);
  expect(first).toHaveLength(1);
  const older = copyDatabase(root);

  s = await startTestServer({ root });
  const last = await head(s);
  expect(last.type).not.toBe('audit.checkpointed'); // automatic checkpoints write no event
  expect(first[0]).toMatchObject({ seq: last.seq, hash: last.hash });
  const kept = await work(s, 2, 'bob');
  await s.close();
  const [second] = checkpoints(root);
  expect(second).toMatchObject({ seq: kept.at(-1)!.seq, hash: kept.at(-1)!.hash, parents: [first[0]!.commit] });

  // A restart with nothing new adds no commit.
  s = await startTestServer({ root });
  await s.close();
  expect(checkpoints(root)).toHaveLength(2);

  restoreDatabase(root, older);
  s = await startTestServer({ root });
  const v = await s.call('audit.verify', { receipts: kept });
  expect(v).toMatchObject({ ok: false, checkpoint: { ok: false, commit: second!.commit, seq: second!.seq } });
  expect(v.receipts.contradicted).toHaveLength(kept.length);
});

testOnSqliteFile('events after a checkpoint removed from the database file: verify says so', async () => {
  const root = gitRoot();
  let s = await startTestServer({ root });
  await work(s, 4);
  const cp = (await s.call('audit.checkpoint')).checkpoint;
  await s.close();
  // Someone with the file drops the guard triggers and cuts the tail: the rest still chains.
  const db = new Database(join(root, '.decapod', 'decapod.db'));
  db.exec('DROP TRIGGER IF EXISTS events_no_delete; DROP TRIGGER IF EXISTS events_only_redact;');
  db.prepare('DELETE FROM events WHERE seq >= ?').run(cp.seq - 1);
  db.close();
  s = await startTestServer({ root });
  const v = await s.call('audit.verify');
  expect(v).toMatchObject({ ok: false, count: cp.seq - 2, checkpoint: { ok: false, seq: cp.seq, commit: cp.commit } });
  expect(v.first_bad_seq).toBeUndefined(); // the hash chain alone could not tell
});

testOnSqliteFile('events after a checkpoint rewritten with freshly computed hashes: the chain holds, the checkpoint does not', async () => {
  const root = gitRoot();
  let s = await startTestServer({ root });
  const kept = await work(s, 4);
  const cp = (await s.call('audit.checkpoint')).checkpoint;
  await s.close();
  const file = join(root, '.decapod', 'decapod.db');
  const db = new Database(file);
  db.exec('DROP TRIGGER IF EXISTS events_no_delete; DROP TRIGGER IF EXISTS events_only_redact;');
  db.prepare('DELETE FROM events WHERE seq >= ?').run(cp.seq - 1);
  db.close();
  const store = openSqliteStore(file, { migrationsDir: migrationsDir(), clock: new ManualClock(Date.now()) });
  await store.transaction(async (tx) => {
    for (let i = 0; i < 3; i++) await appendEvent(tx, { type: 'task.cancelled', agent: 'mallory', subject: 'T1', data: { task: 'T1', reason: 'forged' } });
  });
  await store.close();

  s = await startTestServer({ root });
  const v = await s.call('audit.verify', { receipts: kept });
  expect(v.first_bad_seq).toBeUndefined();
  expect(v).toMatchObject({ ok: false, checkpoint: { ok: false, seq: cp.seq, hash: cp.hash } });
  expect(v.checkpoint.problem).toContain(`event ${cp.seq} has hash`);
  // The last two mutations' receipts (their events were replaced); the earlier ones hold.
  expect(v.receipts.contradicted).toEqual(
    kept.slice(-2).map((r) => ({ ...r, problem: 'different', log_hash: expect.stringMatching(/^[0-9a-f]{64}$/) })),
  );
  for (const c of v.receipts.contradicted) expect(c.log_hash).not.toBe(c.hash);
});

test('every N events the server checkpoints by itself, off the request path, writing no event', async () => {
  const s = await startTestServer({ root: gitRoot(), checkpointEvery: 5 });
  await work(s, 6);
  const [cp] = (await waitFor(() => (checkpoints(s.root).length > 0 ? checkpoints(s.root) : undefined), { timeoutMs: 10_000, what: 'an automatic checkpoint' }))!;
  expect(cp!.seq).toBeGreaterThanOrEqual(5);
  const events = (await s.call('audit.list', { since: 0, limit: 1000 })).events;
  expect(events.map((e: { type: string }) => e.type)).not.toContain('audit.checkpointed');
  expect(events[cp!.seq - 1]).toMatchObject({ seq: cp!.seq, hash: cp!.hash });
});

test('a root that is not a git repository: audit.checkpoint says why and writes nothing; verify and shutdown go on', async () => {
  const s = await startTestServer();
  await work(s, 1);
  const before = await head(s);
  const r = await s.rpc('audit.checkpoint');
  expect(r.error).toEqual({
    code: 1007,
    message: `cannot checkpoint: the root ${s.root} is not a git repository`,
    data: { code: 'INVALID_STATE', from: 'no-git-repository', to: 'checkpointed' },
  });
  expect(await head(s)).toEqual(before);
  const v = await s.call('audit.verify');
  expect(v).toMatchObject({ ok: true, checkpoint: { ref: REF, ok: true, checked: 0, note: expect.stringContaining('not a git repository') } });
  await s.close();
  expect(existsSync(join(s.root, '.git'))).toBe(false);
});

test('a root inside a git repository but not at its top is not checkpointed into it', async () => {
  const repo = gitRoot();
  const root = join(repo, 'sub');
  mkdirSync(root);
  const s = await startTestServer({ root });
  await work(s, 1);
  const r = await s.rpc('audit.checkpoint');
  expect(r.error).toMatchObject({ code: 1007, message: expect.stringContaining('not at its top'), data: { from: 'no-git-repository' } });
  await s.close();
  expect(checkpoints(repo)).toEqual([]);
});

test('kept receipts: each one the log contradicts is reported, in order; the rest hold', async () => {
  const s = await startTestServer();
  const kept = await work(s, 2);
  const wrong = { seq: kept[1]!.seq, hash: 'f'.repeat(64) };
  const ahead = { seq: kept.at(-1)!.seq + 100, hash: kept[0]!.hash };
  const v = await s.call('audit.verify', { receipts: [kept[0], wrong, ...kept.slice(1), ahead] });
  expect(v.ok).toBe(false);
  expect(v.receipts).toEqual({
    checked: kept.length + 2,
    contradicted: [
      { ...wrong, problem: 'different', log_hash: kept[1]!.hash },
      { ...ahead, problem: 'missing' },
    ],
  });
  expect(v.problem).toBe(`2 of ${kept.length + 2} kept receipts are contradicted: event ${wrong.seq} has hash ${kept[1]!.hash}, not ${wrong.hash}: the history was rewritten`);
  expect(await s.call('audit.verify', { receipts: kept })).toMatchObject({ ok: true, receipts: { checked: kept.length, contradicted: [] } });
  expect((await s.call('audit.verify', { receipts: [] })).ok).toBe(true);
});

test('kept receipts are bounded and checked in shape, naming the field', async () => {
  const s = await startTestServer();
  const tooMany = Array.from({ length: 10_001 }, (_, i) => ({ seq: i + 1, hash: '0'.repeat(64) }));
  const cases: [unknown, string, string][] = [
    [tooMany, 'receipts', 'must NOT have more than 10000 items'],
    [[{ seq: 1, hash: 'ABC' }], 'receipts.0.hash', 'must match pattern'],
    [[{ seq: 0, hash: '0'.repeat(64) }], 'receipts.0.seq', 'must be >= 1'],
    [[{ seq: 1 }], 'receipts.0.hash', 'is required'],
    [[{ seq: 1, hash: '0'.repeat(64), op: 'x' }], 'receipts.0.op', 'is not a known field'],
  ];
  for (const [receipts, field, says] of cases) {
    const r = await s.rpc('audit.verify', { receipts });
    expect(r.error, field).toMatchObject({ code: -32602, message: expect.stringContaining(says), data: { code: 'INVALID_PARAMS', field } });
  }
  // The bound itself is accepted.
  const v = await s.call('audit.verify', { receipts: tooMany.slice(0, 10_000) });
  expect(v.receipts.checked).toBe(10_000);
});

test('a ref moved to something that is not a checkpoint: verify says so, audit.checkpoint refuses to build on it', async () => {
  const s = await startTestServer({ root: gitRoot() });
  await work(s, 1);
  const tree = execFileSync('git', ['mktree'], { cwd: s.root, encoding: 'utf8', input: '' }).trim();
  const foreign = git(s.root, '-c', 'user.name=m', '-c', 'user.email=m@m', 'commit-tree', tree, '-m', 'not a checkpoint');
  git(s.root, 'update-ref', REF, foreign);
  const v = await s.call('audit.verify');
  expect(v).toMatchObject({ ok: false, checkpoint: { ok: false, commit: foreign, problem: `commit ${foreign} on ${REF} is not a decapod checkpoint` } });
  const r = await s.rpc('audit.checkpoint');
  expect(r.error).toMatchObject({ code: 1007, data: { from: 'foreign-ref', commit: foreign } });
  expect(git(s.root, 'rev-parse', REF)).toBe(foreign);
});

test('concurrent checkpoints are all answered and the ref stays one line of history', async () => {
  const s = await startTestServer({ root: gitRoot() });
  await work(s, 1);
  const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => (i % 2 ? s.call('task.create', { title: `t${i}` }) : s.call('audit.checkpoint'))));
  expect(answers.every((a) => a.receipt)).toBe(true);
  await s.call('audit.checkpoint');
  const history = checkpoints(s.root);
  for (let i = 0; i + 1 < history.length; i++) {
    expect(history[i]!.parents).toEqual([history[i + 1]!.commit]);
    expect(history[i]!.seq).toBeGreaterThan(history[i + 1]!.seq);
  }
  expect((await s.call('audit.verify')).checkpoint).toMatchObject({ ok: true, checked: history.length });
});
