import { randomUUID } from 'node:crypto';
import { CATALOG } from '../generated/catalog.js';
import type { ServerJson } from '../lifecycle/run-files.js';
import { waitForExit } from '../util/process-alive.js';
import { httpJson, TransportError } from './http-json.js';
import { ensureServer, type LaunchOptions } from './launcher.js';

/** A JSON-RPC error answered by the server: code, name (`data.code`) and data. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data: { code?: string } & Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RpcError';
  }
  get errorName(): string | undefined {
    return this.data.code;
  }
  toJSON() {
    return { code: this.code, message: this.message, data: this.data };
  }
}

const SHUTTING_DOWN = -32003;

/**
 * Calls one method on the root's server, spawning it if needed. If the server exits under the
 * call, reconnects and retries once, but only when that cannot apply a write twice: the request
 * never arrived, was refused while stopping, or carries an idempotency key (added here for every
 * audited mutation that has none).
 */
export async function callMethod(
  root: string,
  method: string,
  params: Record<string, unknown> = {},
  opts: LaunchOptions = {},
): Promise<unknown> {
  const p = CATALOG[method]?.audited && params.idempotency_key === undefined ? { ...params, idempotency_key: randomUUID() } : params;
  let info: ServerJson = await ensureServer(root, opts);
  for (let attempt = 0; ; attempt++) {
    const last = attempt > 0;
    let res;
    try {
      res = await httpJson('POST', `${info.url}/rpc`, {
        token: info.token,
        body: { jsonrpc: '2.0', id: 1, method, params: p },
        timeoutMs: 0,
      });
    } catch (err) {
      const retryable = err instanceof TransportError && (err.undelivered || p.idempotency_key !== undefined);
      if (last || !retryable) throw err;
      info = await ensureServer(root, opts);
      continue;
    }
    // 401: server.json named a server that has since been replaced; the call never ran.
    if (res.status === 401 && !last) {
      info = await ensureServer(root, opts);
      continue;
    }
    const body = res.body as { result?: unknown; error?: { code: number; message: string; data?: Record<string, unknown> } } | null;
    if (body?.error) {
      if (body.error.code === SHUTTING_DOWN && !last) {
        await waitForExit(info.pid, 5_000);
        info = await ensureServer(root, opts);
        continue;
      }
      throw new RpcError(body.error.code, body.error.message, body.error.data ?? {});
    }
    if (res.status !== 200 || !body || !('result' in body)) {
      throw new TransportError(`unexpected answer from ${info.url}: HTTP ${res.status}`, 'EBADANSWER', false);
    }
    return body.result;
  }
}
