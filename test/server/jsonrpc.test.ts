import { describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { goodHeaders, rawRequest, writtenState } from '../helpers/raw-http.js';

// docs/design.md §3 and JSON-RPC 2.0 on POST /rpc: every JSON-RPC answer is HTTP 200, a body of
// notifications only gets 200 with an empty body; protocol faults carry the JSON-RPC codes and
// error.data.code names them; -32602 names the bad field and changes nothing.

type Body = string | unknown;

/** POST /rpc with a raw text (sent as is) or a value (JSON-encoded). */
async function post(s: TestServer, body: Body) {
  return s.http('/rpc', { body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** POSTs `body`, expects HTTP 200 with a JSON answer, and that nothing was written. */
async function rejected(s: TestServer, body: Body) {
  const before = await writtenState(s.call);
  const r = await post(s, body);
  expect(r.status, r.text).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  expect(await writtenState(s.call)).toEqual(before);
  return r.json;
}

const parseError = (id: unknown = null) => ({
  jsonrpc: '2.0',
  id,
  error: { code: -32700, message: expect.any(String), data: { code: 'PARSE_ERROR' } },
});
const invalidRequest = (id: unknown = null, data: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  error: { code: -32600, message: expect.any(String), data: { code: 'INVALID_REQUEST', ...data } },
});
const methodNotFound = (id: unknown, method: string) => ({
  jsonrpc: '2.0',
  id,
  error: { code: -32601, message: expect.stringContaining(method), data: { code: 'METHOD_NOT_FOUND', method } },
});
const invalidParams = (id: unknown, field: string) => ({
  jsonrpc: '2.0',
  id,
  error: { code: -32602, message: expect.stringContaining(field), data: { code: 'INVALID_PARAMS', field } },
});

const grant = (id: unknown, params: unknown) => ({ jsonrpc: '2.0', id, method: 'lease.grant', params });
const grantNotification = (params: unknown) => ({ jsonrpc: '2.0', method: 'lease.grant', params });

describe('parse errors and invalid requests', () => {
  test('malformed JSON: -32700 with id null', async () => {
    const s = await startTestServer();
    expect(await rejected(s, '{"jsonrpc":"2.0","id":1,"method":"lease.grant","params":{"agent":"a"}')).toEqual(parseError());
    expect(await rejected(s, 'not json at all')).toEqual(parseError());
  });

  test('a batch that is not valid JSON is one -32700 object, not an array', async () => {
    const s = await startTestServer();
    const body = '[{"jsonrpc":"2.0","id":1,"method":"lease.grant","params":{"agent":"a"}},{"jsonrpc":"2.0","id":2,"method"';
    expect(await rejected(s, body)).toEqual(parseError());
  });

  test('an empty body with a JSON Content-Type: -32700', async () => {
    const s = await startTestServer();
    expect(await rejected(s, '')).toEqual(parseError());
  });

  test('{"foo":1}: -32600 with id null', async () => {
    const s = await startTestServer();
    expect(await rejected(s, { foo: 1 })).toEqual(invalidRequest(null));
  });

  test('jsonrpc missing or not "2.0": -32600, the readable id echoed', async () => {
    const s = await startTestServer();
    expect(await rejected(s, { id: 1, method: 'lease.grant', params: { agent: 'a' } })).toEqual(invalidRequest(1));
    expect(await rejected(s, { jsonrpc: '1.0', id: 2, method: 'lease.grant', params: { agent: 'a' } })).toEqual(invalidRequest(2));
    expect(await rejected(s, { jsonrpc: 2, id: 3, method: 'lease.grant', params: { agent: 'a' } })).toEqual(invalidRequest(3));
  });

  test('method missing or not a string: -32600', async () => {
    const s = await startTestServer();
    expect(await rejected(s, { jsonrpc: '2.0', id: 1 })).toEqual(invalidRequest(1));
    expect(await rejected(s, { jsonrpc: '2.0', id: 2, method: 5, params: { agent: 'a' } })).toEqual(invalidRequest(2));
    expect(await rejected(s, { jsonrpc: '2.0', id: 3, method: ['lease.grant'], params: { agent: 'a' } })).toEqual(invalidRequest(3));
  });

  test('params that are neither an object nor an array: -32600', async () => {
    const s = await startTestServer();
    expect(await rejected(s, { jsonrpc: '2.0', id: 1, method: 'lease.grant', params: 'agent=a' })).toEqual(invalidRequest(1));
    expect(await rejected(s, { jsonrpc: '2.0', id: 2, method: 'lease.grant', params: 7 })).toEqual(invalidRequest(2));
    expect(await rejected(s, { jsonrpc: '2.0', id: 3, method: 'lease.grant', params: null })).toEqual(invalidRequest(3));
  });

  test('a null body, or a bare number, string or boolean: -32600 with id null', async () => {
    const s = await startTestServer();
    for (const body of ['null', '1', '"lease.grant"', 'true']) {
      expect(await rejected(s, body)).toEqual(invalidRequest(null));
    }
  });

  test('an object id: -32600 with id null, and the method does not run', async () => {
    const s = await startTestServer();
    expect(await rejected(s, grant({ n: 1 }, { agent: 'a' }))).toEqual(invalidRequest(null));
    expect(await rejected(s, grant([1], { agent: 'a' }))).toEqual(invalidRequest(null));
    expect(await rejected(s, grant(true, { agent: 'a' }))).toEqual(invalidRequest(null));
  });

  test('a request carrying a result or error member is refused in Decapod terms (data.code present)', async () => {
    // docs/design.md §3: error.data.code always carries the name, whoever spots the fault.
    const s = await startTestServer();
    expect(await rejected(s, { ...grant(1, { agent: 'a' }), result: {} })).toEqual(invalidRequest(1));
    expect(await rejected(s, { ...grant(2, { agent: 'a' }), error: {} })).toEqual(invalidRequest(2));
  });
});

describe('batches', () => {
  test('an empty batch [] is one -32600 object, not an array', async () => {
    const s = await startTestServer();
    const body = await rejected(s, []);
    expect(Array.isArray(body)).toBe(false);
    expect(body).toEqual(invalidRequest(null));
  });

  test('[1,2] answers an array of two -32600', async () => {
    const s = await startTestServer();
    expect(await rejected(s, [1, 2])).toEqual([invalidRequest(null), invalidRequest(null)]);
  });

  test('a batch of one answers an array of one', async () => {
    const s = await startTestServer();
    const r = await post(s, [{ jsonrpc: '2.0', id: 'only', method: 'lease.list' }]);
    expect(r.status).toBe(200);
    expect(r.json).toEqual([{ jsonrpc: '2.0', id: 'only', result: { leases: [] } }]);
  });

  test('mixed batch: answers only for non-notifications, in order; batches are not atomic', async () => {
    const s = await startTestServer();
    const r = await post(s, [
      grant('first', { agent: 'alice' }),
      { foo: 1 },
      grantNotification({ agent: 'notified' }),
      { jsonrpc: '2.0', id: 3, method: 'no.such.method' },
      grant(4, { agent: 'bob', ttl_ms: 'long' }),
      { jsonrpc: '2.0', method: 'no.such.method' },
      { jsonrpc: '2.0', id: 5, method: 'lease.list' },
      { jsonrpc: '2.0', method: 'lease.grant', params: { ttl_ms: 5 } },
      [],
    ]);
    expect(r.status).toBe(200);
    expect(Array.isArray(r.json)).toBe(true);
    expect(r.json).toHaveLength(6);
    const [first, bad, unknown, badParams, list, nested] = r.json;
    expect(first).toEqual({ jsonrpc: '2.0', id: 'first', result: expect.objectContaining({ agent: 'alice', receipt: expect.any(Object) }) });
    expect(bad).toEqual(invalidRequest(null));
    expect(unknown).toEqual(methodNotFound(3, 'no.such.method'));
    expect(badParams).toEqual(invalidParams(4, 'ttl_ms'));
    expect(list).toEqual({ jsonrpc: '2.0', id: 5, result: { leases: expect.any(Array) } });
    expect(nested).toEqual(invalidRequest(null));
    // Not atomic: the valid grant and the valid notification were applied despite the failures.
    const { events } = await s.call('audit.list');
    expect(events.map((e: any) => [e.type, e.agent])).toEqual(
      expect.arrayContaining([
        ['lease.granted', 'alice'],
        ['lease.granted', 'notified'],
      ]),
    );
    expect(events).toHaveLength(2);
  });

  test('ids are echoed in a batch, in request order', async () => {
    const s = await startTestServer();
    const ids = ['z', 0, 'a', 2, null, 1.5];
    const r = await post(s, ids.map((id) => ({ jsonrpc: '2.0', id, method: 'lease.list' })));
    expect(r.status).toBe(200);
    expect(r.json.map((a: any) => a.id)).toEqual(ids);
    for (const a of r.json) expect(a.result).toEqual({ leases: [] });
  });

  test('a batch of exactly 100 is served', async () => {
    const s = await startTestServer();
    const r = await post(s, Array.from({ length: 100 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'lease.list' })));
    expect(r.status).toBe(200);
    expect(r.json).toHaveLength(100);
    expect(r.json.map((a: any) => a.id)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test('a batch larger than 100: one -32600 object, and none of its items runs', async () => {
    const s = await startTestServer();
    const batch = Array.from({ length: 101 }, (_, i) => grant(i, { agent: `agent-${i}` }));
    const body = await rejected(s, batch);
    expect(Array.isArray(body)).toBe(false);
    expect(body).toEqual(invalidRequest(null, { max_batch: 100 }));
  });
});

describe('notifications', () => {
  test('a single notification gets 200 with an empty body (clients such as jsonrpclib-pelix refuse a 204)', async () => {
    const s = await startTestServer();
    const r = await post(s, { jsonrpc: '2.0', method: 'lease.list' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
    expect(r.headers.get('content-length')).toBe('0');
  });

  test('a batch of notifications only gets 200 with an empty body', async () => {
    const s = await startTestServer();
    const r = await post(s, [
      { jsonrpc: '2.0', method: 'lease.list' },
      { jsonrpc: '2.0', method: 'server.status', params: {} },
    ]);
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
    expect(r.headers.get('content-length')).toBe('0');
  });

  test('a notification still executes: lease.grant as a notification writes its event', async () => {
    const s = await startTestServer();
    const before = await writtenState(s.call);
    expect(before.count).toBe(0);
    await post(s, grantNotification({ agent: 'quiet' }));
    const after = await writtenState(s.call);
    expect(after.count).toBe(1);
    expect(after.events).toEqual([expect.objectContaining({ seq: 1, type: 'lease.granted', agent: 'quiet' })]);
    expect(after.leases).toEqual([expect.objectContaining({ agent: 'quiet', state: 'active' })]);
  });

  test('a notification never answers, not even its errors (unknown method, bad params): an empty 200, nothing written', async () => {
    const s = await startTestServer();
    const before = await writtenState(s.call);
    for (const body of [
      { jsonrpc: '2.0', method: 'no.such.method' },
      grantNotification({ ttl_ms: 5 }),
      [grantNotification({ agent: 'x', bogus: 1 }), { jsonrpc: '2.0', method: 'no.such.method' }],
    ]) {
      const r = await post(s, body);
      expect(r.status).toBe(200);
      expect(r.text).toBe('');
    }
    expect(await writtenState(s.call)).toEqual(before);
  });

  test('id null is not a notification: it is answered with id null', async () => {
    const s = await startTestServer();
    const r = await post(s, grant(null, { agent: 'nullid' }));
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ jsonrpc: '2.0', id: null, result: expect.objectContaining({ agent: 'nullid' }) });
  });
});

describe('method and params errors', () => {
  test('unknown method: -32601 with data {code: METHOD_NOT_FOUND, method}', async () => {
    const s = await startTestServer();
    expect(await rejected(s, { jsonrpc: '2.0', id: 1, method: 'lease.steal', params: {} })).toEqual(methodNotFound(1, 'lease.steal'));
  });

  test('names of Object.prototype members are unknown methods too', async () => {
    const s = await startTestServer();
    for (const [i, method] of ['toString', 'constructor', '__proto__', 'hasOwnProperty', ''].entries()) {
      expect(await rejected(s, { jsonrpc: '2.0', id: i, method })).toEqual(methodNotFound(i, method));
    }
  });

  test('missing required agent: -32602 naming agent, nothing written', async () => {
    const s = await startTestServer();
    expect(await rejected(s, grant(1, { ttl_ms: 5000 }))).toEqual(invalidParams(1, 'agent'));
    expect(await rejected(s, { jsonrpc: '2.0', id: 2, method: 'lease.grant' })).toEqual(invalidParams(2, 'agent'));
  });

  test('ttl_ms of the wrong type or out of range: -32602 naming ttl_ms, never silently changed', async () => {
    const s = await startTestServer();
    const bad = ['5000', 1500.5, true, null, 999, 86_400_001, -1];
    for (const [i, ttl_ms] of bad.entries()) {
      expect(await rejected(s, grant(i, { agent: 'a', ttl_ms }))).toEqual(invalidParams(i, 'ttl_ms'));
    }
  });

  test('the ttl_ms bounds themselves are granted as asked', async () => {
    const s = await startTestServer();
    expect(await s.call('lease.grant', { agent: 'lo', ttl_ms: 1000 })).toMatchObject({ ttl_ms: 1000, ttl_remaining_ms: 1000 });
    expect(await s.call('lease.grant', { agent: 'hi', ttl_ms: 86_400_000 })).toMatchObject({ ttl_ms: 86_400_000 });
  });

  test('an unknown extra field: -32602 naming that field, nothing written', async () => {
    const s = await startTestServer();
    expect(await rejected(s, grant(1, { agent: 'a', bogus: 1 }))).toEqual(invalidParams(1, 'bogus'));
    expect(await rejected(s, '{"jsonrpc":"2.0","id":2,"method":"lease.grant","params":{"agent":"a","__proto__":{"x":1}}}')).toEqual(
      invalidParams(2, '__proto__'),
    );
    expect(await rejected(s, { jsonrpc: '2.0', id: 3, method: 'lease.list', params: { agent: 'a' } })).toEqual(invalidParams(3, 'agent'));
  });

  test('array (positional) params: -32602 naming params, nothing written', async () => {
    const s = await startTestServer();
    expect(await rejected(s, grant(1, ['a', 5000]))).toEqual(invalidParams(1, 'params'));
    expect(await rejected(s, { jsonrpc: '2.0', id: 2, method: 'lease.list', params: [] })).toEqual(invalidParams(2, 'params'));
  });

  test('other bad fields are named: agent empty, meta not an object, pid not positive', async () => {
    const s = await startTestServer();
    expect(await rejected(s, grant(1, { agent: '' }))).toEqual(invalidParams(1, 'agent'));
    expect(await rejected(s, grant(2, { agent: 7 }))).toEqual(invalidParams(2, 'agent'));
    expect(await rejected(s, grant(3, { agent: 'a', meta: [1] }))).toEqual(invalidParams(3, 'meta'));
    expect(await rejected(s, grant(4, { agent: 'a', pid: 0 }))).toEqual(invalidParams(4, 'pid'));
    expect(await rejected(s, grant(5, { agent: 'a', pid: 12.5 }))).toEqual(invalidParams(5, 'pid'));
    expect(await rejected(s, { jsonrpc: '2.0', id: 6, method: 'audit.list', params: { limit: 0 } })).toEqual(invalidParams(6, 'limit'));
  });

  test('a pid no process can have (2^64) is bad params naming pid, not an internal error', async () => {
    // docs/design.md §6: params are validated before any handler runs; a bad one gets -32602 naming the field.
    const s = await startTestServer();
    expect(await rejected(s, grant(1, { agent: 'a', pid: 2 ** 64 }))).toEqual(invalidParams(1, 'pid'));
  });
});

describe('ids are echoed exactly', () => {
  const ids: Array<[string, unknown]> = [
    ['a string', 'req-7'],
    ['an empty string', ''],
    ['a unicode string', 'ключ-🦞'],
    ['zero', 0],
    ['a negative number', -42],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
    ['a float', 1.5],
    ['a huge float', 1.5e300],
    ['null', null],
  ];

  test.each(ids)('%s id on success', async (_label, id) => {
    const s = await startTestServer();
    const r = await post(s, { jsonrpc: '2.0', id, method: 'lease.list' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ jsonrpc: '2.0', id, result: { leases: [] } });
    expect(Object.is(r.json.id, id)).toBe(true);
  });

  test.each(ids)('%s id on an error', async (_label, id) => {
    const s = await startTestServer();
    expect(await rejected(s, grant(id, { agent: 'a', ttl_ms: 1 }))).toEqual(invalidParams(id, 'ttl_ms'));
  });

  test('an id is echoed on a -32601 too', async () => {
    const s = await startTestServer();
    expect(await rejected(s, { jsonrpc: '2.0', id: 'x-1', method: 'nope' })).toEqual(methodNotFound('x-1', 'nope'));
  });
});

describe('successful calls', () => {
  test('a mutation answers its result with a full receipt; its audit event matches the receipt', async () => {
    const s = await startTestServer();
    const r = await post(s, grant(1, { agent: 'alice', ttl_ms: 30_000 }));
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(['id', 'jsonrpc', 'result']);
    const res = r.json.result;
    expect(res).toEqual({
      lease: expect.stringMatching(/^dcl_/),
      lease_id: expect.any(String),
      agent: 'alice',
      ttl_ms: 30_000,
      ttl_remaining_ms: 30_000,
      expires_at: new Date(s.clock.now() + 30_000).toISOString(),
      receipt: {
        seq: 1,
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        op: 'lease.grant',
        at: new Date(s.clock.now()).toISOString(),
        inputs_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        outputs_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    const { events } = await s.call('audit.list');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ seq: res.receipt.seq, hash: res.receipt.hash, type: 'lease.granted', subject: res.lease_id });
    expect(JSON.stringify(events)).not.toContain(res.lease);
  });

  test('lease.revoke returns a receipt and writes its event', async () => {
    const s = await startTestServer();
    const g = await s.call('lease.grant', { agent: 'a' });
    const r = await s.call('lease.revoke', { lease: g.lease });
    expect(r).toEqual({ released: [], receipt: expect.objectContaining({ seq: 2, op: 'lease.revoke' }) });
    const { events } = await s.call('audit.list');
    expect(events.map((e: any) => e.type)).toEqual(['lease.granted', 'lease.revoked']);
  });

  test('lease.revoke with an unknown lease: 1001 LEASE_INVALID, nothing written', async () => {
    const s = await startTestServer();
    await s.call('lease.grant', { agent: 'a' });
    expect(await rejected(s, { jsonrpc: '2.0', id: 9, method: 'lease.revoke', params: { lease: 'dcl_nope' } })).toEqual({
      jsonrpc: '2.0',
      id: 9,
      error: { code: 1001, message: expect.any(String), data: { code: 'LEASE_INVALID', reason: 'unknown' } },
    });
  });
});

describe('errors never leak internals', () => {
  const LEAKS = /SqliteError|SQLITE_|better-sqlite3|\n\s+at |\bat .+\.(?:js|ts|mjs|cjs):\d+:\d+|node_modules|\/src\/|\.ts:\d+|RangeError|TypeError|SyntaxError|Maximum call stack/;

  test('no error message or data carries a stack, a SQLite message or a source path', async () => {
    const s = await startTestServer();
    const deep = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    const bodies: Body[] = [
      '{"jsonrpc":"2.0","id":1,',
      'null',
      [],
      [1, 2],
      { jsonrpc: '2.0', id: 1, method: 'no.such' },
      grant(2, { agent: 'a', ttl_ms: 'x' }),
      grant(3, { agent: 'a', pid: 2 ** 64 }),
      grant(4, { agent: 'a', pid: 1e300 }),
      `{"jsonrpc":"2.0","id":5,"method":"lease.grant","params":{"agent":"a","meta":${deep}}}`,
      { jsonrpc: '2.0', id: 6, method: 'lease.renew', params: { lease: 'dcl_unknown' } },
    ];
    for (const body of bodies) {
      const answer = await rejected(s, body);
      for (const a of Array.isArray(answer) ? answer : [answer]) {
        expect(a.error, JSON.stringify(a).slice(0, 200)).toBeDefined();
        expect(JSON.stringify(a.error)).not.toMatch(LEAKS);
        expect(a.error).not.toHaveProperty('stack');
        if (a.error.code === -32603) expect(a.error).toEqual({ code: -32603, message: 'internal error', data: { code: 'INTERNAL_ERROR' } });
      }
    }
  });

  test('HTTP-level refusals do not leak either', async () => {
    const s = await startTestServer();
    const good = goodHeaders(s.url, s.token);
    const answers = [
      await rawRequest(s.url, { path: '/rpc', headers: { ...good, 'content-type': 'text/plain' }, body: '{}' }),
      await rawRequest(s.url, { path: '/rpc', headers: good, body: ' '.repeat(1024 * 1024 + 1) }),
      await rawRequest(s.url, { path: '/rpc', headers: { ...good, authorization: 'Bearer x' }, body: '{}' }),
      await rawRequest(s.url, { path: '/rpc', headers: { ...good, host: 'evil.example' }, body: '{}' }),
      await rawRequest(s.url, { method: 'PUT', path: '/rpc', headers: good, body: '{}' }),
    ];
    for (const r of answers) {
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.text).not.toMatch(LEAKS);
      expect(r.text).not.toContain(s.token);
      expect(r.json.error.data.code).toEqual(expect.any(String));
    }
  });
});

describe('idempotency', () => {
  test('lease.grant with the same idempotency_key twice: same lease_id, same secret, same receipt, one event', async () => {
    const s = await startTestServer();
    const params = { agent: 'retry', ttl_ms: 30_000, idempotency_key: 'grant-1' };
    const first = await s.call('lease.grant', params);
    const afterFirst = await writtenState(s.call);
    expect(afterFirst.count).toBe(1);
    // A retry comes later: a re-executed grant would show a later receipt time and expiry.
    s.clock.advance(5_000);
    const second = await s.call('lease.grant', params);
    expect(second).toEqual(first);
    expect(second.lease_id).toBe(first.lease_id);
    expect(second.lease).toBe(first.lease);
    expect(second.receipt).toEqual(first.receipt);
    expect(await writtenState(s.call)).toEqual(afterFirst);
    expect(afterFirst.leases).toHaveLength(1);
    expect(afterFirst.events).toEqual([expect.objectContaining({ type: 'lease.granted', subject: first.lease_id })]);
    // The replayed secret is the live lease's secret.
    expect(await s.call('lease.renew', { lease: second.lease })).toMatchObject({ lease_id: first.lease_id });
  });

  test('the same key inside one batch applies once', async () => {
    const s = await startTestServer();
    const r = await post(s, [grant(1, { agent: 'b', idempotency_key: 'batch-key' }), grant(2, { agent: 'b', idempotency_key: 'batch-key' })]);
    expect(r.status).toBe(200);
    expect(r.json).toHaveLength(2);
    expect(r.json[1].result).toEqual(r.json[0].result);
    expect((await writtenState(s.call)).count).toBe(1);
  });

  test('the same key with different params: -32602 naming idempotency_key, nothing written', async () => {
    const s = await startTestServer();
    const first = await s.call('lease.grant', { agent: 'a', idempotency_key: 'k' });
    expect(await rejected(s, grant(1, { agent: 'b', idempotency_key: 'k' }))).toEqual(invalidParams(1, 'idempotency_key'));
    expect(await rejected(s, grant(2, { agent: 'a', ttl_ms: 2000, idempotency_key: 'k' }))).toEqual(invalidParams(2, 'idempotency_key'));
    const state = await writtenState(s.call);
    expect(state.count).toBe(1);
    expect(state.leases).toEqual([expect.objectContaining({ lease_id: first.lease_id, state: 'active' })]);
  });

  test('the same key on another method: -32602 naming idempotency_key, and the lease is not revoked', async () => {
    const s = await startTestServer();
    const g = await s.call('lease.grant', { agent: 'a', idempotency_key: 'shared' });
    expect(await rejected(s, { jsonrpc: '2.0', id: 1, method: 'lease.revoke', params: { lease: g.lease, idempotency_key: 'shared' } })).toEqual(
      invalidParams(1, 'idempotency_key'),
    );
    expect((await s.call('lease.list')).leases).toEqual([expect.objectContaining({ lease_id: g.lease_id, state: 'active' })]);
  });

  test('different keys give different leases', async () => {
    const s = await startTestServer();
    const a = await s.call('lease.grant', { agent: 'a', idempotency_key: 'k1' });
    const b = await s.call('lease.grant', { agent: 'a', idempotency_key: 'k2' });
    expect(b.lease_id).not.toBe(a.lease_id);
    expect(b.lease).not.toBe(a.lease);
    expect((await writtenState(s.call)).count).toBe(2);
  });

  test('an invalid idempotency_key (empty) is bad params, nothing written', async () => {
    const s = await startTestServer();
    expect(await rejected(s, grant(1, { agent: 'a', idempotency_key: '' }))).toEqual(invalidParams(1, 'idempotency_key'));
    expect(await rejected(s, grant(2, { agent: 'a', idempotency_key: 5 }))).toEqual(invalidParams(2, 'idempotency_key'));
  });
});
