import { expect, test } from 'vitest';
import { BUSY_RETRIES, decide, replaySafe, withIdempotencyKey } from '../../clients/ts/src/retry-policy.js';
import { ERROR_CODES } from '../../clients/ts/src/generated/errors.js';
import { ERRORS } from '../../src/errors.js';

// The one retry policy of the client and the CLI (clients/ts/README.md "Retries"), case by case.
const fresh = { reconnected: false, busy: 0 };
const reconnect = { action: 'reconnect', waitForExit: false };
const fail = { action: 'fail' };

test('the client reads its codes from the generated table: the server’s', () => {
  expect(ERROR_CODES).toEqual(Object.fromEntries(Object.entries(ERRORS).map(([n, e]) => [n, e.code])));
});

test('audited mutations get a key; queries and renewals do not', () => {
  expect(withIdempotencyKey('task.create', {}).idempotency_key).toEqual(expect.any(String));
  expect(withIdempotencyKey('task.create', { idempotency_key: 'mine' }).idempotency_key).toBe('mine');
  expect(withIdempotencyKey('task.list', {})).toEqual({});
  expect(withIdempotencyKey('lease.renew', { lease: 'x' })).toEqual({ lease: 'x' });
  expect(replaySafe('task.list', {})).toBe(true);
  expect(replaySafe('lease.renew', { lease: 'x' })).toBe(false);
  expect(replaySafe('no.such', {})).toBe(false);
});

test('refused, 401 and SHUTTING_DOWN reconnect once for any method; a lost answer only when a repeat is safe', () => {
  for (const method of ['task.list', 'lease.renew', 'no.such']) {
    expect(decide(method, {}, { kind: 'transport', undelivered: true }, fresh)).toEqual(reconnect);
    expect(decide(method, {}, { kind: 'unauthorized' }, fresh)).toEqual(reconnect);
    expect(decide(method, {}, { kind: 'rpc', code: ERRORS.SHUTTING_DOWN.code }, fresh)).toEqual({ action: 'reconnect', waitForExit: true });
    expect(decide(method, {}, { kind: 'transport', undelivered: true }, { reconnected: true, busy: 0 })).toEqual(fail);
  }
  const lost = { kind: 'transport', undelivered: false } as const;
  expect(decide('task.list', {}, lost, fresh)).toEqual(reconnect);
  expect(decide('task.create', { idempotency_key: 'k' }, lost, fresh)).toEqual(reconnect);
  expect(decide('lease.renew', { lease: 'x' }, lost, fresh)).toEqual(fail);
  expect(decide('no.such', {}, lost, fresh)).toEqual(fail);
  expect(decide('server.shutdown', {}, { kind: 'transport', undelivered: true }, fresh)).toEqual(fail);
});

test('BUSY waits its retry_after_ms (bounded) a bounded number of times; other errors are thrown', () => {
  const busy = (ms: unknown) => ({ kind: 'rpc', code: ERRORS.BUSY.code, data: { retry_after_ms: ms } }) as const;
  expect(decide('task.create', {}, busy(50), fresh)).toEqual({ action: 'pause', ms: 50 });
  expect(decide('task.create', {}, busy(60_000), fresh)).toEqual({ action: 'pause', ms: 2_000 });
  expect(decide('task.create', {}, busy(0), fresh)).toEqual({ action: 'pause', ms: 10 });
  expect(decide('task.create', {}, busy(50), { reconnected: true, busy: BUSY_RETRIES - 1 })).toEqual({ action: 'pause', ms: 50 });
  expect(decide('task.create', {}, busy(50), { reconnected: false, busy: BUSY_RETRIES })).toEqual(fail);
  for (const name of ['CONFLICT', 'UNAVAILABLE', 'INTERNAL_ERROR', 'LEASE_INVALID'] as const) {
    expect(decide('task.create', { idempotency_key: 'k' }, { kind: 'rpc', code: ERRORS[name].code }, fresh), name).toEqual(fail);
  }
});
