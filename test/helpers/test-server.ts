import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject, onTestFinished, test } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startServer, type RunningServer } from '../../src/lifecycle/serve.js';
import { ManualClock } from '../../src/util/clock.js';
import type { Retention } from '../../src/lifecycle/housekeeping.js';

export function tempRoot(prefix = 'decapod-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestServer {
  url: string;
  token: string;
  root: string;
  clock: ManualClock;
  server: RunningServer;
  /** POST /rpc with a JSON-RPC envelope built from method and params; returns the parsed body */
  rpc(method: string, params?: unknown): Promise<{ result?: any; error?: any }>;
  /** result, or throws the error object */
  call(method: string, params?: unknown): Promise<any>;
  /** raw HTTP for transport tests */
  http(path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; text: string; json: any; headers: Headers }>;
  close(): Promise<void>;
}

/**
 * DECAPOD_TEST_ENGINE=postgresql runs every test server on the run's PostgreSQL server (team mode),
 * each in a claim space of its own: the server suite on the second engine.
 */
function engineDatabase(root: string): { database?: { url: string; projectId: string } } {
  if (process.env.DECAPOD_TEST_ENGINE !== 'postgresql') return {};
  const url = inject('postgresUrl');
  if (!url) throw new Error(`DECAPOD_TEST_ENGINE=postgresql, but the run has no PostgreSQL server: ${inject('postgresSkip')}`);
  // One claim space per root (a restart on the same root finds its state), fresh per run.
  let id = projectOfRoot.get(root);
  if (!id) projectOfRoot.set(root, (id = `test-${randomUUID()}`));
  return { database: { url, projectId: id } };
}
const projectOfRoot = new Map<string, string>();

/**
 * A test that reads or tampers with the root's SQLite file itself (a copy put back, rows edited
 * behind the server's back): it has no PostgreSQL twin, so it is skipped under
 * DECAPOD_TEST_ENGINE=postgresql (test/server/postgres-store.test.ts covers that engine's own).
 */
export const testOnSqliteFile = process.env.DECAPOD_TEST_ENGINE === 'postgresql' ? test.skip : test;

/**
 * A real server in this process on 127.0.0.1:0, with a real SQLite file in a temp root and a
 * manual clock. Closed when the test finishes.
 */
export async function startTestServer(
  opts: {
    idleTimeoutMs?: number;
    root?: string;
    retention?: Retention;
    sweepEveryMs?: number;
    checkpointEvery?: number;
    /** PostgreSQL (team mode) instead of the root's SQLite file */
    database?: { url: string; projectId: string; onRoundTrips?: (n: number) => void };
  } = {},
): Promise<TestServer> {
  const root = opts.root ?? tempRoot();
  const clock = new ManualClock(Date.now());
  const server = await startServer({
    root,
    idleTimeoutMs: opts.idleTimeoutMs ?? 3_600_000,
    clock,
    retention: opts.retention,
    sweepEveryMs: opts.sweepEveryMs,
    ...(opts.checkpointEvery !== undefined ? { checkpointEvery: opts.checkpointEvery } : {}),
    ...(opts.database ? { database: opts.database } : engineDatabase(root)),
  });
  const { url, token } = server.info;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.stop('test');
  };
  onTestFinished(close);
  let id = 0;
  const http: TestServer['http'] = async (path, init = {}) => {
    const res = await fetch(`${url}${path}`, {
      method: init.method ?? 'POST',
      headers: init.headers ?? { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: init.body,
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json, headers: res.headers };
  };
  const rpc: TestServer['rpc'] = async (method, params) => {
    const r = await http('/rpc', { body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, ...(params === undefined ? {} : { params }) }) });
    return r.json;
  };
  const call: TestServer['call'] = async (method, params) => {
    const body = await rpc(method, params);
    if (body.error) throw Object.assign(new Error(body.error.message), { rpc: body.error });
    return body.result;
  };
  return { url, token, root, clock, server, rpc, call, http, close };
}
