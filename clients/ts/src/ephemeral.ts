import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type DecapodClient } from './client.js';
import { callMethod } from './connection.js';
import type { Env } from './env.js';
import { findHealthy } from './launcher.js';
import { waitForExit } from './process-alive.js';

export interface EphemeralOptions {
  /** the environment for the launcher and the server (DECAPOD_BIN…); default process.env */
  env?: Env;
  /** the server exits by itself after this long without calls (`30s`, `10m`); default DECAPOD_IDLE_TIMEOUT or 120s */
  idleTimeout?: string;
  /** how long to wait for the server to become healthy, in ms; default 20 s */
  launchTimeoutMs?: number;
}

export interface Ephemeral {
  /** the temp folder serving as project root */
  root: string;
  /** a client connected to it */
  client: DecapodClient;
  /** stops the server (whichever now serves the root) and removes the temp folder */
  close(): Promise<void>;
}

/**
 * A throwaway Decapod for tests: a fresh temp root and a real `decapod serve` for it, started
 * through the same launcher as every client (so `decapod` must be on PATH, or DECAPOD_BIN set). Always `close()`
 * it; a forgotten one still exits after its idle timeout.
 *
 * @example
 * import { startEphemeral } from 'decapod-client';
 * const eph = await startEphemeral();
 * onTestFinished(() => eph.close());
 * const me = await eph.client.lease.hold({ agent: 'test' });
 */
export async function startEphemeral(opts: EphemeralOptions = {}): Promise<Ephemeral> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'decapod-ephemeral-')));
  const env = { ...(opts.env ?? process.env) };
  if (opts.idleTimeout !== undefined) env.DECAPOD_IDLE_TIMEOUT = opts.idleTimeout;
  let client: DecapodClient;
  try {
    client = await connect({ root, spawn: true, env, ...(opts.launchTimeoutMs !== undefined ? { launchTimeoutMs: opts.launchTimeoutMs } : {}) });
  } catch (err) {
    await stopServer(root, env);
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      client.close();
      await stopServer(root, env);
      rmSync(root, { recursive: true, force: true });
    })());
  return { root, client, close };
}

/** Asks the root's server to shut down; kills it if it has not gone within a few seconds. */
async function stopServer(root: string, env: Env): Promise<void> {
  const info = await findHealthy(root).catch(() => undefined);
  if (!info) return;
  await callMethod(root, 'server.shutdown', {}, { spawn: false, env }).catch(() => undefined);
  if (await waitForExit(info.pid, 5_000)) return;
  try {
    process.kill(info.pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  await waitForExit(info.pid, 5_000);
}
