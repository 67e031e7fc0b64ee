import { Agent } from 'node:http';
import { httpJson, TransportError } from './http-json.js';
import { ensureServer, type LaunchOptions } from './launcher.js';
import { waitForExit } from './process-alive.js';
import { RpcError } from './errors.js';
import { decide, STOPPING_WAIT_MS, withIdempotencyKey, type Failure } from './retry-policy.js';
import type { ServerJson } from './run-files.js';

/** TransportError code of calls made after close() */
export const CLOSED = 'ECLOSED';

interface RpcAnswer {
  status: number;
  body: { result?: unknown; error?: { code: number; message: string; data?: Record<string, unknown> } } | null;
}

/**
 * One project's server, found (or spawned) through the launcher and then remembered: calls go
 * straight to it over kept-alive connections, and only a failure sends us back to the launcher.
 * What is retried, and when, is the one policy of retry-policy.ts.
 */
export class Connection {
  // Like Node's global agent: idle sockets go after 5 s, long before the server's keep-alive
  // timeout could close one under a request. Idle pooled sockets never hold the process open.
  readonly #agent = new Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5_000 });
  #current: ServerJson | undefined;
  #pending: Promise<ServerJson> | undefined;
  #closed = false;
  #nextId = 0;

  constructor(
    readonly root: string,
    readonly launch: LaunchOptions,
  ) {}

  /** The server now answering for the root, found or spawned on first use. */
  server(): Promise<ServerJson> {
    // Closed means closed: never a trip to the launcher, which could start a server again.
    if (this.#closed) return Promise.reject(new TransportError('this Decapod client is closed', CLOSED, true));
    if (this.#current) return Promise.resolve(this.#current);
    return (this.#pending ??= ensureServer(this.root, this.launch).then(
      (info) => {
        this.#current = info;
        this.#pending = undefined;
        return info;
      },
      (err: unknown) => {
        this.#pending = undefined;
        throw err;
      },
    ));
  }

  async call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    // docs/design.md §3: every audited mutation carries a key, so a repeat returns the first result.
    const p = withIdempotencyKey(method, params);
    const body = { jsonrpc: '2.0', id: ++this.#nextId, method, params: p };
    const attempts = { reconnected: false, busy: 0 };
    let info = await this.server();
    for (;;) {
      const outcome = await this.#attempt(info, body);
      if ('result' in outcome) return outcome.result;
      const { failure, thrown } = outcome;
      const next = decide(method, p, failure, attempts);
      if (next.action === 'fail') throw thrown;
      if (next.action === 'pause') {
        attempts.busy++;
        await new Promise((r) => setTimeout(r, next.ms));
        continue;
      }
      attempts.reconnected = true;
      if (next.waitForExit) await waitForExit(info.pid, STOPPING_WAIT_MS);
      info = await this.#reconnect(info);
    }
  }

  /** One POST: the result, or what failed and what to throw if it is not retried. */
  async #attempt(info: ServerJson, body: unknown): Promise<{ result: unknown } | { failure: Failure; thrown: Error }> {
    let answer: RpcAnswer;
    try {
      answer = await this.#post(info, body);
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      return { failure: { kind: 'transport', undelivered: err.undelivered }, thrown: err };
    }
    const error = answer.body?.error;
    // 401: server.json named a server that has since been replaced; the call never ran.
    if (answer.status === 401) {
      const thrown = error ? new RpcError(error.code, error.message, error.data ?? {}) : new TransportError(`${info.url} refused the token (HTTP 401)`, 'EUNAUTHORIZED', true);
      return { failure: { kind: 'unauthorized' }, thrown };
    }
    if (error) return { failure: { kind: 'rpc', code: error.code, ...(error.data ? { data: error.data } : {}) }, thrown: new RpcError(error.code, error.message, error.data ?? {}) };
    if (answer.status !== 200 || !answer.body || !('result' in answer.body)) {
      throw new TransportError(`unexpected answer from ${info.url}: HTTP ${answer.status}`, 'EBADANSWER', false);
    }
    return { result: answer.body.result };
  }

  /** Drops pooled connections; later calls fail with TransportError code ECLOSED. */
  close(): void {
    this.#closed = true;
    this.#current = undefined;
    this.#agent.destroy();
  }

  /** Many calls failing on one server share one trip to the launcher. */
  #reconnect(failed: ServerJson): Promise<ServerJson> {
    if (this.#current?.instance_id === failed.instance_id) this.#current = undefined;
    return this.server();
  }

  async #post(info: ServerJson, body: unknown): Promise<RpcAnswer> {
    // Over this connection's kept-alive sockets, with no time limit: a call may legitimately
    // wait (wait_ms, proof.run).
    const res = await httpJson('POST', `${info.url}/rpc`, { token: info.token, body, timeoutMs: 0, agent: this.#agent });
    const parsed = typeof res.body === 'object' && res.body !== null ? (res.body as RpcAnswer['body']) : null;
    return { status: res.status, body: parsed };
  }
}

/**
 * One call on the root's server, found or spawned, under the same retry policy as a client's
 * calls: what the CLI runs for each command.
 */
export async function callMethod(root: string, method: string, params: Record<string, unknown> = {}, opts: LaunchOptions = {}): Promise<unknown> {
  const conn = new Connection(root, opts);
  try {
    return await conn.call(method, params);
  } finally {
    conn.close();
  }
}
