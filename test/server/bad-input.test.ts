import { expect, test } from 'vitest';
import type { TSchema } from '@sinclair/typebox';
import { METHODS } from '../../src/methods/table.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

// docs/design.md §6: params are validated against the method's schema before any handler runs; a bad one
// gets -32602 naming the field and changes nothing. Driven by the method table, so every method
// (including those added later) is covered.

const WRONG: Record<string, unknown> = { string: 12345, integer: 'not a number', number: 'nan', boolean: 'yes', array: 'not a list', object: 7 };

function wrongValueFor(schema: TSchema): unknown {
  const type = (schema as { type?: string }).type;
  if (type && type in WRONG) return WRONG[type];
  return { unexpected: ['shape'] }; // unions and literals: an object fits none of ours
}

async function head(s: TestServer) {
  const v = await s.call('audit.verify');
  return `${v.count}:${v.head}`;
}

async function baseline(s: TestServer, name: string, lease: string): Promise<Record<string, unknown>> {
  const ex = METHODS.get(name)!.examples[0]?.params ?? {};
  return JSON.parse(JSON.stringify(ex).replaceAll('dcl_…', lease));
}

test('every method refuses wrong types, missing and unknown fields, naming the field, and writes nothing', async () => {
  const s = await startTestServer();
  const lease = (await s.call('lease.grant', { agent: 'fuzzer' })).lease;
  let cases = 0;
  for (const [name, m] of METHODS) {
    if (name === 'server.shutdown') continue;
    const base = await baseline(s, name, lease);
    const props = m.params.properties as Record<string, TSchema>;
    const before = await head(s);
    const attempts: [string, Record<string, unknown>, string][] = [[name, { ...base, zz_unknown: 1 }, 'zz_unknown']];
    for (const field of m.params.required ?? []) {
      const { [field]: _gone, ...rest } = base;
      attempts.push([name, rest, field]);
    }
    for (const [field, schema] of Object.entries(props)) {
      attempts.push([name, { ...base, [field]: wrongValueFor(schema) }, field]);
      const maxItems = (schema as { maxItems?: number }).maxItems;
      if (maxItems !== undefined) attempts.push([name, { ...base, [field]: Array.from({ length: maxItems + 1 }, (_, i) => `x${i}`) }, field]);
    }
    for (const [method, params, field] of attempts) {
      const r = await s.rpc(method, params);
      expect(r.error, `${method} ${JSON.stringify(params).slice(0, 120)}`).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', field } });
      cases++;
    }
    expect(await head(s), `${name} wrote something on a refused call`).toBe(before);
  }
  expect(cases).toBeGreaterThan(100);
});

test('paths escaping the root are refused for every method that takes paths, naming the item', async () => {
  const s = await startTestServer();
  const lease = (await s.call('lease.grant', { agent: 'fuzzer' })).lease;
  const before = await head(s);
  const evil = ['../outside', 'a/../../b', '/etc/passwd', 'x\u0000y', '', 'a\\..\\b'];
  let cases = 0;
  for (const [name, m] of METHODS) {
    if (!('paths' in m.params.properties)) continue;
    const base = await baseline(s, name, lease);
    for (const bad of evil) {
      const r = await s.rpc(name, { ...base, paths: ['ok/file.ts', bad] });
      expect(r.error, `${name} ${JSON.stringify(bad)}`).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', field: expect.stringMatching(/^paths(\.1)?$/) } });
      cases++;
    }
  }
  expect(cases).toBeGreaterThanOrEqual(3 * evil.length);
  expect(await head(s)).toBe(before);
});
