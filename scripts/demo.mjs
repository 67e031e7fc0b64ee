#!/usr/bin/env node
// `npm run demo`: starts Decapod on demand in a scratch project and walks agents through it,
// printing what happens. It checks its own story and exits non-zero if any step goes wrong.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/decapod', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'decapod-demo-'));
execFileSync('git', ['init', '-q', root]);
const env = { ...process.env, DECAPOD_IDLE_TIMEOUT: '30s' };
delete env.DECAPOD_LEASE;

let step = 0;
const say = (text) => console.log(`\n${++step}. ${text}`);
const show = (text) => console.log(`   ${text}`);
function check(ok, what) {
  if (!ok) {
    console.error(`\nDEMO FAILED: ${what}`);
    spawnSync(bin, ['stop', '--root', root], { env });
    process.exit(1);
  }
}
/** Runs `decapod call` as an agent would; returns {code, result|error, ms}. */
function decapod(method, params, extraEnv = {}) {
  const started = process.hrtime.bigint();
  const args = ['call', method, ...(params ? [JSON.stringify(params)] : []), '--root', root];
  const r = spawnSync(bin, args, { env: { ...env, ...extraEnv }, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const parse = (t) => (t.trim() ? JSON.parse(t) : undefined);
  return { code: r.status, result: r.status === 0 ? parse(r.stdout) : undefined, error: r.status === 1 ? parse(r.stderr) : r.stderr, ms };
}

console.log(`Decapod demo in a scratch repository: ${root}`);

say('No server is running yet. Agent alice makes the first call; Decapod starts one on demand.');
const alice = decapod('lease.grant', { agent: 'alice', ttl_ms: 1500 });
check(alice.code === 0, `alice could not get a lease: ${JSON.stringify(alice.error)}`);
const info = decapod('server.status').result;
show(`server pid ${info.pid} on ${info.root}, started on demand (first call took ${alice.ms.toFixed(0)} ms)`);
show(`alice holds ${alice.result.lease_id} for ${alice.result.ttl_ms} ms; receipt seq ${alice.result.receipt.seq}`);

say('Agent bob calls next and finds the same server; no second process.');
const bob = decapod('lease.grant', { agent: 'bob', ttl_ms: 60000, idempotency_key: 'bob-grant-1' });
check(bob.code === 0, 'bob could not get a lease');
check(decapod('server.status').result.pid === info.pid, 'bob reached another server');
show(`bob holds ${bob.result.lease_id}; call took ${bob.ms.toFixed(0)} ms against the warm server`);

say("bob's network hiccups and he retries the grant with the same idempotency key.");
const retry = decapod('lease.grant', { agent: 'bob', ttl_ms: 60000, idempotency_key: 'bob-grant-1' });
check(retry.result.lease_id === bob.result.lease_id && retry.result.receipt.seq === bob.result.receipt.seq, 'the retry applied twice');
show(`same lease ${retry.result.lease_id}, same receipt seq ${retry.result.receipt.seq}: nothing applied twice`);

say('alice crashes and stops renewing; bob keeps renewing his lease (DECAPOD_LEASE makes it implicit).');
const deadline = Date.now() + 2000;
while (Date.now() < deadline) {
  check(decapod('lease.renew', undefined, { DECAPOD_LEASE: bob.result.lease }).code === 0, 'bob could not renew');
  spawnSync('sleep', ['0.4']);
}
const late = decapod('lease.renew', { lease: alice.result.lease });
check(late.code === 1 && late.error.data.code === 'LEASE_INVALID', 'alice’s lease should have expired');
show(`alice's renewal is refused: ${late.error.data.code} (${late.error.data.reason}), judged by the server clock`);
// The server's sweep records the expiry within about a second.
for (let i = 0; i < 30 && !decapod('audit.list').result.events.some((e) => e.type === 'lease.expired'); i++) spawnSync('sleep', ['0.1']);
const leases = decapod('lease.list').result.leases;
for (const l of leases) show(`${l.agent.padEnd(6)} ${l.lease_id}  ${l.state.padEnd(8)} ${l.ttl_remaining_ms} ms left`);

say('An agent presents a bad request; it is refused precisely and nothing is written.');
const before = decapod('audit.verify').result.count;
const bad = decapod('lease.grant', { agent: 'carol', ttl_ms: 10 });
check(bad.code === 1 && bad.error.data.field === 'ttl_ms', 'a bad ttl was not refused');
check(decapod('audit.verify').result.count === before, 'a refused call wrote an event');
show(`${bad.error.code} ${bad.error.message}`);

say('A backlog of 9 tasks; three agents (separate processes) share it without collisions.');
const backlog = [
  ['Fix the tokenizer', 0, ['src/parser/tokenizer.ts']],
  ['Parser error messages', 1, ['src/parser']],
  ['CLI help text', 1, ['src/cli/help.ts']],
  ['Refactor the CLI', 2, ['src/cli']],
  ['Docs: quick start', 2, ['docs/quickstart.md']],
  ['Docs: every page', 3, ['docs/**']],
  ['Bump dependencies', 2, ['package.json']],
  ['CI cache', 3, ['.ci']],
  ['Changelog', 4, []],
];
for (const [title, priority, paths] of backlog) check(decapod('task.create', { title, priority, paths }).code === 0, `could not create ${title}`);
const agents = ['ana', 'ben', 'cy'].map((name) => spawn(process.execPath, [fileURLToPath(new URL('./demo-agent.mjs', import.meta.url)), name, root], { env }));
const claimed = (await Promise.all(agents.map((p) => new Promise((res) => {
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.on('close', () => res(out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))));
})))).flat();
for (const c of claimed.sort((a, b) => a.fence - b.fence)) show(`${c.agent.padEnd(4)} took ${c.task.padEnd(3)} fence ${String(c.fence).padEnd(3)} ${c.title}  [${c.paths.join(', ') || 'no paths'}]`);
const ids = claimed.map((c) => c.task);
check(new Set(ids).size === ids.length, 'a task was claimed twice');
// Our own check of the outcome (the backlog's globs are all `folder/**`, i.e. the folder).
const folder = (p) => p.replace(/\/\*\*$/, '');
const within = (a, b) => a === b || a.startsWith(`${b}/`);
const live = decapod('claim.list').result.claims.filter((c) => c.task);
for (const x of live) for (const y of live) {
  const overlap = x.paths.some((p) => y.paths.some((q) => within(folder(p), folder(q)) || within(folder(q), folder(p))));
  check(x.agent === y.agent || !overlap, `${x.agent} and ${y.agent} hold overlapping paths`);
}
const waiting = decapod('task.list', { ready: true }).result.tasks.map((t) => t.id);
show(`${ids.length} tasks claimed, none twice; no two agents hold overlapping paths. Still waiting (paths held): ${waiting.join(', ') || 'none'}`);

