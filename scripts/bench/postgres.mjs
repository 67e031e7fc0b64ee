// Team mode (PostgreSQL) in `npm run bench`: Decapod's server on a throwaway PostgreSQL cluster
// against baseline (g), node-postgres doing each write's bare shape (baseline-pg.mjs), side by side;
// the round trips each method makes; and what a 3 ms and a 10 ms network round trip do to both,
// measured through a latency-adding proxy (pg-proxy.mjs) and projected from the counts.
//
// The cluster is test/helpers/postgres.ts's (bundled here with esbuild, as the runner bundles
// baseline (c)): initdb in a temp folder (as the postgres user when root), a free loopback port,
// trust authentication, durable settings (fsync and synchronous_commit on). It goes when the run
// ends, on Ctrl-C or the watchdog too: the helper's exit hook stops it, and a watchdog process of
// its own stops it if the runner is killed outright.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import pg from 'pg';
import { median, percentile, removeTempDir, rpc, startProcess, stopChild, summary } from './lib.mjs';
import { startPgProxy } from './pg-proxy.mjs';
import {
  BENCH_TASK,
  HERE,
  NODE,
  alternate,
  checkClean,
  cleanEnv,
  createHeldTask,
  decapodMutations,
  fmt,
  freshRoot,
  grantLeases,
  startDecapod,
  taskGetLoad,
} from './scenarios.mjs';

const REPO = join(HERE, '..', '..');
const PROJECT = 'bench';
/** the goals of the issue that added this section */
export const PG_GOALS = { ratio: 0.5, acquireRoundTrips: 8 };

