// vitest globalSetup (vitest.config.ts): ONE throwaway PostgreSQL cluster for the whole run
// (test/helpers/postgres.ts), stopped at teardown. Tests get its URL from inject('postgresUrl')
// (test/helpers/test-postgres.ts gives each file its own database); processes they spawn can
// read DECAPOD_TEST_POSTGRES_URL, which this sets before any worker starts.
//   DECAPOD_TEST_POSTGRES=off        start nothing: the tests that need PostgreSQL skip, saying why
//   DECAPOD_TEST_POSTGRES_URL=postgres://…   use that server instead of starting one
// Without either, missing binaries fail the run (CI installs them: .ci/run).
import type { TestProject } from 'vitest/node';
import { startPostgres, type PostgresCluster } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** the harness's server (its `postgres` database), or '' when none: see postgresSkip */
    postgresUrl: string;
    /** why there is no server ('' when there is one) */
    postgresSkip: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  // vitest runs a global setup for the root project and again for every project that extends
  // its config (vitest.config.ts's `projects`). Only the root's starts the server; the projects
  // inherit what the root provides (TestProject.getProvidedContext).
  if (!project.isRootProject()) return undefined;
  const mode = process.env.DECAPOD_TEST_POSTGRES ?? '';
  if (mode === 'off') {
    delete process.env.DECAPOD_TEST_POSTGRES_URL;
    project.provide('postgresUrl', '');
    project.provide('postgresSkip', 'DECAPOD_TEST_POSTGRES=off: no PostgreSQL server for this run');
    return undefined;
  }
  if (mode !== '' && mode !== 'on') throw new Error(`DECAPOD_TEST_POSTGRES=${mode}: expected "off" (or "on", the default)`);
  const given = process.env.DECAPOD_TEST_POSTGRES_URL;
  if (given) {
    project.provide('postgresUrl', given);
    project.provide('postgresSkip', '');
    return undefined;
  }
  const t0 = performance.now();
  let cluster: PostgresCluster;
  try {
    cluster = await startPostgres();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n(or set DECAPOD_TEST_POSTGRES=off to run without the PostgreSQL tests)`);
  }
  console.info(`[postgres] PostgreSQL ${cluster.version} for this run at ${cluster.host}:${cluster.port} (started in ${Math.round(performance.now() - t0)} ms)`);
  process.env.DECAPOD_TEST_POSTGRES_URL = cluster.url;
  project.provide('postgresUrl', cluster.url);
  project.provide('postgresSkip', '');
  return async () => {
    delete process.env.DECAPOD_TEST_POSTGRES_URL;
    await cluster.stop();
  };
}