say('Done means proven: gates people wrote in .decapod/config.json, run by Decapod itself.');
mkdirSync(join(root, 'calc'), { recursive: true });
writeFileSync(join(root, 'calc', 'add.js'), 'export const add = (a, b) => a - b; // bug\n');
writeFileSync(join(root, '.decapod', 'config.json'), JSON.stringify({
  gates: {
    lint: { command: 'node --check calc/add.js && echo "syntax ok"', timeout_ms: 30000 },
    test: { command: `node --input-type=module -e "import('./calc/add.js').then(({ add }) => { if (add(2, 2) !== 4) { console.error('add(2, 2) = ' + add(2, 2)); process.exit(1); } console.log('add ok'); })"`, timeout_ms: 30000 },
  },
}, null, 2));
show(`gates: ${decapod('gate.list').result.gates.map((g) => `${g.name} (${g.attest}-attested)`).join(', ')}`);
const dee = decapod('lease.grant', { agent: 'dee', ttl_ms: 60000 }).result.lease;
const asDee = { DECAPOD_LEASE: dee };
check(decapod('task.create', { title: 'Fix add()', paths: ['calc'], gates: ['lint', 'test'], priority: 0 }).code === 0, 'could not create the calc task');
const calc = decapod('task.list', {}).result.tasks.find((t) => t.title === 'Fix add()');
const claimCalc = decapod('task.claim', { lease: dee, task: calc.id }, asDee).result.claim;
show(`dee claims ${calc.id} (fence ${claimCalc.fence}) and tries to finish at once:`);
const early = decapod('task.complete', { lease: dee, task: calc.id, fence: claimCalc.fence });
check(early.code === 1 && early.error.data.code === 'PROOF_REQUIRED', 'completion without proofs was accepted');
show(`  refused: ${early.error.data.blocked_by.map((b) => `${b.gate} ${b.reason}`).join(', ')}`);
const proofRun = (gate) => spawnSync(bin, ['proof', 'run', calc.id, gate, '--root', root], { env: { ...env, ...asDee }, encoding: 'utf8' });
const lint = proofRun('lint');
check(lint.status === 0, 'lint should pass');
const test1 = proofRun('test');
check(test1.status === 1 && JSON.parse(test1.stdout).proof.passed === false, 'the test gate should fail on the bug');
show(`  decapod proof run ${calc.id} lint → passed; test → failed (exit ${JSON.parse(test1.stdout).proof.exit_code})`);
const blocked = decapod('task.complete', { lease: dee, task: calc.id, fence: claimCalc.fence });
show(`  complete → ${blocked.error.data.code}: ${blocked.error.data.blocked_by.map((b) => `${b.gate} ${b.reason}`).join(', ')}`);
writeFileSync(join(root, 'calc', 'add.js'), 'export const add = (a, b) => a + b;\n');
const stale = decapod('task.complete', { lease: dee, task: calc.id, fence: claimCalc.fence });
check(stale.code === 1 && stale.error.data.blocked_by.some((b) => b.gate === 'lint' && b.reason === 'stale'), 'the lint proof should be stale after the fix');
show(`  dee fixes calc/add.js; the old lint proof is now ${stale.error.data.blocked_by.find((b) => b.gate === 'lint').reason}: it vouched for other content`);
check(proofRun('lint').status === 0 && proofRun('test').status === 0, 'the gates should pass after the fix');
const done = decapod('task.complete', { lease: dee, task: calc.id, fence: claimCalc.fence, summary: 'add() fixed' });
check(done.code === 0 && done.result.task.verified === true, 'the proven task did not complete');
show(`  both gates pass on the fixed code → ${calc.id} is ${done.result.task.status}, verified=${done.result.task.verified}`);
const proofs = decapod('proof.list', { task: calc.id }).result.proofs;
for (const p of proofs) show(`  ${p.id} ${p.gate.padEnd(4)} ${p.passed ? 'passed' : 'failed'} exit ${p.exit_code} in ${p.duration_ms} ms, output sha256 ${p.output_sha256.slice(0, 12)}…, digest ${p.digest.slice(0, 12)}…`);

