// docs/design.md §7 under real concurrency, as processes: FOUR `decapod serve` processes, spawned
// by the CLI on four clones of one repository (so one project id, the root commit), share one
// PostgreSQL. 8 agent processes (test/fixtures/race-worker.mjs, 2 per server) loop task.claim (the
// best ready task) → task.complete over 200 tasks created up front through all four servers.
// Every task is claimed and completed exactly once (the log and the workers' receipts agree),
// every grant was the best ready task its agent could take at that point of the one chain, fences
// only grow in log order across servers; then 16 processes (4 per server) race for one exclusive
// path: one winner. At the end audit.verify (with every receipt) and audit.replay pass on every
// server, all with one head.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import {
  allAuditEvents,
  callOk,
  httpRequest,
  killServersFor,
  readServerJson,
  rpcDirectOk,
  tempRoot,
  useBuiltCli,
} from '../helpers/process.js';
import { raceAll, spawnRaceWorker, type RaceWorker } from '../helpers/race-workers.js';
import { describePostgres } from '../helpers/test-postgres.js';

useBuiltCli();

const SERVERS = 4;
const WORKERS_PER_SERVER = 2;
const TASKS = 200;
const CLIQUES = 6;
const CONFLICT = 1003;

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

interface Server {
  name: string;
  root: string;
  url: string;
  token: string;
}

