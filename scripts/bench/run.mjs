#!/usr/bin/env node
// Decapod's benchmarks: every scenario against its baseline, on this machine, in this run.
//
//   npm run bench                  build, then the full run (< 5 min on 2 cores); writes
//                                  bench/results.json and the table in BENCHMARKS.md
//   npm run bench -- --quick       fewer rounds, shorter runs (< 1 min)
//   node scripts/bench/run.mjs [--quick] [--out DIR] [--only ID,…] [--compare-pkg DIR] [--no-postgres]
//                                  --out DIR writes DIR/results.json and DIR/table.md instead,
//                                  leaving bench/ and BENCHMARKS.md alone (the test uses it)
//                                  --only runs the named scenarios (e.g. recovery); needs --out;
//                                  warmTaskGet (warm task.get vs (a)) runs only when named here
//                                  --compare-pkg DIR: the recovery scenario's baseline is the built
//                                  package in DIR (say, an older checkout after `npm run build`),
//                                  killed and recovered alternately with this one; needs --out
//                                  --no-postgres leaves out the team-mode section (postgres.mjs:
//                                  Decapod on a throwaway PostgreSQL cluster against raw `pg`,
//                                  round trips per method, +3 and +10 ms round trips); without
//                                  PostgreSQL binaries it is skipped, saying so. `--only postgres`
//                                  runs only it
//
// Each scenario runs Decapod (A) and its baseline (B) alternately, A B A B, after one warm-up of
// each, and reports medians with min–max and the ratio of the medians. Real processes, real HTTP
// on 127.0.0.1; everything started here is stopped here, and every temp folder is removed.
// Decapod runs from a private copy of the built package, so a rebuild of dist/ by someone else
// mid-run cannot break it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  adoptPid,
  boundRun,
  cleanup,
  cleanupNow,
  forgetPid,
  percentile,
  postJson,
  removeTempDir,
  rpc,
  rssMb,
  runSync,
  runTimed,
  sleep,
  startProcess,
  stopPid,
  summary,
  tempDir,
} from './lib.mjs';
import { postgresMarkdown, postgresSection } from './postgres.mjs';
import {
  HERE,
  NODE,
  alternate,
  baselineMutations,
  bundleBaselineC,
  checkClean,
  claimLatencyProbe,
  cleanEnv,
  coldCall,
  copyPackage,
  createHeldTask,
  decapodMutations,
  fillClaims,
  fmt,
  freshRoot,
  grantLeases,
  machine,
  readLoad,
  renewLoad,
  startBaseline,
  startBaselineB,
  startDecapod,
  taskGetLoad,
} from './scenarios.mjs';

const REPO = resolve(HERE, '..', '..');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    out: { type: 'string' },
    only: { type: 'string' },
    'compare-pkg': { type: 'string' },
    'no-postgres': { type: 'boolean' },
  },
});
const QUICK = args.quick === true;
const ONLY = args.only ? new Set(args.only.split(',')) : undefined;
if ((ONLY || args['compare-pkg']) && !args.out) throw new Error('--only and --compare-pkg write a partial or different table: give --out DIR');
const COMPARE_BIN = args['compare-pkg'] ? join(resolve(args['compare-pkg']), 'bin', 'decapod') : undefined;
if (COMPARE_BIN && !existsSync(COMPARE_BIN)) throw new Error(`--compare-pkg: no ${COMPARE_BIN}`);

/** Sizes of the run. Full: ≥ 5 rounds each; quick: fewer and shorter, only to show it works. */
// pg*: the team-mode section (postgres.mjs): calls counted per method, rounds and seconds of the
// +3 / +10 ms runs (their warm-up longer: at +10 ms the first of 8 queued writes answers after
// ~0.3 s), single calls timed per round-trip time (fewer at +10 ms: each takes ~0.1 s).
const CFG = QUICK
  ? {
      rounds: 2, seconds: 0.4, warmSeconds: 0.2, coldRounds: 2, cliRounds: 2, cliReps: 2, claims: 1_000, latencyCalls: 30, eProcesses: 3, rssRounds: 1, kills: 3,
      pgCountRepeats: 1, pgLatencyRounds: 1, pgLatencySeconds: 0.6, pgLatencyWarmSeconds: 0.6, pgSingleCalls: 2, pgSingleCalls10: 1,
    }
  : {
      rounds: 5, seconds: 1.5, warmSeconds: 0.5, coldRounds: 9, cliRounds: 7, cliReps: 5, claims: 10_000, latencyCalls: 200, eProcesses: 12, rssRounds: 5, kills: 20,
      pgCountRepeats: 3, pgLatencyRounds: 3, pgLatencySeconds: 2, pgLatencyWarmSeconds: 1, pgSingleCalls: 20, pgSingleCalls10: 8,
    };

