// A small real file system to fill up (issue 11: a full disk must never hang the server). Mounting
// needs root (or CAP_SYS_ADMIN); where it is not allowed, tests skip, saying why.
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, rmdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished, type TestContext } from 'vitest';

export interface Tmpfs {
  /** the mount point */
  dir: string;
  /** bytes the file system holds */
  size: number;
}

/**
 * Mounts a tmpfs of `sizeBytes` on a fresh temp folder, unmounted when the test finishes (after
 * `beforeUnmount`, which should stop anything holding files open there), pass or fail. Skips the
 * test, with the reason, where mounting is not allowed.
 */
export function mountTmpfs(ctx: TestContext, sizeBytes: number, beforeUnmount: () => Promise<void> | void = () => {}): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'decapod-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) {
    rmdirSync(dir);
    const why = r.error ? r.error.message : (r.stderr || r.stdout).trim() || `exit ${r.status}`;
    ctx.skip(`cannot mount a tmpfs here (mount -t tmpfs needs root or CAP_SYS_ADMIN): ${why}`);
  }
  onTestFinished(async () => {
    try {
      await beforeUnmount();
    } finally {
      unmount(dir);
    }
  });
  return { dir, size: sizeBytes };
}

function unmount(dir: string): void {
  let r = spawnSync('umount', [dir], { encoding: 'utf8', timeout: 10_000 });
  // Something still holds a file there (a process that outlived its test): detach it all the same.
  if (r.status !== 0) r = spawnSync('umount', ['-l', dir], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`umount ${dir} failed: ${r.stderr}`);
  rmdirSync(dir);
}

/** Bytes an unprivileged writer may still use on the file system holding `path`. */
export function freeBytes(path: string): number {
  const s = statfsSync(path);
  return Number(s.bavail) * Number(s.bsize);
}

/**
 * Fills the file system holding `dir` with one file until writes are refused (ENOSPC), down to
 * the last byte. Returns the file; removing it frees the space again.
 */
export function fillDisk(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'a');
  try {
    for (let chunk = 1024 * 1024; chunk >= 1; chunk = Math.floor(chunk / 4)) {
      const buf = Buffer.alloc(chunk, 0x78);
      for (;;) {
        try {
          if (writeSync(fd, buf) < chunk) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  if (freeBytes(dir) !== 0) throw new Error(`${dir} still has ${freeBytes(dir)} bytes free after filling it`);
  return file;
}

export function freeDisk(filler: string): void {
  rmSync(filler, { force: true });
}

/**
 * Pads a file with spaces and a newline up to the file system's block size, so that the next
 * byte appended to it needs a new block: on a full disk, that append is refused. (tmpfs hands out
 * whole pages, so the tail of a file's last page can still take a line.)
 */
export function padToBlock(file: string): void {
  const block = statfsSync(file).bsize;
  const fd = openSync(file, 'a');
  try {
    const size = fstatSync(fd).size;
    const room = (block - (size % block)) % block;
    if (room > 0) writeSync(fd, `${' '.repeat(room - 1)}\n`);
  } finally {
    closeSync(fd);
  }
}
