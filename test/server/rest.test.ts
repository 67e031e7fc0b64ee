import { describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { goodHeaders, rawRequest, writtenState } from '../helpers/raw-http.js';

// docs/design.md §3: POST /rpc/<method> takes the params object as the body and answers the result on 200,
// or {"error": {...}} with a fitting HTTP status (400 bad params, 403 lease invalid, 404 not
// found, ...) so `curl --fail-with-body` works. Same method table as POST /rpc.

/** POST /rpc/<method> with a raw text (sent as is), a value (JSON-encoded) or no body at all. */
async function rest(s: TestServer, method: string, body?: string | unknown, headers?: Record<string, string>) {
  return s.http(`/rpc/${method}`, {
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    ...(headers ? { headers } : {}),
  });
}

/** Expects `status` with exactly `{error}` and nothing written. */
async function restRejected(s: TestServer, method: string, body: string | unknown, status: number) {
  const before = await writtenState(s.call);
  const r = await rest(s, method, body);
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  expect(Object.keys(r.json)).toEqual(['error']);
  expect(await writtenState(s.call)).toEqual(before);
  return r.json.error;
}

const paramsError = (field: string) => ({
  code: -32602,
  message: expect.stringContaining(field),
  data: { code: 'INVALID_PARAMS', field },
});

describe('POST /rpc/<method>: results', () => {
  test('lease.grant: the bare result object on 200, with its receipt, and the event written', async () => {
    const s = await startTestServer();
    const r = await rest(s, 'lease.grant', { agent: 'curl', ttl_ms: 10_000 });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.json).toEqual({
      lease: expect.stringMatching(/^dcl_/),
      lease_id: expect.any(String),
      agent: 'curl',
      ttl_ms: 10_000,
      ttl_remaining_ms: 10_000,
      expires_at: new Date(s.clock.now() + 10_000).toISOString(),
      receipt: {
        seq: 1,
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        op: 'lease.grant',
        at: new Date(s.clock.now()).toISOString(),
        inputs_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        outputs_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    expect(r.json).not.toHaveProperty('jsonrpc');
    const state = await writtenState(s.call);
    expect(state.events).toEqual([expect.objectContaining({ seq: 1, type: 'lease.granted', agent: 'curl', hash: r.json.receipt.hash })]);
    expect(state.leases).toEqual([expect.objectContaining({ lease_id: r.json.lease_id, state: 'active' })]);
  });

  test('the same call on both surfaces gives the same shape (one method table)', async () => {
    const s = await startTestServer();
    const viaRest = (await rest(s, 'lease.list', {})).json;
    const viaRpc = await s.call('lease.list');
    expect(viaRest).toEqual(viaRpc);
    const status = (await rest(s, 'server.status', {})).json;
    expect(status).toEqual({ ...(await s.call('server.status')), uptime_ms: status.uptime_ms });
  });

  test('lease.renew and lease.revoke with the granted secret', async () => {
    const s = await startTestServer();
    const g = (await rest(s, 'lease.grant', { agent: 'a', ttl_ms: 5_000 })).json;
    s.clock.advance(2_000);
    const renewed = await rest(s, 'lease.renew', { lease: g.lease });
    expect(renewed.status).toBe(200);
    expect(renewed.json).toEqual({ lease_id: g.lease_id, ttl_remaining_ms: 5_000, expires_at: new Date(s.clock.now() + 5_000).toISOString() });
    const revoked = await rest(s, 'lease.revoke', { lease: g.lease });
    expect(revoked.status).toBe(200);
    expect(revoked.json).toEqual({ released: [], receipt: expect.objectContaining({ seq: 2, op: 'lease.revoke' }) });
    expect((await s.call('lease.list')).leases).toEqual([expect.objectContaining({ lease_id: g.lease_id, state: 'revoked' })]);
  });

  test('an empty body is allowed for methods without params (no Content-Type, or JSON with no bytes)', async () => {
    const s = await startTestServer();
    const bare = await rawRequest(s.url, { path: '/rpc/lease.list', headers: { host: new URL(s.url).host, authorization: `Bearer ${s.token}` } });
    expect(bare.status, bare.text).toBe(200);
    expect(bare.json).toEqual({ leases: [] });
    const typed = await rest(s, 'server.status', '');
    expect(typed.status, typed.text).toBe(200);
    expect(typed.json).toMatchObject({ root: s.root, instance_id: s.server.info.instance_id });
    const verify = await rest(s, 'audit.verify');
    expect(verify.status).toBe(200);
    expect(verify.json).toMatchObject({ ok: true, count: 0 });
  });

  test('an empty body for a method with required params is 400 naming the field', async () => {
    const s = await startTestServer();
    expect(await restRejected(s, 'lease.grant', '', 400)).toEqual(paramsError('agent'));
  });
});

describe('POST /rpc/<method>: errors with fitting statuses', () => {
  test('bad params: 400 with {error: {code: -32602, data: {code: INVALID_PARAMS, field}}}, nothing written', async () => {
    const s = await startTestServer();
    expect(await restRejected(s, 'lease.grant', { agent: 'a', ttl_ms: 10 }, 400)).toEqual(paramsError('ttl_ms'));
    expect(await restRejected(s, 'lease.grant', { agent: 'a', ttl_ms: '10000' }, 400)).toEqual(paramsError('ttl_ms'));
    expect(await restRejected(s, 'lease.grant', { ttl_ms: 10_000 }, 400)).toEqual(paramsError('agent'));
    expect(await restRejected(s, 'lease.grant', { agent: 'a', extra: true }, 400)).toEqual(paramsError('extra'));
  });

  test('a body that is not an object of named params: 400 naming params, nothing written', async () => {
    const s = await startTestServer();
    expect(await restRejected(s, 'lease.grant', ['a'], 400)).toEqual(paramsError('params'));
    expect(await restRejected(s, 'lease.grant', '"a"', 400)).toEqual(paramsError('params'));
    expect(await restRejected(s, 'lease.grant', '42', 400)).toEqual(paramsError('params'));
  });

  test('lease.renew with an unknown lease: 403 LEASE_INVALID {reason: unknown}, nothing written', async () => {
    const s = await startTestServer();
    await s.call('lease.grant', { agent: 'someone' });
    expect(await restRejected(s, 'lease.renew', { lease: 'dcl_not-a-lease' }, 403)).toEqual({
      code: 1001,
      message: expect.any(String),
      data: { code: 'LEASE_INVALID', reason: 'unknown' },
    });
  });

  test('lease.renew of a revoked or expired lease: 403 LEASE_INVALID with the reason, and it is not revived', async () => {
    const s = await startTestServer();
    const revoked = await s.call('lease.grant', { agent: 'r' });
    await s.call('lease.revoke', { lease: revoked.lease });
    expect(await restRejected(s, 'lease.renew', { lease: revoked.lease }, 403)).toEqual({
      code: 1001,
      message: expect.any(String),
      data: { code: 'LEASE_INVALID', reason: 'revoked', lease_id: revoked.lease_id },
    });
    const expiring = await s.call('lease.grant', { agent: 'e', ttl_ms: 1_000 });
    s.clock.advance(1_001);
    const err = (await rest(s, 'lease.renew', { lease: expiring.lease })).json.error;
    expect(err).toEqual({ code: 1001, message: expect.any(String), data: { code: 'LEASE_INVALID', reason: 'expired', lease_id: expiring.lease_id } });
    expect((await s.call('lease.list')).leases).toEqual(
      expect.arrayContaining([expect.objectContaining({ lease_id: expiring.lease_id, state: 'expired' })]),
    );
  });

  test('lease.revoke with an unknown lease: 403 LEASE_INVALID, nothing written', async () => {
    const s = await startTestServer();
    expect(await restRejected(s, 'lease.revoke', { lease: 'dcl_nope' }, 403)).toEqual({
      code: 1001,
      message: expect.any(String),
      data: { code: 'LEASE_INVALID', reason: 'unknown' },
    });
  });

  test('unknown method: 404 with {error: {code: -32601, data: {code: METHOD_NOT_FOUND, method}}}', async () => {
    const s = await startTestServer();
    expect(await restRejected(s, 'lease.steal', { agent: 'a' }, 404)).toEqual({
      code: -32601,
      message: expect.stringContaining('lease.steal'),
      data: { code: 'METHOD_NOT_FOUND', method: 'lease.steal' },
    });
    expect(await restRejected(s, 'toString', {}, 404)).toEqual({
      code: -32601,
      message: expect.any(String),
      data: { code: 'METHOD_NOT_FOUND', method: 'toString' },
    });
  });

  test('malformed JSON: 400 with {error: {code: -32700, data: {code: PARSE_ERROR}}}, nothing written', async () => {
    const s = await startTestServer();
    expect(await restRejected(s, 'lease.grant', '{"agent": "a",', 400)).toEqual({
      code: -32700,
      message: expect.any(String),
      data: { code: 'PARSE_ERROR' },
    });
    expect(await restRejected(s, 'lease.grant', "{'agent': 'a'}", 400)).toEqual({
      code: -32700,
      message: expect.any(String),
      data: { code: 'PARSE_ERROR' },
    });
  });

  test('GET on a method path is not a route: 404', async () => {
    const s = await startTestServer();
    const r = await rawRequest(s.url, { method: 'GET', path: '/rpc/lease.list', headers: goodHeaders(s.url, s.token) });
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: { code: 404, message: expect.any(String), data: { code: 'NOT_FOUND' } } });
  });
});

describe('POST /rpc/<method>: idempotency', () => {
  test('the same idempotency_key twice: the first result again (lease_id, secret, receipt) and one event', async () => {
    const s = await startTestServer();
    const params = { agent: 'ci', idempotency_key: 'rest-key-1' };
    const first = await rest(s, 'lease.grant', params);
    expect(first.status).toBe(200);
    const afterFirst = await writtenState(s.call);
    s.clock.advance(3_000);
    const second = await rest(s, 'lease.grant', params);
    expect(second.status).toBe(200);
    expect(second.json).toEqual(first.json);
    expect(second.json.lease).toBe(first.json.lease);
    expect(second.json.receipt).toEqual(first.json.receipt);
    expect(await writtenState(s.call)).toEqual(afterFirst);
    expect(afterFirst.count).toBe(1);
  });

  test('a key first used on POST /rpc replays on POST /rpc/<method> too', async () => {
    const s = await startTestServer();
    const viaRpc = await s.call('lease.grant', { agent: 'x', idempotency_key: 'cross' });
    const viaRest = await rest(s, 'lease.grant', { agent: 'x', idempotency_key: 'cross' });
    expect(viaRest.status).toBe(200);
    expect(viaRest.json).toEqual(viaRpc);
    expect((await writtenState(s.call)).count).toBe(1);
  });

  test('the same key with different params: 400 naming idempotency_key, nothing written', async () => {
    const s = await startTestServer();
    await rest(s, 'lease.grant', { agent: 'a', idempotency_key: 'k' });
    expect(await restRejected(s, 'lease.grant', { agent: 'a', ttl_ms: 9_000, idempotency_key: 'k' }, 400)).toEqual(paramsError('idempotency_key'));
  });
});