// Bounded in time whatever happens: stop everything and fail.
const WATCHDOG_MS = QUICK ? 120_000 : 600_000;
boundRun('bench', WATCHDOG_MS);

const log = (line) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// The package under test (a private copy of this checkout's build) and baseline (c) bundled
// ---------------------------------------------------------------------------------------------

async function preparePackage() {
  const P = await copyPackage(REPO, { missing: 'run `npm run build` (npm run bench does)' });
  return { ...P, baselineC: await bundleBaselineC(P.pkg) };
}

const results = [];

function record(row) {
  const ratio = row.decapod.median / row.baseline.median;
  let met = null;
  if (row.target) {
    const okRatio = row.target.op === '>=' ? ratio >= row.target.value : ratio <= row.target.value;
    const okAbs = row.target.absolute ? row.decapod.median < row.target.absolute.value : true;
    met = okRatio && okAbs;
  }
  const full = { ...row, ratio, met };
  results.push(full);
  log(
    `  ${row.id}: decapod ${fmt(row.decapod.median)} [${fmt(row.decapod.min)}–${fmt(row.decapod.max)}] ${row.unit}` +
      ` | ${row.baseline.label} ${fmt(row.baseline.median)} | ratio ${ratio.toFixed(2)}${met === null ? '' : met ? ' met' : ' NOT met'}`,
  );
  return full;
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

async function warmRead(P) {
  log('warm read: server.status, 8 clients');
  const d = await startDecapod(P);
  const a = await startBaseline('baseline-a.mjs');
  try {
    const arm = (key, server) => ({
      key,
      run: async (warm) => checkClean(key, await readLoad(server, 8, warm ? CFG.warmSeconds : CFG.seconds)).perSecond,
    });
    const v = await alternate([arm('decapod', d), arm('a', a)], CFG.rounds);
    record({
      id: 'warm-read-8',
      title: 'warm read (`server.status`), 8 clients, throughput',
      unit: 'calls/s',
      better: 'higher',
      decapod: summary(v.decapod),
      baseline: { label: '(a) fastify + json-rpc-2.0, constant', ...summary(v.a) },
      target: { op: '>=', value: 0.8 },
    });
  } finally {
    await Promise.all([d.stop(), a.stop()]);
  }
}

/** Warm `task.get` of one held task (its holder looked up) against (a) answering a constant of the same size. */
async function warmTaskGet(P) {
  log('warm task.get: one held task, 8 clients');
  const d = await startDecapod(P);
  const a = await startBaseline('baseline-a.mjs');
  try {
    const loads = { decapod: taskGetLoad(d, await createHeldTask(d)), a: taskGetLoad(a, 'T1') };
    const arm = (key) => ({
      key,
      run: async (warm) => checkClean(key, await loads[key](8, warm ? CFG.warmSeconds : CFG.seconds)).perSecond,
    });
    const v = await alternate([arm('decapod'), arm('a')], CFG.rounds);
    record({
      id: 'warm-task-get-8',
      title: 'warm `task.get` (one held task), 8 clients, throughput',
      unit: 'calls/s',
      better: 'higher',
      decapod: summary(v.decapod),
      baseline: { label: '(a) fastify + json-rpc-2.0, a constant task of the same size', ...summary(v.a) },
      target: null,
    });
  } finally {
    await Promise.all([d.stop(), a.stop()]);
  }
}

async function mutations(P) {
  for (const clients of [8, 64]) {
    log(`durable mutation: claim.acquire then claim.release, ${clients} clients, full and normal`);
    const dFull = await startDecapod(P, { durability: 'full' });
    const dNormal = await startDecapod(P, { durability: 'normal' });
    const bFull = await startBaselineB('full');
    const bNormal = await startBaselineB('normal');
    const rss = [];
    try {
      const loads = {
        dFull: decapodMutations(dFull, await grantLeases(dFull, clients)),
        dNormal: decapodMutations(dNormal, await grantLeases(dNormal, clients)),
        bFull: baselineMutations(bFull),
        bNormal: baselineMutations(bNormal),
      };
      const arm = (key, sampleRssOf) => ({
        key,
        run: async (warm) => {
          let peak = 0;
          const sampler = sampleRssOf ? setInterval(() => (peak = Math.max(peak, rssMb(sampleRssOf))), 50) : undefined;
          try {
            const r = checkClean(key, await loads[key](clients, warm ? CFG.warmSeconds : CFG.seconds));
            if (sampleRssOf && !warm) rss.push(Math.max(peak, rssMb(sampleRssOf)));
            return r.perSecond;
          } finally {
            clearInterval(sampler);
          }
        },
      });
      const v = await alternate(
        [arm('dFull', clients === 64 ? dFull.pid : undefined), arm('bFull'), arm('dNormal'), arm('bNormal')],
        CFG.rounds,
      );
      const title = (mode) => `durable mutation (\`claim.acquire\` then \`claim.release\`), ${clients} clients, synchronous=${mode}, calls/s`;
      record({
        id: `mutation-${clients}-full`,
        title: title('FULL'),
        unit: 'calls/s',
        better: 'higher',
        decapod: summary(v.dFull),
        baseline: { label: '(b) (a) + one UPSERT transaction, FULL', ...summary(v.bFull) },
        target: { op: '>=', value: 0.6 },
      });
      record({
        id: `mutation-${clients}-normal`,
        title: title('NORMAL') + ' (`--durability normal`)',
        unit: 'calls/s',
        better: 'higher',
        decapod: summary(v.dNormal),
        baseline: { label: '(b) (a) + one UPSERT transaction, NORMAL', ...summary(v.bNormal) },
        target: null, // the target is for the durable default (FULL); this row is reported beside it
      });
      record({
        id: `durability-${clients}-full-vs-normal`,
        title: `Decapod synchronous=FULL vs NORMAL, ${clients} clients, calls/s`,
        unit: 'calls/s',
        better: 'higher',
        decapod: summary(v.dFull),
        baseline: { label: 'Decapod `--durability normal`', ...summary(v.dNormal) },
        target: null,
      });
      if (clients === 64) {
        record({
          id: 'rss-load-64',
          title: 'server RSS under 64-client mutation load (peak VmRSS)',
          unit: 'MB',
          better: 'lower',
          decapod: summary(rss),
          baseline: { label: 'limit', median: 150, min: 150, max: 150, values: [150] },
          target: { op: '<=', value: 1 },
        });
      }
    } finally {
      await Promise.all([dFull.stop(), dNormal.stop(), bFull.stop(), bNormal.stop()]);
    }
  }
}

async function coldStart(P) {
  log('cold first call on a fresh root vs (c)');
  const env = cleanEnv();
  const decapodCold = () => coldCall(P, env);
  const baselineCold = async () => {
    const root = tempDir('decapod-bench-c-');
    try {
      const start = process.hrtime.bigint();
      const { child, info } = await startProcess(NODE, [P.baselineC, '--root', root, '--sync', 'full'], { env });
      const exited = new Promise((r) => child.once('exit', r));
      const answer = await postJson(`http://127.0.0.1:${info.port}/rpc`, { jsonrpc: '2.0', id: 1, method: 'server.status', params: {} }, { agent: false });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (!answer?.result) throw new Error('baseline (c) did not answer');
      await exited;
      return ms;
    } finally {
      removeTempDir(root);
    }
  };
  const v = await alternate(
    [
      { key: 'decapod', run: decapodCold },
      { key: 'c', run: baselineCold },
    ],
    CFG.coldRounds,
  );
  record({
    id: 'cold-first-call',
    title: 'cold first call on a fresh root (`decapod call server.status`: spawn, lock, listen, answer), wall time',
    unit: 'ms',
    better: 'lower',
    decapod: summary(v.decapod),
    baseline: { label: '(c) bundled: open SQLite, lock, listen, answer once', ...summary(v.c) },
    target: { op: '<=', value: 1.3, absolute: { value: 400, unit: 'ms' } },
  });
}

async function cliWarm(P) {
  log('`decapod call server.status` against a warm server vs `node -e 0`');
  const d = await startDecapod(P);
  const env = cleanEnv();
  try {
    const repeat = async (fn) => {
      const times = [];
      for (let i = 0; i < CFG.cliReps; i++) times.push(await fn());
      return times.sort((x, y) => x - y)[times.length >> 1];
    };
    const cli = async () => {
      const r = await runTimed(NODE, [P.bin, 'call', 'server.status'], { env, cwd: d.root });
      if (r.code !== 0 || JSON.parse(r.stdout).pid !== d.pid) throw new Error(`decapod call failed (${r.code}): ${r.stderr}`);
      return r.ms;
    };
    const bare = async () => {
      const r = await runTimed(NODE, ['-e', '0'], { env, cwd: d.root });
      if (r.code !== 0) throw new Error('node -e 0 failed');
      return r.ms;
    };
    const v = await alternate(
      [
        { key: 'decapod', run: () => repeat(cli) },
        { key: 'd', run: () => repeat(bare) },
      ],
      CFG.cliRounds,
    );
    record({
      id: 'cli-warm-call',
      title: '`decapod call server.status` against a warm server, wall time',
      unit: 'ms',
      better: 'lower',
      decapod: summary(v.decapod),
      baseline: { label: '(d) `node -e 0`', ...summary(v.d) },
      target: { op: '<=', value: 1.4 },
    });
  } finally {
    await d.stop();
  }
}

async function python(P) {
  log('Python client, keep-alive, server.status vs (f) http.client against (a)');
  const d = await startDecapod(P);
  const a = await startBaseline('baseline-a.mjs');
  const env = cleanEnv({ DECAPOD_BIN: P.bin, DECAPOD_NO_SPAWN: '1' });
  const script = join(HERE, 'python-keepalive.py');
  try {
    const py = async (kind, target, seconds) => {
      const r = await runTimed('python3', [script, kind, target, 'server.status', String(seconds)], { env, timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`python ${kind} failed: ${r.stderr}`);
      return JSON.parse(r.stdout).per_s;
    };
    const v = await alternate(
      [
        { key: 'decapod', run: (warm) => py('decapod', d.root, warm ? CFG.warmSeconds : CFG.seconds) },
        { key: 'f', run: (warm) => py('raw', a.url, warm ? CFG.warmSeconds : CFG.seconds) },
      ],
      CFG.rounds,
    );
    record({
      id: 'python-keepalive',
      title: 'Python client (`clients/python`), keep-alive, `server.status`, one thread, throughput',
      unit: 'calls/s',
      better: 'higher',
      decapod: summary(v.decapod),
      baseline: { label: '(f) Python http.client keep-alive against (a)', ...summary(v.f) },
      target: { op: '>=', value: 0.8 },
    });
  } finally {
    await Promise.all([d.stop(), a.stop()]);
  }
}

async function claimLatency(P) {
  const many = CFG.claims;
  log(`claim.acquire latency p50 with ${many} live path claims vs 10`);
  const big = await startDecapod(P);
  const small = await startDecapod(P);
  try {
    const t0 = Date.now();
    const leases = { big: await fillClaims(big, many), small: await fillClaims(small, 10) };
    log(`  (set up ${many} + 10 claims in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    const measure = (server, lease) => {
      const probe = claimLatencyProbe(server, lease);
      return (warm) => probe(warm ? 20 : CFG.latencyCalls);
    };
    const v = await alternate(
      [
        { key: 'big', run: measure(big, leases.big) },
        { key: 'small', run: measure(small, leases.small) },
      ],
      CFG.rounds,
    );
    record({
      id: 'claim-latency-10k',
      title: `\`claim.acquire\` latency p50 on a free path with ${many} live path claims`,
      unit: 'ms',
      better: 'lower',
      params: { live_claims: many },
      decapod: summary(v.big),
      baseline: { label: 'the same with 10 live claims', ...summary(v.small) },
      target: { op: '<=', value: 2 },
    });
  } finally {
    await Promise.all([big.stop(), small.stop()]);
  }
}

async function versusProcessPerOp(P) {
  log('mutations per second: Decapod (8 clients, FULL) vs (e) one process per operation');
  const d = await startDecapod(P);
  const dir = tempDir('decapod-bench-e-');
  const env = cleanEnv();
  try {
    const load = decapodMutations(d, await grantLeases(d, 8));
    const eScript = join(HERE, 'baseline-e-process-per-op.mjs');
    const processPerOp = async (count) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < count; i++) {
        const r = await runTimed(NODE, [eScript, '--db', join(dir, 'e.db'), '--sync', 'full'], { env });
        if (r.code !== 0) throw new Error(`(e) failed: ${r.stderr}`);
      }
      return count / (Number(process.hrtime.bigint() - start) / 1e9);
    };
    const v = await alternate(
      [
        { key: 'decapod', run: async (warm) => checkClean('decapod', await load(8, warm ? CFG.warmSeconds : CFG.seconds)).perSecond },
        { key: 'e', run: (warm) => processPerOp(warm ? 2 : CFG.eProcesses) },
      ],
      CFG.rounds,
    );
    record({
      id: 'mutations-vs-process-per-op',
      title: 'mutations per second (Decapod: 8 clients, FULL)',
      unit: 'ops/s',
      better: 'higher',
      decapod: summary(v.decapod),
      baseline: { label: '(e) one process per operation: start, open, one transaction, exit', ...summary(v.e) },
      target: { op: '>=', value: 100 },
    });
  } finally {
    await d.stop();
    removeTempDir(dir);
  }
}

