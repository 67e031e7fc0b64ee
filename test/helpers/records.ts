import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where a run's figures go (for RELIABILITY.md to cite): `$DECAPOD_TEST_RECORDS/<kind>/`, by
 * default under the system temp folder. Never into the source tree: a test run must leave the
 * checkout as it found it.
 */
export function recordsDir(kind: 'reliability' | 'security'): string {
  return join(process.env.DECAPOD_TEST_RECORDS ?? join(tmpdir(), 'decapod-test-records'), kind);
}

/** Writes one record as pretty JSON and returns its path. */
export function writeRecord(kind: 'reliability' | 'security', name: string, record: unknown): string {
  const dir = recordsDir(kind);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}
