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

export class GuardBusyError extends Error {
  constructor() {
    super('another server process still holds this root’s guard');
  }
}

/**
 * A second lock the operating system releases when its process dies: an exclusive SQLite lock on
 * `.decapod/run/server.guard`, held for the server's whole life. proper-lockfile's takeover of a
 * stale lock is stat → rmdir → mkdir, so a racer delayed between its stat and its rmdir can remove
 * a fresh lock (proper-lockfile issue #121) and two servers would serve at once (DESIGN §6 forbids
 * it). Whoever holds the lock folder must also hold this guard before serving; a server whose lock
 * folder was taken notices within a second and exits, releasing the guard to its successor.
 */
export async function acquireServerGuard(paths: RunPaths, waitMs = 4_000): Promise<() => void> {
  const { default: Database } = await import('better-sqlite3');
  const deadline = Date.now() + waitMs;
  for (;;) {
    const db = new Database(`${paths.runDir}/server.guard`, { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      return () => db.close();
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
      if (Date.now() > deadline) throw new GuardBusyError();
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
