// docs/design.md §7: `decapod migrate --to postgres://…`, as processes. A root's SQLite history
// (leases, tasks with dependencies, live and released claims, proofs, idempotent grants, and over
// ten thousand events) is copied into PostgreSQL; a server started on that root with
// DECAPOD_DATABASE_URL then verifies and replays the same head and digest, the old lease secret
// still renews, an idempotent grant retried still gets its secret back, and new fences and ids
// follow the migrated ones. A running server makes migrate refuse; a second migrate into the same
// project is refused and changes nothing. And it works on the demo's history (scripts/demo.mjs).
import { spawn, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { expect, onTestFinished, test } from 'vitest';
import { binPath, callOk, cliEnv, describeRun, json, killServersFor, readServerJson, REPO, runDecapod, tempRoot, useBuiltCli } from '../helpers/process.js';
import { describePostgres } from '../helpers/test-postgres.js';

useBuiltCli();

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();

async function rpc(root: string, method: string, params: unknown): Promise<any> {
  const sj = readServerJson(root)!;
  const res = await fetch(`${sj.url}/rpc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sj.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: any; error?: any };
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

/** The project's events in the database, without going through Decapod (0 before any schema). */
async function eventsInDatabase(url: string, project: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    if ((await client.query("SELECT to_regclass('events') AS t")).rows[0].t === null) return 0;
    return Number((await client.query('SELECT count(*) AS n FROM events WHERE project_id = $1', [project])).rows[0].n);
  } finally {
    await client.end();
  }
}

/** What the root's SQLite file holds: rows per table and the last event's hash (read-only, no server running). */
function sqliteFingerprint(root: string): Record<string, unknown> {
  const db = new Database(join(root, '.decapod', 'decapod.db'), { readonly: true, fileMustExist: true });
  try {
    const out: Record<string, unknown> = {};
    for (const t of ['events', 'leases', 'tasks', 'claims', 'claim_paths', 'proofs', 'idempotency', 'meta']) out[t] = db.prepare(`SELECT count(*) FROM ${t}`).pluck().get();
    out.head = db.prepare('SELECT seq || \' \' || hash FROM events ORDER BY seq DESC LIMIT 1').pluck().get();
    out.meta_rows = db.prepare("SELECT group_concat(key || '=' || value, ',') FROM meta").pluck().get();
    return out;
  } finally {
    db.close();
  }
}

describePostgres('decapod migrate', (db) => {
  test('a history with leases, tasks, claims, proofs and 10 000+ events moves to PostgreSQL, verified; the server there carries on from it', async () => {
    const root = tempRoot();
    git(root, 'init', '-q');
    git(root, 'commit', '-q', '--allow-empty', '-m', 'first');
    const project = `git:${git(root, 'rev-list', '--max-parents=0', 'HEAD')}`;
    mkdirSync(join(root, '.decapod'), { recursive: true });
    writeFileSync(join(root, '.decapod', 'config.json'), JSON.stringify({ gates: { ok: { command: 'true', timeout_ms: 30_000 } } }));
    const env = { DECAPOD_DATABASE_URL: db.url };
    try {
      // The history, on SQLite (a server spawned by the CLI).
      const grantKey = randomUUID();
      const alice = await callOk(root, 'lease.grant', { agent: 'alice', ttl_ms: 600_000, idempotency_key: grantKey });
      const bob = (await callOk(root, 'lease.grant', { agent: 'bob', ttl_ms: 600_000 })).lease as string;
      await rpc(root, 'task.create', { lease: alice.lease, title: 'one', paths: ['src/a'], gates: ['ok'] });
      await rpc(root, 'task.create', { lease: alice.lease, title: 'two', paths: ['src/b'], depends_on: ['T1'] });
      await rpc(root, 'task.create', { lease: alice.lease, title: 'three', paths: ['src/c'], depends_on: ['T1', 'T2'] });
      await rpc(root, 'task.create', { lease: alice.lease, title: 'four', paths: ['lib'] });
      const t1 = await rpc(root, 'task.claim', { lease: alice.lease, task: 'T1' });
      await rpc(root, 'proof.run', { lease: alice.lease, task: 'T1', gate: 'ok', fence: t1.claim.fence });
      await rpc(root, 'task.complete', { lease: alice.lease, task: 'T1', fence: t1.claim.fence });
      const t4 = await rpc(root, 'task.claim', { lease: bob, task: 'T4' }); // stays live
      const docs = (await rpc(root, 'claim.acquire', { lease: alice.lease, paths: ['docs/**'] })).claim; // stays live
      const worker = async (w: number) => {
        for (let i = 0; i < 700; i++) {
          const c = (await rpc(root, 'claim.acquire', { lease: bob, paths: [`pool/${w}/${i % 5}`] })).claim;
          await rpc(root, 'claim.release', { lease: bob, claim: c.id, fence: c.fence });
        }
      };
      await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(worker));
      const sqliteVerify = await callOk(root, 'audit.verify');
      const sqliteReplay = await callOk(root, 'audit.replay');
      expect(sqliteVerify.count).toBeGreaterThan(11_200);
      expect(sqliteReplay.ok).toBe(true);

      // While a server runs on the root, migrate refuses (it would go on writing SQLite).
      const busy = await runDecapod(['migrate', '--to', db.url], { root });
      expect(busy.code, describeRun(busy)).toBe(1);
      expect(busy.stderr).toMatch(/a decapod server is running on .*\(pid \d+\).*stop it first/);
      expect(await eventsInDatabase(db.url, project)).toBe(0);
      expect((await runDecapod(['stop'], { root })).code).toBe(0);
      const untouched = sqliteFingerprint(root);

      const migrated = await runDecapod(['migrate', '--to', db.url, '--json'], { root, timeoutMs: 120_000 });
      expect(migrated.code, describeRun(migrated)).toBe(0);
      const report = json(migrated);
      expect(migrated.stderr).toContain(`copying project ${project}: ${sqliteVerify.count} events`);
      expect(migrated.stderr).toMatch(new RegExp(`10000 of ${sqliteVerify.count} events copied`));
      expect(report).toMatchObject({ project, defaultProject: project, to: db.url });
      expect(report.source.head).toEqual({ seq: sqliteVerify.count, hash: sqliteVerify.head });
      expect(report.target.head).toEqual(report.source.head);
      expect(report.source.digest).toBe(sqliteReplay.live_digest);
      expect(report.target.digest).toBe(sqliteReplay.live_digest);
      expect(report.copied).toMatchObject({ events: sqliteVerify.count, leases: 2, tasks: 4, proofs: 1, meta: ['lease_pepper'] });
      expect(report.copied.claims).toBe(2 + 1 + 8 * 700);
      expect(report.next).toContain(`export DECAPOD_DATABASE_URL=${db.url}`);
      expect(await eventsInDatabase(db.url, project)).toBe(sqliteVerify.count);
      expect(sqliteFingerprint(root), 'the SQLite history is left as it was').toEqual(untouched);

      // A server on PostgreSQL for this root carries on from the migrated history.
      const status = await callOk(root, 'server.status', undefined, { env });
      expect(status.storage).toMatchObject({ engine: 'postgresql', project });
      expect(status.counts).toMatchObject({ leases_active: 2, claims_active: 2, tasks_open: 3 });
      const verify = await callOk(root, 'audit.verify', undefined, { env });
      expect(verify).toMatchObject({ ok: true, count: sqliteVerify.count, head: sqliteVerify.head });
      const replay = await callOk(root, 'audit.replay', undefined, { env });
      expect(replay).toMatchObject({ ok: true, events: sqliteVerify.count, live_digest: sqliteReplay.live_digest, replay_digest: sqliteReplay.live_digest });
      // The old lease secret still works; a grant retried with its key gets the same secret back (the pepper came along).
      expect((await callOk(root, 'lease.renew', { lease: alice.lease }, { env })).lease_id).toBe(alice.lease_id);
      const retried = await callOk(root, 'lease.grant', { agent: 'alice', ttl_ms: 600_000, idempotency_key: grantKey }, { env });
      expect(retried).toMatchObject({ lease_id: alice.lease_id, lease: alice.lease, receipt: { seq: alice.receipt.seq } });
      // Live claims still hold; the next fence and ids follow the migrated ones.
      const check = await callOk(root, 'claim.check', { paths: ['docs/x.md', 'lib/y.ts'] }, { env });
      expect(JSON.stringify(check)).toContain(docs.id);
      expect(JSON.stringify(check)).toContain(t4.claim.id);
      const fresh = (await callOk(root, 'claim.acquire', { lease: bob, paths: ['fresh'] }, { env })).claim;
      expect(fresh.fence).toBeGreaterThan(report.source.counters.fence);
      expect(report.source.counters.fence).toBeGreaterThanOrEqual(2 + 1 + 8 * 700);
      expect((await callOk(root, 'task.create', { lease: alice.lease, title: 'five' }, { env })).task.id).toBe('T5');
      const after = await callOk(root, 'audit.verify', undefined, { env });
      expect((await runDecapod(['stop'], { root, env })).code).toBe(0);

      // A second migrate into the same project is refused and changes nothing.
      const again = await runDecapod(['migrate', '--to', db.url], { root });
      expect(again.code, describeRun(again)).toBe(1);
      expect(again.stderr).toContain(`project ${project} in ${db.url} already has ${after.count} events: migrate never merges two histories`);
      expect(await eventsInDatabase(db.url, project)).toBe(after.count);
      expect(await callOk(root, 'audit.verify', undefined, { env })).toMatchObject({ ok: true, count: after.count, head: after.head });
      expect(sqliteFingerprint(root)).toEqual(untouched);
    } finally {
      await killServersFor(root);
    }
  }, 240_000);

  test("the demo's history (scripts/demo.mjs) migrates: no root commit there, so --project names the claim space", async () => {
    // The demo, run from this test's copy of the package (its bin/decapod), keeping its scratch repository.
    const pkg = dirname(dirname(binPath()));
    mkdirSync(join(pkg, 'scripts'), { recursive: true });
    for (const f of ['demo.mjs', 'demo-agent.mjs']) copyFileSync(join(REPO, 'scripts', f), join(pkg, 'scripts', f));
    const demo = spawn(process.execPath, [join(pkg, 'scripts', 'demo.mjs')], { env: cliEnv({ DECAPOD_DEMO_KEEP: '1' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    demo.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    demo.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((r) => demo.on('close', r));
    expect(code, `${out}\n${err}`).toBe(0);
    const root = /Kept the scratch repository: (.+)$/m.exec(out)![1]!.trim();
    onTestFinished(async () => {
      await killServersFor(root);
      rmSync(root, { recursive: true, force: true });
    });

    const noId = await runDecapod(['migrate', '--to', db.url], { root });
    expect(noId.code, describeRun(noId)).toBe(2);
    expect(noId.stderr).toContain('or name one with --project ID');
    const project = `demo-${randomUUID()}`;
    const migrated = await runDecapod(['migrate', '--to', db.url, '--project', project], { root, timeoutMs: 60_000 });
    expect(migrated.code, describeRun(migrated)).toBe(0);
    expect(migrated.stdout).toMatch(/audit head {4}sqlite seq (\d+) ([0-9a-f]{64})\n {16}postgresql seq \1 \2 {2}equal/);
    expect(migrated.stdout).toMatch(/state digest {2}sqlite ([0-9a-f]{64})\n {16}postgresql \1 {2}equal/);
    expect(migrated.stdout).toContain(`export DECAPOD_PROJECT=${project}`);
    const env = { DECAPOD_DATABASE_URL: db.url, DECAPOD_PROJECT: project };
    try {
      const sqliteHead = /sqlite seq (\d+) ([0-9a-f]{64})/.exec(migrated.stdout)!;
      const digest = /state digest {2}sqlite ([0-9a-f]{64})/.exec(migrated.stdout)![1];
      expect(await callOk(root, 'audit.verify', undefined, { env })).toMatchObject({ ok: true, count: Number(sqliteHead[1]), head: sqliteHead[2] });
      expect(await callOk(root, 'audit.replay', undefined, { env })).toMatchObject({ ok: true, live_digest: digest, replay_digest: digest });
    } finally {
      await killServersFor(root);
    }
  }, 120_000);
});
