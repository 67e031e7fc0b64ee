import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { CANDIDATES_SQL } from '../../src/store/sqlite/claims.js';
import { tempStore } from '../helpers/temp-store.js';

// Issue 3: conflict checks must stay fast with many live claims. Timing belongs to benchmarks;
// here we pin the shape that makes it fast: the candidate lookup searches the prefix index and
// never scans every claim or every claimed pattern.
test('the conflict-candidate query searches the prefix index, it does not scan', () => {
  const { store, file } = tempStore();
  store.close();
  const db = new Database(file, { readonly: true });
  const plan = (db.prepare(`EXPLAIN QUERY PLAN ${CANDIDATES_SQL}`).all({ ancestors: '["","src"]', lo: 'src/', hi: 'src0', now: 1 }) as { detail: string }[]).map(
    (r) => r.detail,
  );
  db.close();
  expect(plan.filter((d) => /claim_paths/.test(d))).toEqual([
    'SEARCH claim_paths USING COVERING INDEX claim_paths_prefix (prefix=?)',
    'SEARCH claim_paths USING COVERING INDEX claim_paths_prefix (prefix>? AND prefix<?)',
  ]);
  expect(plan.filter((d) => /^SCAN (c|claims|claim_paths)\b/.test(d))).toEqual([]);
});
