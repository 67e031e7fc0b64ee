import fc from 'fast-check';
import { afterAll, expect, test } from 'vitest';
import { METHODS } from '../../src/methods/table.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../src/transport/http-server.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import {
  anyReceipt,
  auditHead,
  check,
  CLIENT_TIMEOUT_MS,
  expectAlive,
  ok,
  rawExchange,
  RunLog,
  runs,
  send,
  settle,
  type Answer,
} from './support.js';

// Issue 7, hostile input on the HTTP surface (docs/design.md §3, §6): random bytes as bodies on both
// surfaces, raw garbage and smuggling-shaped requests on the socket, deep nesting, huge numbers and
// strings, slow-loris. After every case the server still answers /healthz and a normal call within
// the client bound, never answers 5xx or -32603, and a call that was refused wrote nothing (the
// audit head, counted and hashed from the stored events, is unchanged).

const log = new RunLog('fuzz-http.test.ts');
afterAll(() => log.write({ request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS }));

const SAFE_METHODS = [...METHODS.keys()].filter((m) => m !== 'server.shutdown');
const portOf = (s: TestServer) => Number(new URL(s.url).port);
const auth = (s: TestServer, type = 'application/json') => ({ authorization: `Bearer ${s.token}`, 'content-type': type });

/** Every error code in a JSON-RPC answer (single or batch) or a REST `{error}`. */
function errorCodes(json: unknown): number[] {
  const items = Array.isArray(json) ? json : [json];
  return items.flatMap((a) => (a && typeof a === 'object' && (a as any).error && typeof (a as any).error.code === 'number' ? [(a as any).error.code as number] : []));
}

/** The per-case invariants: no 5xx or -32603, a JSON answer, nothing written unless applied, still alive. */
async function afterCase(s: TestServer, r: Answer, before: string): Promise<string> {
  check(r.status < 500, `HTTP ${r.status}: ${r.text.slice(0, 200)}`);
  check((r.status === 200 && r.text === '') || r.json !== undefined, `HTTP ${r.status} with a body that is not JSON: ${r.text.slice(0, 120)}`);
  check(!errorCodes(r.json).includes(-32603), `internal error (-32603): ${r.text.slice(0, 200)}`);
  return settle(s, before, !anyReceipt(r.json));
}

// Valid requests to mutate byte by byte: closer to the parser's edge than pure noise.
const TEMPLATES = [
  '{"jsonrpc":"2.0","id":1,"method":"lease.grant","params":{"agent":"alice","ttl_ms":30000}}',
  '[{"jsonrpc":"2.0","id":1,"method":"lease.list"},{"jsonrpc":"2.0","method":"task.create","params":{"title":"t"}}]',
  '{"jsonrpc":"2.0","id":"x","method":"claim.check","params":{"paths":["src/a.ts","../b"]}}',
  '{"agent":"bob","meta":{"k":[1,2,{"z":null}]}}',
  '{"title":"fix","paths":["src"],"labels":["bug"],"priority":1}',
];

const mutatedTemplate = fc
  .record({
    template: fc.constantFrom(...TEMPLATES),
    edits: fc.array(fc.record({ at: fc.nat(), op: fc.constantFrom('flip', 'insert', 'delete', 'dup'), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 }),
  })
  .map(({ template, edits }) => {
    let b = [...Buffer.from(template)];
    for (const e of edits) {
      const i = b.length === 0 ? 0 : e.at % b.length;
      if (e.op === 'flip') b[i] = e.byte;
      else if (e.op === 'insert') b.splice(i, 0, e.byte);
      else if (e.op === 'delete') b.splice(i, 1);
      else b = [...b.slice(0, i), ...b.slice(i, i + 16), ...b.slice(i)];
    }
    return Uint8Array.from(b);
  });

test('random bytes as bodies on POST /rpc and POST /rpc/<method>: refused cleanly, nothing written, still alive', async () => {
  const s = await startTestServer();
  await ok(s, 'lease.grant', { agent: 'resident' }); // some state to (not) disturb
  const arb = fc.record({
    body: fc.oneof(
      { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
      { weight: 3, arbitrary: mutatedTemplate },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }).map((t) => new Uint8Array(Buffer.from(t))) },
    ),
    path: fc.oneof(fc.constant('/rpc'), fc.constantFrom(...SAFE_METHODS).map((m) => `/rpc/${m}`), fc.constantFrom('/rpc/no.such', '/rpc/%2e%2e', '/rpc/__proto__')),
    type: fc.constantFrom('application/json', 'application/json-rpc', 'application/jsonrequest; charset=utf-8'),
  });
  let head = await auditHead(s);
  await log.cases('random bytes as body', arb, runs(260), async (c) => {
    const r = await send(s, c.path, { headers: auth(s, c.type), body: c.body });
    head = await afterCase(s, r, head);
  });
  expect(log.report(['random bytes as body'])).toBe('');
});

