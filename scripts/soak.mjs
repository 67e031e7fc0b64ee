#!/usr/bin/env node
// `npm run soak -- [--minutes 10] [--compressed]`: mixed load against a real `decapod serve`
// process for a while, sampling the server's RSS, open descriptors and table sizes. With
// --compressed the server runs on the test clock (DECAPOD_TEST_CLOCK) and each round advances it
// 20 minutes, so hours of leases expiring and rows being pruned pass in minutes.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, compressed: { type: 'boolean', default: false } } });
const minutes = Number(values.minutes);
const bin = fileURLToPath(new URL('../bin/decapod', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'decapod-soak-'));
const env = { ...process.env, DECAPOD_IDLE_TIMEOUT: '10m', ...(values.compressed ? { DECAPOD_TEST_CLOCK: '1' } : {}) };
const envLines = execFileSync(bin, ['env', '--root', root], { env, encoding: 'utf8' });
const url = /DECAPOD_URL=(\S+)/.exec(envLines)[1];
const token = /DECAPOD_TOKEN=(\S+)/.exec(envLines)[1].replace(/^'|'$/g, '');
const agent = new Agent({ keepAlive: true, maxSockets: 8 });

function call(method, params = {}) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
    const req = request(`${url}/rpc`, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d)).on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pid = (await call('server.status')).result.pid;
const rssMb = () => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024);
const fds = () => readdirSync(`/proc/${pid}/fd`).length;
const counts = async () => (await call('server.status')).result.counts;

const deadline = Date.now() + minutes * 60_000;
const samples = [];
let round = 0;
let calls = 0;
console.log(`soak: ${minutes} min${values.compressed ? ', compressed time' : ''}, server pid ${pid}, root ${root}`);
while (Date.now() < deadline) {
  for (let a = 0; a < 8; a++) {
    const g = await call('lease.grant', { agent: `agent-${a}`, ttl_ms: 60_000, idempotency_key: `g-${round}-${a}` });
    const lease = g.result.lease;
    const c = await call('claim.acquire', { lease, paths: [`area-${a}/r${round}`] });
    await call('task.create', { lease, title: `r${round} a${a}`, paths: [`work/${round}/${a}`] });
    await call('task.claim', { lease });
    await call('lease.renew', { lease });
    if (a % 2 === 0) await call('claim.release', { lease, claim: c.result.claim.id, fence: c.result.claim.fence });
    if (a % 4 === 0) await call('lease.revoke', { lease });
    calls += 7;
  }
  if (values.compressed) await call('test.advance_clock', { ms: 20 * 60_000 });
  if (round % 25 === 0) {
    const s = { round, elapsed_s: Math.round((minutes * 60_000 - (deadline - Date.now())) / 1000), rss_mb: rssMb(), fds: fds(), calls, ...(await counts()) };
    samples.push(s);
    console.log(JSON.stringify(s));
  }
  round++;
  if (!values.compressed) await new Promise((r) => setTimeout(r, 1000));
}
const verify = (await call('audit.verify')).result;
const replay = (await call('audit.replay')).result;
console.log(JSON.stringify({ done: true, rounds: round, calls, rss_mb_first: samples[1]?.rss_mb ?? samples[0].rss_mb, rss_mb_last: rssMb(), fds_first: samples[0].fds, fds_last: fds(), audit_ok: verify.ok, replay_ok: replay.ok }));
spawnSync(bin, ['stop', '--root', root], { env });
rmSync(root, { recursive: true, force: true });
