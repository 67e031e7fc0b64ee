import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import fc from 'fast-check';
import { afterAll, expect, test } from 'vitest';
import type { TSchema } from '@sinclair/typebox';
import { METHODS } from '../../src/methods/table.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import {
  anyReceipt,
  auditHead,
  check,
  CLIENT_TIMEOUT_MS,
  expectAlive,
  HUGE_NUMBERS,
  jsonText,
  NASTY_STRINGS,
  ok,
  parsedAs,
  preview,
  Raw,
  RunLog,
  runs,
  send,
  settle,
  weirdValue,
  type Answer,
} from './support.js';

// Issue 7, hostile input on the JSON-RPC surface (docs/design.md §3, §6): random envelopes and batches,
// wrong types in every param of every method (the METHODS table, so new methods are covered or the
// test says which baseline is missing), values that must round-trip through hashing and storage,
// and batch bombs. Invariants as in fuzz-http: no -32603, nothing written by a refused call, alive.

const log = new RunLog('fuzz-jsonrpc.test.ts');
const timings: Record<string, number> = {};
afterAll(() => log.write({ batch_timings_ms: timings }));

const SAFE_METHODS = [...METHODS.keys()].filter((m) => m !== 'server.shutdown');
const ajv = new Ajv({ allErrors: false, strict: false, validateFormats: false });

const GATES = { test: { command: 'true' }, review: { command: 'true', attest: 'any' } };

interface Fixture {
  lease: string;
  victim: string;
  fence: number;
  claimId: string;
  proof: string;
}

/** A holder of T1 (paths src/, plan: review) with one proof; T2 open; a second lease to revoke. */
async function fixture(s: TestServer): Promise<Fixture> {
  mkdirSync(join(s.root, '.decapod'), { recursive: true });
  writeFileSync(join(s.root, '.decapod', 'config.json'), JSON.stringify({ gates: GATES }));
  mkdirSync(join(s.root, 'src'));
  writeFileSync(join(s.root, 'src', 'a.ts'), 'export {}\n');
  const lease = (await ok(s, 'lease.grant', { agent: 'fuzzer', ttl_ms: 86_400_000 })).lease;
  const victim = (await ok(s, 'lease.grant', { agent: 'victim', ttl_ms: 86_400_000 })).lease;
  await ok(s, 'task.create', { title: 'one', paths: ['src'], gates: ['review'] });
  await ok(s, 'task.create', { title: 'two' });
  const { claim } = await ok(s, 'task.claim', { lease, task: 'T1' });
  const { proof } = await ok(s, 'proof.record', { lease, task: 'T1', gate: 'review', fence: claim.fence, passed: true, output: 'ok' });
  return { lease, victim, fence: claim.fence, claimId: claim.id, proof: proof.id };
}

/** A valid params object for every method, against the fixture. */
function baselines(f: Fixture): Record<string, Record<string, unknown>> {
  const { lease, victim, fence, claimId, proof } = f;
  return {
    'rpc.discover': {},
    'server.status': {},
    'lease.grant': { agent: 'a' },
    'lease.renew': { lease },
    'lease.revoke': { lease: victim },
    'lease.list': {},
    'task.create': { title: 't' },
    'task.get': { task: 'T1' },
    'task.list': {},
    'task.update': { lease, task: 'T1', title: 'renamed' },
    'task.claim': { lease, task: 'T2' },
    'task.complete': { lease, task: 'T1', fence },
    'task.cancel': { lease, task: 'T2', reason: 'r' },
    'task.reopen': { lease, task: 'T2', reason: 'r' },
    'claim.acquire': { lease, paths: ['docs'] },
    'claim.renew': { lease, claim: claimId },
    'claim.release': { lease, claim: claimId, fence },
    'claim.list': {},
    'claim.check': { paths: ['src'] },
    'claim.validate': { claim: claimId, fence },
    'gate.list': {},
    'proof.run': { lease, task: 'T1', gate: 'test', fence },
    'proof.record': { lease, task: 'T1', gate: 'review', fence, passed: true },
    'proof.list': { task: 'T1' },
    'proof.get': { proof },
    'proof.verify': { proof },
    'audit.list': {},
    'audit.verify': {},
    'audit.replay': {},
    'audit.checkpoint': {},
  };
}

