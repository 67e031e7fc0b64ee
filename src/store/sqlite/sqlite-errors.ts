import { diskFullDetail, diskSpaceOf, DISK_FULL_RETRY_MS, NEARLY_FULL_BYTES } from '../../util/disk-space.js';
import { StoreUnavailableError } from '../store.js';

// SQLite's result codes stop here: what the layers above may act on becomes a StoreUnavailableError.

/** How long a caller refused for a busy database should wait before trying again. */
const BUSY_RETRY_MS = 100;

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * `err` as an engine-neutral store error when it is one a caller can wait out (busy, disk full),
 * else `err` itself. An I/O error counts as a full disk when the file system is (nearly) out of
 * space: SQLite reports some writes that ran out of room (growing the -shm file) as SQLITE_IOERR_*.
 */
export function storeErrorOf(err: unknown, file: string): unknown {
  if (err instanceof StoreUnavailableError) return err;
  const code = codeOf(err);
  if (code === undefined) return err;
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) {
    return new StoreUnavailableError('busy', 'storage is busy; retry shortly', BUSY_RETRY_MS);
  }
  const full = code === 'SQLITE_FULL' || (code.startsWith('SQLITE_IOERR') && (diskSpaceOf(file)?.free_bytes ?? Infinity) < NEARLY_FULL_BYTES);
  if (!full) return err;
  const { message, data } = diskFullDetail(file);
  return new StoreUnavailableError('disk_full', `storage unavailable: ${message}; nothing was changed: free space there, then retry`, DISK_FULL_RETRY_MS, data);
}

/** Runs `fn`, throwing what it throws as storeErrorOf says. */
export function translated<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw storeErrorOf(err, file);
  }
}
