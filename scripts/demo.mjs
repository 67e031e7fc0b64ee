#!/usr/bin/env node
// `npm run demo`: starts Decapod on demand in a scratch project and walks agents through it,
// printing what happens. It checks its own story and exits non-zero if any step goes wrong.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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

say('The audit log: every change, hash-chained.');
for (const e of decapod('audit.list').result.events) show(`#${e.seq} ${e.type.padEnd(14)} ${String(e.agent).padEnd(6)} ${e.hash.slice(0, 16)}…`);
const verify = decapod('audit.verify').result;
check(verify.ok, 'the audit chain does not verify');
show(`audit.verify: ok=${verify.ok}, ${verify.count} events, head ${verify.head.slice(0, 16)}…`);

say('Done for the day: stop the server (it would also exit by itself when idle).');
const stop = spawnSync(bin, ['stop', '--root', root], { env, encoding: 'utf8' });
check(stop.status === 0 && !existsSync(join(root, '.decapod', 'run', 'server.json')), 'the server did not stop cleanly');
show(`stopped pid ${info.pid}; server.json removed. The next call would start a new server on demand.`);

rmSync(root, { recursive: true, force: true });
console.log('\nDemo complete.');
