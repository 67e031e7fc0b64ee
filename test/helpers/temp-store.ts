import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { DomainContext } from '../../src/domain/context.js';
import { onTestFinished } from 'vitest';
import { tempRoot } from './test-server.js';

export const migrationsDir = () => join(packageRoot(), 'migrations');

/** A fresh real SQLite file in a temp folder, closed when the test ends. */
export function tempStore(): { store: Store; file: string; dir: string } {
  const dir = tempRoot('decapod-unit-');
  const file = join(dir, 'decapod.db');
  const store = openSqliteStore(file, { migrationsDir: migrationsDir() });
  onTestFinished(() => {
    try {
      store.close();
    } catch {
      // already closed by the test
    }
  });
  return { store, file, dir };
}

export function tempDomain(): DomainContext & { clock: ManualClock; file: string } {
  const { store, file } = tempStore();
  return { store, clock: new ManualClock(), file };
}
