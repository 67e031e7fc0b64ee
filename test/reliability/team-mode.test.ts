// Issue 14 (team mode), as processes: two `decapod serve` processes, spawned by the CLI on two
// clones of one repository (standing for two machines), share one claim space in PostgreSQL.
// Under load from both, one server is killed with SIGKILL: no write either acknowledged is lost
// (every kept receipt holds in the log), the chain verifies and replays on both, fences in the
// log only grow, and the next call in the killed clone's root gets a new server on the same state.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { callOk, killPid, killServersFor, readServerJson, tempRoot, useBuiltCli } from '../helpers/process.js';
import { describePostgres } from '../helpers/test-postgres.js';

useBuiltCli();

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });

async function rpc(root: string, method: string, params: unknown): Promise<any> {
  const sj = readServerJson(root)!;
  const res = await fetch(`${sj.url}/rpc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sj.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return res.json();
}

describePostgres('team mode: server processes on one database', (db) => {
  test('kill -9 of one of two servers under load loses no acknowledged write; one chain, fences only grow', async () => {
    const a = tempRoot();
    git(a, 'init', '-q');
    git(a, 'commit', '-q', '--allow-empty', '-m', 'first');
    const b = join(tempRoot(), 'clone');
    git(a, 'clone', '-q', a, b);
    const env = { DECAPOD_DATABASE_URL: db.url };
    try {
      const [sa, sb] = [await callOk(a, 'server.status', undefined, { env }), await callOk(b, 'server.status', undefined, { env })];
      expect(sa.storage).toMatchObject({ engine: 'postgresql' });
      expect(sb.storage.project).toBe(sa.storage.project); // every clone: one claim space
      const leases = {
        a: (await callOk(a, 'lease.grant', { agent: 'agent-a', ttl_ms: 600_000 }, { env })).lease as string,
        b: (await callOk(b, 'lease.grant', { agent: 'agent-b', ttl_ms: 600_000 }, { env })).lease as string,
      };
      const kept: { seq: number; hash: string }[] = [];
      let killed = false;
      let aFinished = 0;
      // 4 workers per server, claiming and releasing paths from a pool both sides share.
      const worker = async (root: string, lease: string, w: number) => {
        for (let i = 0; i < 40; i++) {
          if (root === a && killed) return;
          let got;
          try {
            got = await rpc(root, 'claim.acquire', { lease, paths: [`pool/${(w * 7 + i) % 6}`] });
          } catch {
            return; // the server went away under this call: nothing acknowledged
          }
          if (got.error) {
            expect(got.error.data.code).toBe('CONFLICT');
            continue;
          }
          kept.push({ seq: got.result.receipt.seq, hash: got.result.receipt.hash });
          try {
            const rel = await rpc(root, 'claim.release', { lease, claim: got.result.claim.id, fence: got.result.claim.fence });
            if (rel.result) kept.push({ seq: rel.result.receipt.seq, hash: rel.result.receipt.hash });
          } catch {
            return;
          }
        }
      };
      const load = [0, 1, 2, 3].flatMap((w) => [worker(a, leases.a, w).finally(() => aFinished++), worker(b, leases.b, w)]);
      await new Promise((r) => setTimeout(r, 400));
      const victim = readServerJson(a)!.pid as number;
      expect(aFinished, 'the kill lands while server a is under load').toBe(0);
      killed = true;
      await killPid(victim, 'SIGKILL');
      await Promise.all(load);
      expect(kept.length).toBeGreaterThan(10);
      // A call in the killed server's root gets a new server, on the same shared state.
      const again = await callOk(a, 'server.status', undefined, { env });
      expect(again.pid).not.toBe(victim);
      for (const root of [a, b]) {
        const v = await callOk(root, 'audit.verify', { receipts: kept }, { env });
        expect(v).toMatchObject({ ok: true, receipts: { checked: kept.length, contradicted: [] } });
        const r = await callOk(root, 'audit.replay', undefined, { env });
        expect(r.ok, JSON.stringify(r.first_difference)).toBe(true);
      }
      expect((await callOk(a, 'audit.verify', undefined, { env })).head).toBe((await callOk(b, 'audit.verify', undefined, { env })).head);
      const events = (await callOk(b, 'audit.list', { since: 0, limit: 1000 }, { env })).events as { type: string; data: { fence?: number } }[];
      const fences = events.filter((e) => e.type === 'claim.acquired').map((e) => e.data.fence!);
      expect(fences.length).toBeGreaterThan(5);
      for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1]!);
    } finally {
      await killServersFor(a);
      await killServersFor(b);
    }
  }, 60_000);
});
