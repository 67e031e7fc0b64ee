#!/usr/bin/env node
// Before/after: two built Decapod packages measured side by side, in one run, on this machine
// (issue 13: "no figure may regress by more than 5 % (median of the alternated rounds); report
// each ratio").
//
//   node scripts/bench/compare.mjs --before DIR --after DIR [--quick] [--rounds N] [--abba] [--out DIR]
//
//   --before DIR, --after DIR  built Decapod packages: checkouts after `npm ci` (or with
//                              node_modules linked) and `npm run build`, each holding bin/decapod,
//                              dist/, migrations/, package.json and node_modules. Each is copied to
//                              a private temp folder first (node_modules linked), so a rebuild of
//                              DIR mid-run cannot disturb it.
//   --rounds N                 measured rounds per side and figure (default 11; quick 2); the
//                              cold first call gets 2 × N (one call is short and noisy)
//   --abba                     every other round in reverse (B A, A B, B A, …) instead of B A, B A,
//                              …: a steady drift of the machine's speed (a neighbour's build
//                              starting or ending) then favours neither side. A cross-check for a
//                              figure near its limit; issue 13's table is the default order
//   --quick                    2 rounds of 0.5 s, 1 000 live claims instead of 10 000: only to show
//                              that it works (< 90 s); its numbers mean little
//   --only ID,…                only these figures (ids below), e.g. to measure one again
//   --out DIR                  writes DIR/compare.json and DIR/compare.md (default bench/tmp/compare,
//                              which git ignores); the table is also printed on stdout
//
// The full run for issue 13, on the finished code (before = the commit before the work;
// if /tmp/decapod-before is already there, built, skip the first three lines):
//
//   git worktree add --detach /tmp/decapod-before 911046d
//   ln -s "$PWD/node_modules" /tmp/decapod-before/node_modules   # better-sqlite3 is the same build
//   (cd /tmp/decapod-before && npm run build)
//   npm run build
//   node scripts/bench/compare.mjs --before /tmp/decapod-before --after . --out /tmp/compare
//
// then paste /tmp/compare/compare.md into BENCHMARKS.md. About 4–5 minutes on 2 cores (estimated
// from the quick run: 4 throughput figures × 2 sides × (1 + 11 × 2 s) is 3 min of load alone).
//
// Figures, each with a fresh server (`decapod serve`, a new `git init` root) per side:
//   mutation-8-full, mutation-64-full  claim.acquire of a fresh path then claim.release of it,
//                                      8 / 64 connections, synchronous=FULL (calls/s)
//   task-get-8                         warm task.get of one held task, 8 connections (calls/s)
//   heartbeat-64                       lease.renew, 64 connections, FULL (calls/s)
//   claim-latency-10k                  claim.acquire p50 on a free path with 10 000 live claims (ms)
//   cold-first-call                    `bin/decapod call server.status` in a new git root: spawn,
//                                      lock, migrate, listen, answer (wall ms)
// Load comes from autocannon over keep-alive HTTP on 127.0.0.1; every answer is checked. Each
// figure runs BEFORE and AFTER alternately, B A B A …, after one unmeasured warm-up of each; the
// report gives each side's median (min–max), the ratio of the medians after/before, the median of
// the per-round ratios (a check on drift: a shared machine's load changes over minutes, seldom
// between two neighbouring rounds) and the verdict: no regression when after/before ≥ 0.95 for a
// throughput, ≤ 1.05 for a time. Everything started is stopped, every temp folder removed, also on
// Ctrl-C and after a watchdog (10 min, scaled with --rounds). Exit code 0 when the comparison ran,
// whatever the verdicts (they are in the table and in compare.json's "regressions"); 1 if it failed.
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { boundRun, cleanup, cleanupNow, median, runSync, summary } from './lib.mjs';
import {
  HERE,
  alternate,
  checkClean,
  claimLatencyProbe,
  cleanEnv,
  coldCall,
  copyPackage,
  createHeldTask,
  decapodMutations,
  fillClaims,
  fmt,
  grantLeases,
  machine,
  renewLoad,
  startDecapod,
  taskGetLoad,
} from './scenarios.mjs';

const REPO = resolve(HERE, '..', '..');

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    after: { type: 'string' },
    quick: { type: 'boolean' },
    abba: { type: 'boolean' },
    rounds: { type: 'string' },
    out: { type: 'string' },
    only: { type: 'string' },
  },
});
/** --only ID,…: just these figures (a re-measure of one near its limit). */
const ONLY = args.only ? new Set(args.only.split(',')) : undefined;
if (!args.before || !args.after) {
  process.stderr.write('usage: node scripts/bench/compare.mjs --before DIR --after DIR [--quick] [--rounds N] [--abba] [--out DIR]\n');
  process.exit(2);
}
const QUICK = args.quick === true;
const BASE = QUICK
  ? { rounds: 2, seconds: 0.5, warmSeconds: 0.25, claims: 1_000, latencyCalls: 40, warmLatencyCalls: 10 }
  : { rounds: 11, seconds: 2, warmSeconds: 1, claims: 10_000, latencyCalls: 200, warmLatencyCalls: 40 };
