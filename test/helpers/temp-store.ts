import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { packageRoot } from '../../src/util/package-root.js';
import { onTestFinished } from 'vitest';
import { tempRoot } from './test-server.js';

export const migrationsDir = () => join(packageRoot(), 'migrations');

/** A fresh real SQLite file in a temp folder, on a manual clock, closed when the test ends. */
export function tempStore(): { store: Store; clock: ManualClock; file: string; dir: string } {
  const dir = tempRoot('decapod-unit-');
  const file = join(dir, 'decapod.db');
  const clock = new ManualClock();
  const store = openSqliteStore(file, { migrationsDir: migrationsDir(), clock });
  onTestFinished(async () => {
    try {
      await store.close();
    } catch {
      // already closed by the test
    }
  });
  return { store, clock, file, dir };
}

/** The same, under its older name (tests of domain rules). */
export const tempDomain = tempStore;
