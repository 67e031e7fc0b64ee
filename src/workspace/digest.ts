import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { staticPrefix } from '../domain/claim-paths.js';
import type { Coverage } from '../domain/proof-coverage.js';
import { hashCanonical } from '../util/hash.js';

const exec = promisify(execFile);

/** Never part of a digest: Decapod's own state, and git's. */
const ALWAYS_SKIPPED = ['.decapod', '.git'];
const skipped = (path: string) => ALWAYS_SKIPPED.some((d) => path === d || path.startsWith(`${d}/`));

export interface Digest {
  digest: string;
  mode: 'git' | 'files';
  /** the files the digest covers, sorted */
  files: string[];
}

/**
 * docs/design.md §4: the content digest of the files a coverage includes (for a proof: the task's paths,
 * the whole worktree when it has none, plus the gate's inputs). In a git worktree: git's own
 * object ids (`git hash-object`, so clean filters apply) of tracked and untracked-not-ignored
 * files, and of ignored files only where a gate input names them; elsewhere sha256 of each file.
 * A deleted tracked file counts as deleted, so removing a file changes the digest too.
 */
export async function contentDigest(root: string, coverage: Coverage): Promise<Digest> {
  return (await contentDigests(root, new Map([['', coverage]]))).get('')!;
}

/** Several digests from one listing of the worktree, each file hashed once (task.complete). */
export async function contentDigests<K>(root: string, coverages: Map<K, Coverage>): Promise<Map<K, Digest>> {
  const git = await isGitWorktree(root);
  const inputs = [...new Set([...coverages.values()].flatMap((c) => c.inputs))];
  const listed = git ? await gitFiles(root, inputs) : await plainFiles(root);
  const candidates = listed.filter((p) => !skipped(p)).sort();
  const covered = new Map<K, string[]>();
  const union = new Set<string>();
  for (const [key, c] of coverages) {
    const files = candidates.filter((p) => c.covers(p));
    covered.set(key, files);
    for (const f of files) union.add(f);
  }
  const all = [...union].sort();
  const idList = git ? await gitObjectIds(root, all) : await Promise.all(all.map((p) => plainId(join(root, p))));
  const ids = new Map(all.map((p, i) => [p, idList[i] ?? 'deleted']));
  const mode = git ? 'git' : 'files';
  const out = new Map<K, Digest>();
  for (const [key, files] of covered) {
    out.set(key, { digest: hashCanonical({ mode, files: files.map((p) => [p, ids.get(p)!]) }), mode, files });
  }
  return out;
}

/**
 * What the file system says of each file, beyond its content: inode, change time (which no user
 * call can set back), modification time and size. A file written while a gate runs changes its
 * stamp even when its content is put back afterwards.
 */
export function fileStamps(root: string, paths: Iterable<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of paths) {
    try {
      const st = lstatSync(join(root, p), { bigint: true });
      out.set(p, `${st.ino}:${st.ctimeNs}:${st.mtimeNs}:${st.size}`);
    } catch {
      out.set(p, 'gone');
    }
  }
  return out;
}

/** The paths whose stamps differ between two snapshots (either side may lack a path). */
export function changedStamps(before: Map<string, string>, after: Map<string, string>): string[] {
  const changed = new Set<string>();
  for (const [p, st] of before) if (after.get(p) !== st) changed.add(p);
  for (const p of after.keys()) if (!before.has(p)) changed.add(p);
  return [...changed].sort();
}

async function isGitWorktree(root: string): Promise<boolean> {
  try {
    const { stdout } = await exec('git', ['rev-parse', '--show-toplevel'], { cwd: root });
    return stdout.trim() !== '';
  } catch {
    return false;
  }
}

async function gitFiles(root: string, inputs: readonly string[]): Promise<string[]> {
  const opts = { cwd: root, maxBuffer: 256 * 1024 * 1024 };
  const { stdout } = await exec('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--full-name', '.'], opts);
  const files = stdout.split('\0').filter(Boolean);
  if (inputs.length > 0) {
    // Ignored files only under the inputs' static prefixes (literal pathspecs: no git globbing),
    // so declaring `.env` does not list all of node_modules.
    const prefixes = [...new Set(inputs.map(staticPrefix))];
    const specs = prefixes.includes('') ? ['.'] : prefixes.map((p) => `:(literal)${p}`);
    const ignored = await exec('git', ['ls-files', '-z', '--others', '--ignored', '--exclude-standard', '--full-name', '--', ...specs], opts);
    files.push(...ignored.stdout.split('\0').filter(Boolean));
  }
  return [...new Set(files)];
}

/**
 * What a path is, never following a symbolic link: a link is its target's text (as git stores
 * it), so a digest never reads outside the root, and a link to a device or a folder cannot hang
 * or fail it.
 */
function kindOf(file: string): 'file' | 'link' | 'gone' | 'other' {
  try {
    const st = lstatSync(file);
    return st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : 'other';
  } catch {
    return 'gone';
  }
}

/** git's object id of a symbolic link: the blob of its target text. */
const gitLinkId = (file: string) => {
  const target = Buffer.from(readlinkSync(file));
  return createHash('sha1').update(`blob ${target.length}\0`).update(target).digest('hex');
};

/** Object ids in the order given; undefined for a file that is gone. */
async function gitObjectIds(root: string, paths: string[]): Promise<(string | undefined)[]> {
  const kinds = new Map(paths.map((p) => [p, kindOf(join(root, p))]));
  const links = new Map(paths.filter((p) => kinds.get(p) === 'link').map((p) => [p, gitLinkId(join(root, p))]));
  const present = paths.filter((p) => kinds.get(p) === 'file' && !p.includes('\n'));
  if (present.length === 0) return paths.map((p) => links.get(p));
  const ids = await new Promise<string[]>((resolve, reject) => {
    const child = spawn('git', ['hash-object', '--stdin-paths'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`git hash-object failed: ${err.trim()}`))));
    child.stdin.end(`${present.join('\n')}\n`);
  });
  const byPath = new Map(present.map((p, i) => [p, ids[i]]));
  return paths.map((p) => byPath.get(p) ?? links.get(p));
}

async function plainFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(root.length + 1).split('\\').join('/'));
}

function plainId(file: string): Promise<string | undefined> {
  const kind = kindOf(file);
  if (kind === 'link') return Promise.resolve(`link:${createHash('sha256').update(readlinkSync(file)).digest('hex')}`);
  if (kind !== 'file') return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', () => resolve(undefined));
  });
}
