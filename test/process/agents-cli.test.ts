// The agent-facing CLI sugar and the test clock, through real processes.
import { expect, test } from 'vitest';
import { callDecapod, callOk, describeRun, json, killServersFor, runDecapod, startForegroundServe, tempRoot, useBuiltCli } from '../helpers/process.js';

useBuiltCli();

test('DECAPOD_TEST_CLOCK: expiry in a real server process without sleeping; off by default', async () => {
  const root = tempRoot();
  const env = { DECAPOD_TEST_CLOCK: '1' };
  const a = await callOk(root, 'lease.grant', { agent: 'alice', ttl_ms: 60_000 }, { env });
  await callOk(root, 'claim.acquire', { lease: a.lease, paths: ['src'] }, { env });
  await callOk(root, 'test.advance_clock', { ms: 60_000 }, { env });
  const b = await callOk(root, 'lease.grant', { agent: 'bob' }, { env });
  expect((await callOk(root, 'claim.acquire', { lease: b.lease, paths: ['src/x.ts'] }, { env })).claim.agent).toBe('bob');
  const events = (await callOk(root, 'audit.list', { limit: 100 }, { env })).events.map((e: { type: string }) => e.type);
  expect(events).toEqual(['lease.granted', 'claim.acquired', 'claim.expired', 'lease.expired', 'lease.granted', 'claim.acquired']);
  await killServersFor(root);

  const plain = tempRoot();
  const r = await callDecapod(plain, 'test.advance_clock', { ms: 1 });
  expect(r.code, describeRun(r)).toBe(1);
  expect(JSON.parse(r.stderr)).toMatchObject({ code: -32601, data: { code: 'METHOD_NOT_FOUND' } });
  await killServersFor(plain);
});

test('CLI sugar: lease grant --export, task add/list/claim/show, claim, check, release', async () => {
  const root = tempRoot();
  const run = (args: string[], env: Record<string, string | undefined> = {}) => runDecapod(args, { root, env });
  const grant = await run(['lease', 'grant', '--agent', 'alice', '--ttl', '10m', '--export']);
  expect(grant.code, describeRun(grant)).toBe(0);
  expect(grant.stdout).toMatch(/^DECAPOD_LEASE=dcl_[\w-]+\n$/);
  const alice = { DECAPOD_LEASE: grant.stdout.trim().split('=')[1] };
  const bob = { DECAPOD_LEASE: json(await run(['lease', 'grant', '--agent', 'bob'])).lease };

  expect((await run(['task', 'add', 'Fix the parser', '--priority', '1', '--label', 'bug', '--path', 'src/parser'])).code).toBe(0);
  expect(json(await run(['task', 'add', 'Write docs', '--path', 'docs', '--depends', 'T1'])).task).toMatchObject({ id: 'T2', depends_on: ['T1'] });
  const listed = await run(['task', 'list']);
  expect(listed.stdout.trim().split('\n')).toEqual([
    expect.stringMatching(/^T1 +open +p1 +- +Fix the parser$/),
    expect.stringMatching(/^T2 +open +p2 +- +Write docs$/),
  ]);
  const claimed = json(await run(['task', 'claim'], alice));
  expect(claimed).toMatchObject({ task: { id: 'T1' }, claim: { agent: 'alice', paths: ['src/parser'] } });
  expect((await run(['task', 'list'])).stdout).toMatch(new RegExp(`T1 +open +p1 +alice#${claimed.claim.fence} +Fix the parser`));
  expect(json(await run(['task', 'show', 'T1'])).task.holder.agent).toBe('alice');

  // check: exit 1 when another holder holds a path; 0 for the holder itself.
  const blocked = await run(['check', 'src/parser/lex.ts'], bob);
  expect(blocked.code).toBe(1);
  expect(json(blocked).paths[0].holders[0]).toMatchObject({ agent: 'alice', claim_id: claimed.claim.id });
  expect((await run(['check', 'src/parser/lex.ts'], alice)).code).toBe(0);

  const c = json(await run(['claim', 'docs', '--shared', '--reason', 'reading'], bob));
  expect(c.claim).toMatchObject({ agent: 'bob', mode: 'shared', paths: ['docs'] });
  const refused = await run(['claim', 'src/parser/x.ts', '--wait', '200ms'], bob);
  expect(refused.code).toBe(1);
  expect(JSON.parse(refused.stderr).data).toMatchObject({ code: 'CONFLICT', waited_ms: 200 });
  expect(json(await run(['release', c.claim.id], bob)).claim.state).toBe('released');

  // Usage errors: a lease-less claim, an option of another command.
  expect((await run(['claim', 'x'])).code).toBe(2);
  const wrongOption = await run(['task', 'list', '--shared']);
  expect(wrongOption.code).toBe(2);
  expect(wrongOption.stderr).toBe('decapod: unknown option --shared for task list (see decapod help task list)\n');
  await killServersFor(root);
});

test('decapod serve --durability normal trades power-loss durability for speed; full is the default', async () => {
  const root = tempRoot();
  const normal = await startForegroundServe(root, ['--durability', 'normal']);
  expect((await callOk(root, 'server.status')).storage).toEqual({ engine: 'sqlite', journal_mode: 'wal', synchronous: 'normal' });
  normal.proc.kill('SIGTERM');
  await normal.exited;
  const full = await startForegroundServe(root);
  expect((await callOk(root, 'server.status')).storage.synchronous).toBe('full');
  full.proc.kill('SIGTERM');
  await full.exited;
  const bad = await runDecapod(['serve', '--durability', 'fast'], { root });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--durability: expected full or normal, got "fast"');
});
