// docs/design.md §4–§5 under real concurrency: many OS processes (test/fixtures/race-worker.mjs), each
// with its own lease, hitting one `decapod` server at once over POST /rpc. Exclusive claims must
// never be granted twice, `task.claim` must never hand one task to two agents, fences must be
// unique, and the audit chain must account for every grant.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { describeRun, httpRequest, json, runDecapod, tempRoot, useBuiltCli } from '../helpers/process.js';
import { raceAll, spawnRaceWorker, type RaceWorker } from '../helpers/race-workers.js';

useBuiltCli();

const CONFLICT = 1003;

// ---------------------------------------------------------------------------------------------
// A server for a temp root, and JSON-RPC to it
// ---------------------------------------------------------------------------------------------

interface Server {
  root: string;
  url: string;
  token: string;
}

/** `decapod env --root ROOT`: starts the server and returns its URL and token. */
async function startServer(root: string): Promise<Server> {
  const r = await runDecapod(['env'], { root });
  if (r.code !== 0) throw new Error(`decapod env failed: ${describeRun(r)}`);
  const vars: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(DECAPOD_\w+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if (v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).replace(/'\\''/g, "'");
    vars[m[1]!] = v;
  }
  if (!vars.DECAPOD_URL || !vars.DECAPOD_TOKEN) throw new Error(`decapod env printed no URL/token: ${describeRun(r)}`);
  return { root, url: vars.DECAPOD_URL, token: vars.DECAPOD_TOKEN };
}

/** `decapod stop --root ROOT`, which must stop it (tempRoot's cleanup SIGKILLs it otherwise). */
async function stopServer(srv: Server): Promise<void> {
  const r = await runDecapod(['stop'], { root: srv.root });
  expect(r.code, describeRun(r)).toBe(0);
  expect(json(r).stopped, describeRun(r)).toBe(true);
}

/** POST /rpc with a single request or a batch; returns the parsed answer(s). */
async function post(srv: Server, body: unknown): Promise<any> {
  const res = await httpRequest(`${srv.url}/rpc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    timeoutMs: 15_000,
  });
  try {
    return JSON.parse(res.text);
  } catch {
    throw new Error(`HTTP ${res.status}, not JSON: ${res.text.slice(0, 500)}`);
  }
}

let rpcId = 1;
async function rpcOk(srv: Server, method: string, params: Record<string, unknown> = {}): Promise<any> {
  const msg = await post(srv, { jsonrpc: '2.0', id: rpcId++, method, params });
  if (!msg.result) throw new Error(`${method} failed: ${JSON.stringify(msg)}`);
  return msg.result;
}

/** Every audit event, oldest first, paged with `since`/`next`. */
async function allEvents(srv: Server): Promise<any[]> {
  const events: any[] = [];
  let since = 0;
  for (let page = 0; page < 100; page++) {
    const r = await rpcOk(srv, 'audit.list', { since, limit: 1000 });
    events.push(...r.events);
    if (r.next === null) return events;
    since = r.next;
  }
  throw new Error('audit.list did not end within 100 pages');
}

// ---------------------------------------------------------------------------------------------
// Worker processes and the start barrier
// ---------------------------------------------------------------------------------------------

type Worker = RaceWorker;
const spawnWorker = (srv: Server, instructions: Record<string, unknown> & { agent: string }): Worker => spawnRaceWorker(srv, instructions, 40_000);

function freshBarrier(root: string, name: string): string {
  const dir = join(root, '.race', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function expectUnique<T>(xs: T[], what: string): void {
  const seen = new Set<T>();
  const dups = xs.filter((x) => (seen.has(x) ? true : (seen.add(x), false)));
  expect(dups, `${what} must be unique`).toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// The task set for the task.claim race
// ---------------------------------------------------------------------------------------------

interface TaskSpec {
  title: string;
  priority: number;
  paths?: string[];
  /** the group of tasks whose paths all pairwise overlap, if any */
  clique?: number;
}

const CLIQUES = 10;

/**
 * 200 tasks, every one claimable by SOME worker whatever the interleaving:
 * - 40 without paths, 60 with paths of their own (some two paths), which conflict with nothing;
 * - 100 in 10 cliques of 10 whose patterns all cover `grp/kK/a.ts`, so any two in a clique
 *   conflict and none conflicts with another clique. The first worker to claim a clique's task
 *   blocks the clique for everyone else but can go on claiming it (a lease never conflicts with
 *   itself), so a clique never ends up split and no task is stranded.
 * A task spanning two cliques would be unclaimable once two workers held one each: none here.
 */
function taskSet(): TaskSpec[] {
  const specs: TaskSpec[] = [];
  for (let i = 0; i < 40; i++) specs.push({ title: `free ${i}`, priority: 0 });
  for (let i = 0; i < 60; i++) {
    specs.push({ title: `own ${i}`, priority: 0, paths: i % 3 === 0 ? [`own/m${i}/a.ts`, `docs/own-${i}.md`] : [`own/m${i}/file.ts`] });
  }
  const cliquePatterns = (k: number, j: number): string[] => {
    const d = `grp/k${k}`;
    return [
      [d],
      [`${d}/a.ts`],
      [`${d}/*.ts`],
      [`${d}/**`],
      [`${d}/{a,b}.ts`],
      [`${d}/?.ts`],
      [`${d}/a.ts`, `solo/k${k}-${j}.md`],
      [`${d}/a.ts`],
      [`${d}/**/*.ts`],
      [`${d}/a.ts/`],
    ][j]!;
  };
  for (let k = 0; k < CLIQUES; k++) {
    for (let j = 0; j < 10; j++) specs.push({ title: `clique ${k} #${j}`, priority: 0, paths: cliquePatterns(k, j), clique: k });
  }
  // Interleave deterministically and spread priorities, so the best ready task keeps moving
  // between cliques and free work: workers keep skipping tasks whose paths others hold.
  const shuffled = specs.map((s, i) => ({ s, key: (i * 7919) % 200 })).sort((a, b) => a.key - b.key).map((x) => x.s);
  shuffled.forEach((s, i) => (s.priority = (i * 3) % 5));
  return shuffled;
}

// ---------------------------------------------------------------------------------------------
// The fixed patterns of the overlapping-acquire race, and when two of them overlap
// ---------------------------------------------------------------------------------------------

const PATTERNS = ['src/**', 'src/a.ts', 'src/*.ts', 'src/a'] as const;

/**
 * Worked out by hand (a claim covers its matches and everything under them):
 * `src/**` covers all of src; `src/a.ts` is a match of `src/*.ts`; the folder `src/a` (and
 * `src/a/…`) is matched by neither `src/a.ts` nor `src/*.ts` (`*` does not cross `/`, and `a`
 * is not `*.ts`). Two claims on the same pattern always overlap.
 */
function patternsOverlapByHand(x: string, y: string): boolean {
  if (x === y) return true;
  const disjoint = new Set(['src/a.ts|src/a', 'src/*.ts|src/a']);
  return !disjoint.has(`${x}|${y}`) && !disjoint.has(`${y}|${x}`);
}

/** The maximal sets of pairwise non-overlapping patterns: what a finished race must leave. */
const MAXIMAL_WINNER_SETS = [['src/**'], ['src/a', 'src/a.ts'], ['src/*.ts', 'src/a']].map((s) => [...s].sort());

// ---------------------------------------------------------------------------------------------

describe('races between processes (docs/design.md §4–§5)', () => {
  test('8 processes task.claim the next ready task in a loop over 200 tasks: each task once, fences unique', { timeout: 60_000 }, async () => {
    const root = tempRoot();
    const srv = await startServer(root);

    // The 200 tasks, in batches (each batch item is its own request; order of answers = order sent).
    const specs = taskSet();
    const byId = new Map<string, TaskSpec>();
    for (let at = 0; at < specs.length; at += 50) {
      const chunk = specs.slice(at, at + 50);
      const answers = await post(
        srv,
        chunk.map((s, i) => ({
          jsonrpc: '2.0',
          id: at + i,
          method: 'task.create',
          params: { title: s.title, priority: s.priority, ...(s.paths ? { paths: s.paths } : {}) },
        })),
      );
      expect(Array.isArray(answers), JSON.stringify(answers).slice(0, 500)).toBe(true);
      for (const a of answers) {
        if (!a.result) throw new Error(`task.create failed: ${JSON.stringify(a)}`);
        expect(a.result.task.title).toBe(specs[a.id]!.title);
        byId.set(a.result.task.id, specs[a.id]!);
      }
    }
    expect(byId.size).toBe(200);
    expect((await rpcOk(srv, 'task.list', { ready: true, limit: 500 })).tasks).toHaveLength(200);

    const barrier = freshBarrier(root, 'claim-loop');
    const workers = range(8).map((i) =>
      spawnWorker(srv, { agent: `claimer-${i}`, action: 'claim-loop', barrier, max_conflict_retries: 40, retry_sleep_ms: 10 }),
    );
    const summaries = await raceAll(barrier, workers, 45_000);

    // Each worker stopped for an expected reason, and each claim it got is what it asked for.
    const leaseOf = new Map<string, string>();
    for (const s of summaries) {
      expect(s.fatal, `${s.agent}: ${s.fatal}`).toBeUndefined();
      expect(s.error, `${s.agent} got an unexpected error`).toBeUndefined();
      expect(['not_found', 'conflict_retries']).toContain(s.stopped_by);
      leaseOf.set(s.agent, s.lease_id);
      expectUnique(
        s.claimed.map((c: any) => c.task),
        `${s.agent}'s tasks (one claim per task)`,
      );
      for (const c of s.claimed) {
        expect(c.claim_task, `${s.agent}: claim ${c.claim_id}`).toBe(c.task);
        expect(c.claim_agent).toBe(s.agent);
        expect(c.claim_lease_id).toBe(s.lease_id);
        expect(c.mode).toBe('exclusive');
        expect(c.state).toBe('active');
        expect(c.paths).toEqual(c.task_paths);
        expect(Number.isInteger(c.fence) && c.fence >= 1, `fence ${c.fence}`).toBe(true);
        expect(c.task_holder, `task ${c.task} as returned by task.claim`).toEqual({
          agent: s.agent,
          lease_id: s.lease_id,
          claim_id: c.claim_id,
          fence: c.fence,
        });
      }
    }
    expectUnique([...leaseOf.values()], 'lease ids');

    // Across workers: every task exactly once, claims and fences all distinct.
    const all = summaries.flatMap((s) => s.claimed.map((c: any) => ({ ...c, agent: s.agent, lease_id: s.lease_id })));
    expectUnique(
      all.map((c) => c.task),
      'tasks across workers',
    );
    expectUnique(
      all.map((c) => c.claim_id),
      'claim ids',
    );
    expectUnique(
      all.map((c) => c.fence),
      'fences',
    );
    expect(new Set(all.map((c) => c.task))).toEqual(new Set(byId.keys()));

    // Exclusivity between workers: a clique (pairwise-overlapping paths) is held by one agent only.
    for (let k = 0; k < CLIQUES; k++) {
      const holders = new Set(all.filter((c) => byId.get(c.task)!.clique === k).map((c) => c.agent));
      expect([...holders], `holders of clique ${k}`).toHaveLength(1);
    }

    // The server agrees: claim.list, task.list, and the audit log.
    const live = (await rpcOk(srv, 'claim.list')).claims as any[];
    const fromWorkers = new Map(all.map((c) => [c.task, c]));
    expect(live).toHaveLength(200);
    for (const claim of live) {
      const mine = fromWorkers.get(claim.task);
      expect(mine, `live claim ${claim.id} on ${claim.task}`).toBeDefined();
      expect({ id: claim.id, fence: claim.fence, agent: claim.agent, lease_id: claim.lease_id, state: claim.state }).toEqual({
        id: mine.claim_id,
        fence: mine.fence,
        agent: mine.agent,
        lease_id: mine.lease_id,
        state: 'active',
      });
    }
    const tasks = (await rpcOk(srv, 'task.list', { limit: 500 })).tasks as any[];
    expect(tasks).toHaveLength(200);
    for (const t of tasks) {
      const mine = fromWorkers.get(t.id)!;
      expect(t.status).toBe('open');
      expect(t.holder, `holder of ${t.id}`).toEqual({ agent: mine.agent, lease_id: mine.lease_id, claim_id: mine.claim_id, fence: mine.fence });
    }
    expect((await rpcOk(srv, 'task.list', { ready: true })).tasks).toEqual([]);

    const verify = await rpcOk(srv, 'audit.verify');
    expect(verify.ok, JSON.stringify(verify)).toBe(true);
    const events = await allEvents(srv);
    expect(verify.count).toBe(events.length);
    const acquired = events.filter((e) => e.type === 'claim.acquired');
    expect(acquired).toHaveLength(200);
    expect(new Set(acquired.map((e) => e.data.claim_id))).toEqual(new Set(all.map((c) => c.claim_id)));
    for (const e of acquired) {
      const mine = fromWorkers.get(e.data.task)!;
      expect({ claim_id: e.data.claim_id, fence: e.data.fence, agent: e.agent }).toEqual({ claim_id: mine.claim_id, fence: mine.fence, agent: mine.agent });
    }
    expect(events.filter((e) => ['claim.released', 'claim.expired', 'claim.reacquired'].includes(e.type))).toEqual([]);

    // Replaying the grants in log order: each was the best task (priority, then age) that was
    // ready and not blocked for its agent at that moment — i.e. task.claim skipped exactly the
    // tasks whose paths another lease held. That some were skipped shows the race really made
    // path conflicts happen.
    const seqOf = (id: string) => Number(id.slice(1));
    const ranked = [...byId.keys()].sort((a, b) => byId.get(a)!.priority - byId.get(b)!.priority || seqOf(a) - seqOf(b));
    const holderOf = new Map<string, string>(); // task → agent, as granted so far
    const cliqueHolder = new Map<number, string>();
    let skipped = 0;
    for (const e of acquired) {
      const blocked = (task: string) => {
        const k = byId.get(task)!.clique;
        return k !== undefined && cliqueHolder.has(k) && cliqueHolder.get(k) !== e.agent;
      };
      const unclaimed = ranked.filter((t) => !holderOf.has(t));
      const best = unclaimed.find((t) => !blocked(t));
      expect(e.data.task, `grant ${e.data.claim_id} to ${e.agent} (seq ${e.seq})`).toBe(best);
      if (unclaimed[0] !== best) skipped++;
      holderOf.set(e.data.task, e.agent);
      const k = byId.get(e.data.task)!.clique;
      if (k !== undefined) cliqueHolder.set(k, e.agent);
    }
    expect(skipped, 'grants that had to skip a better task whose paths another worker held').toBeGreaterThan(0);

    await stopServer(srv);
  });

  test('16 processes acquire the same exclusive path at once: exactly one wins, the others are told who', { timeout: 60_000 }, async () => {
    const root = tempRoot();
    const srv = await startServer(root);
    const barrier = freshBarrier(root, 'hot');
    const workers = range(16).map((i) => spawnWorker(srv, { agent: `racer-${i}`, action: 'acquire', barrier, paths: ['src/hot.ts'], mode: 'exclusive' }));
    const summaries = await raceAll(barrier, workers, 30_000);

    for (const s of summaries) expect(s.fatal, `${s.agent}: ${s.fatal}`).toBeUndefined();
    const winners = summaries.filter((s) => s.claim);
    const losers = summaries.filter((s) => !s.claim);
    expect(
      winners.map((s) => s.agent),
      'exactly one winner',
    ).toHaveLength(1);
    const winner = winners[0]!;
    expect(winner.claim).toMatchObject({ agent: winner.agent, lease_id: winner.lease_id, paths: ['src/hot.ts'], mode: 'exclusive', state: 'active', task: null });
    expect(losers).toHaveLength(15);
    for (const s of losers) {
      expect(s.error?.code, `${s.agent}: ${JSON.stringify(s.error)}`).toBe(CONFLICT);
      expect(s.error.data.code).toBe('CONFLICT');
      expect(s.error.data.conflicts, `${s.agent}'s conflicts`).toEqual([
        expect.objectContaining({ resource: 'src/hot.ts', claim_id: winner.claim.id, agent: winner.agent, mode: 'exclusive' }),
      ]);
      expect(s.error.data.conflicts[0].ttl_remaining_ms).toBeGreaterThan(0);
    }

    const live = (await rpcOk(srv, 'claim.list', { path: 'src/hot.ts' })).claims as any[];
    expect(live.map((c) => [c.id, c.agent, c.fence])).toEqual([[winner.claim.id, winner.agent, winner.claim.fence]]);
    const verify = await rpcOk(srv, 'audit.verify');
    expect(verify.ok, JSON.stringify(verify)).toBe(true);
    const events = await allEvents(srv);
    expect(events.filter((e) => e.type === 'claim.acquired').map((e) => e.data.claim_id)).toEqual([winner.claim.id]);

    await stopServer(srv);
  });

  test('8 processes acquire overlapping patterns exclusively: the winners never overlap, and the set is maximal', { timeout: 60_000 }, async () => {
    const root = tempRoot();
    const srv = await startServer(root);
    const ROUNDS = 3;
    for (let round = 0; round < ROUNDS; round++) {
      // Each round under its own folder, so earlier rounds' claims (still live) do not interfere.
      const prefix = `r${round}/`;
      const barrier = freshBarrier(root, `overlap-${round}`);
      // Two processes per pattern, in a different order each round.
      const plan = range(8).map((i) => PATTERNS[(i + round) % PATTERNS.length]!);
      const workers = plan.map((pattern, i) =>
        spawnWorker(srv, { agent: `r${round}-w${i}`, action: 'acquire', barrier, paths: [prefix + pattern], mode: 'exclusive' }),
      );
      const summaries = await raceAll(barrier, workers, 30_000);
      const patternOf = new Map(summaries.map((s, i) => [s.agent, plan[i]!]));
      for (const s of summaries) {
        expect(s.fatal, `${s.agent}: ${s.fatal}`).toBeUndefined();
        if (!s.claim) expect(s.error?.code, `${s.agent}: ${JSON.stringify(s.error)}`).toBe(CONFLICT);
      }
      const winners = summaries.filter((s) => s.claim);
      const losers = summaries.filter((s) => !s.claim);
      const context = `round ${round}: winners ${winners.map((s) => `${s.agent}=${patternOf.get(s.agent)}`).join(', ')}`;

      // The winners pairwise do not overlap (two winners on one pattern would be a double grant).
      for (const a of winners) {
        expect(a.claim.paths, context).toEqual([prefix + patternOf.get(a.agent)]);
        for (const b of winners) {
          if (a === b) continue;
          expect(patternsOverlapByHand(patternOf.get(a.agent)!, patternOf.get(b.agent)!), `${context}: ${a.agent} and ${b.agent} overlap`).toBe(false);
        }
      }
      // Nothing is ever released here, so every refusal names a claim that is still a winner, on
      // an overlapping pattern; and so the winners form a maximal non-overlapping set.
      const winnerByClaim = new Map(winners.map((s) => [s.claim.id, s]));
      for (const s of losers) {
        const conflicts = s.error.data.conflicts as any[];
        expect(conflicts.length, `${context}: ${s.agent} refused without naming a holder`).toBeGreaterThan(0);
        for (const c of conflicts) {
          const holder = winnerByClaim.get(c.claim_id);
          expect(holder, `${context}: ${s.agent} refused by ${c.claim_id}, which no winner holds`).toBeDefined();
          expect(c.agent).toBe(holder!.agent);
          expect(patternsOverlapByHand(patternOf.get(s.agent)!, patternOf.get(holder!.agent)!), `${context}: ${s.agent} refused by ${c.claim_id}`).toBe(true);
        }
      }
      const winnerPatterns = winners.map((s) => patternOf.get(s.agent)!).sort();
      expect(MAXIMAL_WINNER_SETS, context).toContainEqual(winnerPatterns);

      // The server's live claims under this round's folder are exactly the winners'.
      const live = ((await rpcOk(srv, 'claim.list', { path: `r${round}` })).claims as any[]).filter((c) => c.paths[0].startsWith(prefix));
      expect(live.map((c) => c.id).sort(), context).toEqual(winners.map((s) => s.claim.id).sort());
      for (const a of live) {
        for (const b of live) {
          if (a !== b) expect(patternsOverlapByHand(a.paths[0].slice(prefix.length), b.paths[0].slice(prefix.length)), context).toBe(false);
        }
      }
    }
    const verify = await rpcOk(srv, 'audit.verify');
    expect(verify.ok, JSON.stringify(verify)).toBe(true);
    const acquired = (await allEvents(srv)).filter((e) => e.type === 'claim.acquired');
    expect(acquired).toHaveLength(((await rpcOk(srv, 'claim.list')).claims as any[]).length);

    await stopServer(srv);
  });
});