const rounds = args.rounds === undefined ? BASE.rounds : Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) {
  process.stderr.write(`compare: --rounds takes a whole number from 1 to 100, not ${args.rounds}\n`);
  process.exit(2);
}
const CFG = { ...BASE, rounds, coldRounds: 2 * rounds, order: args.abba ? 'B A, A B, B A, …' : 'B A, B A, …' };
const ORDER = { abba: args.abba === true };
const OUT = resolve(args.out ?? join(REPO, 'bench', 'tmp', 'compare'));

// Bounded in time whatever happens: stop everything and fail.
const WATCHDOG_MS = Math.round((QUICK ? 150_000 : 600_000) * Math.max(1, rounds / BASE.rounds));
boundRun('compare', WATCHDOG_MS);

const log = (line) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// The two packages
// ---------------------------------------------------------------------------------------------

/** The newest modification time under dir (files only), or 0. */
function newestMtime(dir) {
  let newest = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  if (existsSync(dir)) walk(dir);
  return newest;
}

/** Where the package comes from: its folder, git commit (and whether the tree has uncommitted changes), build time. */
function describe(dir) {
  const info = { dir, commit: null, subject: null, uncommitted_files: null, built_at: null, dist_older_than_src: null };
  const git = (...a) => runSync('git', ['-C', dir, ...a]).trim();
  try {
    if (realpathSync(git('rev-parse', '--show-toplevel')) === realpathSync(dir)) {
      info.commit = git('rev-parse', 'HEAD');
      info.subject = git('log', '-1', '--format=%s').slice(0, 100);
      const changed = git('status', '--porcelain', '--', '.', ':!node_modules'); // a linked node_modules is untracked
      info.uncommitted_files = changed === '' ? 0 : changed.split('\n').length;
    }
  } catch {
    // not a git checkout
  }
  const cli = join(dir, 'dist', 'cli.js');
  if (existsSync(cli)) {
    const built = statSync(cli).mtimeMs;
    info.built_at = new Date(built).toISOString();
    const src = newestMtime(join(dir, 'src'));
    info.dist_older_than_src = src > 0 ? src > built : null;
  }
  return info;
}

function label(info) {
  if (!info.commit) return `\`${info.dir}\``;
  const dirty = info.uncommitted_files ? ` + ${info.uncommitted_files} uncommitted file${info.uncommitted_files === 1 ? '' : 's'}` : '';
  return `\`${info.commit.slice(0, 7)}\`${dirty}`;
}

// ---------------------------------------------------------------------------------------------
// Figures: each returns {before: number[], after: number[]} of the alternated rounds
// ---------------------------------------------------------------------------------------------

