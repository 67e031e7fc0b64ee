import { closeSync, existsSync, fsyncSync, mkdirSync, chmodSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { diskFullDetail, isNoSpaceErrno } from '../util/disk-space.js';

// DESIGN §1–§2: where a project's server state lives. Light on purpose: the CLI imports it.

export interface RunPaths {
  decapodDir: string;
  runDir: string;
  serverJson: string;
  /** proper-lockfile's lock folder */
  lockDir: string;
  logFile: string;
  database: string;
}

export function runPaths(root: string): RunPaths {
  const decapodDir = join(root, '.decapod');
  const runDir = join(decapodDir, 'run');
  return {
    decapodDir,
    runDir,
    serverJson: join(runDir, 'server.json'),
    lockDir: join(runDir, 'server.lock'),
    logFile: join(runDir, 'server.log'),
    database: join(decapodDir, 'decapod.db'),
  };
}

/** What server.json advertises. The token is the secret every call must carry. */
export interface ServerJson {
  url: string;
  port: number;
  pid: number;
  token: string;
  version: string;
  protocol: number;
  root: string;
  instance_id: string;
  started_at: string;
}

/** The run folder is private to its owner (0700), whatever umask or an older run left. */
export function ensureRunDir(paths: RunPaths): void {
  mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  chmodSync(paths.runDir, 0o700);
  // The database (secret hashes, every audit payload) lives here too: private to the owner,
  // whatever mode people created the folder with to write config.json.
  chmodSync(paths.decapodDir, 0o700);
  // Decapod's state is not the project's content: keep it out of git (and of proof digests).
  const ignore = join(paths.decapodDir, '.gitignore');
  if (!existsSync(ignore)) {
    try {
      writeFileSync(ignore, '# Decapod state: local to this machine\n*\n');
    } catch (err) {
      rmSync(ignore, { force: true }); // never a cut-short one (a full disk): the next start writes it
      throw clearIfNoSpace(err, ignore, paths.decapodDir);
    }
  }
}

/**
 * temp file (0600), fsync, rename, fsync the folder: a reader sees the old file or the whole new one.
 * On a full disk it throws, naming the file system, and leaves no temp file behind.
 */
export function writeServerJson(paths: RunPaths, info: ServerJson): void {
  const tmp = `${paths.serverJson}.${process.pid}.tmp`;
  const buf = Buffer.from(`${JSON.stringify(info, null, 2)}\n`, 'utf8');
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      // write(2) may take part of it when the disk fills: the rest, or the error, comes next.
      for (let done = 0, n = -1; done < buf.length; done += n) {
        n = writeSync(fd, buf, done, buf.length - done);
        if (n === 0) throw Object.assign(new Error(`no room to write ${tmp}`), { code: 'ENOSPC' });
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    throw clearIfNoSpace(err, paths.serverJson, paths.runDir);
  }
  renameSync(tmp, paths.serverJson);
  const dirFd = openSync(paths.runDir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** A write refused for lack of space says which file and which file system; other errors stay as they are. */
function clearIfNoSpace(err: unknown, file: string, dir: string): unknown {
  return isNoSpaceErrno(err) ? new Error(`cannot write ${file}: ${diskFullDetail(dir).message}`, { cause: err }) : err;
}

/** The advertised server, or undefined when the file is missing or not a server.json at all. */
export function readServerJson(paths: RunPaths): ServerJson | undefined {
  let parsed: Partial<ServerJson>;
  try {
    parsed = JSON.parse(readFileSync(paths.serverJson, 'utf8')) as Partial<ServerJson>;
  } catch {
    return undefined;
  }
  const ok =
    typeof parsed.url === 'string' &&
    typeof parsed.token === 'string' &&
    typeof parsed.instance_id === 'string' &&
    typeof parsed.pid === 'number' &&
    typeof parsed.port === 'number';
  return ok ? (parsed as ServerJson) : undefined;
}

/** Removes server.json only if it still advertises this instance: never a successor's. */
export function removeServerJsonIfOurs(paths: RunPaths, instanceId: string): void {
  if (readServerJson(paths)?.instance_id === instanceId) rmSync(paths.serverJson, { force: true });
}
