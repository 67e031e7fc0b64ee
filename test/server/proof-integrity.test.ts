// Issue 10: a proof vouches only for what the gate saw, under the gate as it is configured now.
// Each test below reproduces a way the old main let an agent complete work that was never proven.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

function writeConfig(root: string, config: unknown) {
  mkdirSync(join(root, '.decapod'), { recursive: true });
  writeFileSync(join(root, '.decapod', 'config.json'), JSON.stringify(config));
}

/** Waits (bounded) until the gate has written `file` in the root: it is then mid-run. */
async function until(root: string, file: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (existsSync(join(root, file))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the gate never wrote ${file}`);
}

/** Gate commands that pause mid-run until the test lets them go, so the test can act meanwhile. */
const wait = (file: string) => `while [ ! -f ${file} ]; do sleep 0.02; done`;

async function setup(gates: Record<string, unknown>, plan: string[], opts: { git?: boolean; paths?: string[] } = {}) {
  const s = await startTestServer();
  if (opts.git) execFileSync('git', ['init', '-q', s.root]);
  writeConfig(s.root, { gates });
  mkdirSync(join(s.root, 'src'));
  writeFileSync(join(s.root, 'src', 'main.ts'), 'export const broken = true;\n');
  const lease = (await s.call('lease.grant', { agent: 'alice' })).lease as string;
  await s.call('task.create', { title: 'fix', paths: opts.paths ?? ['src'], gates: plan });
  const { claim } = await s.call('task.claim', { lease, task: 'T1' });
  return { s, lease, fence: claim.fence as number };
}

const complete = (s: TestServer, lease: string, fence: number) => s.rpc('task.complete', { lease, task: 'T1', fence });

test('content changed while the gate runs and put back afterwards: recorded, but it does not count', async () => {
  // The gate passes only on a fixed src/main.ts; the content at rest is broken.
  const gate = { command: `touch started; ${wait('go')}; grep -q fixed src/main.ts` };
  const { s, lease, fence } = await setup({ check: gate }, ['check']);
  const running = s.call('proof.run', { lease, task: 'T1', gate: 'check', fence });
  await until(s.root, 'started');
  writeFileSync(join(s.root, 'src', 'main.ts'), 'export const fixed = true;\n'); // what the gate will see
  writeFileSync(join(s.root, 'go'), '');
  const { proof } = await running;
  writeFileSync(join(s.root, 'src', 'main.ts'), 'export const broken = true;\n'); // put back
  expect(proof).toMatchObject({ passed: true, counts: false, changed_during_run: ['src/main.ts'] });
  const r = await complete(s, lease, fence);
  expect(r.error).toMatchObject({ code: 1006, data: { blocked_by: [{ gate: 'check', reason: 'changed_during_run', proof: proof.id }] } });
  expect(r.error.data.blocked_by[0].detail).toContain('src/main.ts');
  expect(r.error.message).toContain('check (changed_during_run)');
  expect((await s.call('task.get', { task: 'T1' })).task.status).toBe('open');
});

test('content changed and put back before the gate exits is caught too (the file was written)', async () => {
  const gate = { command: `touch started; ${wait('go')}; grep -q fixed src/main.ts && touch checked && ${wait('go2')}` };
  const { s, lease, fence } = await setup({ check: gate }, ['check']);
  const running = s.call('proof.run', { lease, task: 'T1', gate: 'check', fence });
  await until(s.root, 'started');
  writeFileSync(join(s.root, 'src', 'main.ts'), 'export const fixed = true;\n');
  writeFileSync(join(s.root, 'go'), '');
  await until(s.root, 'checked');
  writeFileSync(join(s.root, 'src', 'main.ts'), 'export const broken = true;\n'); // same bytes as before the run
  writeFileSync(join(s.root, 'go2'), '');
  const { proof } = await running;
  expect(proof).toMatchObject({ passed: true, counts: false, changed_during_run: ['src/main.ts'] });
  expect((await complete(s, lease, fence)).error.data.blocked_by).toMatchObject([{ gate: 'check', reason: 'changed_during_run' }]);
});

test('a file the gate did not touch keeps the proof counting; files outside the coverage never matter', async () => {
  const gate = { command: `touch started; ${wait('go')}; true` };
  const { s, lease, fence } = await setup({ check: gate }, ['check']);
  const running = s.call('proof.run', { lease, task: 'T1', gate: 'check', fence });
  await until(s.root, 'started');
  writeFileSync(join(s.root, 'outside.txt'), 'not under src/\n');
  writeFileSync(join(s.root, 'go'), '');
  const { proof } = await running;
  expect(proof).toMatchObject({ passed: true, counts: true, changed_during_run: [] });
  expect((await s.call('proof.verify', { proof: proof.id })).ok).toBe(true);
  expect((await complete(s, lease, fence)).result.task).toMatchObject({ status: 'done', verified: true });
});

test('an agent-recorded proof does not satisfy a gate that has since become attest: server', async () => {
  const { s, lease, fence } = await setup({ review: { command: 'true', attest: 'any' } }, ['review']);
  const { proof } = await s.call('proof.record', { lease, task: 'T1', gate: 'review', fence, passed: true });
  writeConfig(s.root, { gates: { review: { command: 'true', attest: 'server' } } });
  const r = await complete(s, lease, fence);
  expect(r.error).toMatchObject({ code: 1006, data: { blocked_by: [{ gate: 'review', reason: 'agent_attested', proof: proof.id }] } });
  // A proof Decapod runs itself does.
  await s.call('proof.run', { lease, task: 'T1', gate: 'review', fence });
  expect((await complete(s, lease, fence)).result.task.verified).toBe(true);
});

test("a proof of the gate's older command is stale", async () => {
  const { s, lease, fence } = await setup({ test: { command: 'true' } }, ['test']);
  const { proof } = await s.call('proof.run', { lease, task: 'T1', gate: 'test', fence });
  writeConfig(s.root, { gates: { test: { command: 'grep -q fixed src/main.ts' } } });
  const r = await complete(s, lease, fence);
  expect(r.error.data.blocked_by).toEqual([{ gate: 'test', reason: 'stale', proof: proof.id, detail: expect.stringContaining('command changed') }]);
  // Run under the new command: it fails on the broken content, and the task stays open.
  expect((await s.call('proof.run', { lease, task: 'T1', gate: 'test', fence })).proof.passed).toBe(false);
  expect((await complete(s, lease, fence)).error.data.blocked_by).toMatchObject([{ gate: 'test', reason: 'failed' }]);
});

test('a plan gate that no longer exists in the config blocks completion as missing, never verifies', async () => {
  const { s, lease, fence } = await setup({ test: { command: 'true' }, lint: { command: 'true' } }, ['lint', 'test']);
  await s.call('proof.run', { lease, task: 'T1', gate: 'test', fence });
  await s.call('proof.run', { lease, task: 'T1', gate: 'lint', fence });
  writeConfig(s.root, { gates: { test: { command: 'true' } } });
  const r = await complete(s, lease, fence);
  expect(r.error.data.blocked_by).toEqual([{ gate: 'lint', reason: 'missing', detail: expect.stringContaining('no longer defined') }]);
  // and it can no longer be proven
  expect((await s.rpc('proof.run', { lease, task: 'T1', gate: 'lint', fence })).error).toMatchObject({ code: 1002, data: { kind: 'gate', id: 'lint' } });
});

test('proof.run and proof.record of a gate outside the task’s proof plan are refused, and record nothing', async () => {
  const { s, lease, fence } = await setup({ test: { command: 'touch ran' }, review: { command: 'true', attest: 'any' } }, ['test']);
  const before = (await s.call('audit.verify')).count;
  const run = await s.rpc('proof.run', { lease, task: 'T1', gate: 'review', fence });
  expect(run.error).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', field: 'gate' } });
  expect(run.error.message).toContain("not in task T1's proof plan (test)");
  const rec = await s.rpc('proof.record', { lease, task: 'T1', gate: 'review', fence, passed: true });
  expect(rec.error).toMatchObject({ code: -32602, data: { field: 'gate' } });
  expect((await s.call('proof.list', { task: 'T1' })).proofs).toEqual([]);
  expect((await s.call('audit.verify')).count).toBe(before);
  expect(existsSync(join(s.root, 'ran'))).toBe(false);
});

for (const git of [false, true]) {
  test(`a gate's inputs widen what its proofs cover (${git ? 'git' : 'plain files'})`, async () => {
    const gates = { test: { command: 'true', inputs: ['package-lock.json', 'config/*.env'] }, other: { command: 'true' } };
    const { s, lease, fence } = await setup(gates, ['test', 'other'], { git });
    writeFileSync(join(s.root, 'package-lock.json'), '{"v":1}\n');
    mkdirSync(join(s.root, 'config'));
    writeFileSync(join(s.root, 'config', 'app.env'), 'A=1\n');
    if (git) writeFileSync(join(s.root, '.gitignore'), 'config/\n'); // an ignored input still counts
    const test1 = (await s.call('proof.run', { lease, task: 'T1', gate: 'test', fence })).proof;
    const other = (await s.call('proof.run', { lease, task: 'T1', gate: 'other', fence })).proof;
    expect(test1.digest).not.toBe(other.digest);
    writeFileSync(join(s.root, 'config', 'app.env'), 'A=2\n');
    // Only the gate that reads the input goes stale.
    expect((await complete(s, lease, fence)).error.data.blocked_by).toEqual([{ gate: 'test', reason: 'stale', proof: test1.id }]);
    writeFileSync(join(s.root, 'config', 'app.env'), 'A=1\n');
    writeFileSync(join(s.root, 'package-lock.json'), '{"v":2}\n');
    expect((await complete(s, lease, fence)).error.data.blocked_by).toEqual([{ gate: 'test', reason: 'stale', proof: test1.id }]);
    writeFileSync(join(s.root, 'package-lock.json'), '{"v":1}\n');
    writeFileSync(join(s.root, 'unrelated.txt'), 'neither in the task paths nor an input\n');
    expect((await complete(s, lease, fence)).result.task.verified).toBe(true);
  });
}