async function heartbeats(P) {
  log('heartbeats: lease.renew, 64 clients, FULL, vs (b) FULL');
  const d = await startDecapod(P);
  const b = await startBaselineB('full');
  try {
    const leases = await grantLeases(d, 64, 'heart');
    const load = renewLoad(d, leases);
    const renew = async (seconds) => checkClean('lease.renew', await load(64, seconds)).perSecond;
    const upsert = baselineMutations(b);
    const v = await alternate(
      [
        { key: 'decapod', run: (warm) => renew(warm ? CFG.warmSeconds : CFG.seconds) },
        { key: 'b', run: async (warm) => checkClean('b', await upsert(64, warm ? CFG.warmSeconds : CFG.seconds)).perSecond },
      ],
      CFG.rounds,
    );
    record({
      id: 'heartbeat-64',
      title: 'heartbeats (`lease.renew`), 64 clients, synchronous=FULL, calls/s',
      unit: 'calls/s',
      better: 'higher',
      decapod: summary(v.decapod),
      baseline: { label: '(b) (a) + one UPSERT transaction, FULL', ...summary(v.b) },
      target: null,
    });
  } finally {
    await Promise.all([d.stop(), b.stop()]);
  }
}

/**
 * kill -9 of a root's server, then at once the next `decapod call server.status` in that root: wall
 * time from the kill to that call's exit with an answer from a new server (its CLI start, the
 * launcher finding the old one dead, a server start, the call). Kills land at varying moments of
 * the lock folder's 1 s refresh. One measured kill per round, A B A B with --compare-pkg.
 */
