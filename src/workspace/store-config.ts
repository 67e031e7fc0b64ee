import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { projectIdOf } from '../domain/gates.js';

// docs/design.md §7: which store a server uses, and which claim space in it. The database URL
// comes from the environment or the user's private config, never from the committed
// .decapod/config.json (it can hold a password); the project id from the committed config, the
// environment, or the repository's root commit (so every clone of one repository shares one space).

export type StoreChoice = { engine: 'sqlite' } | { engine: 'postgresql'; url: string; projectId: string; host: string };

export class StoreConfigError extends Error {}

/** The user's private config: $XDG_CONFIG_HOME/decapod/config.json, else ~/.config/decapod/config.json. */
export function userConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'decapod', 'config.json');
}

function readJson(file: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new StoreConfigError(`${file} is not a JSON object`);
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '']);

/**
 * A URL to a database elsewhere must use TLS (sslmode=require or stricter), unless
 * DECAPOD_DATABASE_TLS=off says the network is trusted. Loopback and Unix sockets need none.
 */
function checkTls(url: URL, env: NodeJS.ProcessEnv): void {
  const host = url.hostname;
  if (LOOPBACK.has(host) || url.searchParams.get('host')?.startsWith('/')) return;
  const mode = url.searchParams.get('sslmode');
  if (mode === 'require' || mode === 'verify-ca' || mode === 'verify-full' || url.searchParams.get('ssl') === 'true') return;
  if (env.DECAPOD_DATABASE_TLS === 'off') return;
  throw new StoreConfigError(
    `the database at ${host} is not on this machine: add ?sslmode=require (or verify-full) to its URL, or set DECAPOD_DATABASE_TLS=off on a trusted network`,
  );
}

/** The repository's first commit: what every clone of it shares. */
function rootCommit(root: string): string | undefined {
  try {
    const out = execFileSync('git', ['rev-list', '--max-parents=0', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.trim().split('\n').sort()[0] || undefined;
  } catch {
    return undefined;
  }
}

/** The project id of a root: "project" in .decapod/config.json, else DECAPOD_PROJECT, else the root commit. */
export function projectIdFor(root: string, env: NodeJS.ProcessEnv = process.env): string {
  const committed = readJson(join(root, '.decapod', 'config.json'))?.project;
  if (committed !== undefined) return projectIdOf(committed, '.decapod/config.json: project');
  if (env.DECAPOD_PROJECT) return projectIdOf(env.DECAPOD_PROJECT, 'DECAPOD_PROJECT');
  const commit = rootCommit(root);
  if (commit) return `git:${commit}`;
  throw new StoreConfigError(
    `team mode needs a project id for ${root}: set "project" in .decapod/config.json or DECAPOD_PROJECT, or run it in a git repository with a commit`,
  );
}

/** SQLite unless a database URL is configured; then PostgreSQL, for this root's project. */
export function chooseStore(root: string, env: NodeJS.ProcessEnv = process.env, projectId?: string): StoreChoice {
  const fromUser = readJson(userConfigFile(env))?.database_url;
  const raw = env.DECAPOD_DATABASE_URL || (typeof fromUser === 'string' ? fromUser : undefined);
  if (!raw) return { engine: 'sqlite' };
  const url = postgresUrl(raw, 'DECAPOD_DATABASE_URL', env);
  return { engine: 'postgresql', url: raw, projectId: projectId ?? projectIdFor(root, env), host: url.hostname || 'localhost' };
}

/**
 * A database URL as given under `name` (DECAPOD_DATABASE_URL, `decapod migrate --to`): a
 * postgres:// URL, with TLS unless the database is on this machine (checkTls). Throws
 * StoreConfigError saying what is wrong.
 */
export function postgresUrl(raw: string, name: string, env: NodeJS.ProcessEnv = process.env): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StoreConfigError(`${name} is not a URL (expected postgres://user@host:port/database)`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new StoreConfigError(`${name} must be a postgres:// URL, not ${url.protocol}//`);
  }
  checkTls(url, env);
  return url;
}
