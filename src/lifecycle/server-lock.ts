import lockfile from 'proper-lockfile';
import type { RunPaths } from './run-files.js';

// DESIGN §2: one server per root, held with proper-lockfile. The lock folder's mtime is refreshed
// every UPDATE_MS; one not refreshed for STALE_MS belongs to a dead server and is taken over.
export const LOCK_STALE_MS = 5_000;
const LOCK_UPDATE_MS = 1_000;

const options = (paths: RunPaths) => ({ lockfilePath: paths.lockDir, realpath: false, stale: LOCK_STALE_MS });

export class AlreadyLockedError extends Error {
  constructor() {
    super('the server lock is held by another process');
  }
}

/** Takes the lock or throws AlreadyLockedError. `onCompromised` fires if it is ever lost. */
export async function acquireServerLock(paths: RunPaths, onCompromised: (err: Error) => void): Promise<() => Promise<void>> {
  try {
    return await lockfile.lock(paths.runDir, { ...options(paths), update: LOCK_UPDATE_MS, retries: 0, onCompromised });
  } catch (err) {
    if ((err as { code?: string }).code === 'ELOCKED') throw new AlreadyLockedError();
    throw err;
  }
}

/** True while a live server holds the lock (a stale lock reads as free). */
export async function isServerLockHeld(paths: RunPaths): Promise<boolean> {
  try {
    return await lockfile.check(paths.runDir, options(paths));
  } catch {
    return false;
  }
}