async function recoveryAfterKill(P) {
  log(`recovery after kill -9: ${CFG.kills} kills${COMPARE_BIN ? `, alternating with ${COMPARE_BIN}` : ''}`);
  const env = cleanEnv();
  const arms = [{ key: 'decapod', bin: P.bin }, ...(COMPARE_BIN ? [{ key: 'compare', bin: COMPARE_BIN }] : [])];
  const servers = {};
  const call = async (arm) => {
    const r = await runTimed(NODE, [arm.bin, 'call', 'server.status'], { env, cwd: servers[arm.key].root, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`recovery (${arm.key}): decapod call failed (${r.code}): ${r.stderr}`);
    const { pid } = JSON.parse(r.stdout);
    adoptPid(pid);
    return pid;
  };
  let kill = 0;
  const killAndCall = (arm) => async () => {
    await sleep(100 + ((kill++ * 379) % 900)); // not timed: where in the refresh cycle the kill lands
    const victim = servers[arm.key].pid;
    const start = process.hrtime.bigint();
    process.kill(victim, 'SIGKILL');
    const pid = await call(arm);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (pid === victim) throw new Error(`recovery (${arm.key}): answered by the killed pid ${victim}`);
    forgetPid(victim);
    servers[arm.key].pid = pid;
    return ms;
  };
  try {
    for (const arm of arms) {
      servers[arm.key] = { root: freshRoot('decapod-bench-kill-') };
      servers[arm.key].pid = await call(arm);
    }
    const v = await alternate(
      arms.map((arm) => ({ key: arm.key, run: killAndCall(arm) })),
      CFG.kills,
    );
    const withP90 = (values) => ({ ...summary(values), p90: percentile(values, 90) });
    record({
      id: 'recovery-kill9',
      title: `recovery after \`kill -9\` of the server: the kill → the next \`decapod call\` answered by a new server, wall time (${CFG.kills} kills)`,
      unit: 'ms',
      better: 'lower',
      decapod: withP90(v.decapod),
      baseline: COMPARE_BIN ? { label: `the package in ${args['compare-pkg']}`, ...withP90(v.compare) } : { label: 'limit', median: 1000, min: 1000, max: 1000, values: [1000] },
      target: COMPARE_BIN ? null : { op: '<=', value: 1 },
    });
  } finally {
    for (const s of Object.values(servers)) {
      if (s.pid) await stopPid(s.pid);
      removeTempDir(s.root);
    }
  }
}

async function rssIdle(P) {
  log('server RSS idle');
  const values = [];
  for (let i = 0; i < CFG.rssRounds; i++) {
    const d = await startDecapod(P);
    try {
      await rpc(d.url, d.token, 'server.status');
      const [lease] = await grantLeases(d, 1);
      await rpc(d.url, d.token, 'claim.acquire', { lease, paths: ['src'] });
      await sleep(300);
      values.push(rssMb(d.pid));
    } finally {
      await d.stop();
    }
  }
  record({
    id: 'rss-idle',
    title: 'server RSS idle (VmRSS after start and a few calls)',
    unit: 'MB',
    better: 'lower',
    decapod: summary(values),
    baseline: { label: 'limit', median: 80, min: 80, max: 80, values: [80] },
    target: { op: '<=', value: 1 },
  });
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------
function targetText(r) {
  if (!r.target) return '—';
  if (r.target.text) return r.target.text;
  if (r.baseline.label === 'limit') return `< ${r.baseline.median} ${r.unit}`;
  const ratio = `${r.target.op === '>=' ? '≥' : '≤'} ${r.target.value}`;
  return r.target.absolute ? `${ratio}, < ${r.target.absolute.value} ${r.target.absolute.unit}` : ratio;
}

/** The commit the build came from, and whether src/ or migrations/ differed from it (round trips depend on them). */
function sourceCommit() {
  try {
    const head = runSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).trim();
    const dirty = runSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], { cwd: REPO }).trim() !== '';
    return dirty ? `${head}\` with uncommitted changes in \`src/\` or \`migrations/` : head;
  } catch {
    return 'unknown commit';
  }
}