// ---------------------------------------------------------------------------------------------
// The socket itself
// ---------------------------------------------------------------------------------------------

function requestText(port: number) {
  const pick = <T>(xs: T[]) => fc.constantFrom(...xs);
  const headerPool = [
    `Host: 127.0.0.1:${port}`,
    `Host: 127.0.0.1:${port}`, // duplicated on purpose when picked twice
    'Host: evil.example',
    'Content-Type: application/json',
    'Content-Type: text/plain',
    'Authorization: Bearer not-the-token',
    'Authorization: Basic Zm9vOmJhcg==',
    'Content-Length: 0',
    'Content-Length: 5',
    'Content-Length: -1',
    'Content-Length: 99999999999999999999',
    'Content-Length: 5, 6',
    'Transfer-Encoding: chunked',
    'Transfer-Encoding: chunked, identity',
    'Transfer-Encoding: xchunked',
    'Transfer-Encoding:\tchunked',
    'Expect: 100-continue',
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Origin: null',
    `X-Long: ${'a'.repeat(20_000)}`,
    'X-Nul: a\u0000b',
    'NoColonHere',
    ' folded: continuation',
    ': empty-name',
    'X-Ctl: \u0001\u007f',
  ];
  return fc
    .record({
      method: pick(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'TRACE', 'CONNECT', 'PRI', 'FOO', 'G\u0000T', '']),
      target: pick(['/rpc', '/rpc/lease.grant', '/healthz', '/openapi.json', '*', 'http://evil.example/rpc', '/%00', '/../../etc/passwd', '//rpc', '/rpc?x=%ff', '/rpc#frag', `/${'a'.repeat(9000)}`]),
      version: pick(['HTTP/1.1', 'HTTP/1.0', 'HTTP/0.9', 'HTTP/2.0', 'HTTP/1.1 extra', '', 'HTTP/1.1\u0000']),
      headers: fc.array(pick(headerPool), { maxLength: 6 }),
      body: pick(['', '{}', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\nxx\r\n', '0\r\n\r\nPOST /rpc HTTP/1.1\r\nHost: x\r\n\r\n', '{"jsonrpc":"2.0","id":1,"method":"lease.grant","params":{"agent":"x"}}']),
      eol: pick(['\r\n', '\n', '\r']),
    })
    .map(({ method, target, version, headers, body, eol }) => Buffer.from(`${method} ${target} ${version}${eol}${headers.join(eol)}${eol}${eol}${body}`, 'latin1'));
}

test('raw garbage and smuggling-shaped requests on the socket: answered or closed within the bound, nothing written, still alive', async () => {
  const s = await startTestServer();
  const port = portOf(s);
  const arb = fc.oneof({ weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((b) => Buffer.from(b)) }, { weight: 3, arbitrary: requestText(port) });
  const head = await auditHead(s);
  await log.cases(
    'raw socket garbage',
    arb,
    runs(160),
    async (bytes) => {
      const x = await rawExchange(port, [bytes], { end: true, untilResponse: true });
      check(x.closed, `the server neither answered nor closed within ${CLIENT_TIMEOUT_MS} ms`);
      check(!/^HTTP\/1\.[01] 5\d\d/m.test(x.received), `a 5xx answer: ${x.received.slice(0, 120)}`);
      // Without the token nothing can be written, whatever the bytes.
      await settle(s, head, true);
    },
    (b) => JSON.stringify(b.toString('latin1').slice(0, 200)),
  );
  expect(log.report(['raw socket garbage'])).toBe('');
});

// ---------------------------------------------------------------------------------------------
// Deep nesting, huge numbers, huge strings
// ---------------------------------------------------------------------------------------------

const DEEP = 100_000;
const deepArray = '['.repeat(DEEP) + ']'.repeat(DEEP);
const deepObject = '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP);
const LIMIT = 1024 * 1024;
/** A string that makes `wrap(string)` exactly `bytes` long when JSON-encoded (ASCII filler). */
const fill = (wrap: (x: string) => string, bytes: number, unit = 'x') => {
  const overhead = Buffer.byteLength(wrap(''));
  const per = Buffer.byteLength(unit);
  return unit.repeat(Math.floor((bytes - overhead) / per));
};
const rpcBody = (method: string, params: string, id = '1') => `{"jsonrpc":"2.0","id":${id},"method":"${method}","params":${params}}`;

interface EdgeCase {
  name: string;
  path: string;
  body: string;
  /** checks on the answer besides the shared invariants */
  expect(r: Answer): void;
}

const rpcError = (code: number, field?: string) => (r: Answer) => {
  expect(r.status).toBe(200);
  const a = Array.isArray(r.json) ? r.json[0] : r.json;
  expect(a.error?.code, r.text.slice(0, 200)).toBe(code);
  if (field !== undefined) expect(a.error.data.field).toBe(field);
};
const restError = (status: number, code: number, field?: string) => (r: Answer) => {
  expect(r.status, r.text.slice(0, 200)).toBe(status);
  expect(r.json.error.code).toBe(code);
  if (field !== undefined) expect(r.json.error.data.field).toBe(field);
};
const rpcResult = (r: Answer) => {
  expect(r.status).toBe(200);
  expect(r.json.result, r.text.slice(0, 200)).toBeDefined();
};

function edgeCases(): EdgeCase[] {
  const bigAgent = fill((x) => rpcBody('lease.grant', `{"agent":"${x}"}`), LIMIT - 16);
  const bigMeta = fill((x) => rpcBody('lease.grant', `{"agent":"big","meta":{"blob":"${x}"}}`), LIMIT - 16);
  const bigMetaWide = fill((x) => rpcBody('lease.grant', `{"agent":"wide","meta":{"blob":"${x}"}}`), LIMIT - 16, '🦞');
  const bigMethod = fill((x) => rpcBody(x, '{}'), LIMIT - 16);
  const bigId = fill((x) => rpcBody('lease.list', '{}', `"${x}"`), LIMIT - 16);
  const bigKey = fill((x) => rpcBody('lease.list', `{"${x}":1}`), LIMIT - 16);
  const manyKeys = `{${Array.from({ length: 60_000 }, (_, i) => `"k${i}":1`).join(',')}}`;
  const manyPaths = `{"paths":[${Array.from({ length: 100_000 }, () => '"a"').join(',')}]}`;
  return [
    { name: '100k-deep array as the whole /rpc body', path: '/rpc', body: deepArray, expect: (r) => expect(r.json).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: -32600 }) })]) },
    { name: '100k-deep object as the whole /rpc body', path: '/rpc', body: deepObject, expect: rpcError(-32600) },
    { name: '100k-deep array inside a batch', path: '/rpc', body: `[${deepArray},{"jsonrpc":"2.0","id":2,"method":"lease.list"}]`, expect: (r) => expect(r.json.map((a: any) => a.error?.code ?? 'ok')).toEqual([-32600, 'ok']) },
    { name: '100k-deep params object', path: '/rpc', body: rpcBody('lease.grant', `{"agent":"a","meta":${deepObject}}`), expect: rpcError(-32602, 'meta') },
    { name: '100k-deep params array', path: '/rpc', body: rpcBody('lease.grant', deepArray), expect: rpcError(-32602, 'params') },
    { name: '100k-deep id', path: '/rpc', body: `{"jsonrpc":"2.0","id":${deepArray},"method":"lease.list"}`, expect: rpcError(-32600) },
    { name: '100k-deep method', path: '/rpc', body: `{"jsonrpc":"2.0","id":1,"method":${deepObject}}`, expect: rpcError(-32600) },
    { name: '100k-deep extra envelope member (ignored)', path: '/rpc', body: `{"jsonrpc":"2.0","id":1,"method":"lease.list","x":${deepArray}}`, expect: rpcResult },
    { name: '100k-deep REST body object', path: '/rpc/lease.grant', body: deepObject, expect: restError(400, -32602, 'a') },
    { name: '100k-deep REST body array', path: '/rpc/task.create', body: deepArray, expect: restError(400, -32602, 'params') },
    { name: 'id 1e309', path: '/rpc', body: '{"jsonrpc":"2.0","id":1e309,"method":"lease.list"}', expect: (r) => expect(r.json).toMatchObject({ id: null, error: { code: -32600 } }) },
    { name: 'id -0', path: '/rpc', body: '{"jsonrpc":"2.0","id":-0,"method":"lease.list"}', expect: (r) => expect(r.json).toMatchObject({ id: 0, result: {} }) },
    { name: 'id 2^53+1', path: '/rpc', body: '{"jsonrpc":"2.0","id":9007199254740993,"method":"lease.list"}', expect: (r) => expect(r.json).toMatchObject({ id: 2 ** 53, result: {} }) },
    { name: 'ttl_ms 1e309', path: '/rpc/lease.grant', body: '{"agent":"a","ttl_ms":1e309}', expect: restError(400, -32602, 'ttl_ms') },
    { name: 'ttl_ms -0', path: '/rpc/lease.grant', body: '{"agent":"a","ttl_ms":-0}', expect: restError(400, -32602, 'ttl_ms') },
    { name: 'ttl_ms 2^53+1', path: '/rpc/lease.grant', body: '{"agent":"a","ttl_ms":9007199254740993}', expect: restError(400, -32602, 'ttl_ms') },
    { name: 'pid 1e-400 (parses as 0)', path: '/rpc/lease.grant', body: '{"agent":"a","pid":1e-400}', expect: restError(400, -32602, 'pid') },
    { name: 'priority 2.0000000000000001 (parses as 2)', path: '/rpc/task.create', body: '{"title":"p","priority":2.0000000000000001}', expect: (r) => expect(r.status).toBe(200) },
    { name: 'fence 1e309 on claim.release', path: '/rpc/claim.release', body: '{"lease":"dcl_x","claim":"C1","fence":1e309}', expect: restError(400, -32602, 'fence') },
    { name: 'since 1e309 on audit.list', path: '/rpc/audit.list', body: '{"since":1e309}', expect: restError(400, -32602, 'since') },
    { name: 'meta value 1e309', path: '/rpc/lease.grant', body: '{"agent":"a","meta":{"n":1e309}}', expect: restError(400, -32602, 'meta.n') },
    { name: 'meta values -0 and 2^53+1 (representable: accepted)', path: '/rpc/lease.grant', body: '{"agent":"nums","meta":{"b":9007199254740993,"z":-0}}', expect: (r) => expect(r.status).toBe(200) },
    { name: `agent of ~1 MiB (limit ${LIMIT})`, path: '/rpc', body: rpcBody('lease.grant', `{"agent":"${bigAgent}"}`), expect: rpcError(-32602, 'agent') },
    { name: 'meta string of ~1 MiB, ASCII (accepted and audited)', path: '/rpc', body: rpcBody('lease.grant', `{"agent":"big","meta":{"blob":"${bigMeta}"}}`), expect: rpcResult },
    { name: 'meta string of ~1 MiB in 4-byte characters (accepted and audited)', path: '/rpc', body: rpcBody('lease.grant', `{"agent":"wide","meta":{"blob":"${bigMetaWide}"}}`), expect: rpcResult },
    { name: 'method name of ~1 MiB', path: '/rpc', body: rpcBody(bigMethod, '{}'), expect: rpcError(-32601) },
    { name: 'id string of ~1 MiB (echoed)', path: '/rpc', body: rpcBody('lease.list', '{}', `"${bigId}"`), expect: (r) => expect(r.json.id).toBe(bigId) },
    { name: 'unknown param name of ~1 MiB', path: '/rpc', body: rpcBody('lease.list', `{"${bigKey}":1}`), expect: rpcError(-32602, bigKey) },
    { name: '60 000 unknown keys', path: '/rpc/lease.list', body: manyKeys, expect: restError(400, -32602, 'k0') },
    { name: '100 000 paths', path: '/rpc/claim.check', body: manyPaths, expect: restError(400, -32602, 'paths') },
    { name: 'a REST method name over fastify maxParamLength', path: `/rpc/${'m'.repeat(300)}`, body: '{}', expect: (r) => expect([404, 414]).toContain(r.status) },
    { name: 'the UTF-8 BOM before a JSON body', path: '/rpc/lease.list', body: '\ufeff{}', expect: (r) => expect([200, 400]).toContain(r.status) },
    { name: 'invalid UTF-8 inside a string', path: '/rpc/task.create', body: '{"title":"\xff\xfe"}', expect: (r) => expect([200, 400]).toContain(r.status) },
  ];
}

