// The test side of the PostgreSQL harness: the run's server (postgres-global-setup.ts) and a
// database of this file's own on it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { createDatabase, dropDatabase } from './postgres.js';

/** The run's server URL, or undefined with the reason when the harness started none. */
export function postgresServer(): { url: string; skip?: undefined } | { url?: undefined; skip: string } {
  const url = inject('postgresUrl');
  if (url) return { url };
  return { skip: inject('postgresSkip') || 'no PostgreSQL server was provided (is the global setup in vitest.config.ts?)' };
}

export interface TestDatabase {
  /** this file's database (valid inside tests and hooks of the describe) */
  readonly url: string;
  /** its name */
  readonly name: string;
  /** the server's maintenance database, for CREATE DATABASE and the like */
  readonly serverUrl: string;
}

/**
 * A describe block whose tests get a fresh database of their own on the run's PostgreSQL server
 * (created before, dropped after); when the run has no server, the block is skipped and its name
 * says why.
 */
export function describePostgres(name: string, body: (db: TestDatabase) => void): void {
  const server = postgresServer();
  if (!server.url) {
    describe.skip(`${name} (skipped: ${server.skip})`, () => body({ url: '', name: '', serverUrl: '' }));
    return;
  }
  const serverUrl = server.url;
  const dbName = `t_${name.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 40)}_${randomBytes(4).toString('hex')}`;
  let url = '';
  describe(name, () => {
    beforeAll(async () => {
      url = await createDatabase(serverUrl, dbName);
    });
    afterAll(async () => {
      if (url) await dropDatabase(serverUrl, dbName);
    });
    body({
      get url() {
        if (!url) throw new Error(`the database ${dbName} is not created yet: use db.url inside tests or hooks`);
        return url;
      },
      name: dbName,
      serverUrl,
    });
  });
}
