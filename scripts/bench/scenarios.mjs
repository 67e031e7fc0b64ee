// The benchmarks' building blocks, shared by run.mjs (Decapod against its baselines) and
// compare.mjs (one built package against another): private copies of built packages, servers on
// 127.0.0.1, the load shapes, the set-ups (leases, a held task, many live claims) and one-shot
// measurements (a claim's latency, a cold first call), the A B A B alternation, number formatting
// and the machine's description. Everything started goes through lib.mjs, which stops it.
import { cpSync, existsSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { cpus, freemem, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import {
  adoptPid,
  cannon,
  forgetPid,
  percentile,
  removeTempDir,
  rpc,
  rpcBatch,
  runSync,
  runTimed,
  sleep,
  startProcess,
  stopChild,
  stopPid,
  tempDir,
} from './lib.mjs';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const NODE = process.execPath;

// ---------------------------------------------------------------------------------------------
// Packages under test
// ---------------------------------------------------------------------------------------------

/**
 * A private copy of the built package in `source` (package.json, bin/, dist/, migrations/; its
 * node_modules linked), so a rebuild of `source` mid-run cannot disturb the run. Someone
 * rebuilding (scripts/build.mjs starts with rm -rf dist) leaves dist/ missing for a moment: waits
 * up to 15 s for it.
 */
export async function copyPackage(source, { prefix = 'decapod-bench-pkg-', missing = 'run `npm run build`' } = {}) {
  for (let waited = 0; !existsSync(join(source, 'dist', 'cli.js')); waited += 100) {
    if (waited > 15_000) throw new Error(`${join(source, 'dist')} is missing: ${missing}`);
    await sleep(100);
  }
  for (const part of ['package.json', 'bin', 'migrations', 'node_modules']) {
    if (!existsSync(join(source, part))) throw new Error(`${source} is not a built Decapod package: no ${part}`);
  }
  const pkg = tempDir(prefix);
  cpSync(join(source, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(source, 'migrations'), join(pkg, 'migrations'), { recursive: true });
  cpSync(join(source, 'dist'), join(pkg, 'dist'), { recursive: true });
  cpSync(join(source, 'bin'), join(pkg, 'bin'), { recursive: true });
  symlinkSync(realpathSync(join(source, 'node_modules')), join(pkg, 'node_modules'), 'dir');
  return { pkg, bin: join(pkg, 'bin', 'decapod'), source };
}

/** Baseline (c), bundled into `dir` the way Decapod's CLI is (scripts/build.mjs), better-sqlite3 left external. */
export async function bundleBaselineC(dir) {
  const outfile = join(dir, 'baseline-c.mjs');
  await build({
    entryPoints: [join(HERE, 'baseline-c-cold.mjs')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['better-sqlite3'],
    banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
    logLevel: 'warning',
  });
  return outfile;
}

/** Our environment without DECAPOD_* settings; a server left behind would still exit by itself. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_')) env[k] = v;
  return { ...env, DECAPOD_IDLE_TIMEOUT: '60s', ...extra };
}

/** A fresh project root: a git repository, like the ones agents work in. */
export function freshRoot(prefix = 'decapod-bench-root-') {
  const root = tempDir(prefix);
  runSync('git', ['init', '-q', root]);
  return root;
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/**
 * `decapod serve` of package P on a fresh root; `stop()` stops it and removes the root. `env` adds
 * to the environment (team mode: DECAPOD_DATABASE_URL and DECAPOD_PROJECT).
 */
export async function startDecapod(P, { durability = 'full', env = {} } = {}) {
  const root = freshRoot();
  const { child } = await startProcess(NODE, [P.bin, 'serve', '--root', root, '--idle-timeout', '10m', '--durability', durability], {
    env: cleanEnv(env),
    cwd: root,
  });
  const sj = JSON.parse(readFileSync(join(root, '.decapod', 'run', 'server.json'), 'utf8'));
  return {
    root,
    url: sj.url,
    token: sj.token,
    pid: child.pid,
    async stop() {
      await stopChild(child);
      removeTempDir(root);
    },
  };
}

export async function startBaseline(script, extraArgs = []) {
  const { child, info } = await startProcess(NODE, [join(HERE, script), ...extraArgs], { env: cleanEnv() });
  return { url: `http://127.0.0.1:${info.port}`, pid: child.pid, stop: () => stopChild(child) };
}

export async function startBaselineB(sync) {
  const dir = tempDir('decapod-bench-b-');
  const b = await startBaseline('baseline-b.mjs', ['--db', join(dir, 'b.db'), '--sync', sync]);
  return { ...b, stop: async () => (await b.stop(), removeTempDir(dir)) };
}

// ---------------------------------------------------------------------------------------------
// Set-ups
// ---------------------------------------------------------------------------------------------

export async function grantLeases(server, count, agent = 'bench') {
  const out = [];
  for (let i = 0; i < count; i += 100) {
    const calls = [];
    for (let j = i; j < Math.min(count, i + 100); j++) calls.push(['lease.grant', { agent: `${agent}-${j}`, ttl_ms: 3_600_000 }]);
    for (const r of await rpcBatch(server.url, server.token, calls)) out.push(r.lease);
  }
  return out;
}

/** What the warm `task.get` reads: one task with its fields filled in, held by a lease (so its holder is looked up). */
export const BENCH_TASK = {
  title: 'Fix the parser: a trailing comma in an argument list',
  description: 'The parser rejects `f(a, b,)`. Accept a trailing comma wherever a list may end, and say so in the grammar.',
  priority: 1,
  labels: ['bug', 'parser'],
  paths: ['src/parser', 'test/parser'],
  acceptance: ['`f(a, b,)` parses as `f(a, b)`', 'the grammar in docs/ says where a trailing comma may appear'],
};

/** Creates BENCH_TASK and claims it with a lease of its own; returns its id. */
export async function createHeldTask(server) {
  const [lease] = await grantLeases(server, 1, 'task-holder');
  const { task } = await rpc(server.url, server.token, 'task.create', { lease, ...BENCH_TASK });
  await rpc(server.url, server.token, 'task.claim', { lease, task: task.id, ttl_ms: 3_600_000 });
  const got = await rpc(server.url, server.token, 'task.get', { task: task.id });
  if (!got.task.holder) throw new Error(`task ${task.id} was claimed but has no holder`);
  return task.id;
}

/**
 * `count` live path claims on distinct paths (100 per lease, via JSON-RPC batches), checked with
 * server.status; returns a fresh lease to measure with.
 */
export async function fillClaims(server, count) {
  const perLease = 100;
  const leases = await grantLeases(server, Math.ceil(count / perLease), 'holder');
  for (let l = 0; l < leases.length; l++) {
    const calls = [];
    for (let j = 0; j < perLease && l * perLease + j < count; j++) {
      calls.push(['claim.acquire', { lease: leases[l], paths: [`held/d${l}/f${j}.ts`] }]);
    }
    await rpcBatch(server.url, server.token, calls);
  }
  const status = await rpc(server.url, server.token, 'server.status');
  if (status.counts.claims_active !== count) throw new Error(`expected ${count} live claims, found ${status.counts.claims_active}`);
  const [me] = await grantLeases(server, 1, 'measurer');
  return me;
}

// ---------------------------------------------------------------------------------------------
// Load shapes: each returns (connections, seconds) → autocannon's result, errors counted
// ---------------------------------------------------------------------------------------------

export const STATUS_BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server.status', params: {} });

const auth = (server) => (server.token ? { authorization: `Bearer ${server.token}` } : {});

/** The same request over and over, answers not read (the warm read of `server.status`). */
export function fixedLoad(server, body = STATUS_BODY) {
  return (connections, seconds) => cannon({ url: server.url, connections, duration: seconds, body, headers: auth(server) });
}

/** The warm read as run.mjs has always run it. */
export function readLoad(server, connections, seconds) {
  return fixedLoad(server)(connections, seconds);
}

/** The same request over and over, every answer checked for a result (a JSON-RPC error is HTTP 200). */
export function checkedFixedLoad(server, body) {
  const state = { bad: 0 };
  const requests = [
    {
      method: 'POST',
      body,
      onResponse: (_status, text) => {
        if (!text.includes('"result":')) state.bad++;
      },
    },
  ];
  return async (connections, seconds) => {
    const r = await cannon({ url: server.url, connections, duration: seconds, requests, headers: auth(server) });
    return { ...r, errors: r.errors + state.bad };
  };
}

/** Warm `task.get` of one task: Decapod's (after createHeldTask) or baseline (a)'s constant. */
export function taskGetLoad(server, taskId) {
  return checkedFixedLoad(server, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'task.get', params: { task: taskId } }));
}

/** Per connection: claim.acquire a fresh path, then claim.release it with its fence; every answer checked. */
export function decapodMutations(server, leases) {
  let n = 0;
  const state = { bad: 0 };
  const requests = [
    {
      setupRequest: (req, ctx) => {
        const i = n++;
        ctx.lease = leases[i % leases.length];
        const params = { lease: ctx.lease, paths: [`bench/m${i}.ts`] };
        return { ...req, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'claim.acquire', params }) };
      },
      onResponse: (_status, body, ctx) => {
        const a = JSON.parse(body);
        if (a.result) Object.assign(ctx, { claim: a.result.claim.id, fence: a.result.claim.fence });
        else state.bad++;
      },
    },
    {
      setupRequest: (req, ctx) => {
        if (!ctx.claim) return undefined; // the acquire failed: start over
        const params = { lease: ctx.lease, claim: ctx.claim, fence: ctx.fence };
        return { ...req, body: JSON.stringify({ jsonrpc: '2.0', id: n++, method: 'claim.release', params }) };
      },
      onResponse: (_status, body) => {
        if (!JSON.parse(body).result) state.bad++;
      },
    },
  ];
  return async (connections, seconds) => {
    const r = await cannon({ url: server.url, connections, duration: seconds, requests, headers: auth(server) });
    return { ...r, errors: r.errors + state.bad };
  };
}

/** Baseline (b): one UPSERT transaction per call, the answer parsed and checked like Decapod's. */
export function baselineMutations(server) {
  let n = 0;
  const state = { bad: 0 };
  const requests = [
    {
      setupRequest: (req) => {
        const i = n++;
        return { ...req, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'mutate', params: { key: `k${i % 64}` } }) };
      },
      onResponse: (_status, body) => {
        if (!JSON.parse(body).result) state.bad++;
      },
    },
  ];
  return async (connections, seconds) => {
    const r = await cannon({ url: server.url, connections, duration: seconds, requests });
    return { ...r, errors: r.errors + state.bad };
  };
}

