import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { isRpcError, startEphemeral } from '../../clients/ts/src/index.js';
import { packageRoot } from '../../src/util/package-root.js';

// Issue 5: a Python agent and a TypeScript agent contend for the same paths on one server, and
// the outcome is consistent: never both holding, every grant followed by its release, fences
// growing, and each side's own record agreeing with the server's log.

const ROUNDS = 12;
const PATHS = ['shared/**'];

const PYTHON_AGENT = `
import json, sys, time
sys.path.insert(0, sys.argv[1])
from decapod_client import connect, ConflictError
client = connect(sys.argv[2], spawn=False)
got = []
with client.lease("py-agent", ttl_ms=30000) as lease:
    while len(got) < ${ROUNDS}:
        try:
            claim = client.claim_acquire(lease=lease.lease, paths=${JSON.stringify(PATHS)}, wait_ms=5000)["claim"]
        except ConflictError:
            continue
        got.append(claim["fence"])
        time.sleep(0.005)
        client.claim_release(lease=lease.lease, claim=claim["id"], fence=claim["fence"])
print(json.dumps(got))
`;

test('a Python agent and a TypeScript agent take turns on the same paths, consistently', async () => {
  // The client package starts the CLI that DECAPOD_BIN names (or `decapod` on PATH): this checkout's.
  const eph = await startEphemeral({ env: { ...process.env, DECAPOD_BIN: join(packageRoot(), 'bin', 'decapod') } });
  onTestFinished(() => eph.close());
  const { client } = eph;

  const py = spawn('python3', ['-c', PYTHON_AGENT, join(packageRoot(), 'clients', 'python'), eph.root], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  let pyOut = '';
  let pyErr = '';
  py.stdout.on('data', (d) => (pyOut += d));
  py.stderr.on('data', (d) => (pyErr += d));
  const pyDone = new Promise<number | null>((r) => py.on('close', r));

  const lease = await client.lease.hold({ agent: 'ts-agent', ttl_ms: 30_000 });
  const tsFences: number[] = [];
  while (tsFences.length < ROUNDS) {
    try {
      const { claim } = await client.claim.acquire({ lease: lease.secret, paths: PATHS, wait_ms: 5_000 });
      tsFences.push(claim.fence);
      await new Promise((r) => setTimeout(r, 5));
      await client.claim.release({ lease: lease.secret, claim: claim.id, fence: claim.fence });
    } catch (err) {
      if (!isRpcError(err, 'CONFLICT')) throw err;
    }
  }
  expect(await pyDone, pyErr).toBe(0);
  await lease.release();
  const pyFences = JSON.parse(pyOut) as number[];

  // The server's log: grants and releases of these paths alternate strictly.
  const { events } = await client.audit.list({ limit: 1000 });
  const timeline = events.filter((e) => e.type === 'claim.acquired' || e.type === 'claim.released');
  let holder: string | null = null;
  const grants: Record<string, number[]> = { 'py-agent': [], 'ts-agent': [] };
  for (const e of timeline) {
    if (e.type === 'claim.acquired') {
      expect(holder, `seq ${e.seq}: ${e.agent} was granted while ${holder} held the paths`).toBeNull();
      holder = e.agent;
      grants[e.agent!]!.push((e.data as { fence: number }).fence);
    } else {
      expect(e.agent).toBe(holder);
      holder = null;
    }
  }
  expect(holder).toBeNull();
  expect(grants['py-agent']).toEqual(pyFences);
  expect(grants['ts-agent']).toEqual(tsFences);
  const all = timeline.filter((e) => e.type === 'claim.acquired').map((e) => (e.data as { fence: number }).fence);
  expect(all).toEqual([...all].sort((a, b) => a - b));
  expect(new Set(all).size).toBe(2 * ROUNDS);
  expect((await client.audit.verify({})).ok).toBe(true);
});
