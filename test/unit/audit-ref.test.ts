// The git plumbing behind audit checkpoints (src/workspace/audit-ref.ts), on real repositories.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { checkpointMessage, judgeCheckpoints, parseCheckpoint } from '../../src/domain/audit-checkpoint.js';
import { appendEvent } from '../../src/domain/audit-chain.js';
import { appendCommit, auditRepo, AUDIT_REF, NoRepositoryError, readHistory, readTip } from '../../src/workspace/audit-ref.js';
import { tempDomain } from '../helpers/temp-store.js';
import { tempRoot } from '../helpers/test-server.js';

function repo(): string {
  const root = tempRoot('decapod-ref-');
  execFileSync('git', ['init', '-q', root]);
  return root;
}

const msg = (seq: number) => checkpointMessage({ seq, hash: String(seq % 10).repeat(64), at: '2026-01-01T00:00:00.000Z' });

test('appendCommit moves the ref only from the parent it was given (compare-and-swap)', async () => {
  const r = await auditRepo(repo());
  expect(await readTip(r)).toBeNull();
  const first = await appendCommit(r, msg(1), null);
  expect(first).toMatch(/^[0-9a-f]{40,64}$/);
  // A second writer that also saw no ref loses, and the first commit stays.
  expect(await appendCommit(r, msg(2), null)).toBeNull();
  const second = await appendCommit(r, msg(3), first);
  expect(second).not.toBeNull();
  // A writer that saw `first` after `second` was written loses too.
  expect(await appendCommit(r, msg(4), first)).toBeNull();
  expect((await readTip(r))!.commit).toBe(second);
  const history = await readHistory(r);
  expect(history.map((h) => h.commit)).toEqual([second, first]);
  expect(history.map((h) => parseCheckpoint(h.message)?.seq)).toEqual([3, 1]);
  // Nothing is written to the worktree, the index or HEAD.
  expect(execFileSync('git', ['status', '--porcelain'], { cwd: r.root, encoding: 'utf8' })).toBe('');
});

test('the caller’s GIT_DIR (a server started from a git hook) does not redirect the checkpoint', async () => {
  const root = repo();
  const elsewhere = repo();
  const saved = process.env.GIT_DIR;
  process.env.GIT_DIR = join(elsewhere, '.git');
  try {
    const r = await auditRepo(root);
    await appendCommit(r, msg(1), null);
  } finally {
    if (saved === undefined) delete process.env.GIT_DIR;
    else process.env.GIT_DIR = saved;
  }
  expect(execFileSync('git', ['rev-parse', '-q', '--verify', AUDIT_REF], { cwd: root, encoding: 'utf8' }).trim()).toMatch(/^[0-9a-f]+$/);
  expect(() => execFileSync('git', ['rev-parse', '-q', '--verify', AUDIT_REF], { cwd: elsewhere, stdio: 'ignore' })).toThrow();
});

test('only the top of a main worktree takes checkpoints', async () => {
  const plain = tempRoot('decapod-plain-');
  await expect(auditRepo(plain)).rejects.toThrow(NoRepositoryError);
  const root = repo();
  mkdirSync(join(root, 'sub'));
  await expect(auditRepo(join(root, 'sub'))).rejects.toThrow(/not at its top/);
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'init'], { cwd: root });
  const linked = join(tempRoot('decapod-linked-'), 'wt');
  execFileSync('git', ['worktree', 'add', '-q', linked], { cwd: root });
  await expect(auditRepo(linked)).rejects.toThrow(/linked worktree/);
});

test('a commit on the ref that is not a checkpoint, and a checkpoint the log contradicts, fail the judgement', async () => {
  const ctx = tempDomain();
  await ctx.store.transaction(async (tx) => {
    for (let i = 0; i < 3; i++) await appendEvent(tx, { type: 'test.event', agent: null, subject: null, data: { i } });
  });
  const head = await ctx.store.snapshot((r) => r.events.head());
  const judge = (history: Parameters<typeof judgeCheckpoints>[2]) => ctx.store.snapshot((r) => judgeCheckpoints(r, AUDIT_REF, history));
  const good = { commit: 'c2', message: checkpointMessage({ seq: head.seq, hash: head.hash, at: '' }) };
  expect(await judge([good])).toEqual({ ref: AUDIT_REF, ok: true, checked: 1, commit: 'c2', seq: 3, hash: head.hash });
  expect(await judge([{ commit: 'x', message: 'hello\n' }, good])).toMatchObject({ ok: false, commit: 'x', problem: expect.stringContaining('not a decapod checkpoint') });
  const ahead = { commit: 'c9', message: checkpointMessage({ seq: 9, hash: head.hash, at: '' }) };
  expect(await judge([ahead, good])).toMatchObject({ ok: false, checked: 1, commit: 'c9', seq: 9, problem: expect.stringContaining('no event 9') });
  // An older checkpoint the log contradicts is found behind a newer one it agrees with.
  const forked = { commit: 'c1', message: checkpointMessage({ seq: 2, hash: 'e'.repeat(64), at: '' }) };
  expect(await judge([good, forked])).toMatchObject({ ok: false, checked: 2, commit: 'c1', seq: 2 });
  expect(await judge([])).toMatchObject({ ok: true, checked: 0, note: expect.any(String) });
});
