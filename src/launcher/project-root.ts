import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/**
 * DESIGN §1: the root is the repository's main worktree, so every worktree of one repository
 * shares one server; outside git, the folder itself. An explicit --root is taken as given.
 */
export function projectRoot(cwd: string, explicit?: string): string {
  if (explicit) return realpathSync(resolve(cwd, explicit));
  try {
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
