import { statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

// What a "disk full" error says: which file system, holding which file, with how much room left.
// Shared by the store (a commit refused for lack of space) and the workspace (artifacts, gate output).

/** How long a caller refused for a full disk should wait: someone has to free space first. */
export const DISK_FULL_RETRY_MS = 5_000;

/** Below this much free space, an I/O error on a write is taken for a full disk. */
export const NEARLY_FULL_BYTES = 1024 * 1024;

export interface DiskSpace {
  /** the mount point of the file system holding the path (the highest folder on the same device) */
  mount: string;
  /** bytes an unprivileged writer may still use there */
  free_bytes: number;
}

/** errno codes of a write refused for lack of space (or of quota). */
export const isNoSpaceErrno = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};

/** The file system holding `path` (an existing file or folder, or one to be created), if it can be read. */
export function diskSpaceOf(path: string): DiskSpace | undefined {
  try {
    const start = existing(path);
    const dev = statSync(start).dev;
    let mount = start;
    for (let up = dirname(mount); up !== mount && statSync(up).dev === dev; up = dirname(up)) mount = up;
    const fs = statfsSync(start);
    return { mount, free_bytes: Number(fs.bavail) * Number(fs.bsize) };
  } catch {
    return undefined;
  }
}

function existing(path: string): string {
  for (let p = path; ; p = dirname(p)) {
    try {
      statSync(p);
      return p;
    } catch (err) {
      if (dirname(p) === p) throw err;
    }
  }
}

/**
 * "disk full: the file system mounted at /mnt (holding /mnt/x/.decapod/decapod.db) has 0 bytes free",
 * or, when it cannot be looked at, the path alone.
 */
export function diskFullDetail(path: string): { message: string; data: { path: string; mount?: string; free_bytes?: number } } {
  const space = diskSpaceOf(path);
  if (!space) return { message: `disk full: no space left for ${path}`, data: { path } };
  return {
    message: `disk full: the file system mounted at ${space.mount} (holding ${path}) has ${space.free_bytes} bytes free`,
    data: { path, mount: space.mount, free_bytes: space.free_bytes },
  };
}