/** Heartbeats: `lease.renew` of the given leases in turn, every answer checked. */
export function renewLoad(server, leases) {
  let n = 0;
  const state = { bad: 0 };
  const requests = [
    {
      setupRequest: (req) => {
        const i = n++;
        return { ...req, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'lease.renew', params: { lease: leases[i % leases.length] } }) };
      },
      onResponse: (_status, body) => {
        if (!JSON.parse(body).result) state.bad++;
      },
    },
  ];
  return async (connections, seconds) => {
    const r = await cannon({ url: server.url, connections, duration: seconds, requests, headers: auth(server) });
    return { ...r, errors: r.errors + state.bad };
  };
}

export function checkClean(what, r) {
  if (r.errors > 0) throw new Error(`${what}: ${r.errors} failed calls`);
  if (r.completed === 0) throw new Error(`${what}: no call completed`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// One-shot measurements
// ---------------------------------------------------------------------------------------------

/**
 * `claim.acquire` of a free path, one call at a time: returns (calls) → the p50 in ms. Each claim
 * is released (untimed) before the next.
 */
export function claimLatencyProbe(server, lease) {
  let k = 0;
  return async (calls) => {
    const times = [];
    for (let i = 0; i < calls; i++) {
      const start = process.hrtime.bigint();
      const { claim } = await rpc(server.url, server.token, 'claim.acquire', { lease, paths: [`free/p${k++}.ts`] });
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      await rpc(server.url, server.token, 'claim.release', { lease, claim: claim.id, fence: claim.fence });
    }
    return percentile(times, 50);
  };
}

/**
 * A cold first call with package P: `bin/decapod call server.status` in a new `git init` folder
 * (spawns the server, which takes the lock, opens and migrates the store, listens, answers); the
 * wall time in ms until the CLI exits. The spawned server is stopped and the folder removed.
 */
export async function coldCall(P, env = cleanEnv()) {
  const root = freshRoot('decapod-bench-cold-');
  try {
    const r = await runTimed(NODE, [P.bin, 'call', 'server.status'], { env, cwd: root });
    const sj = JSON.parse(readFileSync(join(root, '.decapod', 'run', 'server.json'), 'utf8'));
    adoptPid(sj.pid);
    if (r.code !== 0 || JSON.parse(r.stdout).pid !== sj.pid) throw new Error(`cold call failed (${r.code}): ${r.stderr}`);
    await stopPid(sj.pid);
    forgetPid(sj.pid);
    return r.ms;
  } finally {
    removeTempDir(root);
  }
}

// ---------------------------------------------------------------------------------------------
// Rounds: warm-up of each arm, then A B A B …
// ---------------------------------------------------------------------------------------------

/**
 * arms: [{key, run(warm: boolean) → number}]; returns {key: number[]} of the measured rounds.
 * Rounds run A B, A B, …; with `abba`, every other round runs in reverse (A B, B A, A B, …), so a
 * steady drift of the machine's speed favours neither arm.
 */
export async function alternate(arms, rounds, { abba = false } = {}) {
  for (const arm of arms) await arm.run(true);
  const values = Object.fromEntries(arms.map((a) => [a.key, []]));
  for (let i = 0; i < rounds; i++) {
    for (const arm of abba && i % 2 === 1 ? [...arms].reverse() : arms) values[arm.key].push(await arm.run(false));
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

export function fmt(x) {
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export function machine() {
  const py = (() => {
    try {
      return runSync('python3', ['--version']).trim();
    } catch {
      return 'python3 unavailable';
    }
  })();
  return {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    memory_gb: Math.round(totalmem() / 2 ** 30),
    free_memory_gb: Math.round(freemem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    python: py,
  };
}