test('gate inputs are validated like claim paths, naming the key', async () => {
  const s = await startTestServer();
  writeConfig(s.root, { gates: { t: { command: 'true', inputs: ['ok.txt', '../outside'] } } });
  expect((await s.call('gate.list')).config_error).toContain('gates.t.inputs.1');
  writeConfig(s.root, { gates: { t: { command: 'true', inputs: 'lock' } } });
  expect((await s.call('gate.list')).config_error).toContain('gates.t.inputs: must be a list');
  writeConfig(s.root, { gates: { t: { command: 'true', inputs: ['./b/', 'a'] } } });
  expect(await s.call('gate.list')).toMatchObject({ config_error: null, gates: [{ name: 't', inputs: ['a', 'b'] }] });
});

test('a gate runs in the root with DECAPOD_* set, and never with a lease secret the server inherited', async () => {
  const saved = process.env.DECAPOD_LEASE;
  process.env.DECAPOD_LEASE = 'dcl_inherited-secret';
  try {
    const gate = { command: 'printf "%s|%s|%s|%s|%s|%s|%s" "$PWD" "$DECAPOD_ROOT" "$DECAPOD_TASK" "$DECAPOD_GATE" "$DECAPOD_FENCE" "$DECAPOD_AGENT" "${DECAPOD_LEASE-unset}"' };
    const { s, lease, fence } = await setup({ env: gate }, ['env']);
    const { output_path } = await s.call('proof.run', { lease, task: 'T1', gate: 'env', fence });
    const [pwd, root, ...rest] = readFileSync(output_path, 'utf8').split('|');
    expect(execFileSync('realpath', [pwd!], { encoding: 'utf8' }).trim()).toBe(execFileSync('realpath', [s.root], { encoding: 'utf8' }).trim());
    expect(root).toBe(s.root);
    expect(rest).toEqual(['T1', 'env', String(fence), 'alice', 'unset']);
  } finally {
    if (saved === undefined) delete process.env.DECAPOD_LEASE;
    else process.env.DECAPOD_LEASE = saved;
  }
});

test('proofs recorded before counts existed still verify and still count (hash unchanged when counting)', async () => {
  const { s, lease, fence } = await setup({ test: { command: 'true' } }, ['test']);
  const { proof } = await s.call('proof.run', { lease, task: 'T1', gate: 'test', fence });
  // The hash of a counting proof is over the fields it had before migration 004.
  const { hash, counts: _c, changed_during_run: _d, ...old } = proof;
  const { hashCanonical } = await import('../../src/util/hash.js');
  expect(hashCanonical(old)).toBe(hash);
  expect((await s.call('audit.replay')).ok).toBe(true);
  rmSync(join(s.root, 'src', 'main.ts'));
  expect((await complete(s, lease, fence)).error.data.blocked_by).toMatchObject([{ gate: 'test', reason: 'stale' }]);
});
