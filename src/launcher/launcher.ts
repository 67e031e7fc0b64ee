// The CLI's binding of the launcher, which lives in the client package (clients/ts/src/launcher.ts):
// the same discovery, spawn and retry as every TypeScript client, plus what only the CLI has, the
// SQLite probe of the root's guard (lifecycle/server-lock.ts) and itself as the server to start.
import { join } from 'node:path';
import { ensureServer as ensureServerWith, type LaunchOptions } from '../../clients/ts/src/launcher.js';
import { packageRoot } from '../util/package-root.js';

export { DEFAULT_LAUNCH_BOUND_MS, EXIT_ALREADY_SERVING, findHealthy, LaunchError, type LaunchOptions } from '../../clients/ts/src/launcher.js';

/** The CLI's launch options: its own guard probe and its own dist/cli.js to spawn (DECAPOD_BIN still wins). */
export function cliLaunchOptions(opts: LaunchOptions = {}): LaunchOptions {
  return {
    // SQLite loads only on this path (no healthy server): a warm call never pays for it.
    probeGuard: async (root) => {
      const [{ isServerGuardHeld }, { runPaths }] = await Promise.all([import('../lifecycle/server-lock.js'), import('../lifecycle/run-files.js')]);
      return isServerGuardHeld(runPaths(root));
    },
    serverCommand: () => ({ command: process.execPath, args: [join(packageRoot(), 'dist', 'cli.js')] }),
    ...opts,
  };
}

/** docs/design.md §2: a healthy server for the root, found or spawned (see the client's launcher). */
export function ensureServer(root: string, opts: LaunchOptions = {}) {
  return ensureServerWith(root, cliLaunchOptions(opts));
}
