import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Env } from './env.js';
import { LaunchError } from './launch-error.js';

/** A program and the arguments before `serve --root ROOT`. */
export interface ServerCommand {
  command: string;
  args: string[];
}

/**
 * The CLI that starts a server (`decapod serve`): DECAPOD_BIN if set, else `fallback` (the CLI
 * passes itself), else the first executable `decapod` on PATH. Looked up only when a server must
 * be started. Neither: LaunchError `NO_CLI`, naming both.
 */
export function findServerCommand(env: Env, fallback?: () => ServerCommand): ServerCommand {
  if (env.DECAPOD_BIN) return { command: env.DECAPOD_BIN, args: [] };
  if (fallback) return fallback();
  const path = env.PATH ?? '';
  for (const dir of path.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue; // a relative PATH entry would depend on the caller's folder
    const file = join(dir, 'decapod');
    if (isExecutableFile(file)) return { command: file, args: [] };
  }
  throw new LaunchError(
    'cannot start a decapod server: DECAPOD_BIN is not set and no executable `decapod` is on PATH ' +
      '(install decapod, or set DECAPOD_BIN to the path of its bin/decapod)',
    'NO_CLI',
    { PATH: path },
  );
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