say('The audit log: every change, hash-chained.');
const events = decapod('audit.list', { limit: 1000 }).result.events;
const byType = {};
for (const e of events) byType[e.type] = (byType[e.type] ?? 0) + 1;
show(Object.entries(byType).map(([t, n]) => `${n} ${t}`).join(', '));
for (const e of events.slice(-3)) show(`#${e.seq} ${e.type.padEnd(15)} ${(e.agent ?? '-').padEnd(6)} prev ${e.prev_hash.slice(0, 12)}… → ${e.hash.slice(0, 12)}…`);
const verify = decapod('audit.verify').result;
check(verify.ok, 'the audit chain does not verify');
show(`audit.verify: ok=${verify.ok}, ${verify.count} events, head ${verify.head.slice(0, 16)}…`);
const replay = decapod('audit.replay').result;
check(replay.ok, 'replaying the log does not rebuild the state');
show(`audit.replay: the ${replay.events} events rebuild the live state exactly (digest ${replay.live_digest.slice(0, 16)}…)`);

say('Done for the day: stop the server (it would also exit by itself when idle).');
const stop = spawnSync(bin, ['stop', '--root', root], { env, encoding: 'utf8' });
check(stop.status === 0 && !existsSync(join(root, '.decapod', 'run', 'server.json')), 'the server did not stop cleanly');
show(`stopped pid ${info.pid}; server.json removed. The next call would start a new server on demand.`);

// DECAPOD_DEMO_KEEP=1 keeps the scratch repository and its history (test/process/migrate.test.ts migrates it).
if (process.env.DECAPOD_DEMO_KEEP === '1') console.log(`\nKept the scratch repository: ${root}`);
else rmSync(root, { recursive: true, force: true });
console.log('\nDemo complete.');