function table(rows) {
  const lines = [
    '| Scenario | Decapod median (min–max) | Baseline | Baseline median (min–max) | Ratio | Target | Met |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const range = (s) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}${s.p90 === undefined ? '' : `, p90 ${fmt(s.p90)}`}) ${r.unit}`;
    const base = r.baseline.label === 'limit' ? `${r.baseline.median} ${r.unit}` : range(r.baseline);
    const met = r.met === null ? '—' : r.met ? 'yes' : '**no**';
    lines.push(`| ${r.title} | ${range(r.decapod)} | ${r.baseline.label} | ${base} | ${r.ratio.toFixed(2)} | ${targetText(r)} | ${met} |`);
  }
  return lines.join('\n');
}

async function main() {
  const started = Date.now();
  const P = await preparePackage();
  // Scenarios run only when --only names them. warmTaskGet is one until test/bench/bench-quick.test.ts
  // expects its row (warm-task-get-8): add the id there and remove it here, together.
  const OPT_IN = new Set(['warmTaskGet']);
  let postgres; // what the team-mode section returns for its report, if it ran
  const scenarios = {
    warmRead,
    warmTaskGet,
    mutations,
    heartbeats,
    coldStart,
    cliWarm,
    python,
    claimLatency,
    versusProcessPerOp,
    rssIdle,
    recovery: recoveryAfterKill,
    postgres: async (P2) => {
      if (args['no-postgres']) return log('team mode (PostgreSQL): left out (--no-postgres)');
      postgres = await postgresSection({ P: P2, CFG, record, log });
    },
  };
  if (ONLY) for (const name of ONLY) if (!(name in scenarios)) throw new Error(`--only: no scenario ${name} (${Object.keys(scenarios).join(', ')})`);
  try {
    for (const [name, s] of Object.entries(scenarios)) if (ONLY ? ONLY.has(name) : !OPT_IN.has(name)) await s(P);
  } finally {
    await cleanup();
  }
  const seconds = (Date.now() - started) / 1000;
  const order = [
    'warm-read-8',
    'warm-task-get-8',
    'mutation-8-full',
    'mutation-64-full',
    'cold-first-call',
    'cli-warm-call',
    'python-keepalive',
    'claim-latency-10k',
    'mutations-vs-process-per-op',
    'rss-idle',
    'rss-load-64',
    'recovery-kill9',
    'mutation-8-normal',
    'mutation-64-normal',
    'durability-8-full-vs-normal',
    'durability-64-full-vs-normal',
    'heartbeat-64',
    'pg-mutation-8',
    'pg-task-get-8',
    'pg-round-trips-claim-acquire',
    'pg-mutation-8-rtt3',
    'pg-task-get-8-rtt3',
    'pg-mutation-8-rtt10',
    'pg-task-get-8-rtt10',
  ];
  results.sort((x, y) => order.indexOf(x.id) - order.indexOf(y.id));
  const output = {
    generated_at: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    seconds,
    config: CFG,
    machine: machine(),
    scenarios: results,
    ...(postgres ? { postgres } : {}),
  };
  const isPg = (r) => r.id.startsWith('pg-');
  const md = `${table(results.filter((r) => !isPg(r)))}\n\n_${QUICK ? 'Quick' : 'Full'} run of ${new Date().toISOString().slice(0, 10)}, ${seconds.toFixed(0)} s on ${output.machine.cpus} × ${output.machine.cpu_model}, Node ${output.machine.node}, ${output.machine.python}; rounds: ${CFG.rounds} (A B A B after a warm-up of each), ${CFG.seconds} s per load run._`;
  const pgMd = postgres
    ? `${postgresMarkdown(table(results.filter(isPg)), postgres, { commit: sourceCommit(), date: output.generated_at.slice(0, 10) })}\n\n_${QUICK ? 'Quick' : 'Full'} run of ${output.generated_at.slice(0, 10)} on ${output.machine.cpus} × ${output.machine.cpu_model}, Node ${output.machine.node}, PostgreSQL ${postgres.version} (durable: fsync and synchronous_commit on) on 127.0.0.1; rounds: ${CFG.rounds} on loopback, ${CFG.pgLatencyRounds} with added round-trip time (A B B A … after a warm-up of each), ${CFG.seconds} s and ${CFG.pgLatencySeconds} s per load run._`
    : undefined;
  process.stdout.write(`\n${md}\n${pgMd ? `\n${pgMd}\n` : ''}`);
  if (args.out) {
    mkdirSync(args.out, { recursive: true });
    writeFileSync(join(args.out, 'results.json'), `${JSON.stringify(output, null, 2)}\n`);
    writeFileSync(join(args.out, 'table.md'), `${md}\n${pgMd ? `\n${pgMd}\n` : ''}`);
  } else {
    mkdirSync(join(REPO, 'bench'), { recursive: true });
    writeFileSync(join(REPO, 'bench', 'results.json'), `${JSON.stringify(output, null, 2)}\n`);
    const file = join(REPO, 'BENCHMARKS.md');
    const start = '<!-- bench:table:start -->';
    const end = '<!-- bench:table:end -->';
    const text = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmarks\n\n${start}\n${end}\n`;
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i < 0 || j < i) throw new Error(`BENCHMARKS.md lacks the ${start} … ${end} markers`);
    let next = `${text.slice(0, i + start.length)}\n${md}\n${text.slice(j)}`;
    if (pgMd) {
      const pgStart = '<!-- bench:postgres:start -->';
      const pgEnd = '<!-- bench:postgres:end -->';
      const k = next.indexOf(pgStart);
      const l = next.indexOf(pgEnd);
      if (k < 0 || l < k) log(`bench: BENCHMARKS.md lacks the ${pgStart} … ${pgEnd} markers; the team-mode tables are in bench/results.json only`);
      else next = `${next.slice(0, k + pgStart.length)}\n${pgMd}\n${next.slice(l)}`;
    }
    writeFileSync(file, next);
  }
  log(`bench: done in ${seconds.toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  async (err) => {
    log(`bench: ${err?.stack ?? err}`);
    await cleanup().catch(() => cleanupNow());
    process.exit(1);
  },
);
