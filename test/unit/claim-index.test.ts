import Database from 'better-sqlite3';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { staticPrefix } from '../../src/domain/claim-paths.js';
import { findConflicts } from '../../src/domain/claims.js';
import { patternsOverlap } from '../../src/domain/path-overlap.js';
import { CANDIDATES_OF_ONE_SQL, CANDIDATES_SQL, CANDIDATES_UNDER_ROOT_SQL } from '../../src/store/sqlite/claims.js';
import type { ClaimRow, Tx } from '../../src/store/store.js';
import { tempDomain, tempStore } from '../helpers/temp-store.js';
import { isClaimPattern, nameArb, overlapsIn, patternNear, unicodeGlobSegmentArb, universe } from '../helpers/unicode-paths.js';

// Issue 3: conflict checks must stay fast with many live claims. Timing belongs to benchmarks;
// here we pin the shape that makes it fast: the candidate lookup searches the prefix index and
// never scans every claim or every claimed pattern.
test('the conflict-candidate queries search the prefix index, they do not scan', async () => {
  const { store, file } = tempStore();
  await store.close();
  const db = new Database(file, { readonly: true });
  const plan = (sql: string, params: Record<string, unknown>) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((r) => r.detail);
  // Two prefixes of one request, looked up together (issue 13: one query per request).
  const under = plan(CANDIDATES_SQL, { ancestors: '[[0,""],[0,"src"],[1,""],[1,"docs"]]', ranges: '[[0,"src/","src0"],[1,"docs/","docs0"]]', now: 1 });
  const underRoot = plan(CANDIDATES_UNDER_ROOT_SQL, { now: 1 });
  const ofOne = plan(CANDIDATES_OF_ONE_SQL, { ancestors: '["","src"]', lo: 'src/', hi: 'src0', now: 1 });
  db.close();
  expect(under.filter((d) => /claim_paths/.test(d))).toEqual([
    'SEARCH cp USING COVERING INDEX claim_paths_prefix (prefix=?)',
    'SEARCH cp USING COVERING INDEX claim_paths_prefix (prefix>? AND prefix<?)',
  ]);
  // Under the empty prefix: no upper bound (issue 10: U+10FFFF was one, and hid what starts with it).
  expect(ofOne.filter((d) => /claim_paths/.test(d))).toEqual([
    'SEARCH cp USING COVERING INDEX claim_paths_prefix (prefix=?)',
    'SEARCH cp USING COVERING INDEX claim_paths_prefix (prefix>? AND prefix<?)',
  ]);
  expect(underRoot.filter((d) => /claim_paths/.test(d))).toEqual(['SEARCH cp USING COVERING INDEX claim_paths_prefix (prefix>?)']);
  for (const p of [under, ofOne, underRoot]) expect(p.filter((d) => /^SCAN (c|cp|l|claims|claim_paths|leases)\b/.test(d))).toEqual([]);
  // The claims and their leases are found by key, per candidate.
  for (const p of [under, ofOne, underRoot]) expect([...new Set(p.filter((d) => /^SEARCH (c|l)\b/.test(d)))]).toEqual(['SEARCH c USING INDEX sqlite_autoindex_claims_1 (id=?)', 'SEARCH l USING INDEX sqlite_autoindex_leases_1 (lease_id=?)']);
});

// ---------------------------------------------------------------------------------------------
// Property (issue 10): over the whole of Unicode, the candidate lookup never leaves out a live
// claim pattern that overlaps the asked pattern, and findConflicts (index, then overlap) never
// misses a claim that a brute-force witness in a generated tree shows. A real SQLite store:
// what is under test is SQLite's byte order against the ranges computed in JavaScript.

const segmentArb = fc.oneof(
  { arbitrary: fc.constantFrom('*', '**', '*.ts', '?', '[ab]', '{a,b}', '@(a|b)', 'a', 'b'), weight: 2 },
  { arbitrary: unicodeGlobSegmentArb, weight: 2 },
  { arbitrary: nameArb, weight: 1 },
);
const treeArb = fc.array(fc.array(fc.oneof(fc.constantFrom('a', 'b', 'x.ts'), nameArb), { minLength: 1, maxLength: 3 }).map((s) => s.join('/')), {
  minLength: 1,
  maxLength: 4,
});
const patternFor = (paths: string[]) =>
  fc
    .oneof(
      { arbitrary: fc.array(segmentArb, { minLength: 1, maxLength: 3 }).map((s) => s.join('/')), weight: 1 },
      { arbitrary: patternNear(paths, segmentArb), weight: 3 },
    )
    .filter(isClaimPattern);
