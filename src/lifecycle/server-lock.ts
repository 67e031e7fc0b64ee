import { existsSync, rmSync } from 'node:fs';
import lockfile from 'proper-lockfile';
import type { RunPaths } from './run-files.js';

// docs/design.md §2: one server per root. Two locks, taken in this order and released in the other:
//
// - The guard, `.decapod/run/server.guard`: an exclusive SQLite (fcntl) lock that the operating
//   system releases when its process dies, held for the server's whole life. It decides. Free
//   means no server process of this root is alive; held means one is, even a stalled one
//   (SIGSTOP, a VM paused): that one is never replaced, however long it is silent.
// - The lock folder, `.decapod/run/server.lock` (proper-lockfile, refreshed every second): taken
//   only by the guard's holder. A server whose folder is removed or replaced under it exits at once.
//
// The folder alone cannot tell a dead server from a stalled one, so it used to be taken over only
// once it went stale (5 s after a kill -9, while every short lease ran out), and its stale takeover
// (stat → rmdir → mkdir) can remove a fresh lock: a racer delayed between its stat and its rmdir
// deletes whoever took over meanwhile (proper-lockfile issue #121). Deciding under the guard
// removes both: the takeover happens at once, and nobody else can be in it at the same time.
const LOCK_STALE_MS = 5_000;
const LOCK_UPDATE_MS = 1_000;
/**
 * How long a starting server retries a busy guard. A caller's probe (isServerGuardHeld) holds it for
 * well under a millisecond; a live server holds it for good, and a starting loser gives up after this.
 */
export const GUARD_WAIT_MS = 500;
const GUARD_RETRY_MS = 20;

const options = (paths: RunPaths) => ({ lockfilePath: paths.lockDir, realpath: false, stale: LOCK_STALE_MS });
const guardFile = (paths: RunPaths) => `${paths.runDir}/server.guard`;

export class AlreadyLockedError extends Error {
  constructor() {
    super('another server process holds this root’s lock');
  }
}

export interface ServerLocks {
  /** The folder, then the guard: when the guard frees, nothing of ours is left to clean up. */
  release(): Promise<void>;
  /** The guard alone, once the folder was taken from us (it is not ours to remove any more). */
  releaseGuard(): void;
}

/**
 * Takes the guard, then the lock folder, or throws AlreadyLockedError. Holding the guard, no other
 * server of this root is alive (each holds it for its whole life), so a lock folder still there was
 * left by a dead one, however fresh its mtime: it is removed and taken at once. `onCompromised`
 * fires if the folder is ever lost.
 */
export async function acquireServerLocks(paths: RunPaths, onCompromised: (err: Error) => void): Promise<ServerLocks> {
  const releaseGuard = await acquireServerGuard(paths);
  try {
    rmSync(paths.lockDir, { recursive: true, force: true }); // a dead server's, never a live one's
    const releaseFolder = await lockfile.lock(paths.runDir, { ...options(paths), update: LOCK_UPDATE_MS, retries: 0, onCompromised });
    return {
      async release() {
        await releaseFolder().catch(() => {}); // already gone if it was compromised
        releaseGuard();
      },
      releaseGuard,
    };
  } catch (err) {
    releaseGuard();
    // Someone outside this protocol made the folder between our rm and mkdir.
    if ((err as { code?: string }).code === 'ELOCKED') throw new AlreadyLockedError();
    throw err;
  }
}

async function acquireServerGuard(paths: RunPaths, waitMs = GUARD_WAIT_MS): Promise<() => void> {
  const { default: Database } = await import('better-sqlite3');
  const deadline = Date.now() + waitMs;
  for (;;) {
    const db = new Database(guardFile(paths), { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      return () => db.close();
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
      if (Date.now() > deadline) throw new AlreadyLockedError();
      await new Promise((r) => setTimeout(r, GUARD_RETRY_MS));
    }
  }
}

/**
 * True while a live process holds the root's guard: a server serving, starting or stalled. False
 * after its process died, whatever it left behind. Probing takes the guard for an instant (a
 * starting server retries past that); an unreadable guard reads as free, so the server spawned
 * next reports what is wrong.
 */
export async function isServerGuardHeld(paths: RunPaths): Promise<boolean> {
  // No guard file, no server ever started here: a fresh root's first call skips loading SQLite.
  if (!existsSync(guardFile(paths))) return false;
  const { default: Database } = await import('better-sqlite3');
  let db;
  try {
    db = new Database(guardFile(paths), { timeout: 0, fileMustExist: true });
  } catch {
    return false; // removed meanwhile, or unreadable
  }
  try {
    db.exec('BEGIN EXCLUSIVE');
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'SQLITE_BUSY';
  } finally {
    db.close();
  }
}
