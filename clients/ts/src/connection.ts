import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import { CATALOG } from '../../src/generated/catalog.js';
import { httpJson, TransportError } from '../../src/launcher/http-json.js';
import { ensureServer, type LaunchOptions } from '../../src/launcher/launcher.js';
import type { ServerJson } from '../../src/lifecycle/run-files.js';
import { waitForExit } from '../../src/util/process-alive.js';
import { RpcError } from './errors.js';

const SHUTTING_DOWN = -32003;
const BUSY = -32001;
const BUSY_RETRIES = 5;
/** TransportError code of calls made after close() */
export const CLOSED = 'ECLOSED';

interface RpcAnswer {
  status: number;
  body: { result?: unknown; error?: { code: number; message: string; data?: Record<string, unknown> } } | null;
}

/**
 * One project's server, found (or spawned) through the shared launcher and then remembered: calls
 * go straight to it over kept-alive connections, and only a failure sends us back to the launcher.
 * The retry rules are the launcher's callMethod's (docs/design.md §2): retry once after reconnecting, and
 * only when a repeat cannot apply a write twice.
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
    const entry = CATALOG[method];
    // docs/design.md §3: every audited mutation carries a key, so a repeat returns the first result.
    const p = entry?.audited && params.idempotency_key === undefined ? { ...params, idempotency_key: randomUUID() } : params;
    // A repeat of a read or a renewal changes nothing, and an audited mutation replays by its key:
    // so any catalogued method may be retried, an unknown one only if it never left. Never
    // server.shutdown: reconnecting would start a server only to stop it.
    const mayRetry = (err: TransportError) => method !== 'server.shutdown' && (err.undelivered || entry !== undefined);
    const body = { jsonrpc: '2.0', id: ++this.#nextId, method, params: p };
    let info = await this.server();
    let reconnected = false;
    let busy = 0;
    for (;;) {
      let answer: RpcAnswer;
      try {
        answer = await this.#post(info, body);
      } catch (err) {
        if (!(err instanceof TransportError) || reconnected || !mayRetry(err)) throw err;
        reconnected = true;
        info = await this.#reconnect(info);
        continue;
      }
      // 401: server.json named a server that has since been replaced; the call never ran.
      if (answer.status === 401 && !reconnected) {
        reconnected = true;
        info = await this.#reconnect(info);
        continue;
      }
      const error = answer.body?.error;
      if (error) {
        // Refused while stopping: nothing ran, so any method may go to the next server.
        if (error.code === SHUTTING_DOWN && !reconnected && method !== 'server.shutdown') {
          reconnected = true;
          await waitForExit(info.pid, 5_000);
          info = await this.#reconnect(info);
          continue;
        }
        // BUSY: storage lock not obtained in time; nothing changed, safe to retry after a pause.
        if (error.code === BUSY && busy++ < BUSY_RETRIES) {
          const pause = Number(error.data?.retry_after_ms ?? 100);
          await new Promise((r) => setTimeout(r, Math.min(Math.max(pause, 10), 2_000)));
          continue;
        }
        throw new RpcError(error.code, error.message, error.data ?? {});
      }
      if (answer.status !== 200 || !answer.body || !('result' in answer.body)) {
        throw new TransportError(`unexpected answer from ${info.url}: HTTP ${answer.status}`, 'EBADANSWER', false);
      }
      return answer.body.result;
    }
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
    // The launcher's own HTTP call, over this connection's kept-alive sockets, with no time limit:
    // a call may legitimately wait (wait_ms, proof.run).
    const res = await httpJson('POST', `${info.url}/rpc`, { token: info.token, body, timeoutMs: 0, agent: this.#agent });
    const parsed = typeof res.body === 'object' && res.body !== null ? (res.body as RpcAnswer['body']) : null;
    return { status: res.status, body: parsed };
  }
}