/** JSON has no Infinity: a number that overflowed while parsing is not a valid value of any field. */
function allFinite(v: unknown): boolean {
  const stack = [v];
  while (stack.length) {
    const x = stack.pop();
    if (typeof x === 'number' && !Number.isFinite(x)) return false;
    if (x && typeof x === 'object') stack.push(...Object.values(x));
  }
  return true;
}

const errorOf = (r: Answer): any => (Array.isArray(r.json) ? undefined : r.json?.error);

/** One call on either surface; `viaRpc` wraps the params text in an envelope. */
async function callText(s: TestServer, method: string, paramsText: string, viaRpc: boolean, id = 1): Promise<{ r: Answer; error: any; result: any }> {
  if (viaRpc) {
    const r = await send(s, '/rpc', { body: `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"params":${paramsText}}` });
    check(r.status === 200, `POST /rpc answered HTTP ${r.status}`);
    return { r, error: r.json?.error, result: r.json?.result };
  }
  const r = await send(s, `/rpc/${method}`, { body: paramsText });
  return { r, error: errorOf(r), result: r.status === 200 ? r.json : undefined };
}

test('wrong types in every param of every method: -32602 naming the field when invalid, never -32603, nothing written when refused', async () => {
  const s = await startTestServer();
  const f = await fixture(s);
  const base = baselines(f);
  const missing = SAFE_METHODS.filter((m) => !(m in base));
  expect(missing, 'methods without a baseline here: add one so their params are fuzzed').toEqual([]);

  const pairs: { method: string; field: string; validate: ValidateFunction; numberish: boolean }[] = [];
  for (const method of SAFE_METHODS) {
    const def = METHODS.get(method)!;
    expect(ajv.validate(def.params, base[method]), `baseline of ${method}: ${ajv.errorsText()}`).toBe(true);
    for (const [field, schema] of Object.entries(def.params.properties as Record<string, TSchema>)) {
      const type = (schema as { type?: string }).type;
      pairs.push({ method, field, validate: ajv.compile(schema), numberish: type === 'integer' || type === 'number' });
    }
  }
  const perPair = runs(6);
  let head = await auditHead(s);
  let n = 0;
  // Every pair gets the same awkward values for sure, then random ones from the seeded generator.
  const numeric: unknown[] = [...HUGE_NUMBERS.map((t) => new Raw(t)), null, 'x', true];
  const other: unknown[] = [new Raw('1e309'), null, [], {}, true, '', 'x\ud800', '\u0000', [null], [new Raw('1e309')], { k: new Raw('-1e309') }];
  for (const { method, field, validate, numberish } of pairs) {
    const specials = numberish ? numeric : other;
    for (const [category, arb, count] of [
      [`wrong types: ${method}`, weirdValue(), perPair],
      [`wrong types (fixed awkward values): ${method}`, specials, specials.length],
    ] as const) await log.cases(
      category,
      arb as fc.Arbitrary<unknown> | unknown[],
      count,
      async (value) => {
        const params = { ...base[method], [field]: value };
        const seen = (parsedAs(params) as Record<string, unknown>)[field];
        const valid = validate(seen) && allFinite(seen);
        const { r, error } = await callText(s, method, jsonText(params), n++ % 2 === 0, n);
        check(r.status < 500 && error?.code !== -32603, `${method}.${field}: internal error for ${preview(value, 80)}: HTTP ${r.status} ${r.text.slice(0, 160)}`);
        if (!valid) {
          check(error?.code === -32602, `${method}.${field}: an invalid value was not refused with -32602 (got ${error ? error.code : 'a result'})`);
          const named = String(error.data?.field ?? '');
          check(named === field || named.startsWith(`${field}.`), `${method}.${field}: -32602 named ${JSON.stringify(named)}, not ${field}`);
        }
        head = await settle(s, head, Boolean(error));
      },
      (value) => `${method} ${field}=${preview(value, 160)}`,
    );
  }
  console.info(`[security] wrong types: ${pairs.length} (method, field) pairs × ${perPair} values`);
  const categories = SAFE_METHODS.flatMap((m) => [`wrong types: ${m}`, `wrong types (fixed awkward values): ${m}`]);
  expect(log.report(categories)).toBe('');
}, 120_000);