/** A tree, the patterns other claims hold (one claim each), and the pattern asked about. */
const caseArb = treeArb.chain((paths) => fc.tuple(fc.constant(paths), fc.array(patternFor(paths), { minLength: 1, maxLength: 6 }), patternFor(paths)));

const INDEX_RUNS = 2500;

test('the candidate index never misses an overlapping claim, for any code point', async () => {
  const ctx = tempDomain();
  const now = ctx.clock.now();
  const lease = { lease_id: 'L-holder', secret_hash: 'x', agent: 'holder', state: 'active', ttl_ms: 60_000, pid: null, host: null, meta: null } as const;
  const claimRow = (id: string, fence: number, pattern: string): ClaimRow => ({
    id,
    lease_id: lease.lease_id,
    agent: lease.agent,
    task_id: null,
    mode: 'exclusive',
    fence,
    state: 'active',
    paths: [pattern],
    ttl_ms: null,
    reason: null,
    acquired_at: now,
    renewed_at: now,
    expires_at: null,
    ended_at: null,
    end_reason: null,
  });
  let fence = 0;
  const stats = { overlapping: 0, witnessed: 0, rootAskedAstralHeld: 0 };
  const property = (tx: Tx) => fc.asyncProperty(caseArb, async ([paths, held, asked]) => {
    const tree = universe(paths);
    const claims: { id: string; pattern: string }[] = [];
    for (const pattern of held) {
      const id = `C${++fence}`;
      await tx.claims.insert(claimRow(id, fence, pattern), [{ pattern, prefix: staticPrefix(pattern) }]);
      claims.push({ id, pattern });
    }
    try {
      const candidates = new Set((await tx.claims.candidates([staticPrefix(asked)], now)).map((c) => `${c.claim.id} ${c.pattern}`));
      // The set form (several prefixes in one query) answers the same for each of them.
      const together = await tx.claims.candidates(['zz', staticPrefix(asked), staticPrefix(held[0]!)], now);
      expect(new Set(together.filter((c) => c.of === 1).map((c) => `${c.claim.id} ${c.pattern}`))).toEqual(candidates);
      const conflicts = new Set((await findConflicts(tx, { leaseId: 'L-asker', paths: [asked], mode: 'exclusive', task: null })).map((c) => c.claim_id));
      for (const { id, pattern } of claims) {
        const what = `${JSON.stringify(asked)} asked, ${JSON.stringify(pattern)} held`;
        if (staticPrefix(asked) === '' && (staticPrefix(pattern).codePointAt(0) ?? 0) > 0xffff) stats.rootAskedAstralHeld++;
        if (patternsOverlap(asked, pattern)) {
          stats.overlapping++;
          expect(candidates.has(`${id} ${pattern}`), what).toBe(true);
        }
        if (overlapsIn(tree, asked, pattern)) {
          stats.witnessed++;
          expect(conflicts.has(id), what).toBe(true);
        }
      }
    } finally {
      await tx.claims.delete(claims.map((c) => c.id));
    }
  });
  // One transaction for all runs: a commit (and its fsync) per insert would be most of the time.
  await ctx.store.transaction(async (tx) => {
    await tx.leases.insert({ ...lease, granted_at: now, renewed_at: now, expires_at: now + 60_000, ended_at: null });
    await fc.assert(property(tx), { seed: 20_261_010, numRuns: INDEX_RUNS });
  });
  console.info(`claim index vs overlap: ${JSON.stringify(stats)}`);
  // The runs really asked, with no prefix, about claims under astral prefixes (U+10FFFF among them).
  expect(stats.rootAskedAstralHeld).toBeGreaterThan(100);
  expect(stats.witnessed).toBeGreaterThan(INDEX_RUNS / 2);
});
