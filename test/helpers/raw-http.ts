import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

// Raw HTTP for transport tests: node:http lets a test forge Host, Origin, Content-Type and
// Content-Length (global fetch cannot set Host), and send a body in chunks of its choosing.

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** the parsed body, or undefined when it is empty or not JSON */
  json: any;
}

export interface RawRequest {
  method?: string;
  path: string;
  /** sent exactly as given (no defaults are added besides what node itself must send) */
  headers?: OutgoingHttpHeaders;
  /** a string or buffer sent in one piece; an array is sent chunk by chunk (chunked encoding unless Content-Length is set) */
  body?: string | Buffer | Array<string | Buffer>;
}

/**
 * Sends one request to `url` (`http://127.0.0.1:<port>`) and resolves with the whole answer.
 * If the server answers early and closes the socket while the body is still being written
 * (413 on a huge body), the answer already received is returned.
 */
export function rawRequest(url: string, req: RawRequest): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise<RawResponse>((resolve, reject) => {
    let settled = false;
    const r = request(
      {
        host: hostname,
        port: Number(port),
        method: req.method ?? 'POST',
        path: req.path,
        headers: req.headers ?? {},
        // a fresh connection per request: forged headers never ride on a pooled socket
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => {
          if (!settled) reject(err);
        });
        res.on('end', () => {
          settled = true;
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    // EPIPE / ECONNRESET while still writing a body the server has already refused: the
    // response handler above settles the promise if a response arrived at all.
    r.on('error', (err) => {
      setTimeout(() => {
        if (!settled) reject(err);
      }, 200);
    });
    const body = req.body;
    if (Array.isArray(body)) {
      for (const chunk of body) r.write(chunk);
      r.end();
    } else if (body !== undefined) {
      r.end(body);
    } else {
      r.end();
    }
  });
}

/** Headers that pass every guard: loopback Host with the server's port, the bearer token, JSON. */
export function goodHeaders(url: string, token: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  return {
    host: new URL(url).host,
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    ...extra,
  };
}

/**
 * What the server has written, as callers see it: every audit event, the chain's length and every
 * lease (without `ttl_remaining_ms`, which moves with the clock, not with writes). Take it before
 * and after a rejected call; the two must be equal.
 */
export async function writtenState(call: (method: string, params?: unknown) => Promise<any>): Promise<{
  events: unknown[];
  count: number;
  leases: unknown[];
}> {
  const [audit, verify, leases] = [await call('audit.list', { limit: 1000 }), await call('audit.verify'), await call('lease.list')];
  const stored = (leases.leases as Array<Record<string, unknown>>).map(({ ttl_remaining_ms: _moving, ...rest }) => rest);
  return { events: audit.events, count: verify.count, leases: stored };
}
