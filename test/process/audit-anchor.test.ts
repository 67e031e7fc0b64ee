// docs/design.md §11 end to end, with real `decapod serve` processes spawned by the CLI and the TS client
// on a real git repository: the CLI's `audit checkpoint`, the server's checkpoint on `decapod stop`,
// the database replaced by an older copy between two servers, and the client's kept receipts.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { connect, isRpcError } from '../../clients/ts/src/index.js';
import { binPath, describeRun, json, runDecapod, tempRoot, useBuiltCli } from '../helpers/process.js';

useBuiltCli();

const REF = 'refs/decapod/audit';
const DB_FILES = ['decapod.db', 'decapod.db-wal', 'decapod.db-shm'];

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) e[k] = v;
  return { ...e, DECAPOD_BIN: binPath(), DECAPOD_IDLE_TIMEOUT: '60s' };
}

function copyDb(root: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of DB_FILES) if (existsSync(join(root, '.decapod', f))) copyFileSync(join(root, '.decapod', f), join(to, f));
}

function restoreDb(root: string, from: string): void {
  for (const f of DB_FILES) rmSync(join(root, '.decapod', f), { force: true });
  for (const f of DB_FILES) if (existsSync(join(from, f))) copyFileSync(join(from, f), join(root, '.decapod', f));
}

async function stop(root: string): Promise<void> {
  const r = await runDecapod(['stop'], { root });
  expect(r.code, describeRun(r)).toBe(0);
}

test('a database copy put back after a checkpoint: `audit verify` exits 1 naming the checkpoint, the client’s receipts are contradicted', async () => {
  const root = tempRoot();
  execFileSync('git', ['init', '-q', root]);
  const older = mkdtempSync(join(tmpdir(), 'decapod-db-copy-'));
  onTestFinished(() => rmSync(older, { recursive: true, force: true }));

  const client = await connect({ root, env: env() });
  onTestFinished(() => client.close());
  const me = await client.lease.hold({ agent: 'witness', ttl_ms: 120_000 });
  await client.task.create({ lease: me.secret, title: 'before the copy' });
  await stop(root); // checkpoints on the way out
  copyDb(root, older);
  const before = client.receipts().length;

  // The client reconnects (a new server on the same database) and keeps the receipts of what follows.
  await client.task.create({ lease: me.secret, title: 'after the copy' });
  await client.task.create({ lease: me.secret, title: 'and another' });
  const later = client.receipts().slice(before);
  expect(later.map((r) => r.op)).toEqual(['task.create', 'task.create']);
  const cp = await runDecapod(['audit', 'checkpoint'], { root });
  expect(cp.code, describeRun(cp)).toBe(0);
  const { checkpoint } = json(cp);
  expect(checkpoint).toMatchObject({ ref: REF, seq: later.at(-1)!.seq, hash: later.at(-1)!.hash, written: true });
  expect(execFileSync('git', ['rev-parse', REF], { cwd: root, encoding: 'utf8' }).trim()).toBe(checkpoint.commit);
  const good = await runDecapod(['audit', 'verify'], { root });
  expect(good.code, describeRun(good)).toBe(0);
  expect(json(good)).toMatchObject({ ok: true, checkpoint: { ok: true, commit: checkpoint.commit } });
  expect((await client.verifyReceipts()).ok).toBe(true);
  await stop(root);

  restoreDb(root, older);
  const bad = await runDecapod(['audit', 'verify'], { root }); // starts a server on the older copy
  expect(bad.code, describeRun(bad)).toBe(1);
  expect(json(bad)).toMatchObject({ ok: false, checkpoint: { ref: REF, ok: false, commit: checkpoint.commit, seq: checkpoint.seq, hash: checkpoint.hash } });
  const v = await client.verifyReceipts();
  expect(v.ok).toBe(false);
  expect(v.receipts?.contradicted).toEqual(later.map((r) => ({ seq: r.seq, hash: r.hash, problem: 'missing' })));
  // Nothing new is anchored on top of the contradicted checkpoint.
  const refused = await runDecapod(['audit', 'checkpoint'], { root });
  expect(refused.code, describeRun(refused)).toBe(1);
  expect(JSON.parse(refused.stderr)).toMatchObject({ code: 1007, data: { code: 'INVALID_STATE', from: 'contradicted' } });
  const err = await client.audit.checkpoint().catch((e: unknown) => e);
  expect(isRpcError(err, 'INVALID_STATE')).toBe(true);
  await me.release();
});

test('the client keeps the last N receipts of its own mutations and no others', async () => {
  const root = tempRoot();
  const client = await connect({ root, env: env(), keepReceipts: 2 });
  onTestFinished(() => client.close());
  const { lease } = await client.lease.grant({ agent: 'counter' });
  const made = [];
  for (let i = 0; i < 3; i++) made.push((await client.task.create({ lease, title: `t${i}` })).receipt);
  await client.task.list(); // a query: no receipt
  expect(client.receipts()).toEqual(made.slice(1));
  const v = await client.verifyReceipts();
  expect(v).toMatchObject({ ok: true, receipts: { checked: 2, contradicted: [] } });
  // A root that is not a repository: nothing to anchor to, said so.
  expect(v.checkpoint).toMatchObject({ ok: true, checked: 0, note: expect.stringContaining('not a git repository') });
  await expect(connect({ root, env: env(), keepReceipts: 10_001 })).rejects.toThrow(/keepReceipts/);
});

test('DECAPOD_CHECKPOINT_EVERY is checked at start, naming the variable', async () => {
  const root = tempRoot();
  const r = await runDecapod(['serve'], { root, env: { DECAPOD_CHECKPOINT_EVERY: 'often' } });
  expect(r.code, describeRun(r)).toBe(2);
  expect(r.stderr).toContain('DECAPOD_CHECKPOINT_EVERY: expected a whole number of events from 0 (off) to 999999999, got "often"');
});
