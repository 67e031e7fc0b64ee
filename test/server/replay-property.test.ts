import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { startTestServer } from '../helpers/test-server.js';

// docs/design.md §4: state is a pure function of the log. After a long random sequence of operations
// (many of them refused), replaying the log rebuilds exactly the live state, and the chain holds.

const agents = ['ann', 'bo', 'cy'] as const;
const paths = ['src', 'src/a.ts', 'src/*.ts', 'docs/**', 'lib/x', 'README.md'];
// Acceptance criteria follow from the drawn priority, so the histories the seed gives stay the same.
const criteria = (n: number) => ['it parses', 'it is fast', 'docs say so'].slice(0, n % 4);

const op = fc.oneof(
  { weight: 1, arbitrary: fc.record({ k: fc.constant('grant'), agent: fc.constantFrom(...agents), ttl: fc.constantFrom(2_000, 10_000, 60_000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('revoke'), agent: fc.constantFrom(...agents) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('renew'), agent: fc.constantFrom(...agents) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tick'), ms: fc.constantFrom(500, 3_000, 20_000) }) },
  { weight: 4, arbitrary: fc.record({
    k: fc.constant('create'),
    priority: fc.integer({ min: 0, max: 4 }),
    paths: fc.subarray(paths, { maxLength: 2 }),
    labels: fc.subarray(['x', 'y', 'z'], { maxLength: 2 }),
    dep: fc.integer({ min: 0, max: 6 }),
    gates: fc.subarray(['review'], { maxLength: 1 }),
  }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('update'), agent: fc.constantFrom(...agents), task: fc.integer({ min: 1, max: 8 }), priority: fc.integer({ min: 0, max: 4 }) }) },
  // A held task's new paths move its claim (issue 10): replay must rebuild the moved claim.
  { weight: 2, arbitrary: fc.record({ k: fc.constant('repath'), agent: fc.constantFrom(...agents), pick: fc.nat(), paths: fc.subarray(paths, { maxLength: 2 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('claimTask'), agent: fc.constantFrom(...agents), task: fc.option(fc.integer({ min: 1, max: 8 })) }) },
  { weight: 3, arbitrary: fc.record({
    k: fc.constant('acquire'),
    agent: fc.constantFrom(...agents),
    paths: fc.subarray(paths, { minLength: 1, maxLength: 2 }),
    shared: fc.boolean(),
    ttl: fc.option(fc.constantFrom(1_000, 30_000)),
  }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('release'), agent: fc.constantFrom(...agents), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('prove'), agent: fc.constantFrom(...agents), passed: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('complete'), agent: fc.constantFrom(...agents) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cancel'), agent: fc.constantFrom(...agents), task: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reopen'), agent: fc.constantFrom(...agents), task: fc.integer({ min: 1, max: 8 }) }) },
);

test('replay of a random history rebuilds the live state exactly', async () => {
  let runs = 0;
  let accepted = 0;
  let moved = 0;
  const seen = new Set<string>();
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 80 }), async (ops) => {
      const s = await startTestServer();
      mkdirSync(join(s.root, '.decapod'), { recursive: true });
      writeFileSync(join(s.root, '.decapod', 'config.json'), JSON.stringify({ gates: { review: { command: 'true', attest: 'any' } } }));
      const leases = new Map<string, string>();
      for (const agent of agents) leases.set(agent, (await s.call('lease.grant', { agent, ttl_ms: 60_000 })).lease);
      let tasks = 0;
      const held = async (agent: string) => (await s.call('claim.list', { agent })).claims as { id: string; fence: number; task: string | null }[];
      for (const o of ops) {
        const lease = 'agent' in o ? leases.get(o.agent) : undefined;
        let r: { error?: unknown } | undefined;
        switch (o.k) {
          case 'grant': {
            const g = await s.rpc('lease.grant', { agent: o.agent, ttl_ms: o.ttl });
            if (g.result) leases.set(o.agent, g.result.lease);
            r = g;
            break;
          }
          case 'revoke':
            if (lease) r = await s.rpc('lease.revoke', { lease });
            break;
          case 'renew':
            if (lease) r = await s.rpc('lease.renew', { lease });
            break;
          case 'tick':
            s.clock.advance(o.ms);
            break;
          case 'create':
            r = await s.rpc('task.create', {
              title: `t${tasks + 1}`,
              priority: o.priority,
              paths: o.paths,
              labels: o.labels,
              gates: o.gates,
              acceptance: criteria(o.priority),
              ...(o.dep > 0 && o.dep <= tasks ? { depends_on: [`T${o.dep}`] } : {}),
            });
            if (r && !r.error) tasks++;
            break;
          case 'update':
            if (lease) r = await s.rpc('task.update', { lease, task: `T${o.task}`, priority: o.priority, ...(o.priority % 2 ? { acceptance: criteria(o.task + o.priority) } : {}) });
            break;
          case 'repath': {
            // Of a task this agent holds (claiming the next ready one first if it holds none).
            if (!lease) break;
            const tasksHeld = async () => (await held(o.agent)).filter((x) => x.task);
            let mine = await tasksHeld();
            if (mine.length === 0 && !(await s.rpc('task.claim', { lease })).error) mine = await tasksHeld();
            const c = mine[o.pick % Math.max(1, mine.length)];
            if (c) r = await s.rpc('task.update', { lease, task: c.task, paths: o.paths });
            break;
          }
          case 'claimTask':
            if (lease) r = await s.rpc('task.claim', { lease, ...(o.task ? { task: `T${o.task}` } : {}) });
            break;
          case 'acquire':
            if (lease) r = await s.rpc('claim.acquire', { lease, paths: o.paths, mode: o.shared ? 'shared' : 'exclusive', ...(o.ttl ? { ttl_ms: o.ttl } : {}) });
            break;
          case 'release': {
            const mine = lease ? await held(o.agent) : [];
            const c = mine[o.pick % Math.max(1, mine.length)];
            if (lease && c) r = await s.rpc('claim.release', { lease, claim: c.id, fence: c.fence });
            break;
          }
          case 'prove':
          case 'complete': {
            const c = lease ? (await held(o.agent)).find((x) => x.task) : undefined;
            if (!lease || !c) break;
            r =
              o.k === 'prove'
                ? await s.rpc('proof.record', { lease, task: c.task, gate: 'review', fence: c.fence, passed: o.passed })
                : await s.rpc('task.complete', { lease, task: c.task, fence: c.fence });
            break;
          }
          case 'cancel':
          case 'reopen':
            if (lease) r = await s.rpc(`task.${o.k}`, { lease, task: `T${o.task}`, reason: 'property test' });
            break;
        }
        if (r && !r.error) accepted++;
      }
      for (const e of (await s.call('audit.list', { limit: 1000 })).events) {
        seen.add(e.type);
        if (e.type === 'claim.paths_changed') moved++;
      }
      const replay = await s.call('audit.replay');
      const verify = await s.call('audit.verify');
      await s.close();
      runs++;
      expect(replay.first_difference).toBeUndefined();
      expect(replay).toMatchObject({ ok: true, chain: { ok: true } });
      expect(replay.replay_digest).toBe(replay.live_digest);
      expect(verify.ok).toBe(true);
    }),
    { numRuns: 25, seed: 20261129 },
  );
  expect(runs).toBe(25);
  // The histories really exercised every kind of change.
  expect(accepted).toBeGreaterThan(200);
  expect(moved).toBeGreaterThan(10);
  expect([...seen].sort()).toEqual(
    [
      'claim.acquired', 'claim.expired', 'claim.paths_changed', 'claim.reacquired', 'claim.released', 'lease.expired', 'lease.granted', 'lease.revoked',
      'proof.recorded', 'task.cancelled', 'task.completed', 'task.created', 'task.reopened', 'task.updated',
    ].sort(),
  );
});
