import { request, type Agent } from 'node:http';
import { TransportError } from './transport-error.js';

export { TransportError };

// node:http, not global fetch: measured here, touching fetch costs a CLI ~200 ms at start.

export interface HttpResult {
  status: number;
  body: unknown;
}

export function httpJson(
  method: 'GET' | 'POST',
  url: string,
  opts: { token?: string; body?: unknown; timeoutMs: number; agent?: Agent },
): Promise<HttpResult> {
  return new Promise((resolvePromise, rejectPromise) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(url, {
      method,
      ...(opts.agent ? { agent: opts.agent } : {}),
      headers: {
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      },
      timeout: opts.timeoutMs,
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${url} within ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'EUNKNOWN';
      rejectPromise(new TransportError(err.message, code, code === 'ECONNREFUSED'));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err: NodeJS.ErrnoException) => rejectPromise(new TransportError(err.message, err.code ?? 'EUNKNOWN', false)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = null;
        if (text !== '') {
          try {
            body = JSON.parse(text);
          } catch {
            body = text;
          }
        }
        resolvePromise({ status: res.statusCode ?? 0, body });
      });
    });
    req.end(payload);
  });
}