/** test/helpers/postgres.ts as an ES module in the package folder (its node_modules resolve `pg`). */
async function postgresHelper(pkgDir) {
  const outfile = join(pkgDir, 'bench-postgres-helper.mjs');
  await build({
    entryPoints: [join(REPO, 'test', 'helpers', 'postgres.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}

/** Runs `fn(client)` on a fresh connection to `url`. */
async function withClient(url, fn) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Baseline (g)'s database: Decapod's own schema (migrations/postgres), its head row and the task it reads. */
async function setUpRawDatabase(url, migrationsDir) {
  await withClient(url, async (c) => {
    const files = readdirSync(migrationsDir)
      .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
      .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    for (const f of files) await c.query(readFileSync(join(migrationsDir, f), 'utf8'));
    await c.query('INSERT INTO project_head (project_id) VALUES ($1)', [PROJECT]);
    const now = Date.now();
    const t = BENCH_TASK;
    await c.query(
      `INSERT INTO tasks (project_id, id, seq, title, description, status, priority, labels, depends_on, paths, gates, acceptance, parent, created_by, created_at, updated_at)
       VALUES ($1, 'T1', 1, $2, $3, 'open', $4, $5, '{}', $6, '{}', $7, NULL, 'task-holder-0', $8, $8)`,
      [PROJECT, t.title, t.description, t.priority, t.labels, t.paths, t.acceptance, now],
    );
  });
}

async function startRaw(url) {
  const { child, info } = await startProcess(NODE, [join(HERE, 'baseline-pg.mjs'), '--url', url, '--project', PROJECT], { env: cleanEnv() });
  return { url: `http://127.0.0.1:${info.port}`, pid: child.pid, stop: () => stopChild(child) };
}

async function startLatencyProxy(cluster, delayMs) {
  const { child, info } = await startProcess(NODE, [join(HERE, 'pg-proxy.mjs'), '--target', `${cluster.host}:${cluster.port}`, '--delay-ms', String(delayMs)], {
    env: cleanEnv(),
  });
  return { port: info.port, stop: () => stopChild(child) };
}

/** `SELECT 1` round trips on one connection, alternating direct and through the proxy: medians in ms. */
async function measureRtt(directUrl, proxiedUrl, n) {
  const direct = new pg.Client({ connectionString: directUrl });
  const proxied = new pg.Client({ connectionString: proxiedUrl });
  await Promise.all([direct.connect(), proxied.connect()]);
  try {
    const times = { direct: [], proxied: [] };
    const once = async (c, into) => {
      const t = process.hrtime.bigint();
      await c.query('SELECT 1');
      into.push(Number(process.hrtime.bigint() - t) / 1e6);
    };
    for (let i = 0; i < n; i++) {
      await once(direct, times.direct);
      await once(proxied, times.proxied);
    }
    return { direct: median(times.direct), proxied: median(times.proxied) };
  } finally {
    await Promise.all([direct.end(), proxied.end()]);
  }
}

// ---------------------------------------------------------------------------------------------
// Round trips per method
// ---------------------------------------------------------------------------------------------

const oneLine = (sql) => sql.replace(/\s+/g, ' ').trim().slice(0, 160);
/** a round trip that opens a transaction (BEGIN may travel with the statements after it) */
const BEGIN = /^\s*BEGIN\b/i;
/** a round trip that ends one: COMMIT or ROLLBACK last (writes may travel with it, in one simple query) */
const END = /(^|;)\s*(COMMIT|ROLLBACK)\s*;?\s*$/i;

/**
 * What one call's round trips were: all of them; those of its write transaction (BEGIN … COMMIT
 * around the head-row lock: Decapod's store runs the whole of it in its one local turn, so on a
 * network this is what serializes a server's writes); and those from the lock to COMMIT (what
 * serializes all servers' writes of the project). The statements, one line each, in order.
 */
function analyse(trips) {
  const lockAt = trips.findIndex((t) => /FOR UPDATE/i.test(t.sql));
  let inTx = 0;
  let inLock = 0;
  if (lockAt >= 0) {
    const conn = trips[lockAt].conn;
    let begin = lockAt;
    while (begin > 0 && !(trips[begin].conn === conn && BEGIN.test(trips[begin].sql))) begin--;
    let commit = lockAt;
    while (commit < trips.length - 1 && !(trips[commit].conn === conn && END.test(trips[commit].sql))) commit++;
    const onConn = (from, to) => trips.slice(from, to + 1).filter((t) => t.conn === conn).length;
    inTx = onConn(begin, commit);
    inLock = onConn(lockAt, commit);
  }
  return { total: trips.length, messages: trips.reduce((n, t) => n + t.messages, 0), inTx, inLock, statements: trips.map((t) => oneLine(t.sql)) };
}

/**
 * Counts, through a counting proxy, the round trips of one call of each method on a Decapod server
 * whose sweep is off (pg-decapod-quiet.mjs), and of baseline (g)'s three. Each method runs once to
 * warm up (the pool's connections open then), then `repeats` times, counted; the median is
 * reported with min–max (they differ only if a call's work depends on the state, which would
 * show).
 */
async function countRoundTrips({ P, cluster, helper, repeats, log }) {
  const dbUrl = await helper.createDatabase(cluster.url, 'decapod_round_trips');
  const rawDbUrl = await helper.createDatabase(cluster.url, 'raw_round_trips');
  await setUpRawDatabase(rawDbUrl, join(P.pkg, 'migrations', 'postgres'));
  const proxy = await startPgProxy({ targetHost: cluster.host, targetPort: cluster.port });
  const viaProxy = (url) => {
    const u = new URL(url);
    u.port = String(proxy.port);
    return u.toString();
  };
  const root = freshRoot('decapod-bench-pg-rt-');
  const quiet = await startProcess(NODE, [join(HERE, 'pg-decapod-quiet.mjs'), '--pkg', P.pkg, '--root', root, '--url', viaProxy(dbUrl), '--project', PROJECT], {
    env: cleanEnv(),
  });
  const raw = await startRaw(viaProxy(rawDbUrl));
  const d = { url: quiet.info.url, token: quiet.info.token };
  const counts = new Map(); // method → [analysis]
  try {
    const count = async (server, method, params) => {
      const mark = proxy.mark();
      const result = await rpc(server.url, server.token, method, params);
      // The answer is sent once the transaction has committed: nothing of this call comes later.
      return { result, trips: proxy.since(mark) };
    };
    const round = async (i, keep) => {
      const put = (key, r) => keep && (counts.get(key) ?? counts.set(key, []).get(key)).push(analyse(r.trips));
      const grant = await count(d, 'lease.grant', { agent: `rt-${i}`, ttl_ms: 3_600_000 });
      put('lease.grant', grant);
      const lease = grant.result.lease;
      const acq = await count(d, 'claim.acquire', { lease, paths: [`rt/p${i}.ts`] });
      put('claim.acquire', acq);
      put('claim.release', await count(d, 'claim.release', { lease, claim: acq.result.claim.id, fence: acq.result.claim.fence }));
      const acqKey = await count(d, 'claim.acquire', { lease, paths: [`rt/q${i}.ts`], idempotency_key: randomUUID() });
      put('claim.acquire+key', acqKey);
      await rpc(d.url, d.token, 'claim.release', { lease, claim: acqKey.result.claim.id, fence: acqKey.result.claim.fence });
      const created = await count(d, 'task.create', { lease, ...BENCH_TASK, paths: [`src/t${i}`] });
      put('task.create', created);
      const taskId = created.result.task.id;
      put('task.claim', await count(d, 'task.claim', { lease, task: taskId, ttl_ms: 3_600_000 }));
      put('task.get', await count(d, 'task.get', { task: taskId }));
      put('lease.renew', await count(d, 'lease.renew', { lease }));
      put('audit.verify', await count(d, 'audit.verify', {}));
      // baseline (g)
      const racq = await count(raw, 'claim.acquire', { lease: 'raw', paths: [`rt/p${i}.ts`] });
      put('raw claim.acquire', racq);
      put('raw claim.release', await count(raw, 'claim.release', { lease: 'raw', claim: racq.result.claim.id, fence: racq.result.claim.fence }));
      put('raw task.get', await count(raw, 'task.get', { task: 'T1' }));
    };
    await round(0, false);
    const startups = proxy.startups;
    for (let i = 1; i <= repeats; i++) await round(i, true);
    const events = (await rpc(d.url, d.token, 'audit.verify', {})).count;
    const rows = [];
    for (const [key, list] of counts) {
      const total = list.map((a) => a.total);
      rows.push({
        key,
        method: key.replace(/^raw /, '').replace('+key', ''),
        server: key.startsWith('raw ') ? 'raw' : 'decapod',
        with_idempotency_key: key.endsWith('+key'),
        round_trips: summary(total),
        messages: median(list.map((a) => a.messages)),
        in_transaction: median(list.map((a) => a.inTx)),
        holding_head_lock: median(list.map((a) => a.inLock)),
        statements: list[0].statements,
      });
    }
    log(`  round trips counted: ${rows.map((r) => `${r.key} ${r.round_trips.median}`).join(', ')}`);
    if (process.env.DECAPOD_BENCH_SQL) for (const r of rows) log(`    ${r.key}:\n${r.statements.map((x) => `      ${x}`).join('\n')}`);
    return { rows, new_sessions_while_counting: proxy.startups - startups, audit_events_at_verify: events };
  } finally {
    await Promise.all([stopChild(quiet.child), raw.stop()]);
    await proxy.close();
    removeTempDir(root);
  }
}

// ---------------------------------------------------------------------------------------------
// Throughput and latency, Decapod against baseline (g), at a given added round-trip time
// ---------------------------------------------------------------------------------------------

/** One call at a time, Decapod and (g) alternating call by call: p50 of each step, ms. */
async function singleCallLatency(d, dLease, dTask, raw, calls) {
  const t = { acquire: { d: [], r: [] }, release: { d: [], r: [] }, get: { d: [], r: [] } };
  let k = 0;
  const timed = async (into, fn) => {
    const start = process.hrtime.bigint();
    const v = await fn();
    into.push(Number(process.hrtime.bigint() - start) / 1e6);
    return v;
  };
  for (let i = 0; i < calls; i++) {
    for (const [side, server, lease, task] of [['d', d, dLease, dTask], ['r', raw, 'raw-single', 'T1']]) {
      const path = `single/p${k++}.ts`;
      const { claim } = await timed(t.acquire[side], () => rpc(server.url, server.token, 'claim.acquire', { lease, paths: [path] }));
      await timed(t.release[side], () => rpc(server.url, server.token, 'claim.release', { lease, claim: claim.id, fence: claim.fence }));
      await timed(t.get[side], () => rpc(server.url, server.token, 'task.get', { task }));
    }
  }
  const p50 = (v) => percentile(v, 50);
  return Object.fromEntries(Object.entries(t).map(([k2, v]) => [k2, { decapod: p50(v.d), raw: p50(v.r) }]));
}

async function measurePhase({ P, cluster, helper, rttMs, rounds, seconds, warmSeconds, singleCalls, log }) {
  const dbUrl = await helper.createDatabase(cluster.url, `decapod_rtt${rttMs}`);
  const rawDbUrl = await helper.createDatabase(cluster.url, `raw_rtt${rttMs}`);
  await setUpRawDatabase(rawDbUrl, join(P.pkg, 'migrations', 'postgres'));
  const proxy = rttMs > 0 ? await startLatencyProxy(cluster, rttMs) : undefined;
  const through = (url) => {
    if (!proxy) return url;
    const u = new URL(url);
    u.port = String(proxy.port);
    return u.toString();
  };
  let d;
  let raw;
  try {
    const rtt = proxy ? await measureRtt(dbUrl, through(dbUrl), 40) : undefined;
    if (rtt) log(`  round trip to PostgreSQL: ${rtt.direct.toFixed(2)} ms direct, ${rtt.proxied.toFixed(2)} ms through the proxy (asked: +${rttMs} ms)`);
    d = await startDecapod(P, { env: { DECAPOD_DATABASE_URL: through(dbUrl), DECAPOD_PROJECT: PROJECT } });
    raw = await startRaw(through(rawDbUrl));
    const leases = await grantLeases(d, 8);
    const taskId = await createHeldTask(d);
    const [singleLease] = await grantLeases(d, 1, 'single');
    const loads = {
      dMut: decapodMutations(d, leases),
      rMut: decapodMutations(raw, leases.map((_, i) => `raw-${i}`)),
      dGet: taskGetLoad(d, taskId),
      rGet: taskGetLoad(raw, 'T1'),
    };
    const p50 = { dMut: [], rMut: [], dGet: [], rGet: [] };
    const arm = (key) => ({
      key,
      run: async (warm) => {
        const r = checkClean(`postgres ${key} (+${rttMs} ms)`, await loads[key](8, warm ? warmSeconds : seconds));
        if (!warm) p50[key].push(r.p50);
        return r.perSecond;
      },
    });
    const v = await alternate([arm('dMut'), arm('rMut'), arm('dGet'), arm('rGet')], rounds, { abba: true });
    const single = await singleCallLatency(d, singleLease, taskId, raw, singleCalls);
    return { rttMs, rtt, throughput: v, p50: Object.fromEntries(Object.entries(p50).map(([k, x]) => [k, median(x)])), single };
  } finally {
    await Promise.all([d?.stop(), raw?.stop(), proxy?.stop()]);
  }
}

// ---------------------------------------------------------------------------------------------
// The section
// ---------------------------------------------------------------------------------------------

/**
 * The model the projection uses (BENCHMARKS.md, "Team mode"): each added round trip of `rtt` ms
 * costs one call `rtt` more; and what is serialized is stretched by its round trips. Decapod's
 * store runs a write transaction in its one local turn, so one server's writes serialize over their
 * whole transaction (`in_transaction` round trips); baseline (g)'s writes serialize only on the
 * head-row lock, held from its SELECT … FOR UPDATE to its COMMIT (`holding_head_lock` − 1 round
 * trips); reads serialize on nothing but share the pool of 4 connections.
 */
function project({ base, counts, rtt }) {
  const c = (key, field = 'total') => {
    const row = counts.rows.find((r) => r.key === key);
    return field === 'total' ? row.round_trips.median : row[field];
  };
  const dPairTx = c('claim.acquire', 'in_transaction') + c('claim.release', 'in_transaction');
  const rLock = (c('raw claim.acquire', 'holding_head_lock') + c('raw claim.release', 'holding_head_lock')) / 2 - 1;
  return {
    dMut: 2 / (2 / base.dMut + (dPairTx * rtt) / 1000),
    rMut: 1 / (1 / base.rMut + (rLock * rtt) / 1000),
    dGet: 1 / (1 / base.dGet + (c('task.get') * rtt) / 4000),
    rGet: 1 / (1 / base.rGet + (c('raw task.get') * rtt) / 4000),
    single: {
      acquire: { decapod: base.single.acquire.decapod + c('claim.acquire') * rtt, raw: base.single.acquire.raw + c('raw claim.acquire') * rtt },
      release: { decapod: base.single.release.decapod + c('claim.release') * rtt, raw: base.single.release.raw + c('raw claim.release') * rtt },
      get: { decapod: base.single.get.decapod + c('task.get') * rtt, raw: base.single.get.raw + c('raw task.get') * rtt },
    },
  };
}

/**
 * Runs the section; records its rows through `record` (ids pg-*) and returns what the rest of its
 * report needs, or undefined (with a log line) when this machine has no PostgreSQL.
 */
export async function postgresSection({ P, CFG, record, log }) {
  const helper = await postgresHelper(P.pkg);
  if (!helper.findPostgresBin()) {
    log(`team mode (PostgreSQL): skipped, no PostgreSQL binaries (${helper.INSTALL_HINT}; or --no-postgres)`);
    return undefined;
  }
  const t0 = Date.now();
  const cluster = await helper.startPostgres({ durable: true });
  log(`team mode (PostgreSQL ${cluster.version}, durable, 127.0.0.1:${cluster.port}; started in ${Date.now() - t0} ms)`);
  try {
    log('  round trips per method (a counting proxy; the server\'s sweep off)');
    const counts = await countRoundTrips({ P, cluster, helper, repeats: CFG.pgCountRepeats, log });
    const phases = [];
    for (const rttMs of [0, 3, 10]) {
      log(`  claim.acquire+release and warm task.get, 8 clients, Decapod vs (g)${rttMs ? `, +${rttMs} ms per round trip` : ', loopback'}`);
      phases.push(
        await measurePhase({
          P,
          cluster,
          helper,
          rttMs,
          rounds: rttMs ? CFG.pgLatencyRounds : CFG.rounds,
          seconds: rttMs ? CFG.pgLatencySeconds : CFG.seconds,
          warmSeconds: rttMs ? CFG.pgLatencyWarmSeconds : CFG.warmSeconds,
          singleCalls: rttMs === 10 ? CFG.pgSingleCalls10 : CFG.pgSingleCalls,
          log,
        }),
      );
    }
    const [base, ...slow] = phases;
    const baseMedians = {
      dMut: median(base.throughput.dMut),
      rMut: median(base.throughput.rMut),
      dGet: median(base.throughput.dGet),
      rGet: median(base.throughput.rGet),
      single: base.single,
    };
    const mutTitle = (rtt) => `team mode: \`claim.acquire\` then \`claim.release\`, 8 clients, PostgreSQL ${rtt ? `+${rtt} ms per round trip` : 'on loopback'}, calls/s`;
    const getTitle = (rtt) => `team mode: warm \`task.get\` (one held task), 8 clients, PostgreSQL ${rtt ? `+${rtt} ms per round trip` : 'on loopback'}, calls/s`;
    const MUT_BASE = '(g) fastify + json-rpc-2.0 + pg: BEGIN, lock head, INSERT claim, INSERT event, UPDATE head, COMMIT';
    const GET_BASE = '(g) fastify + json-rpc-2.0 + pg: one primary-key SELECT';
    for (const ph of phases) {
      const suffix = ph.rttMs ? `-rtt${ph.rttMs}` : '';
      const goal = ph.rttMs ? null : { op: '>=', value: PG_GOALS.ratio };
      record({ id: `pg-mutation-8${suffix}`, title: mutTitle(ph.rttMs), unit: 'calls/s', better: 'higher', decapod: summary(ph.throughput.dMut), baseline: { label: MUT_BASE, ...summary(ph.throughput.rMut) }, target: goal });
      record({ id: `pg-task-get-8${suffix}`, title: getTitle(ph.rttMs), unit: 'calls/s', better: 'higher', decapod: summary(ph.throughput.dGet), baseline: { label: GET_BASE, ...summary(ph.throughput.rGet) }, target: goal });
    }
    const acquire = counts.rows.find((r) => r.key === 'claim.acquire');
    record({
      id: 'pg-round-trips-claim-acquire',
      title: 'team mode: PostgreSQL round trips of one `claim.acquire` (one path)',
      unit: 'round trips',
      better: 'lower',
      decapod: acquire.round_trips,
      baseline: { label: 'limit', median: PG_GOALS.acquireRoundTrips, min: PG_GOALS.acquireRoundTrips, max: PG_GOALS.acquireRoundTrips, values: [PG_GOALS.acquireRoundTrips] },
      target: { op: '<=', value: 1, text: `≤ ${PG_GOALS.acquireRoundTrips}` },
    });
    const latency = slow.map((ph) => {
      const effective = ph.rtt.proxied - ph.rtt.direct;
      return {
        rtt_ms: ph.rttMs,
        rtt_measured: ph.rtt,
        added_ms: effective,
        measured: {
          dMut: median(ph.throughput.dMut),
          rMut: median(ph.throughput.rMut),
          dGet: median(ph.throughput.dGet),
          rGet: median(ph.throughput.rGet),
          p50: ph.p50,
          single: ph.single,
        },
        projected: project({ base: baseMedians, counts, rtt: effective }),
        projected_at_asked: project({ base: baseMedians, counts, rtt: ph.rttMs }),
      };
    });
    return { version: cluster.version, round_trips: counts, loopback: { ...baseMedians, p50: base.p50 }, latency };
  } finally {
    await cluster.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const METHOD_NOTE = {
  'task.create': ' (the issue\'s "task.add")',
  'lease.renew': ' (the heartbeat; the issue\'s "lease.heartbeat")',
  'audit.verify': '',
};

/** The round-trip table and the latency table, markdown. */
export function postgresMarkdown(pgTable, extra, { commit, date }) {
  const rt = extra.round_trips;
  const lines = [pgTable, ''];
  lines.push(
    '| Method (one call, warm pool) | Round trips | In its write transaction (BEGIN … COMMIT) | Holding the head-row lock (lock … COMMIT) | Baseline (g) | Goal | Met |',
    '|---|---|---|---|---|---|---|',
  );
  const raw = (m) => rt.rows.find((r) => r.server === 'raw' && r.method === m);
  for (const r of rt.rows.filter((x) => x.server === 'decapod')) {
    const range =
      (r.round_trips.min === r.round_trips.max ? `${r.round_trips.median}` : `${r.round_trips.median} (${r.round_trips.min}–${r.round_trips.max})`) +
      (r.messages !== r.round_trips.median ? ` (${r.messages} queries)` : '');
    const g = !r.with_idempotency_key ? raw(r.method) : undefined;
    const isGoal = r.method === 'claim.acquire' && !r.with_idempotency_key;
    const name = `\`${r.method}\`${r.method === 'claim.acquire' ? (r.with_idempotency_key ? ', one path, with an `idempotency_key` (as the CLI and clients send)' : ', one path') : ''}${METHOD_NOTE[r.method] ?? ''}`;
    lines.push(
      `| ${name} | ${range} | ${r.in_transaction || '—'} | ${r.holding_head_lock || '—'} | ${g ? g.round_trips.median : '—'} | ${isGoal ? `≤ ${PG_GOALS.acquireRoundTrips}` : '—'} | ${isGoal ? (r.round_trips.median <= PG_GOALS.acquireRoundTrips ? 'yes' : '**no**') : '—'} |`,
    );
  }
  lines.push(
    '',
    `_Counted at \`${commit}\` on ${date}: round trips (flights from server to PostgreSQL holding a Sync or Query message) through a counting proxy, one call at a time on a server with its sweep off (scripts/bench/pg-decapod-quiet.mjs), ${rt.rows[0].round_trips.values.length === 1 ? 'one call' : `median of ${rt.rows[0].round_trips.values.length} calls`} each after a warm-up call; ${rt.new_sessions_while_counting} new database sessions while counting; audit.verify over a log of ${rt.audit_events_at_verify} events._`,
    '',
    '| Added round-trip time (asked → measured) | Figure | Decapod measured | Decapod projected | (g) measured | (g) projected | Ratio measured |',
    '|---|---|---|---|---|---|---|',
  );
  const L = extra.loopback;
  lines.push(
    `| none (loopback, ${fmt(0)} ms) | claim.acquire+release, 8 clients, calls/s | ${fmt(L.dMut)} | — | ${fmt(L.rMut)} | — | ${(L.dMut / L.rMut).toFixed(2)} |`,
    `| | task.get, 8 clients, calls/s | ${fmt(L.dGet)} | — | ${fmt(L.rGet)} | — | ${(L.dGet / L.rGet).toFixed(2)} |`,
    `| | one \`claim.acquire\` alone, ms | ${fmt(L.single.acquire.decapod)} | — | ${fmt(L.single.acquire.raw)} | — | — |`,
    `| | one \`claim.release\` alone, ms | ${fmt(L.single.release.decapod)} | — | ${fmt(L.single.release.raw)} | — | — |`,
    `| | one \`task.get\` alone, ms | ${fmt(L.single.get.decapod)} | — | ${fmt(L.single.get.raw)} | — | — |`,
  );
  for (const l of extra.latency) {
    const m = l.measured;
    const p = l.projected;
    lines.push(
      `| +${l.rtt_ms} ms → +${l.added_ms.toFixed(2)} ms | claim.acquire+release, 8 clients, calls/s (p50 ${fmt(m.p50.dMut)} ms vs ${fmt(m.p50.rMut)} ms) | ${fmt(m.dMut)} | ${fmt(p.dMut)} | ${fmt(m.rMut)} | ${fmt(p.rMut)} | ${(m.dMut / m.rMut).toFixed(2)} |`,
      `| | task.get, 8 clients, calls/s (p50 ${fmt(m.p50.dGet)} ms vs ${fmt(m.p50.rGet)} ms) | ${fmt(m.dGet)} | ${fmt(p.dGet)} | ${fmt(m.rGet)} | ${fmt(p.rGet)} | ${(m.dGet / m.rGet).toFixed(2)} |`,
      `| | one \`claim.acquire\` alone, ms | ${fmt(m.single.acquire.decapod)} | ${fmt(p.single.acquire.decapod)} | ${fmt(m.single.acquire.raw)} | ${fmt(p.single.acquire.raw)} | — |`,
      `| | one \`claim.release\` alone, ms | ${fmt(m.single.release.decapod)} | ${fmt(p.single.release.decapod)} | ${fmt(m.single.release.raw)} | ${fmt(p.single.release.raw)} | — |`,
      `| | one \`task.get\` alone, ms | ${fmt(m.single.get.decapod)} | ${fmt(p.single.get.decapod)} | ${fmt(m.single.get.raw)} | ${fmt(p.single.get.raw)} | — |`,
    );
  }
  return lines.join('\n');
}