// ---------------------------------------------------------------------------------------------
// Random envelopes
// ---------------------------------------------------------------------------------------------

const ABSENT = Symbol('absent');
type Maybe<T> = T | typeof ABSENT;

function envelope() {
  const member = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 1, arbitrary: fc.constant(ABSENT as Maybe<T>) }, { weight: 4, arbitrary: arb as fc.Arbitrary<Maybe<T>> });
  return fc
    .record({
      jsonrpc: member(fc.oneof({ weight: 4, arbitrary: fc.constant<unknown>('2.0') }, { weight: 1, arbitrary: weirdValue() })),
      id: member(fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.constant(null), weirdValue())),
      method: member(
        fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom<unknown>(...SAFE_METHODS) },
          { weight: 1, arbitrary: fc.constantFrom<unknown>('Lease.grant', 'lease.grant\u0000', 'server.shutdown ', 'rpc.', 'test.advance_clock', '__proto__', 'constructor', 'hasOwnProperty') },
          { weight: 1, arbitrary: weirdValue() },
        ),
      ),
      params: member(fc.oneof(weirdValue(), fc.dictionary(fc.oneof(fc.constantFrom('agent', 'lease', 'paths', 'task', 'title', 'fence', 'since', 'limit'), fc.string({ maxLength: 6 })), weirdValue(), { maxKeys: 4 }))),
      extra: fc.option(fc.dictionary(fc.constantFrom('result', 'error', 'extra', '__proto__', 'params2'), weirdValue(), { minKeys: 1, maxKeys: 2 }), { nil: undefined }),
    })
    .map(({ extra, ...m }) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(m)) if (v !== ABSENT) o[k] = v;
      return { ...o, ...(extra ?? {}) };
    });
}

/** Per JSON-RPC 2.0: is this (parsed) item a well-formed request, and is it a notification? */
function classify(item: unknown): { valid: boolean; notification: boolean; id?: unknown } {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return { valid: false, notification: false };
  const r = item as Record<string, unknown>;
  const idOk = !('id' in r) || r.id === null || typeof r.id === 'string' || (typeof r.id === 'number' && Number.isFinite(r.id));
  const valid =
    idOk &&
    r.jsonrpc === '2.0' &&
    typeof r.method === 'string' &&
    !('result' in r) &&
    !('error' in r) &&
    (!('params' in r) || (typeof r.params === 'object' && r.params !== null));
  return { valid, notification: valid && !('id' in r), id: r.id };
}

