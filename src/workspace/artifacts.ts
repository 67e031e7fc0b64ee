import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { join } from 'node:path';
import { DecapodError } from '../errors.js';
import { diskFullDetail, DISK_FULL_RETRY_MS, isNoSpaceErrno } from '../util/disk-space.js';

// DESIGN §1: proof outputs live in `<root>/.decapod/artifacts/`, named by their sha256.

export const artifactsDir = (root: string) => join(root, '.decapod', 'artifacts');
export const artifactPath = (root: string, sha256: string) => join(artifactsDir(root), sha256);
/** Where a running gate's output grows, so `decapod proof run --follow` can tail it. */
export const livePath = (root: string, task: string, gate: string, fence: number) =>
  join(artifactsDir(root), 'live', `${task}.${gate}.${fence}.log`);

/** Moves a finished output file to its content address (an identical one may already be there). */
export function settleArtifact(root: string, tmpFile: string, sha256: string): string {
  const dest = artifactPath(root, sha256);
  renameSync(tmpFile, dest);
  return dest;
}

/**
 * DESIGN §3: an artifact the disk has no room for is UNAVAILABLE (reason disk_full), naming the
 * file system; `err` itself when it is not about space.
 */
export function unavailableIfDiskFull(err: unknown, root: string): unknown {
  if (!isNoSpaceErrno(err)) return err;
  const { message, data } = diskFullDetail(artifactsDir(root));
  return new DecapodError('UNAVAILABLE', `cannot store the proof's output: ${message}; nothing was recorded: free space there, then retry`, {
    reason: 'disk_full',
    retry_after_ms: DISK_FULL_RETRY_MS,
    ...data,
  });
}

/** Stores agent-supplied output, capped; returns what a proof records of it. */
export function storeText(root: string, text: string, capBytes: number): { sha256: string; bytes: number; truncated: boolean } {
  const all = Buffer.from(text, 'utf8');
  const kept = all.subarray(0, capBytes);
  const sha256 = createHash('sha256').update(kept).digest('hex');
  const tmp = join(artifactsDir(root), `.tmp-${process.pid}-${sha256}`);
  try {
    mkdirSync(artifactsDir(root), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, kept, { mode: 0o600 });
    settleArtifact(root, tmp, sha256);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw unavailableIfDiskFull(err, root);
  }
  return { sha256, bytes: kept.length, truncated: all.length > kept.length };
}

/** Re-hashes a stored artifact; undefined when it is missing. */
export function hashArtifact(root: string, sha256: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const h = createHash('sha256');
    createReadStream(artifactPath(root, sha256))
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', () => resolve(undefined));
  });
}
