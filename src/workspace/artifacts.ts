import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync, createReadStream } from 'node:fs';
import { join } from 'node:path';

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

/** Stores agent-supplied output, capped; returns what a proof records of it. */
export function storeText(root: string, text: string, capBytes: number): { sha256: string; bytes: number; truncated: boolean } {
  mkdirSync(artifactsDir(root), { recursive: true, mode: 0o700 });
  const all = Buffer.from(text, 'utf8');
  const kept = all.subarray(0, capBytes);
  const sha256 = createHash('sha256').update(kept).digest('hex');
  const tmp = join(artifactsDir(root), `.tmp-${process.pid}-${sha256}`);
  writeFileSync(tmp, kept, { mode: 0o600 });
  settleArtifact(root, tmp, sha256);
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
