import { execFile, type ExecFileException } from 'node:child_process';
import { realpathSync } from 'node:fs';

// docs/design.md §11: the head of the audit log, recorded where the database is not: commits on the git
// ref refs/decapod/audit of the project's repository. Git plumbing only; what a checkpoint says and
// when the log contradicts it is domain/audit-checkpoint.ts.

export const AUDIT_REF = 'refs/decapod/audit';

/** How many checkpoints back audit.verify reads (newest first); a day of busy work makes a few dozen. */
export const HISTORY_LIMIT = 100_000;

/** One git command's bound: a stuck hook or a locked repository must not hold a call forever. */
const GIT_TIMEOUT_MS = 10_000;

/** A repository the checkpoints can go to: the root is the top of its main worktree. */
export interface AuditRepo {
  root: string;
}

/** Why there is no repository to checkpoint into (not an error for automatic checkpoints). */
export class NoRepositoryError extends Error {}

export interface RefCommit {
  commit: string;
  /** the commit message, as written */
  message: string;
}

/**
 * git with none of the caller's GIT_* settings: a server started from a git hook inherits GIT_DIR
 * and GIT_INDEX_FILE, which would point the commands elsewhere. The identity is fixed so that
 * commit-tree works without user.name/user.email configured.
 */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_AUTHOR_NAME: 'decapod',
    GIT_AUTHOR_EMAIL: 'decapod@localhost',
    GIT_COMMITTER_NAME: 'decapod',
    GIT_COMMITTER_EMAIL: 'decapod@localhost',
    GIT_TERMINAL_PROMPT: '0',
  };
}

interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

function git(root: string, args: string[], opts: { input?: string; signal?: AbortSignal; maxBuffer?: number } = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      {
        cwd: root,
        env: gitEnv(),
        encoding: 'utf8',
        timeout: GIT_TIMEOUT_MS,
        maxBuffer: opts.maxBuffer ?? 1024 * 1024,
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (err: ExecFileException | null, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err); // not started, killed, aborted, too much output
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => {}); // a git that exits without reading: its answer says why
    child.stdin?.end(opts.input ?? '');
  });
}

function failed(what: string, r: GitResult): Error {
  return new Error(`git ${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
}

/**
 * The repository whose ref takes the checkpoints. Only the top of a main worktree qualifies: a
 * root in a subfolder or a linked worktree shares its refs with another root, whose checkpoints
 * would then contradict its own.
 */
export async function auditRepo(root: string, signal?: AbortSignal): Promise<AuditRepo> {
  let r: GitResult;
  try {
    r = await git(root, ['rev-parse', '--path-format=absolute', '--show-toplevel', '--git-dir', '--git-common-dir'], { signal });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NoRepositoryError('git is not installed');
    throw err;
  }
  if (r.code !== 0) throw new NoRepositoryError(`the root ${root} is not a git repository`);
  const [top, gitDir, common] = r.stdout.trim().split('\n').map((p) => safeRealpath(p));
  if (top === undefined || top !== safeRealpath(root)) {
    throw new NoRepositoryError(`the root ${root} is inside the git repository ${top ?? '?'}, not at its top`);
  }
  if (gitDir !== common) throw new NoRepositoryError(`the root ${root} is a linked worktree (its checkpoints belong to the main worktree's server)`);
  return { root };
}

function safeRealpath(p: string | undefined): string | undefined {
  if (!p) return undefined;
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** The commit the ref points at, or null when it does not exist yet. */
export async function readTip(repo: AuditRepo, signal?: AbortSignal): Promise<RefCommit | null> {
  const id = await git(repo.root, ['rev-parse', '-q', '--verify', `${AUDIT_REF}^{commit}`], { signal });
  if (id.code !== 0) {
    // Absent, or pointing at something that is not a commit: tell the two apart.
    const raw = await git(repo.root, ['rev-parse', '-q', '--verify', AUDIT_REF], { signal });
    if (raw.code !== 0) return null;
    throw new Error(`${AUDIT_REF} points at ${raw.stdout.trim()}, which is not a commit`);
  }
  const commit = id.stdout.trim();
  const body = await git(repo.root, ['cat-file', 'commit', commit], { signal });
  if (body.code !== 0) throw failed('cat-file', body);
  return { commit, message: messageOf(body.stdout) };
}

/** The commits of the ref's history, newest first, at most HISTORY_LIMIT; [] when it does not exist. */
export async function readHistory(repo: AuditRepo, signal?: AbortSignal): Promise<RefCommit[]> {
  const tip = await readTip(repo, signal);
  if (!tip) return [];
  const r = await git(repo.root, ['log', '-z', `--max-count=${HISTORY_LIMIT}`, '--format=%H%n%B', tip.commit, '--'], {
    signal,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.code !== 0) throw failed('log', r);
  return r.stdout
    .split('\0')
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const nl = entry.indexOf('\n');
      return { commit: entry.slice(0, nl < 0 ? undefined : nl), message: nl < 0 ? '' : entry.slice(nl + 1) };
    });
}

/** The message of a raw commit object: everything after the header's blank line. */
function messageOf(raw: string): string {
  const at = raw.indexOf('\n\n');
  return at < 0 ? '' : raw.slice(at + 2);
}

/**
 * Writes a commit (empty tree, `parent` if any, `message`) and moves the ref to it only if it still
 * points at `parent` (compare-and-swap: of two writers racing, one loses and nothing is dropped).
 * Returns the new commit, or null when the ref moved meanwhile.
 */
export async function appendCommit(repo: AuditRepo, message: string, parent: string | null, signal?: AbortSignal): Promise<string | null> {
  const tree = await git(repo.root, ['hash-object', '-t', 'tree', '-w', '--stdin'], { signal });
  if (tree.code !== 0) throw failed('hash-object', tree);
  const args = ['commit-tree', '--no-gpg-sign', tree.stdout.trim(), ...(parent ? ['-p', parent] : []), '-F', '-'];
  const commit = await git(repo.root, args, { input: message, signal });
  if (commit.code !== 0) throw failed('commit-tree', commit);
  const id = commit.stdout.trim();
  // The empty old value means "must not exist yet".
  const moved = await git(repo.root, ['update-ref', '-m', 'decapod audit checkpoint', AUDIT_REF, id, parent ?? ''], { signal });
  if (moved.code === 0) return id;
  const now = await git(repo.root, ['rev-parse', '-q', '--verify', AUDIT_REF], { signal });
  if ((now.code === 0 ? now.stdout.trim() : null) !== parent) return null; // lost the race
  throw failed('update-ref', moved);
}
