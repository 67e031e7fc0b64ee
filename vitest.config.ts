import { defineConfig } from 'vitest/config';

// The suite in four projects, fastest first, so a developer can run the part they need:
//   npm run test:fast     unit and contract tests (no server, no build): seconds
//   npm run test:server   a real server in this process over loopback HTTP; fuzz and security
//   npm run test:process  real CLI, server and client processes (needs the build: npm run build)
//   npm run test:bench    the quick benchmark run
// `npm test` runs all four; it is what .ci/run calls.
const project = (name: string, dirs: string[]) => ({
  extends: true as const,
  test: { name, include: dirs.map((d) => `test/${d}/**/*.test.ts`) },
});

export default defineConfig({
  test: {
    // Process tests spawn real servers; two cores are shared, so keep files from crowding each other.
    maxWorkers: 2,
    // Every SQLite transaction or snapshot body that awaits real I/O fails (docs/architecture.md);
    // servers the tests spawn inherit it.
    env: { DECAPOD_STRICT_TX: '1' },
    // One throwaway PostgreSQL cluster for the whole run (DECAPOD_TEST_POSTGRES=off: none; the
    // tests that need it skip): test/helpers/postgres-global-setup.ts.
    globalSetup: ['test/helpers/postgres-global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      project('fast', ['unit', 'contract']),
      project('server', ['server', 'security']),
      project('process', ['process', 'reliability', 'clients', 'docs']),
      project('bench', ['bench']),
    ],
  },
});
