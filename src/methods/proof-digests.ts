import type { Gate } from '../domain/gates.js';
import { proofCoverage } from '../domain/proof-coverage.js';
import type { TaskRow } from '../store/store.js';
import { contentDigest, contentDigests, type Digest } from '../workspace/digest.js';
import type { MethodContext } from './define.js';


/** The content a proof of this gate for this task vouches for, digested now. */
export function gateDigest(ctx: MethodContext, task: TaskRow, gate: Gate): Promise<Digest> {
  return contentDigest(ctx.root, proofCoverage(task.paths, gate));
}

/**
 * The digest per gate of the task's plan that the config defines now, from one listing of the
 * worktree (task.complete judges freshness against these). A plan gate the config no longer
 * defines has none: completion names it missing.
 */
export async function planDigests(ctx: MethodContext, task: TaskRow, gates: ReadonlyMap<string, Gate>): Promise<Map<string, string>> {
  const plan = task.gates.filter((g) => gates.has(g));
  const digests = await contentDigests(ctx.root, new Map(plan.map((g) => [g, proofCoverage(task.paths, gates.get(g)!)])));
  return new Map([...digests].map(([g, d]) => [g, d.digest]));
}