test('deep nesting, huge numbers and ~1 MiB strings: the right refusal (or a clean acceptance), the chain still verifies', async () => {
  const s = await startTestServer();
  let head = await auditHead(s);
  for (const c of edgeCases()) {
    await log.one('deep, huge and long values', c.name, async () => {
      const r = await send(s, c.path, { headers: auth(s), body: c.name === 'invalid UTF-8 inside a string' ? Buffer.from(c.body, 'latin1') : c.body });
      try {
        c.expect(r);
      } finally {
        head = await afterCase(s, r, head);
      }
    });
  }
  // Accepted big values went through hashing, storage and back: the chain and replay still hold.
  await log.one('deep, huge and long values', 'audit.verify and audit.replay after the big values', async () => {
    expect(await ok(s, 'audit.verify')).toMatchObject({ ok: true });
    expect(await ok(s, 'audit.replay')).toMatchObject({ ok: true });
  });
  expect(log.report(['deep, huge and long values'])).toBe('');
});

// ---------------------------------------------------------------------------------------------
// Slow-loris
// ---------------------------------------------------------------------------------------------

test(`slow-loris: a body or headers dripped a byte a second, or a silent connection, are cut off within the request timeout (${DEFAULT_REQUEST_TIMEOUT_MS} ms); others are served meanwhile; a long wait_ms call is not cut`, async () => {
  const s = await startTestServer();
  const port = portOf(s);
  const host = `127.0.0.1:${port}`;
  const bound = DEFAULT_REQUEST_TIMEOUT_MS + 4_000; // the timeout, node's 1 s check, and slack
  // A blocker, and a waiter whose call legitimately outlives the request timeout.
  const blocker = await ok(s, 'lease.grant', { agent: 'blocker', ttl_ms: 3_600_000 });
  const waiter = await ok(s, 'lease.grant', { agent: 'waiter', ttl_ms: 3_600_000 });
  const held = await ok(s, 'claim.acquire', { lease: blocker.lease, paths: ['src'] });
  const head = await auditHead(s);

  const body = JSON.stringify({ agent: 'loris', meta: { pad: 'x'.repeat(200) } });
  const slowBody = rawExchange(
    port,
    [`POST /rpc/lease.grant HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${s.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, ...body.split('')],
    { gapMs: 1_000, boundMs: bound },
  );
  const headerLines = `Host: ${host}\r\nAuthorization: Bearer ${s.token}\r\nContent-Type: application/json\r\nX-Pad: ${'y'.repeat(100)}\r\n`;
  const slowHeaders = rawExchange(port, ['POST /rpc HTTP/1.1\r\n', ...headerLines.split('')], { gapMs: 1_000, boundMs: bound });
  const silent = rawExchange(port, [], { boundMs: bound }); // connects and never sends a byte
  const longWait = send(s, '/rpc/claim.acquire', { body: JSON.stringify({ lease: waiter.lease, paths: ['src/a.ts'], wait_ms: 30_000 }), timeoutMs: 30_000 });

  // Meanwhile everyone else is served, each call within the client bound.
  let served = 0;
  let slowest = 0;
  const started = Date.now();
  while (Date.now() - started < DEFAULT_REQUEST_TIMEOUT_MS + 1_500) {
    const t = Date.now();
    await expectAlive(s);
    slowest = Math.max(slowest, Date.now() - t);
    served++;
    await new Promise((r) => setTimeout(r, 250));
  }
  // Past the request timeout: the waiter's call is still pending, and gets the paths once freed.
  await ok(s, 'claim.release', { lease: blocker.lease, claim: held.claim.id, fence: held.claim.fence });
  const [b, h, q, w] = await Promise.all([slowBody, slowHeaders, silent, longWait]);
  log.count('slow-loris connections', 3);
  log.count('calls served during slow-loris', served);

  for (const [name, x] of [['dripped body', b], ['dripped headers', h], ['silent connection', q]] as const) {
    expect(x.closed, `${name}: the server kept the connection open for ${x.elapsedMs} ms`).toBe(true);
    expect(x.elapsedMs, name).toBeLessThan(bound);
    expect(x.elapsedMs, `${name}: cut before the timeout`).toBeGreaterThanOrEqual(DEFAULT_REQUEST_TIMEOUT_MS - 1_000);
    expect(x.received, name).not.toMatch(/^HTTP\/1\.1 200/);
    if (x.received) expect(x.received, name).toMatch(/^HTTP\/1\.1 408/);
  }
  expect(w.status, w.text).toBe(200);
  expect(w.json.claim).toMatchObject({ agent: 'waiter', paths: ['src/a.ts'] });
  expect(served).toBeGreaterThan(10);
  console.info(`[security] slow-loris: body cut after ${b.elapsedMs} ms, headers after ${h.elapsedMs} ms, a silent connection after ${q.elapsedMs} ms; ${served} calls served meanwhile, slowest ${slowest} ms`);
  // The dripped grant was never applied: only the release and the waiter's claim were written.
  const types = (await ok(s, 'audit.list', { since: Number(head.split(':')[0]) })).events.map((e: any) => e.type);
  expect(types).toEqual(['claim.released', 'claim.acquired']);
  expect((await ok(s, 'lease.list')).leases.map((l: any) => l.agent)).not.toContain('loris');
}, 40_000);
