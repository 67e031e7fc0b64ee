import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { isProcessAlive } from '../../src/util/process-alive.js';
import { startTestServer, type TestServer, testOnSqliteFile } from '../helpers/test-server.js';

const GATES = {
  pass: { command: 'echo "gate passed for $DECAPOD_TASK/$DECAPOD_GATE/$DECAPOD_FENCE"' },
  check: { command: 'test -f src/fixed && echo fixed || { echo "src/fixed is missing" >&2; exit 3; }' },
  slow: { command: 'sleep 30 & echo $! > child.pid; sleep 30', timeout_ms: 400 },
  big: { command: "head -c 5000 /dev/zero | tr '\\000' x", output_cap_bytes: 1000 },
  review: { command: 'true', attest: 'any' },
};

function writeConfig(root: string, config: unknown) {
  mkdirSync(join(root, '.decapod'), { recursive: true });
  writeFileSync(join(root, '.decapod', 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
}

/** A server with the test gates, one agent holding task T1 (paths src/), and a bystander. */
async function setup(opts: { gates?: string[]; git?: boolean } = {}) {
  const s = await startTestServer();
  if (opts.git) execFileSync('git', ['init', '-q', s.root]);
  writeConfig(s.root, { gates: GATES });
  mkdirSync(join(s.root, 'src'));
  writeFileSync(join(s.root, 'src', 'main.ts'), 'export {}\n');
  writeFileSync(join(s.root, 'README.md'), 'hello\n');
  const lease = (await s.call('lease.grant', { agent: 'alice' })).lease;
  const other = (await s.call('lease.grant', { agent: 'bob' })).lease;
  await s.call('task.create', { title: 'fix', paths: ['src'], gates: opts.gates ?? ['pass'] });
  const { claim } = await s.call('task.claim', { lease, task: 'T1' });
  return { s, lease, other, fence: claim.fence as number };
}

const run = (s: TestServer, lease: string, gate: string, fence: number, task = 'T1') => s.call('proof.run', { lease, task, gate, fence });

test('a passing gate lets the holder complete: done, verified, claims released', async () => {
  const { s, lease, fence } = await setup();
  const { proof, output_path } = await run(s, lease, 'pass', fence);
  expect(proof).toMatchObject({ id: 'P1', task: 'T1', gate: 'pass', passed: true, exit_code: 0, timed_out: false, attested_by: 'server', agent: 'alice', fence, truncated: false });
  expect(readFileSync(output_path, 'utf8')).toBe(`gate passed for T1/pass/${fence}\n`);
  expect(proof.output_bytes).toBe(readFileSync(output_path).length);
  const done = await s.call('task.complete', { lease, task: 'T1', fence, summary: 'done' });
  expect(done.task).toMatchObject({ status: 'done', verified: true, holder: null });
  expect(done.task.completed_at).toEqual(expect.any(String));
  expect((await s.call('claim.list')).claims).toEqual([]);
  const types = (await s.call('audit.list', { task: 'T1' })).events.map((e: { type: string }) => e.type);
  expect(types.slice(-3)).toEqual(['proof.recorded', 'claim.released', 'task.completed']);
});

test('a failing gate blocks with reason failed; once fixed and re-run, the task completes', async () => {
  const { s, lease, fence } = await setup({ gates: ['check'] });
  const failed = (await run(s, lease, 'check', fence)).proof;
  expect(failed).toMatchObject({ passed: false, exit_code: 3 });
  const r = await s.rpc('task.complete', { lease, task: 'T1', fence });
  expect(r.error).toEqual({
    code: 1006,
    message: expect.stringContaining('check (failed)'),
    data: { code: 'PROOF_REQUIRED', blocked_by: [{ gate: 'check', reason: 'failed', proof: failed.id }], next: 'proof.run' },
  });
  writeFileSync(join(s.root, 'src', 'fixed'), 'yes\n');
  expect((await run(s, lease, 'check', fence)).proof.passed).toBe(true);
  expect((await s.call('task.complete', { lease, task: 'T1', fence })).task.status).toBe('done');
});

test('no proof at all blocks with reason missing; an empty plan completes unverified', async () => {
  const { s, lease, fence } = await setup({ gates: ['pass', 'check'] });
  await run(s, lease, 'pass', fence);
  expect((await s.rpc('task.complete', { lease, task: 'T1', fence })).error.data.blocked_by).toEqual([{ gate: 'check', reason: 'missing' }]);
  await s.call('task.create', { title: 'no plan' });
  const c = (await s.call('task.claim', { lease, task: 'T2' })).claim;
  expect((await s.call('task.complete', { lease, task: 'T2', fence: c.fence })).task).toMatchObject({ status: 'done', verified: false });
});

for (const git of [false, true]) {
  test(`changing a file under the task's paths makes the proof stale; outside them it does not (${git ? 'git' : 'plain files'})`, async () => {
    const { s, lease, fence } = await setup({ git });
    const { proof } = await run(s, lease, 'pass', fence);
    writeFileSync(join(s.root, 'README.md'), 'changed outside the task\n');
    writeFileSync(join(s.root, 'notes.txt'), 'new file outside\n');
    const before = await s.call('audit.verify');
    writeFileSync(join(s.root, 'src', 'main.ts'), 'export const changed = 1;\n');
    const r = await s.rpc('task.complete', { lease, task: 'T1', fence });
    expect(r.error.data).toEqual({ code: 'PROOF_REQUIRED', blocked_by: [{ gate: 'pass', reason: 'stale', proof: proof.id }], next: 'proof.run' });
    expect((await s.call('audit.verify')).count).toBe(before.count); // refused: nothing written
    writeFileSync(join(s.root, 'src', 'main.ts'), 'export {}\n'); // back to what was proven
    expect((await s.call('task.complete', { lease, task: 'T1', fence })).task.verified).toBe(true);
  });
}

test('a non-holder or a stale fence can neither run proofs nor complete', async () => {
  const { s, lease, other, fence } = await setup();
  expect((await s.rpc('proof.run', { lease: other, task: 'T1', gate: 'pass', fence })).error).toMatchObject({
    code: 1004,
    data: { code: 'NOT_HOLDER', holder: { agent: 'alice', fence } },
  });
  expect((await s.rpc('proof.run', { lease, task: 'T1', gate: 'pass', fence: fence + 1 })).error).toMatchObject({ code: 1005, data: { current_fence: fence } });
  await run(s, lease, 'pass', fence);
  expect((await s.rpc('task.complete', { lease: other, task: 'T1', fence })).error.code).toBe(1004);
  expect((await s.rpc('task.complete', { lease, task: 'T1', fence: fence + 5 })).error.code).toBe(1005);
  expect((await s.rpc('proof.run', { lease, task: 'T1', gate: 'nope', fence })).error).toMatchObject({ code: -32602, data: { field: 'gate' } });
  expect((await s.call('proof.list', { task: 'T1' })).proofs).toHaveLength(1);
});

test('agent-attested proofs: refused for attest "server" gates, accepted and stored for "any"', async () => {
  const { s, lease, fence } = await setup({ gates: ['review', 'pass'] });
  const before = (await s.call('audit.verify')).count;
  expect((await s.rpc('proof.record', { lease, task: 'T1', gate: 'pass', fence, passed: true })).error).toEqual({
    code: 1008,
    message: expect.stringContaining('use proof.run'),
    data: { code: 'PROOF_NOT_ALLOWED', gate: 'pass' },
  });
  expect((await s.call('audit.verify')).count).toBe(before);
  const { proof } = await s.call('proof.record', { lease, task: 'T1', gate: 'review', fence, passed: true, output: 'LGTM from a human' });
  expect(proof).toMatchObject({ attested_by: 'agent', command: null, passed: true, output_bytes: 17 });
  const got = await s.call('proof.get', { proof: proof.id });
  expect(got.output_tail).toBe('LGTM from a human');
  await run(s, lease, 'pass', fence);
  expect((await s.call('task.complete', { lease, task: 'T1', fence })).task.verified).toBe(true);
});

test('a gate past its timeout is killed with its children and recorded as a timeout', async () => {
  const { s, lease, fence } = await setup({ gates: ['slow'] });
  const { proof } = await run(s, lease, 'slow', fence);
  expect(proof).toMatchObject({ passed: false, timed_out: true, exit_code: null });
  const childPid = Number(readFileSync(join(s.root, 'child.pid'), 'utf8'));
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    alive = isProcessAlive(childPid);
    if (alive) await new Promise((r) => setTimeout(r, 50));
  }
  expect(alive, `the gate's child ${childPid} survived`).toBe(false);
});

testOnSqliteFile('output past the cap is truncated and flagged; proof.verify catches a modified artifact', async () => {
  const { s, lease, fence } = await setup({ gates: ['big'] });
  const { proof, output_path } = await run(s, lease, 'big', fence);
  expect(proof).toMatchObject({ truncated: true, output_bytes: 1000, passed: true });
  expect(readFileSync(output_path, 'utf8')).toBe('x'.repeat(1000));
  expect(await s.call('proof.verify', { proof: proof.id })).toEqual({ ok: true, problems: [] });
  writeFileSync(output_path, 'x'.repeat(999) + 'y');
  const v = await s.call('proof.verify', { proof: proof.id });
  expect(v.ok).toBe(false);
  expect(v.problems).toEqual([expect.stringMatching(/^artifact: content hashes to [0-9a-f]{64}, not /)]);
  // A tampered record is caught too.
  const db = new Database(join(s.root, '.decapod', 'decapod.db'));
  db.prepare("UPDATE proofs SET passed = 0 WHERE id = 'P1'").run();
  db.close();
  expect((await s.call('proof.verify', { proof: 'P1' })).problems).toContain('record: its hash does not match its fields');
});

test('other calls are answered while a gate runs', async () => {
  const { s, lease, fence } = await setup({ gates: ['slow'] });
  let finished = false;
  const running = run(s, lease, 'slow', fence).then((r) => {
    finished = true;
    return r;
  });
  for (let i = 0; i < 5; i++) {
    await s.call('server.status');
    await s.call('lease.grant', { agent: `busy-${i}` });
  }
  // Ten calls completed, and the gate (which sleeps until its timeout) had not finished yet.
  expect(finished).toBe(false);
  expect((await running).proof.timed_out).toBe(true);
});

test('a bad config is reported naming the key while the last good one keeps serving', async () => {
  const { s } = await setup();
  expect((await s.call('gate.list')).gates.map((g: { name: string }) => g.name)).toEqual(['pass', 'check', 'slow', 'big', 'review']);
  const cases: [unknown, string][] = [
    ['{ not json', '(file): is not valid JSON'],
    [{ gates: { pass: { command: 'true' } }, extra: 1 }, 'extra: is not a known key'],
    [{ gates: { lint: { timeout_ms: 10 } } }, 'gates.lint.command: is required'],
    [{ gates: { lint: { command: 'x', attest: 'agent' } } }, 'gates.lint.attest: must be "server" or "any"'],
    [{ gates: { lint: { command: 'x', timeout: 5 } } }, 'gates.lint.timeout: is not a known key'],
  ];
  for (const [config, message] of cases) {
    writeConfig(s.root, config);
    const listed = await s.call('gate.list');
    expect(listed.config_error).toContain(message);
    expect(listed.gates.map((g: { name: string }) => g.name)).toEqual(['pass', 'check', 'slow', 'big', 'review']);
  }
  writeConfig(s.root, { gates: { only: { command: 'true' } } });
  expect(await s.call('gate.list')).toMatchObject({ config_error: null, gates: [{ name: 'only', command: 'true', timeout_ms: 600000, attest: 'server' }] });
});

test('a proof plan may only name configured gates', async () => {
  const { s } = await setup();
  expect((await s.rpc('task.create', { title: 'x', gates: ['pass', 'nope'] })).error).toMatchObject({ code: -32602, data: { field: 'gates.1' } });
});

testOnSqliteFile('audit.replay rebuilds the live state exactly; altering one event breaks replay and the chain', async () => {
  const { s, lease, other, fence } = await setup({ gates: ['check', 'review'] });
  await run(s, lease, 'check', fence);
  writeFileSync(join(s.root, 'src', 'fixed'), '1');
  await run(s, lease, 'check', fence);
  await s.call('proof.record', { lease, task: 'T1', gate: 'review', fence, passed: true });
  await s.call('task.complete', { lease, task: 'T1', fence });
  await s.call('task.reopen', { lease: other, task: 'T1', reason: 'regressed' });
  await s.call('task.create', { title: 'second', labels: ['b'], depends_on: ['T1'] });
  await s.call('task.update', { lease: other, task: 'T2', priority: 0, labels: ['a'] });
  await s.call('claim.acquire', { lease: other, paths: ['docs/**'], ttl_ms: 5000 });
  s.clock.advance(5_000);
  await s.call('lease.revoke', { lease });
  const ok = await s.call('audit.replay');
  expect(ok).toMatchObject({ ok: true, chain: { ok: true } });
  expect(ok.events).toBeGreaterThan(12);
  expect(ok.replay_digest).toBe(ok.live_digest);

  const db = new Database(join(s.root, '.decapod', 'decapod.db'));
  db.exec('DROP TRIGGER events_only_redact');
  const target = db.prepare("SELECT seq, data FROM events WHERE type = 'task.updated'").get() as { seq: number; data: string };
  db.prepare('UPDATE events SET data = ? WHERE seq = ?').run(target.data.replace('"priority":0', '"priority":4'), target.seq);
  db.close();
  const broken = await s.call('audit.replay');
  expect(broken.ok).toBe(false);
  expect(broken.chain).toMatchObject({ ok: false, first_bad_seq: target.seq });
  expect(broken.first_difference).toMatchObject({ table: 'tasks', live: { id: 'T2', priority: 0 }, replay: { id: 'T2', priority: 4 } });
  expect((await s.call('audit.verify')).first_bad_seq).toBe(target.seq);
  expect(existsSync(join(s.root, '.decapod', 'artifacts'))).toBe(true);
});

test('while Decapod runs a gate for an agent, the agent’s lease and claim stay alive', async () => {
  const s = await startTestServer();
  // The gate runs until the test lets it go: no race between its duration and the steps below.
  // (The signal file is under .decapod/, which no digest covers: the proof still counts.)
  writeConfig(s.root, { gates: { wait: { command: 'while [ ! -f .decapod/go ]; do sleep 0.02; done; echo done' } } });
  const { lease, lease_id } = await s.call('lease.grant', { agent: 'patient', ttl_ms: 1_000 });
  await s.call('task.create', { title: 't', gates: ['wait'] });
  const { claim } = await s.call('task.claim', { lease, task: 'T1' });
  const running = s.call('proof.run', { lease, task: 'T1', gate: 'wait', fence: claim.fence });
  const deadline = async () => (await s.call('lease.list')).leases.find((l: { lease_id: string }) => l.lease_id === lease_id).expires_at as string;
  // The test clock moves 2.4 s, well past the 1 s TTL, in steps of 0.4 s; after each step the
  // keep-alive must have moved the deadline (waited for, bounded) before the clock moves again.
  for (let i = 0; i < 6; i++) {
    const before = await deadline();
    s.clock.advance(400);
    let after = before;
    for (let n = 0; n < 200 && after === before; n++) {
      await new Promise((r) => setTimeout(r, 25));
      after = await deadline();
    }
    expect(after, `step ${i}: the lease was not renewed while the gate ran`).not.toBe(before);
  }
  writeFileSync(join(s.root, '.decapod', 'go'), '');
  const { proof } = await running;
  expect(proof).toMatchObject({ passed: true, counts: true });
  expect((await s.call('task.complete', { lease, task: 'T1', fence: claim.fence })).task.status).toBe('done');
});