/** One JSON-RPC batch to a server; the answers in request order (matched by id). */
async function batch(srv: Server, calls: { method: string; params: Record<string, unknown> }[]): Promise<any[]> {
  const body = JSON.stringify(calls.map((c, i) => ({ jsonrpc: '2.0', id: i, method: c.method, params: c.params })));
  const res = await httpRequest(`${srv.url}/rpc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    body,
    timeoutMs: 30_000,
  });
  const answers = JSON.parse(res.text) as any[];
  if (!Array.isArray(answers)) throw new Error(`not a batch answer: ${res.text.slice(0, 500)}`);
  const byId = new Map(answers.map((a) => [a.id, a]));
  return calls.map((c, i) => {
    const a = byId.get(i);
    if (!a?.result) throw new Error(`${c.method} failed on ${srv.name}: ${JSON.stringify(a)}`);
    return a.result;
  });
}

// ---------------------------------------------------------------------------------------------
// Worker processes and the start barrier (as test/process/races.test.ts)
// ---------------------------------------------------------------------------------------------

interface Worker extends RaceWorker {
  server: Server;
}

/** A worker on `srv`; its summary names the server it went through. */
function spawnWorker(srv: Server, instructions: Record<string, unknown> & { agent: string }): Worker {
  const w = spawnRaceWorker(srv, instructions, 50_000);
  const done = w.done.then((summary) => ({ ...summary, server: srv.name }));
  done.catch(() => {});
  return { ...w, server: srv, done };
}

function freshBarrier(): string {
  const dir = mkdtempSync(join(tmpdir(), 'decapod-barrier-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function duplicates<T>(xs: T[]): T[] {
  const seen = new Set<T>();
  return xs.filter((x) => (seen.has(x) ? true : (seen.add(x), false)));
}

// ---------------------------------------------------------------------------------------------
// The 200 tasks
// ---------------------------------------------------------------------------------------------

interface Spec {
  key: number;
  title: string;
  priority: number;
  paths?: string[];
  /** tasks of one clique all pairwise overlap; none overlaps another clique or anything else */
  clique?: number;
  /** keys of the specs this one depends on (created before it) */
  deps?: number[];
}

/**
 * 180 independent tasks — 60 without paths, 60 with paths of their own, 60 in 6 cliques of 10
 * whose patterns all cover `grp/kK/a.ts` — then 20 that depend on one or two of them (on both
 * kinds, cliques too), so they become ready only as other agents complete work, on any server.
 * Priorities are spread so the best ready task keeps moving between cliques and free work.
 */
function taskSet(): Spec[] {
  const specs: Spec[] = [];
  const cliquePatterns = (k: number, j: number): string[] => {
    const d = `grp/k${k}`;
    return [[d], [`${d}/a.ts`], [`${d}/*.ts`], [`${d}/**`], [`${d}/{a,b}.ts`], [`${d}/?.ts`], [`${d}/a.ts`, `solo/k${k}-${j}.md`], [`${d}/a.ts`], [`${d}/**/*.ts`], [`${d}/a.ts/`]][j]!;
  };
  const independent: Omit<Spec, 'key' | 'priority'>[] = [];
  for (let i = 0; i < 60; i++) independent.push({ title: `free ${i}` });
  for (let i = 0; i < 60; i++) independent.push({ title: `own ${i}`, paths: i % 3 === 0 ? [`own/m${i}/a.ts`, `docs/own-${i}.md`] : [`own/m${i}/file.ts`] });
  for (let k = 0; k < CLIQUES; k++) for (let j = 0; j < 10; j++) independent.push({ title: `clique ${k} #${j}`, paths: cliquePatterns(k, j), clique: k });
  // Deterministically interleaved (7919 is prime to 180).
  const order = range(180).sort((a, b) => ((a * 7919) % 180) - ((b * 7919) % 180));
  for (const [i, at] of order.entries()) specs.push({ ...independent[at]!, key: i, priority: (i * 3) % 5 });
  for (let i = 0; i < 20; i++) {
    const deps = [(i * 37) % 180, ...(i % 2 === 0 ? [(i * 53 + 11) % 180] : [])];
    specs.push({ key: 180 + i, title: `after ${deps.join('+')}`, priority: i % 5, deps: [...new Set(deps)], ...(i % 4 === 0 ? { paths: [`after/${i}.ts`] } : {}) });
  }
  return specs;
}

describePostgres('team mode race: four servers, eight agents, one database', (db) => {
  test('8 agent processes on 4 servers claim and complete 200 tasks: each exactly once, the best ready one, fences only grow; 16-way exclusive acquire: one winner; one head everywhere', { timeout: 120_000 }, async () => {
    const t0 = performance.now();
    const lap: Record<string, number> = {};
    const mark = (what: string) => (lap[what] = Math.round(performance.now() - t0));

    // Four clones of one repository: one project id (its root commit), four roots, four servers.
    const first = tempRoot();
    git(first, 'init', '-q');
    git(first, 'commit', '-q', '--allow-empty', '-m', 'first');
    const roots = [first, ...range(SERVERS - 1).map((i) => {
      const clone = join(tempRoot(), `clone-${i + 1}`);
      git(first, 'clone', '-q', first, clone);
      return clone;
    })];
    onTestFinished(async () => {
      for (const root of roots) await killServersFor(root);
    });
    const env = { DECAPOD_DATABASE_URL: db.url, DECAPOD_IDLE_TIMEOUT: '5m' };
    // All four at once: they migrate the fresh database concurrently (under its advisory lock).
    const statuses = await Promise.all(roots.map((root) => callOk(root, 'server.status', undefined, { env, timeoutMs: 30_000 })));
    mark('servers started');
    const rootCommit = git(first, 'rev-list', '--max-parents=0', 'HEAD').trim();
    for (const s of statuses) expect(s.storage).toMatchObject({ engine: 'postgresql', project: `git:${rootCommit}` });
    expect(new Set(statuses.map((s) => s.pid)).size, 'four distinct server processes').toBe(SERVERS);
    const servers: Server[] = roots.map((root, i) => {
      const sj = readServerJson(root)!;
      return { name: `s${i}`, root, url: sj.url, token: sj.token };
    });

    // The 200 tasks, created through all four servers at once (ids come from the shared counter).
    const specs = taskSet();
    const specOf = new Map<string, Spec>(); // task id → spec
    const idOf = new Map<number, string>(); // spec key → task id
    const createParams = (s: Spec) => ({
      title: s.title,
      priority: s.priority,
      ...(s.paths ? { paths: s.paths } : {}),
      ...(s.deps ? { depends_on: s.deps.map((k) => idOf.get(k)!) } : {}),
    });
    const independent = specs.filter((s) => !s.deps);
    await Promise.all(
      servers.map(async (srv, i) => {
        const mine = independent.filter((s) => s.key % SERVERS === i);
        const created = await batch(srv, mine.map((s) => ({ method: 'task.create', params: createParams(s) })));
        created.forEach((r, j) => {
          expect(r.task.title).toBe(mine[j]!.title);
          specOf.set(r.task.id, mine[j]!);
          idOf.set(mine[j]!.key, r.task.id);
        });
      }),
    );
    const dependent = specs.filter((s) => s.deps);
    const createdDeps = await batch(servers[1]!, dependent.map((s) => ({ method: 'task.create', params: createParams(s) })));
    createdDeps.forEach((r, j) => {
      expect([...r.task.depends_on].sort()).toEqual(dependent[j]!.deps!.map((k) => idOf.get(k)!).sort());
      specOf.set(r.task.id, dependent[j]!);
      idOf.set(dependent[j]!.key, r.task.id);
    });
    expect(specOf.size).toBe(TASKS);
    expect(new Set(specOf.keys()), 'task ids from the one shared counter').toEqual(new Set(range(TASKS).map((i) => `T${i + 1}`)));
    for (const srv of servers) {
      expect((await rpcDirectOk(srv.root, 'task.list', { ready: true, limit: 500 })).tasks, `ready on ${srv.name}`).toHaveLength(TASKS - dependent.length);
    }
    mark('tasks created');

    // 8 agents, 2 per server, each its own process and lease, all starting at once.
    const barrier = freshBarrier();
    const workers = range(SERVERS * WORKERS_PER_SERVER).map((i) =>
      spawnWorker(servers[i % SERVERS]!, { agent: `agent-${i}`, action: 'claim-complete-loop', barrier, retry_sleep_ms: 10, ttl_ms: 600_000 }),
    );
    const summaries = await raceAll(barrier, workers, 60_000, 30_000);
    mark('claim loop done');

    // Each worker stopped because nothing was left, and its receipts say what it asked for.
    const serverOfAgent = new Map<string, string>();
    for (const s of summaries) {
      expect(s.fatal, `${s.agent}: ${s.fatal}`).toBeUndefined();
      expect(s.error, `${s.agent} got an unexpected error: ${JSON.stringify(s.error)}`).toBeUndefined();
      expect(s.stopped_by, s.agent).toBe('all_done');
      serverOfAgent.set(s.agent, s.server);
      expect(s.completed.map((c: any) => c.task), `${s.agent} completes what it claimed, in order`).toEqual(s.claimed.map((c: any) => c.task));
      for (const c of s.claimed) {
        expect(c.claim_task).toBe(c.task);
        expect({ agent: c.claim_agent, lease: c.claim_lease_id, mode: c.mode, state: c.state }).toEqual({ agent: s.agent, lease: s.lease_id, mode: 'exclusive', state: 'active' });
        expect(c.paths).toEqual(c.task_paths);
        expect(c.task_holder).toEqual({ agent: s.agent, lease_id: s.lease_id, claim_id: c.claim_id, fence: c.fence });
      }
      for (const c of s.completed) expect({ status: c.status, holder: c.holder }).toEqual({ status: 'done', holder: null });
      const fences = s.claimed.map((c: any) => c.fence);
      for (let i = 1; i < fences.length; i++) expect(fences[i], `${s.agent}'s fences`).toBeGreaterThan(fences[i - 1]);
    }
    expect(duplicates(summaries.map((s) => s.lease_id)), 'lease ids').toEqual([]);

    // Across workers (their own receipts): every task claimed exactly once, completed exactly once.
    const grants = summaries.flatMap((s) => s.claimed.map((c: any) => ({ ...c, agent: s.agent, server: s.server })));
    const completions = summaries.flatMap((s) => s.completed.map((c: any) => ({ ...c, agent: s.agent })));
    expect(duplicates(grants.map((g) => g.task)), 'tasks claimed twice (workers)').toEqual([]);
    expect(new Set(grants.map((g) => g.task)), 'every task claimed (workers)').toEqual(new Set(specOf.keys()));
    expect(duplicates(completions.map((c) => c.task)), 'tasks completed twice (workers)').toEqual([]);
    expect(completions).toHaveLength(TASKS);
    expect(duplicates(grants.map((g) => g.claim_id)), 'claim ids').toEqual([]);
    expect(duplicates(grants.map((g) => g.fence)), 'fences').toEqual([]);
    // The load really came through all four servers.
    for (const srv of servers) expect(grants.filter((g) => g.server === srv.name).length, `grants through ${srv.name}`).toBeGreaterThan(0);

    // The log: each task one claim.acquired and one task.completed, matching the receipts;
    // fences strictly increasing in log order.
    const events = await allAuditEvents(servers[0]!.root);
    const acquired = events.filter((e) => e.type === 'claim.acquired' && e.data.task !== null);
    expect(duplicates(acquired.map((e) => e.data.task)), 'tasks claimed twice (log)').toEqual([]);
    expect(acquired).toHaveLength(TASKS);
    const grantOf = new Map(grants.map((g) => [g.task, g]));
    for (const e of acquired) {
      const g = grantOf.get(e.data.task)!;
      expect({ claim_id: e.data.claim_id, fence: e.data.fence, agent: e.agent, seq: e.seq, hash: e.hash }).toEqual({
        claim_id: g.claim_id,
        fence: g.fence,
        agent: g.agent,
        seq: g.receipt.seq,
        hash: g.receipt.hash,
      });
    }
    const completedEvents = events.filter((e) => e.type === 'task.completed');
    expect(duplicates(completedEvents.map((e) => e.subject)), 'tasks completed twice (log)').toEqual([]);
    expect(completedEvents).toHaveLength(TASKS);
    const allFences = events.filter((e) => e.type === 'claim.acquired').map((e) => e.data.fence as number);
    for (let i = 1; i < allFences.length; i++) expect(allFences[i], `fence #${i} in log order`).toBeGreaterThan(allFences[i - 1]!);
    expect(events.filter((e) => ['claim.expired', 'claim.reacquired', 'lease.expired', 'lease.revoked'].includes(e.type))).toEqual([]);

    // Replaying the log: each grant was the best ready task (priority, then age; dependencies
    // done; no other agent's live claim on its clique) at its place in the one chain, whichever
    // server granted it. That some grants had to skip a better task blocked by another agent
    // (often one on another server) shows the contention was real.
    const ranked = [...specOf.keys()].sort((a, b) => specOf.get(a)!.priority - specOf.get(b)!.priority || Number(a.slice(1)) - Number(b.slice(1)));
    const done = new Set<string>();
    const liveHolder = new Map<string, string>(); // task → agent with a live claim on it
    const claimTask = new Map<string, string>(); // claim id → task
    let skipped = 0;
    let skippedAcrossServers = 0;
    let waitedOnDeps = 0;
    for (const e of events) {
      if (e.type === 'claim.released') {
        liveHolder.delete(claimTask.get(e.data.claim_id)!);
        continue;
      }
      if (e.type === 'task.completed') {
        done.add(e.subject);
        continue;
      }
      if (e.type !== 'claim.acquired' || e.data.task === null) continue;
      const ready = ranked.filter((t) => !done.has(t) && !liveHolder.has(t) && (specOf.get(t)!.deps ?? []).every((k) => done.has(idOf.get(k)!)));
      const blockers = (t: string) => {
        const k = specOf.get(t)!.clique;
        return k === undefined ? [] : [...liveHolder].filter(([other, agent]) => agent !== e.agent && specOf.get(other)!.clique === k).map(([, agent]) => agent);
      };
      const best = ready.find((t) => blockers(t).length === 0);
      expect(e.data.task, `grant ${e.data.claim_id} to ${e.agent} (seq ${e.seq})`).toBe(best);
      if (ready[0] !== best) {
        skipped++;
        if (blockers(ready[0]!).some((agent) => serverOfAgent.get(agent) !== serverOfAgent.get(e.agent))) skippedAcrossServers++;
      }
      if (specOf.get(e.data.task)!.deps) waitedOnDeps++;
      liveHolder.set(e.data.task, e.agent);
      claimTask.set(e.data.claim_id, e.data.task);
    }
    expect(waitedOnDeps).toBe(dependent.length);
    expect(skippedAcrossServers, `grants that skipped a better task held through another server (of ${skipped} skips)`).toBeGreaterThan(0);
    for (const srv of servers) expect((await rpcDirectOk(srv.root, 'task.list', { status: 'done', limit: 500 })).tasks).toHaveLength(TASKS);
    mark('claim loop checked');

    // 16 processes, 4 per server, acquire one exclusive path at the same moment: one winner.
    const hot = freshBarrier();
    const racers = range(16).map((i) => spawnWorker(servers[i % SERVERS]!, { agent: `racer-${i}`, action: 'acquire', barrier: hot, paths: ['src/hot.ts'], mode: 'exclusive', ttl_ms: 600_000 }));
    const raced = await raceAll(hot, racers, 30_000, 30_000);
    mark('acquire race done');
    for (const s of raced) expect(s.fatal, `${s.agent}: ${s.fatal}`).toBeUndefined();
    const winners = raced.filter((s) => s.claim);
    expect(winners.map((s) => `${s.agent}@${s.server}`), 'exactly one winner').toHaveLength(1);
    const winner = winners[0]!;
    expect(winner.claim).toMatchObject({ agent: winner.agent, lease_id: winner.lease_id, paths: ['src/hot.ts'], mode: 'exclusive', state: 'active', task: null });
    for (const s of raced.filter((x) => !x.claim)) {
      expect(s.error?.code, `${s.agent}@${s.server}: ${JSON.stringify(s.error)}`).toBe(CONFLICT);
      expect(s.error.data.conflicts).toEqual([expect.objectContaining({ resource: 'src/hot.ts', claim_id: winner.claim.id, agent: winner.agent, mode: 'exclusive' })]);
    }
    for (const srv of servers) {
      const live = (await rpcDirectOk(srv.root, 'claim.list', { path: 'src/hot.ts' })).claims as any[];
      expect(live.map((c) => [c.id, c.agent, c.fence]), `live claims on src/hot.ts seen from ${srv.name}`).toEqual([[winner.claim.id, winner.agent, winner.claim.fence]]);
    }

    // Every receipt any worker kept holds on every server; the chain verifies and replays on
    // each; all four report one head, which is the last event's.
    const receipts = [...grants.map((g) => g.receipt), ...completions.map((c) => c.receipt), winner.receipt];
    const finalEvents = await allAuditEvents(servers[3]!.root);
    const finalFences = finalEvents.filter((e) => e.type === 'claim.acquired').map((e) => e.data.fence as number);
    for (let i = 1; i < finalFences.length; i++) expect(finalFences[i]).toBeGreaterThan(finalFences[i - 1]!);
    expect(finalEvents.filter((e) => e.type === 'claim.acquired' && e.data.task === null).map((e) => e.data.claim_id)).toEqual([winner.claim.id]);
    const heads = new Set<string>();
    for (const srv of servers) {
      const v = await rpcDirectOk(srv.root, 'audit.verify', { receipts }, 60_000);
      expect(v, `audit.verify on ${srv.name}`).toMatchObject({ ok: true, count: finalEvents.length, receipts: { checked: receipts.length, contradicted: [] } });
      const r = await rpcDirectOk(srv.root, 'audit.replay', {}, 60_000);
      expect(r.ok, `audit.replay on ${srv.name}: ${JSON.stringify(r.first_difference)}`).toBe(true);
      expect(r.replay_digest).toBe(r.live_digest);
      heads.add(v.head);
    }
    expect([...heads], 'one head on every server').toHaveLength(1);
    expect([...heads][0], 'the head is the last event').toBe(finalEvents.at(-1)!.hash);
    mark('verified');
    const calls = summaries.reduce((n, s) => n + s.calls, 0);
    console.info(
      `[team-race] ${TASKS} tasks, ${summaries.length} agents on ${SERVERS} servers: ${calls} calls, ${summaries.reduce((n, s) => n + s.conflicts, 0)} conflicts, ` +
        `${summaries.reduce((n, s) => n + s.not_ready, 0)} not-ready, ${summaries.reduce((n, s) => n + s.busy, 0)} busy, ${skipped} skips (${skippedAcrossServers} across servers); ` +
        `grants per server ${servers.map((srv) => grants.filter((g) => g.server === srv.name).length).join('/')}; ms: ${JSON.stringify(lap)}`,
    );
  });
});
