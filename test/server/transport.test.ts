import { describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { goodHeaders, rawRequest, writtenState, type RawResponse } from '../helpers/raw-http.js';

// docs/design.md §3: bearer token (401), loopback Host and Origin only (403), JSON media types only (415),
// bounded bodies (413), GET /healthz without a token. Every guard holds on both surfaces, and a
// refused mutation writes nothing.

const BODY_LIMIT = 1024 * 1024;

interface Surface {
  name: string;
  path: string;
  /** a lease.grant for `agent` in this surface's body shape */
  body(agent: string): string;
  /** the lease.grant result out of a 200 answer */
  result(r: RawResponse): any;
}

const SURFACES: Surface[] = [
  {
    name: 'POST /rpc',
    path: '/rpc',
    body: (agent) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'lease.grant', params: { agent } }),
    result: (r) => r.json.result,
  },
  {
    name: 'POST /rpc/lease.grant',
    path: '/rpc/lease.grant',
    body: (agent) => JSON.stringify({ agent }),
    result: (r) => r.json,
  },
];

const portOf = (s: TestServer) => new URL(s.url).port;

/** Pads a JSON text with trailing whitespace to exactly `size` bytes: still valid, only bigger. */
const padTo = (json: string, size: number) => json + ' '.repeat(size - Buffer.byteLength(json));

function guardError(status: number, name: string) {
  return { error: { code: status, message: expect.any(String), data: { code: name } } };
}

/** Sends a forged request that must be refused, and checks that it wrote nothing. */
async function expectRefused(
  s: TestServer,
  req: Parameters<typeof rawRequest>[1],
  status: number,
  name: string,
): Promise<RawResponse> {
  const before = await writtenState(s.call);
  const r = await rawRequest(s.url, req);
  expect(r.status).toBe(status);
  expect(r.json).toEqual(guardError(status, name));
  expect(r.headers['access-control-allow-origin']).toBeUndefined();
  expect(await writtenState(s.call)).toEqual(before);
  return r;
}

/** Sends a request that must pass every guard, and checks that the grant was written. */
async function expectGranted(s: TestServer, surface: Surface, req: Parameters<typeof rawRequest>[1], agent: string) {
  const before = await writtenState(s.call);
  const r = await rawRequest(s.url, req);
  expect(r.status, r.text).toBe(200);
  const result = surface.result(r);
  expect(result).toMatchObject({ agent, lease: expect.stringMatching(/^dcl_/), lease_id: expect.any(String) });
  expect(result.receipt).toMatchObject({ seq: before.count + 1, op: 'lease.grant' });
  const after = await writtenState(s.call);
  expect(after.count).toBe(before.count + 1);
  expect(after.events.at(-1)).toMatchObject({ type: 'lease.granted', agent, subject: result.lease_id });
  expect(r.headers['access-control-allow-origin']).toBeUndefined();
  return r;
}