test('random JSON-RPC envelopes and batches: well-formed answers, ids echoed, never -32603, nothing written when refused', async () => {
  const s = await startTestServer();
  await fixture(s);
  const body = fc.oneof(
    { weight: 3, arbitrary: envelope() },
    { weight: 2, arbitrary: fc.array(fc.oneof({ weight: 4, arbitrary: envelope() }, { weight: 1, arbitrary: weirdValue() }), { minLength: 1, maxLength: 6 }) },
    { weight: 1, arbitrary: weirdValue() },
  );
  let head = await auditHead(s);
  await log.cases(
    'random envelopes',
    body,
    runs(300),
    async (b) => {
      const text = jsonText(b);
      const parsed = JSON.parse(text);
      const r = await send(s, '/rpc', { body: text });
      const items: unknown[] = Array.isArray(parsed) ? parsed : [parsed];
      const kinds = items.map(classify);
      const expected = Array.isArray(parsed) && parsed.length === 0 ? 1 : kinds.filter((k) => !k.notification).length;
      if (expected === 0) {
        check(r.status === 200 && r.text === '', `notifications only: expected 200 and no body, got ${r.status} ${r.text.slice(0, 80)}`);
      } else {
        check(r.status === 200, `HTTP ${r.status}`);
        const answers: any[] = Array.isArray(r.json) ? r.json : [r.json];
        const isBatch = Array.isArray(parsed) && parsed.length > 0;
        check(Array.isArray(r.json) === isBatch, `a ${isBatch ? 'batch' : 'single request'} was answered with ${Array.isArray(r.json) ? 'an array' : 'one object'}`);
        check(answers.length === expected, `${answers.length} answers for ${expected} non-notification items`);
        for (const a of answers) {
          check(a && a.jsonrpc === '2.0', `an answer without jsonrpc "2.0": ${preview(a, 100)}`);
          check(('result' in a) !== ('error' in a), 'an answer must carry exactly one of result and error');
          check(a.id === null || typeof a.id === 'string' || Number.isFinite(a.id), `an answer id ${preview(a.id, 40)}`);
          if (a.error) {
            check(a.error.code !== -32603, `internal error: ${preview(a.error, 160)}`);
            check(typeof a.error.message === 'string' && typeof a.error.data?.code === 'string', `an error without message or data.code: ${preview(a.error, 120)}`);
          }
        }
        // Ids of well-formed requests come back, in order.
        const withId = kinds.filter((k) => k.valid && !k.notification);
        const echoed = answers.filter((_, i) => kinds.filter((k) => !k.notification)[i]?.valid);
        check(
          withId.every((k, i) => Object.is(echoed[i]?.id, k.id === -0 ? 0 : k.id)),
          `ids not echoed: sent ${preview(withId.map((k) => k.id), 80)}, got ${preview(echoed.map((a) => a?.id), 80)}`,
        );
      }
      const silentMutation = kinds.some((k, i) => k.notification && METHODS.get((items[i] as any).method)?.kind === 'mutation');
      head = await settle(s, head, !anyReceipt(r.json) && !silentMutation);
    },
    (b) => preview(b, 300),
  );
  expect(log.report(['random envelopes'])).toBe('');
});

// ---------------------------------------------------------------------------------------------
// What is accepted must round-trip: the chain verifies and replay rebuilds the same state
// ---------------------------------------------------------------------------------------------

async function chainHolds(s: TestServer): Promise<string | null> {
  const v = await ok(s, 'audit.verify');
  if (!v.ok) return `audit.verify: ${v.problem} at seq ${v.first_bad_seq}`;
  const r = await ok(s, 'audit.replay');
  if (!r.ok) return `audit.replay differs in ${r.first_difference?.table} (chain ok: ${r.chain?.ok})`;
  return null;
}

/** String-typed places of a method's params where a value could end up stored. */
function stringPlaces(method: string): { field: string; put(v: string): unknown }[] {
  const props = METHODS.get(method)!.params.properties as Record<string, any>;
  const out: { field: string; put(v: string): unknown }[] = [];
  for (const [field, schema] of Object.entries(props)) {
    if (schema.type === 'string') out.push({ field, put: (v) => v });
    else if (schema.type === 'array' && schema.items?.type === 'string') out.push({ field, put: (v) => [v] });
    else if (schema.type === 'object' && field === 'meta') {
      out.push({ field: 'meta (value)', put: (v) => ({ k: v }) });
      out.push({ field: 'meta (key)', put: (v) => ({ [v]: 1 }) });
    }
  }
  return out;
}