/** User + system CPU time of a process so far, in µs (clock ticks of 10 ms). */
function cpuMicros(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

/** One server per side; `prepare(server)` → load(connections, seconds); throughput of `connections` clients. */
async function throughput(S, { what, connections, durability = 'full', prepare }) {
  const servers = {};
  try {
    for (const side of ['before', 'after']) servers[side] = await startDecapod(S[side], { durability });
    const loads = {};
    for (const side of ['before', 'after']) loads[side] = await prepare(servers[side]);
    // Beside the throughput, the server's own CPU time per completed call (/proc/<pid>/stat): a
    // busy neighbour moves calls/s a lot and this much less, so it is the steadier verdict.
    const cpu = { before: [], after: [] };
    const arm = (side) => ({
      key: side,
      run: async (warm) => {
        const t0 = cpuMicros(servers[side].pid);
        const r = checkClean(`${what} (${side})`, await loads[side](connections, warm ? CFG.warmSeconds : CFG.seconds));
        if (!warm) cpu[side].push((cpuMicros(servers[side].pid) - t0) / r.completed);
        return r.perSecond;
      },
    });
    const values = await alternate([arm('before'), arm('after')], CFG.rounds, ORDER);
    return { ...values, cpu };
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
}

const FIGURES = [
  {
    id: 'mutation-8-full',
    title: 'durable mutation (`claim.acquire` + `claim.release`), 8 clients, synchronous=FULL',
    unit: 'calls/s',
    better: 'higher',
    run: (S) => throughput(S, { what: 'claim.acquire/release', connections: 8, prepare: async (d) => decapodMutations(d, await grantLeases(d, 8)) }),
  },
  {
    id: 'mutation-64-full',
    title: 'durable mutation (`claim.acquire` + `claim.release`), 64 clients, synchronous=FULL',
    unit: 'calls/s',
    better: 'higher',
    run: (S) => throughput(S, { what: 'claim.acquire/release', connections: 64, prepare: async (d) => decapodMutations(d, await grantLeases(d, 64)) }),
  },
  {
    id: 'task-get-8',
    title: 'warm `task.get` (one held task), 8 clients',
    unit: 'calls/s',
    better: 'higher',
    run: (S) => throughput(S, { what: 'task.get', connections: 8, prepare: async (d) => taskGetLoad(d, await createHeldTask(d)) }),
  },
  {
    id: 'heartbeat-64',
    title: 'heartbeats (`lease.renew`), 64 clients, synchronous=FULL',
    unit: 'calls/s',
    better: 'higher',
    run: (S) => throughput(S, { what: 'lease.renew', connections: 64, prepare: async (d) => renewLoad(d, await grantLeases(d, 64, 'heart')) }),
  },
  {
    id: 'claim-latency-10k',
    title: () => `\`claim.acquire\` p50 latency on a free path with ${CFG.claims.toLocaleString('en-US')} live claims`,
    unit: 'ms',
    better: 'lower',
    run: async (S) => {
      const servers = {};
      try {
        const probes = {};
        for (const side of ['before', 'after']) {
          const t0 = Date.now();
          servers[side] = await startDecapod(S[side]);
          probes[side] = claimLatencyProbe(servers[side], await fillClaims(servers[side], CFG.claims));
          log(`  (${side}: ${CFG.claims} live claims set up in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        }
        const arm = (side) => ({ key: side, run: (warm) => probes[side](warm ? CFG.warmLatencyCalls : CFG.latencyCalls) });
        return await alternate([arm('before'), arm('after')], CFG.rounds, ORDER);
      } finally {
        await Promise.all(Object.values(servers).map((s) => s.stop()));
      }
    },
  },
  {
    id: 'cold-first-call',
    title: 'cold first call on a fresh root (`decapod call server.status`: spawn, lock, migrate, listen, answer), wall time',
    unit: 'ms',
    better: 'lower',
    run: async (S) => {
      const env = cleanEnv();
      const arm = (side) => ({ key: side, run: () => coldCall(S[side], env) });
      return alternate([arm('before'), arm('after')], CFG.coldRounds, ORDER);
    },
  },
];

/** No regression: a throughput keeps ≥ 95 % of before, a time stays ≤ 105 %. */
const LIMIT = { higher: { op: '>=', value: 0.95 }, lower: { op: '<=', value: 1.05 } };

function judge(figure, v) {
  const before = summary(v.before);
  const after = summary(v.after);
  const ratio = after.median / before.median;
  const paired = v.after.map((a, i) => a / v.before[i]);
  const limit = LIMIT[figure.better];
  const ok = limit.op === '>=' ? ratio >= limit.value : ratio <= limit.value;
  const title = typeof figure.title === 'function' ? figure.title() : figure.title;
  const row = { id: figure.id, title, unit: figure.unit, better: figure.better, before, after, ratio, paired_ratio: summary(paired), limit, verdict: ok ? 'ok' : 'regression' };
  log(
    `  ${figure.id}: before ${fmt(before.median)} [${fmt(before.min)}–${fmt(before.max)}] | after ${fmt(after.median)} [${fmt(after.min)}–${fmt(after.max)}] ${figure.unit}` +
      ` | after/before ${ratio.toFixed(3)} (paired ${median(paired).toFixed(3)}) ${ok ? 'ok' : 'REGRESSION'}`,
  );
  return row;
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

function table(rows) {
  const range = (s, unit) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}) ${unit}`;
  const lines = [
    '| Figure | Before median (min–max) | After median (min–max) | After/before | Per-round after/before, median (min–max) | No regression if | Verdict |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const p = r.paired_ratio;
    lines.push(
      `| ${r.title} | ${range(r.before, r.unit)} | ${range(r.after, r.unit)} | ${r.ratio.toFixed(3)} | ${p.median.toFixed(3)} (${p.min.toFixed(3)}–${p.max.toFixed(3)}) | ${r.limit.op === '>=' ? '≥' : '≤'} ${r.limit.value} | ${r.verdict === 'ok' ? 'no regression' : '**regression**'} |`,
    );
  }
  return lines.join('\n');
}

function sideText(name, info) {
  const parts = [`${name}: \`${info.dir}\``];
  if (info.commit) parts.push(`at \`${info.commit.slice(0, 7)}\` (${info.subject.slice(0, 60)}${info.subject.length > 60 ? '…' : ''})`);
  if (info.uncommitted_files) parts.push(`with ${info.uncommitted_files} uncommitted file${info.uncommitted_files === 1 ? '' : 's'}`);
  if (info.built_at) parts.push(`built ${info.built_at.slice(0, 16).replace('T', ' ')} UTC`);
  if (info.dist_older_than_src) parts.push('**dist/ is older than src/: rebuild before trusting this**');
  return parts.join(', ');
}

function markdown(out, command) {
  const m = out.machine;
  const same = out.same_package ? ' (the same package on both sides: an A/A check of the tool, ratios should be ~1)' : '';
  const verdict =
    (out.mode === 'quick' ? 'quick run, too short to judge by; ' : '') +
    (out.regressions.length === 0 ? 'no figure regressed by more than 5 %' : `**regressed by more than 5 %: ${out.regressions.join(', ')}**`);
  const load = (l) => l.map((x) => x.toFixed(1)).join(' ');
  return [
    `Before ${label(out.before)} → after ${label(out.after)}${same}: ${verdict}.`,
    '',
    table(out.figures),
    '',
    `_${out.mode === 'quick' ? 'Quick' : 'Full'} run of ${out.generated_at.slice(0, 10)}, ${out.seconds.toFixed(0)} s, \`${command}\`;` +
      ` ${m.cpus} × ${m.cpu_model}, ${m.memory_gb} GB, ${m.os}, Node ${m.node}; load average (1, 5, 15 min) ${load(out.load_average.start)} at the start, ${load(out.load_average.end)} at the end.` +
      ` Before and after alternated, ${CFG.order} after one warm-up of each: ${CFG.rounds} rounds per side (cold first call: ${CFG.coldRounds}),` +
      ` ${CFG.seconds} s per load run, latency p50 of ${CFG.latencyCalls} calls per round.` +
      ` Ratios are of the medians; the per-round column divides each round's after by its before._`,
    '',
    `_${sideText('Before', out.before)}. ${sideText('After', out.after)}._`,
  ].join('\n');
}

function commandLine() {
  const rel = (p) => {
    const r = relative(process.cwd(), p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  };
  const a = ['node', rel(join(HERE, 'compare.mjs')), '--before', args.before, '--after', args.after];
  if (QUICK) a.push('--quick');
  if (args.abba) a.push('--abba');
  if (args.rounds !== undefined) a.push('--rounds', String(rounds));
  if (args.out !== undefined) a.push('--out', args.out);
  return a.join(' ');
}

async function main() {
  const started = Date.now();
  const loadStart = loadavg();
  const dirs = { before: resolve(args.before), after: resolve(args.after) };
  for (const side of ['before', 'after']) {
    if (!existsSync(join(dirs[side], 'bin', 'decapod'))) throw new Error(`--${side} ${dirs[side]}: no bin/decapod there, not a Decapod package`);
  }
  const info = { before: describe(dirs.before), after: describe(dirs.after) };
  for (const side of ['before', 'after']) {
    if (info[side].dist_older_than_src) log(`compare: warning: ${dirs[side]}/dist is older than its src/ (run npm run build there)`);
  }
  const S = {
    before: await copyPackage(dirs.before, { prefix: 'decapod-compare-before-', missing: `build it (cd ${dirs.before} && npm run build)` }),
    after: await copyPackage(dirs.after, { prefix: 'decapod-compare-after-', missing: `build it (cd ${dirs.after} && npm run build)` }),
  };
  log(`compare: before ${dirs.before} (${label(info.before)}), after ${dirs.after} (${label(info.after)}); ${CFG.rounds} rounds, ${CFG.seconds} s per load run`);
  const figures = [];
  try {
    for (const f of FIGURES) {
      if (ONLY && !ONLY.has(f.id)) continue;
      log(`${f.id}: ${CFG.order}`);
      const v = await f.run(S);
      figures.push(judge(f, v));
      if (v.cpu) {
        const title = typeof f.title === 'function' ? f.title() : f.title;
        figures.push(judge({ id: `${f.id}-cpu`, title: `${title}: server CPU per call`, unit: 'µs', better: 'lower' }, v.cpu));
      }
    }
  } finally {
    await cleanup();
  }
  const out = {
    generated_at: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    seconds: (Date.now() - started) / 1000,
    config: CFG,
    machine: machine(),
    load_average: { start: loadStart, end: loadavg() },
    same_package: realpathSync(dirs.before) === realpathSync(dirs.after),
    before: info.before,
    after: info.after,
    regressions: figures.filter((f) => f.verdict !== 'ok').map((f) => f.id),
    figures,
  };
  const md = markdown(out, commandLine());
  process.stdout.write(`\n${md}\n`);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'compare.json'), `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(join(OUT, 'compare.md'), `${md}\n`);
  log(`compare: done in ${out.seconds.toFixed(0)} s; wrote ${join(OUT, 'compare.json')} and compare.md`);
}

main().then(
  () => process.exit(0),
  async (err) => {
    log(`compare: ${err?.stack ?? err}`);
    await cleanup().catch(() => cleanupNow());
    process.exit(1);
  },
);