describe.each(SURFACES)('guards on $name with a mutating call (lease.grant)', (surface) => {
  const refuse = async (
    s: TestServer,
    headers: (good: Record<string, string>) => Record<string, string>,
    status: number,
    name: string,
    body = surface.body('mallory'),
  ) => {
    const good = goodHeaders(s.url, s.token) as Record<string, string>;
    return expectRefused(s, { path: surface.path, headers: headers(good), body }, status, name);
  };
  const without = (h: Record<string, string>, key: string) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== key));

  test('no Authorization header: 401, nothing written', async () => {
    const s = await startTestServer();
    await refuse(s, (h) => without(h, 'authorization'), 401, 'UNAUTHORIZED');
  });

  test('wrong token: 401, nothing written', async () => {
    const s = await startTestServer();
    await refuse(s, (h) => ({ ...h, authorization: `Bearer ${s.token}x` }), 401, 'UNAUTHORIZED');
    await refuse(s, (h) => ({ ...h, authorization: 'Bearer wrong' }), 401, 'UNAUTHORIZED');
  });

  test('the token without the Bearer scheme, or an empty bearer: 401, nothing written', async () => {
    const s = await startTestServer();
    await refuse(s, (h) => ({ ...h, authorization: s.token }), 401, 'UNAUTHORIZED');
    await refuse(s, (h) => ({ ...h, authorization: 'Bearer ' }), 401, 'UNAUTHORIZED');
    await refuse(s, (h) => ({ ...h, authorization: `Basic ${s.token}` }), 401, 'UNAUTHORIZED');
  });

  test('foreign Host (evil.example with our port): 403, nothing written', async () => {
    const s = await startTestServer();
    const r = await refuse(s, (h) => ({ ...h, host: `evil.example:${portOf(s)}` }), 403, 'FORBIDDEN');
    expect(r.json.error.message).toContain('Host');
  });

  test('loopback Host with another port, or with no port: 403, nothing written', async () => {
    const s = await startTestServer();
    const other = Number(portOf(s)) === 65535 ? 65534 : Number(portOf(s)) + 1;
    await refuse(s, (h) => ({ ...h, host: `127.0.0.1:${other}` }), 403, 'FORBIDDEN');
    await refuse(s, (h) => ({ ...h, host: `localhost:${other}` }), 403, 'FORBIDDEN');
    await refuse(s, (h) => ({ ...h, host: '127.0.0.1' }), 403, 'FORBIDDEN');
    await refuse(s, (h) => ({ ...h, host: `127.0.0.1.evil.example:${portOf(s)}` }), 403, 'FORBIDDEN');
  });

  test('a foreign Host is refused even without a token (403 before 401)', async () => {
    const s = await startTestServer();
    await refuse(s, (h) => without({ ...h, host: `evil.example:${portOf(s)}` }, 'authorization'), 403, 'FORBIDDEN');
  });

  test('foreign Origin (http://evil.example): 403, nothing written', async () => {
    const s = await startTestServer();
    const r = await refuse(s, (h) => ({ ...h, origin: 'http://evil.example' }), 403, 'FORBIDDEN');
    expect(r.json.error.message).toContain('Origin');
  });

  test('Origin look-alikes and opaque origins: 403, nothing written', async () => {
    const s = await startTestServer();
    await refuse(s, (h) => ({ ...h, origin: `http://127.0.0.1.evil.example:${portOf(s)}` }), 403, 'FORBIDDEN');
    await refuse(s, (h) => ({ ...h, origin: `http://localhost.evil.example` }), 403, 'FORBIDDEN');
    await refuse(s, (h) => ({ ...h, origin: 'null' }), 403, 'FORBIDDEN');
    await refuse(s, (h) => ({ ...h, origin: 'file://' }), 403, 'FORBIDDEN');
  });

  test('loopback Origins are allowed (any port) and the grant is written; no CORS headers', async () => {
    const s = await startTestServer();
    const good = goodHeaders(s.url, s.token);
    const origins = [`http://127.0.0.1:${portOf(s)}`, `http://localhost:${portOf(s)}`, 'http://localhost:5173'];
    for (const [i, origin] of origins.entries()) {
      const agent = `loop-${i}`;
      await expectGranted(s, surface, { path: surface.path, headers: { ...good, origin }, body: surface.body(agent) }, agent);
    }
  });

  test('Host localhost:<port> is the loopback address too and is allowed', async () => {
    const s = await startTestServer();
    const headers = goodHeaders(s.url, s.token, { host: `localhost:${portOf(s)}` });
    await expectGranted(s, surface, { path: surface.path, headers, body: surface.body('by-name') }, 'by-name');
  });

  test('text/plain: 415, nothing written', async () => {
    const s = await startTestServer();
    await refuse(s, (h) => ({ ...h, 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await refuse(s, (h) => ({ ...h, 'content-type': 'text/plain; charset=utf-8' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('other non-JSON or look-alike media types: 415, nothing written', async () => {
    const s = await startTestServer();
    for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/json-patch+json', 'text/json']) {
      await refuse(s, (h) => ({ ...h, 'content-type': type }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  test('the auth scheme is case-insensitive (RFC 9110): lowercase bearer is accepted', async () => {
    const s = await startTestServer();
    const good = goodHeaders(s.url, s.token) as Record<string, string>;
    await expectGranted(s, surface, { path: surface.path, headers: { ...good, authorization: `bearer ${s.token}` }, body: surface.body('lc') }, 'lc');
  });

  test('an https loopback Origin is loopback too', async () => {
    const s = await startTestServer();
    const good = goodHeaders(s.url, s.token) as Record<string, string>;
    await expectGranted(s, surface, { path: surface.path, headers: { ...good, origin: 'https://127.0.0.1:8443' }, body: surface.body('tls') }, 'tls');
  });

  test('a charset other than UTF-8: 415, nothing written (bodies are read as UTF-8)', async () => {
    const s = await startTestServer();
    await refuse(s, (h) => ({ ...h, 'content-type': 'application/json; charset=latin1' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('a body without any Content-Type: 415, nothing written', async () => {
    const s = await startTestServer();
    await refuse(s, (h) => without(h, 'content-type'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test(`oversized body (limit ${BODY_LIMIT} bytes, Content-Length given): 413, nothing written`, async () => {
    const s = await startTestServer();
    const r = await refuse(s, (h) => h, 413, 'PAYLOAD_TOO_LARGE', padTo(surface.body('big'), BODY_LIMIT + 1));
    expect(r.json.error.message).toContain(String(BODY_LIMIT));
  });

  test('oversized chunked body (no Content-Length): 413, nothing written', async () => {
    const s = await startTestServer();
    const good = goodHeaders(s.url, s.token) as Record<string, string>;
    const full = padTo(surface.body('chunked'), BODY_LIMIT + 64 * 1024);
    const chunks = [];
    for (let i = 0; i < full.length; i += 64 * 1024) chunks.push(full.slice(i, i + 64 * 1024));
    await expectRefused(s, { path: surface.path, headers: good, body: chunks }, 413, 'PAYLOAD_TOO_LARGE');
  });

  test(`a body of exactly ${BODY_LIMIT} bytes is accepted`, async () => {
    const s = await startTestServer();
    const body = padTo(surface.body('edge'), BODY_LIMIT);
    expect(Buffer.byteLength(body)).toBe(BODY_LIMIT);
    await expectGranted(s, surface, { path: surface.path, headers: goodHeaders(s.url, s.token), body }, 'edge');
  });

  test.each([
    'application/json',
    'application/json; charset=utf-8',
    'application/json-rpc',
    'application/json-rpc; charset=utf-8',
    'application/jsonrequest',
    'application/jsonrequest; charset=utf-8',
    'Application/JSON-RPC; Charset=UTF-8',
  ])('Content-Type %s is accepted and the grant is written', async (type) => {
    const s = await startTestServer();
    const headers = goodHeaders(s.url, s.token, { 'content-type': type });
    await expectGranted(s, surface, { path: surface.path, headers, body: surface.body('typed') }, 'typed');
  });
});

describe('GET /healthz', () => {
  test('answers without a token: exactly {ok, version, protocol, instance_id, root, pid}, matching server.status', async () => {
    const s = await startTestServer();
    const r = await rawRequest(s.url, { method: 'GET', path: '/healthz', headers: { host: new URL(s.url).host } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const status = await s.call('server.status');
    expect(r.json).toEqual({
      ok: true,
      version: status.version,
      protocol: status.protocol,
      instance_id: status.instance_id,
      root: s.root,
      pid: process.pid,
    });
    expect(typeof r.json.version).toBe('string');
    expect(Number.isInteger(r.json.protocol)).toBe(true);
    expect(r.json.instance_id).toBe(s.server.info.instance_id);
    // no secret in a health answer
    expect(r.text).not.toContain(s.token);
  });

  test('a wrong token does not matter to /healthz', async () => {
    const s = await startTestServer();
    const r = await rawRequest(s.url, { method: 'GET', path: '/healthz', headers: { host: new URL(s.url).host, authorization: 'Bearer nope' } });
    expect(r.status).toBe(200);
    expect(r.json.ok).toBe(true);
  });

  test('/healthz with a query string still needs no token', async () => {
    const s = await startTestServer();
    const r = await rawRequest(s.url, { method: 'GET', path: '/healthz?probe=1', headers: { host: new URL(s.url).host } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, root: s.root });
  });

  test('/healthz still refuses a foreign Host or Origin (403)', async () => {
    const s = await startTestServer();
    const a = await rawRequest(s.url, { method: 'GET', path: '/healthz', headers: { host: `evil.example:${portOf(s)}` } });
    expect(a.status).toBe(403);
    expect(a.json).toEqual(guardError(403, 'FORBIDDEN'));
    const b = await rawRequest(s.url, { method: 'GET', path: '/healthz', headers: { host: new URL(s.url).host, origin: 'http://evil.example' } });
    expect(b.status).toBe(403);
    expect(b.json).toEqual(guardError(403, 'FORBIDDEN'));
    expect(a.text + b.text).not.toContain(s.server.info.instance_id);
  });
});

describe('other routes', () => {
  test('no CORS: a preflight gets no Access-Control-* headers', async () => {
    const s = await startTestServer();
    const r = await rawRequest(s.url, {
      method: 'OPTIONS',
      path: '/rpc',
      headers: {
        host: new URL(s.url).host,
        origin: 'http://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(r.status).toBe(403);
    expect(Object.keys(r.headers).filter((k) => k.startsWith('access-control-'))).toEqual([]);
  });

  test('unknown paths need the token too (401 before 404), then 404 NOT_FOUND', async () => {
    const s = await startTestServer();
    const host = new URL(s.url).host;
    const r = await rawRequest(s.url, { method: 'GET', path: '/nope', headers: { host } });
    expect(r.status).toBe(401);
    expect(r.json).toEqual(guardError(401, 'UNAUTHORIZED'));
    const missing = await rawRequest(s.url, { method: 'GET', path: '/nope', headers: goodHeaders(s.url, s.token) });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual(guardError(404, 'NOT_FOUND'));
  });

  test('GET /openapi.json with the token is the OpenAPI 3.1 document', async () => {
    const s = await startTestServer();
    const r = await rawRequest(s.url, { method: 'GET', path: '/openapi.json', headers: goodHeaders(s.url, s.token) });
    expect(r.status).toBe(200);
    expect(r.json.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(r.json.paths)).toEqual(expect.arrayContaining(['/rpc', '/rpc/lease.grant']));
  });
});
