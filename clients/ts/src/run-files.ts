import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// docs/design.md §1–§2: where a root's server advertises itself. The client only reads this; the
// server writes it (the server's src/lifecycle/run-files.ts, pinned to this one by
// test/contract/client-package.test.ts).

/** The files of a root's run folder that a client reads or hands to a server it starts. */
export interface RunPaths {
  runDir: string;
  serverJson: string;
  logFile: string;
}

export function runPaths(root: string): RunPaths {
  const runDir = join(root, '.decapod', 'run');
  return { runDir, serverJson: join(runDir, 'server.json'), logFile: join(runDir, 'server.log') };
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
