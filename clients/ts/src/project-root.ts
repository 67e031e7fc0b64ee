import { existsSync, realpathSync, statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';

type ChildProcessModule = typeof import('node:child_process');

/**
 * docs/design.md §1: the root is the repository's main worktree, so every worktree of one repository
 * shares one server; outside git, the folder itself. An explicit --root is taken as given.
 */
export function projectRoot(cwd: string, explicit?: string): string {
  if (explicit) return explicitRoot(resolve(cwd, explicit));
  const quick = mainWorktreeFromDisk(cwd);
  if (quick !== undefined) return quick;
  try {
    // node:child_process (and what it loads) only when git must be asked: a CLI start stays light.
    const { execFileSync } = createRequire(import.meta.url)('node:child_process') as ChildProcessModule;
    const common = execFileSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (basename(common) === '.git') return realpathSync(dirname(common));
  } catch {
    // not in a git repository (or no git): fall through to the folder itself
  }
  return realpathSync(resolve(cwd));
}

/** A root named by the caller that is not a folder (missing, or a file): theirs to fix. */
export class RootNotFoundError extends Error {
  constructor(readonly root: string, why: string) {
    super(`${root} ${why}`);
  }
}

function explicitRoot(dir: string): string {
  const st = statOrUndefined(dir);
  if (!st) throw new RootNotFoundError(dir, 'does not exist');
  if (!st.isDirectory()) throw new RootNotFoundError(dir, 'is not a folder');
  return realpathSync(dir);
}

/**
 * What `git rev-parse --git-common-dir` would lead to, read from the disk for the plain cases: a
 * main worktree found by walking up to its `.git` folder, or no repository up to `/`. Starting
 * git costs a CLI call a few milliseconds, on every call. Anything less plain — git settings in the
 * environment, a `.git` file (linked worktree, submodule), a bare repository, a folder owned by
 * someone else, another filesystem on the way up — returns undefined and git decides.
 */
function mainWorktreeFromDisk(cwd: string): string | undefined {
  if (Object.keys(process.env).some((k) => GIT_DISCOVERY_ENV.test(k))) return undefined;
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  let dir: string;
  let device: number;
  try {
    dir = realpathSync(resolve(cwd));
    device = statSync(dir).dev;
  } catch {
    return undefined;
  }
  for (;;) {
    const dotGit = statOrUndefined(join(dir, '.git'));
    if (dotGit) {
      if (!dotGit.isDirectory() || dotGit.uid !== uid || !looksLikeGitDir(join(dir, '.git'))) return undefined;
      if (existsSync(join(dir, '.git', 'commondir'))) return undefined;
      return dir;
    }
    if (looksLikeGitDir(dir)) return undefined; // a bare repository, or inside a .git folder
    const up = dirname(dir);
    if (up === dir) return realpathSync(resolve(cwd)); // no repository anywhere above
    const st = statOrUndefined(up);
    if (!st || st.dev !== device) return undefined; // git stops at filesystem boundaries
    dir = up;
  }
}

/** Environment variables that change where git finds the repository (or whether it trusts it). */
const GIT_DISCOVERY_ENV = /^GIT_(DIR|COMMON_DIR|WORK_TREE|CEILING_DIRECTORIES|DISCOVERY_ACROSS_FILESYSTEM|CONFIG\w*)$/;

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** git's own test for a repository folder: HEAD, objects/ and refs/. */
function looksLikeGitDir(dir: string): boolean {
  return existsSync(join(dir, 'HEAD')) && existsSync(join(dir, 'objects')) && existsSync(join(dir, 'refs'));
}