test('lone surrogates in any stored string are refused (-32602) or stored faithfully: audit.verify and audit.replay still hold', async () => {
  const SURROGATES = ['x\ud800', '\udfff'];
  const mutations = SAFE_METHODS.filter((m) => METHODS.get(m)!.kind === 'mutation');
  const broken: string[] = [];
  let s = await startTestServer();
  let f = await fixture(s);
  for (const method of mutations) {
    for (const place of stringPlaces(method)) {
      for (const bad of SURROGATES) {
        await log.one('lone surrogates', `${method} ${place.field}=${JSON.stringify(bad)}`, async () => {
          const params = { ...baselines(f)[method], [place.field.split(' ')[0]!]: place.put(bad) };
          const { r, error } = await callText(s, method, JSON.stringify(params), false);
          check(r.status < 500, `${method}.${place.field}: HTTP ${r.status}`);
          if (error) check(error.code !== -32603, `${method}.${place.field}: internal error`);
          const problem = await chainHolds(s);
          if (problem) {
            broken.push(`${method}.${place.field}`);
            // A fresh server for the rest: this one's log no longer verifies.
            s = await startTestServer();
            f = await fixture(s);
          }
          check(problem === null, `a lone surrogate was accepted and broke the log (${problem})`);
        });
      }
    }
  }
  if (broken.length) console.info(`[security] lone surrogates broke the log via: ${[...new Set(broken)].join(', ')}`);
  expect(log.report(['lone surrogates'])).toBe('');
}, 60_000);

test('random lease meta objects (any keys, order, nesting, numbers) round-trip: audit.verify and audit.replay still hold', async () => {
  let s = await startTestServer();
  let restarts = 0;
  const meta = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom(...NASTY_STRINGS)), weirdValue(), { maxKeys: 6 });
  await log.cases(
    'meta round-trip',
    meta,
    runs(60),
    async (m) => {
      const { r, error } = await callText(s, 'lease.grant', jsonText({ agent: 'meta', meta: m }), false);
      check(r.status < 500 && error?.code !== -32603, `internal error: ${r.text.slice(0, 120)}`);
      const problem = error ? null : await chainHolds(s);
      if (problem) {
        restarts++;
        s = await startTestServer(); // judge every case on a log that verified before it
      }
      check(problem === null, `an accepted meta broke the log (${problem})`);
    },
    (m) => preview(m, 200),
  );
  if (restarts) console.info(`[security] meta round-trip: ${restarts} accepted metas broke the log`);
  expect(log.report(['meta round-trip'])).toBe('');
}, 60_000);

// ---------------------------------------------------------------------------------------------
// Batch bombs
// ---------------------------------------------------------------------------------------------

