import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hashCanonical } from '../util/hash.js';

const exec = promisify(execFile);

/** Never part of a digest: Decapod's own state, and git's. */
const ALWAYS_SKIPPED = ['.decapod', '.git'];
const skipped = (path: string) => ALWAYS_SKIPPED.some((d) => path === d || path.startsWith(`${d}/`));

export interface Digest {
  digest: string;
  mode: 'git' | 'files';
  files: number;
}

/**
 * DESIGN §4: the content digest of the files a task's paths cover (`covers`), the whole worktree
 * when it has none. In a git worktree: git's own object ids (`git hash-object`, so clean filters
 * apply) of tracked and untracked-not-ignored files; elsewhere sha256 of each file. A deleted
 * tracked file counts as deleted, so removing a file changes the digest too.
 */
export async function contentDigest(root: string, covers: (path: string) => boolean): Promise<Digest> {
  const git = await isGitWorktree(root);
  const paths = (git ? await gitFiles(root) : await plainFiles(root)).filter((p) => !skipped(p) && covers(p)).sort();
  const ids = git ? await gitObjectIds(root, paths) : await Promise.all(paths.map((p) => plainId(join(root, p))));
  const files = paths.map((p, i) => [p, ids[i] ?? 'deleted']);
  return { digest: hashCanonical({ mode: git ? 'git' : 'files', files }), mode: git ? 'git' : 'files', files: paths.length };
}

async function isGitWorktree(root: string): Promise<boolean> {
  try {
    const { stdout } = await exec('git', ['rev-parse', '--show-toplevel'], { cwd: root });
    return stdout.trim() !== '';
  } catch {
    return false;
  }
}

async function gitFiles(root: string): Promise<string[]> {
  const { stdout } = await exec('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--full-name', '.'], {
    cwd: root,
    maxBuffer: 256 * 1024 * 1024,
  });
  return [...new Set(stdout.split('\0').filter(Boolean))];
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