test('batch bombs: 100 heavy valid calls are answered within the bound; 101 items, 200 000 items and nested batches run nothing', async () => {
  const s = await startTestServer();
  const f = await fixture(s);
  // Some weight: 40 leases each holding a claim on its own folder and a glob, 40 tasks.
  const HOLDERS = 40;
  const holders = await send(s, '/rpc', {
    body: JSON.stringify(Array.from({ length: HOLDERS }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'lease.grant', params: { agent: `h${i}`, ttl_ms: 86_400_000 } }))),
  });
  for (const [i, a] of holders.json.entries()) await ok(s, 'claim.acquire', { lease: a.result.lease, paths: [`pkg${i}/src`, `pkg${i}/**/*.test.ts`] });
  for (let i = 0; i < HOLDERS; i++) await ok(s, 'task.create', { title: `task ${i}`, labels: ['l'], paths: [`pkg${i}`] });

  const bomb = async (name: string, items: unknown[] | string, expectFn: (r: Answer, ms: number) => void, opts: { writes?: boolean } = {}) => {
    await log.one('batch bombs', name, async () => {
      const before = await auditHead(s);
      const started = Date.now();
      // The server answers others while (or right after) it works through the batch.
      const [r, health] = await Promise.all([
        send(s, '/rpc', { body: typeof items === 'string' ? items : JSON.stringify(items) }),
        (async () => {
          await new Promise((res) => setTimeout(res, 5));
          return send(s, '/healthz', { method: 'GET', headers: {} });
        })(),
      ]);
      const ms = Date.now() - started;
      timings[name] = ms;
      expect(health.status).toBe(200);
      expectFn(r, ms);
      if (!opts.writes) expect(await auditHead(s), 'the batch wrote something').toBe(before);
      await expectAlive(s);
    });
  };
  const req = (method: string, params: unknown, id: number | undefined = 1) => ({ jsonrpc: '2.0', ...(id === undefined ? {} : { id }), method, params });
  const allResults = (n: number) => (r: Answer, ms: number) => {
    expect(r.status).toBe(200);
    expect(r.json).toHaveLength(n);
    expect(r.json.filter((a: any) => a.error).map((a: any) => a.error)).toEqual([]);
    expect(ms).toBeLessThan(CLIENT_TIMEOUT_MS);
  };
  const globs = Array.from({ length: 256 }, (_, i) => `pkg${i % HOLDERS}/**/{a,b,c}*${i}.[jt]s`);

  await bomb('100 × audit.replay', Array.from({ length: 100 }, (_, i) => req('audit.replay', {}, i)), allResults(100));
  await bomb('100 × claim.check of 256 globs against 80 held patterns', Array.from({ length: 100 }, (_, i) => req('claim.check', { paths: globs }, i)), allResults(100));
  await bomb('100 × task.list limit 500', Array.from({ length: 100 }, (_, i) => req('task.list', { limit: 500 }, i)), allResults(100));
  await bomb('100 × audit.list limit 1000', Array.from({ length: 100 }, (_, i) => req('audit.list', { limit: 1000 }, i)), allResults(100));
  await bomb('100 × rpc.discover', Array.from({ length: 100 }, (_, i) => req('rpc.discover', {}, i)), allResults(100));
  await bomb('100 × lease.grant (valid mutations)', Array.from({ length: 100 }, (_, i) => req('lease.grant', { agent: `bulk${i}` }, i)), allResults(100), { writes: true });
  await bomb(
    '100 × claim.acquire waiting 2 s on held paths',
    Array.from({ length: 100 }, (_, i) => req('claim.acquire', { lease: f.lease, paths: [`pkg${i % HOLDERS}/src/x.ts`], wait_ms: 2_000 }, i)),
    (r) => {
      expect(r.json).toHaveLength(100);
      expect(new Set(r.json.map((a: any) => a.error?.data?.code))).toEqual(new Set(['CONFLICT']));
    },
  );
  await bomb('101 items: one -32600, none runs', Array.from({ length: 101 }, (_, i) => req('lease.grant', { agent: `over${i}` }, i)), (r) =>
    expect(r.json).toMatchObject({ error: { code: -32600, data: { max_batch: 100 } } }),
  );
  await bomb('101 notifications: one -32600, none runs', Array.from({ length: 101 }, (_, i) => req('lease.grant', { agent: `quiet${i}` }, undefined)), (r) =>
    expect(r.json).toMatchObject({ error: { code: -32600 } }),
  );
  await bomb(`200 000 items (${Math.round(400_000 / 1024)} KiB): one -32600`, `[${Array(200_000).fill('0').join(',')}]`, (r, ms) => {
    expect(r.json).toMatchObject({ error: { code: -32600 } });
    expect(ms).toBeLessThan(CLIENT_TIMEOUT_MS);
  });
  await bomb(
    '100 nested batches of 100 grants each: 100 × -32600, none runs',
    Array.from({ length: 100 }, (_, i) => Array.from({ length: 100 }, (_, j) => req('lease.grant', { agent: `n${i}.${j}` }, j))),
    (r) => {
      expect(r.json).toHaveLength(100);
      expect(new Set(r.json.map((a: any) => a.error?.code))).toEqual(new Set([-32600]));
    },
  );
  const deepish = '{"a":'.repeat(1_000) + '1' + '}'.repeat(1_000);
  await bomb(
    '100 items each with 1 000-deep params: 100 × -32602',
    `[${Array.from({ length: 100 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"lease.grant","params":{"agent":"d","meta":${deepish}}}`).join(',')}]`,
    (r) => expect(new Set(r.json.map((a: any) => a.error?.code))).toEqual(new Set([-32602])),
  );
  console.info(`[security] batch bombs (ms): ${JSON.stringify(timings)}`);
  expect(log.report(['batch bombs'])).toBe('');
}, 120_000);

