// Shared by the hostile-input and security tests (issue 7): bounded requests, the invariants every
// fuzz case must keep, seeded case generation that collects violations instead of stopping at the
// first, and the per-file run summary in the records folder (test/helpers/records.ts).
import { connect } from 'node:net';
import { basename } from 'node:path';
import fc from 'fast-check';
import { writeRecord } from '../helpers/records.js';
import type { TestServer } from '../helpers/test-server.js';

/** Every request gets this client-side bound: a bound on "answers at all", not a timing assertion. */
export const CLIENT_TIMEOUT_MS = 10_000;

/** One seed for every generator of a run; DECAPOD_FUZZ_SEED=<n> replays another run. */
export const SEED = Number(process.env.DECAPOD_FUZZ_SEED ?? 20_260_007);
/** DECAPOD_FUZZ_SCALE=4 runs four times as many cases per category (a longer local run). */
export const SCALE = Number(process.env.DECAPOD_FUZZ_SCALE ?? 1);
export const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

// ---------------------------------------------------------------------------------------------
// Bounded HTTP
// ---------------------------------------------------------------------------------------------

export interface Answer {
  status: number;
  text: string;
  json: any;
  headers: Headers;
}

/** fetch with the client bound; never throws for an HTTP status, only for no answer at all. */
export async function send(
  s: TestServer,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array; timeoutMs?: number } = {},
): Promise<Answer> {
  const res = await fetch(`${s.url}${path}`, {
    method: init.method ?? 'POST',
    headers: init.headers ?? { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
    body: init.body as BodyInit | undefined,
    signal: AbortSignal.timeout(init.timeoutMs ?? CLIENT_TIMEOUT_MS),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** A bounded call that must succeed. */
export async function ok(s: TestServer, method: string, params: unknown = {}): Promise<any> {
  const r = await send(s, `/rpc/${method}`, { body: JSON.stringify(params) });
  if (r.status !== 200) throw new Error(`${method} failed: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

/**
 * The audit head as stored: how many events and the hash of the last one. Read from the events
 * themselves (not audit.verify's "last good event"), so it moves with every write even when the
 * chain no longer verifies.
 */
export async function auditHead(s: TestServer): Promise<string> {
  const status = await ok(s, 'server.status');
  const n = status.counts.events as number;
  if (n === 0) return '0:-';
  const { events } = await ok(s, 'audit.list', { since: n - 1, limit: 1 });
  return `${n}:${events[0]?.hash}`;
}

/** The server still answers /healthz and a normal authenticated call, each within the bound. */
export async function expectAlive(s: TestServer): Promise<void> {
  await healthy(s);
  await ok(s, 'server.status');
}

async function healthy(s: TestServer): Promise<void> {
  const h = await send(s, '/healthz', { method: 'GET', headers: {} });
  check(h.status === 200 && h.json?.ok === true, `GET /healthz answered ${h.status}`);
}

/**
 * Events the server writes by itself while a test runs (the once-a-second sweep: expiry, and
 * leases whose `pid` is not a live process), which no call of the test caused.
 */
function isHousekeeping(e: { type: string; data: Record<string, unknown> | null }): boolean {
  const reason = String(e.data?.reason ?? '');
  return (
    e.type === 'lease.expired' ||
    e.type === 'claim.expired' ||
    (e.type === 'lease.revoked' && /^process \d+ is gone$/.test(reason)) ||
    (e.type === 'claim.released' && reason === 'lease revoked')
  );
}

/**
 * After one case: the audit head now (read with normal calls, so it doubles as "still answers a
 * normal call"), /healthz answers, and when the call was refused, nothing was written since
 * `before` except the server's own housekeeping.
 */
export async function settle(s: TestServer, before: string, refused: boolean): Promise<string> {
  const after = await auditHead(s);
  if (refused && after !== before) {
    const since = Number(before.split(':')[0]);
    const { events } = await ok(s, 'audit.list', { since, limit: 1000 });
    const caused = events.filter((e: any) => !isHousekeeping(e));
    check(caused.length === 0, `a refused call wrote ${caused.map((e: any) => e.type).join(', ')} (audit head ${before} → ${after})`);
  }
  await healthy(s);
  return after;
}

/** Did any answer carry a receipt (an audited mutation that was applied)? */
export function anyReceipt(answer: unknown): boolean {
  const items = Array.isArray(answer) ? answer : [answer];
  return items.some((a) => {
    if (!a || typeof a !== 'object') return false;
    const o = a as Record<string, any>;
    return (o.result && typeof o.result === 'object' && 'receipt' in o.result) || 'receipt' in o;
  });
}

// ---------------------------------------------------------------------------------------------
// Raw sockets (bounded), for bytes no HTTP client would send
// ---------------------------------------------------------------------------------------------

export interface RawExchange {
  /** what the server sent before the connection ended */
  received: string;
  /** the server closed (or reset) the connection */
  closed: boolean;
  /** ms from connect to close, or to the bound */
  elapsedMs: number;
  error?: string;
}

/**
 * Writes `chunks` (with `gapMs` between them) to 127.0.0.1:port and waits until the server closes
 * the connection or `boundMs` passes (then the client closes it). Half-closes after the last chunk
 * only when `end` is true.
 */
export function rawExchange(
  port: number,
  chunks: Array<string | Buffer>,
  opts: { gapMs?: number; boundMs?: number; end?: boolean; untilResponse?: boolean } = {},
): Promise<RawExchange> {
  const bound = opts.boundMs ?? CLIENT_TIMEOUT_MS;
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = connect(port, '127.0.0.1');
    let received = '';
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let drip: NodeJS.Timeout | undefined;
    const finish = (closed: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(drip);
      sock.destroy();
      resolve({ received, closed, elapsedMs: Date.now() - started, ...(error ? { error } : {}) });
    };
    timer = setTimeout(() => finish(false), bound);
    sock.on('data', (d) => {
      received += d.toString('latin1');
      // A complete HTTP answer is enough when the caller only needs one (keep-alive would idle).
      if (opts.untilResponse && /\r\n\r\n/.test(received)) {
        const m = /content-length:\s*(\d+)/i.exec(received);
        const head = received.indexOf('\r\n\r\n') + 4;
        if (!m || received.length - head >= Number(m[1])) finish(true);
      }
    });
    sock.on('close', () => finish(true));
    sock.on('error', (err) => finish(true, (err as NodeJS.ErrnoException).code ?? err.message));
    sock.on('connect', () => {
      let i = 0;
      const next = () => {
        if (done) return;
        if (i < chunks.length) {
          sock.write(chunks[i++]!);
          if (opts.gapMs) drip = setTimeout(next, opts.gapMs);
          else next();
        } else if (opts.end) sock.end();
      };
      next();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// JSON text with numbers JSON.stringify cannot write (1e309, -0, 2^53+1 as typed)
// ---------------------------------------------------------------------------------------------

/** A JSON fragment written verbatim into the body. */
export class Raw {
  constructor(readonly text: string) {}
  toString() {
    return this.text;
  }
}

/** JSON text of a value that may hold Raw fragments anywhere. */
export function jsonText(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}:${jsonText(x)}`)
      .join(',')}}`;
  }
  if (v === undefined) return 'null';
  return JSON.stringify(v);
}

/** What the server sees after parsing jsonText(v). */
export const parsedAs = (v: unknown): unknown => JSON.parse(jsonText(v));

export const HUGE_NUMBERS = ['1e309', '-1e309', '-0', '9007199254740993', '-9007199254740993', '1e-400', '1e300', '123456789012345678901234567890', '0.1e1', '1E3', '4.0'];

/** Strings that have broken parsers, loggers and stores before. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800', // lone high surrogate
  'x\udfffy', // lone low surrogate
  '\ud83e\udd9e', // a whole pair (🦞)
  '\u2028\u2029',
  '\ufeff',
  '\u202e',
  'e\u0301',
  '\u0085',
  '%00',
  '%2e%2e/%2e%2e',
  '../../etc/passwd',
  '__proto__',
  'constructor',
  'toString',
  '$(touch PWNED)',
  '`touch PWNED`',
  "'; DROP TABLE events; --",
  '{"jsonrpc":"2.0"}',
  '\r\nX-Injected: 1',
  'dcl_' + 'A'.repeat(43),
];

/** Any JSON-ish value, including the awkward ones, nested a little. */
export function weirdValue(): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...HUGE_NUMBERS.map((t) => new Raw(t))) },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    // any UTF-16 code unit, lone surrogates included ('binary' never makes half a pair)
    { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 12 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 3000 }) },
    { weight: 2, arbitrary: fc.integer({ min: -5, max: 700_000 }) },
    { weight: 1, arbitrary: fc.integer() },
    { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 2, arbitrary: fc.boolean() },
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom(new Raw('['.repeat(2000) + ']'.repeat(2000)), new Raw('{"a":'.repeat(2000) + '1' + '}'.repeat(2000))) },
  );
  return fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
    array: fc.array(tie('value'), { maxLength: 5 }),
    object: fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...NASTY_STRINGS)), tie('value'), { maxKeys: 5 }),
  })).value;
}

// ---------------------------------------------------------------------------------------------
// Seeded cases, collected violations, run summary
// ---------------------------------------------------------------------------------------------

export interface Violation {
  category: string;
  index: number;
  input: string;
  problem: string;
}

/** Counts per category, for the console and the JSON summary. */
export class RunLog {
  readonly counts: Record<string, number> = {};
  readonly violations: Violation[] = [];
  readonly started = Date.now();
  constructor(readonly file: string) {}

  count(category: string, n = 1): void {
    this.counts[category] = (this.counts[category] ?? 0) + n;
  }

  /**
   * Generates `n` cases from `arb` (or takes the first `n` of a fixed list) with the run's seed (salted by category, so categories do not
   * share a sequence) and runs `check` on each; a failed expectation is recorded with its input and
   * the run goes on. A thrown non-assertion error (no answer at all, a dead server) stops it.
   */
  async cases<T>(category: string, arb: fc.Arbitrary<T> | readonly T[], n: number, check: (c: T, i: number) => Promise<void>, show: (c: T) => string = preview): Promise<void> {
    const salt = [...category].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) | 0, 7);
    // A fixed list is run as it is; an arbitrary is sampled with the run's seed.
    const samples = Array.isArray(arb) ? arb.slice(0, n) : fc.sample(arb as fc.Arbitrary<T>, { seed: SEED ^ salt, numRuns: n });
    for (const [i, c] of samples.entries()) {
      this.count(category);
      try {
        await check(c, i);
      } catch (err) {
        if (!isExpectation(err)) throw new Error(`${category} case ${i} (seed ${SEED}): ${(err as Error).message}\ninput: ${show(c)}`, { cause: err });
        this.violations.push({ category, index: i, input: show(c), problem: firstLine((err as Error).message) });
      }
    }
  }

  /** Runs one named check, recording a failed expectation as a violation of `category`. */
  async one(category: string, input: string, check: () => Promise<void>): Promise<void> {
    this.count(category);
    try {
      await check();
    } catch (err) {
      if (!isExpectation(err)) throw err;
      this.violations.push({ category, index: this.counts[category]! - 1, input, problem: firstLine((err as Error).message) });
    }
  }

  /** Violations of these categories, grouped so that one bug reads as one line. */
  report(categories: string[]): string {
    const mine = this.violations.filter((v) => categories.includes(v.category));
    const groups = new Map<string, Violation[]>();
    for (const v of mine) {
      const key = `${v.category}: ${v.problem}`;
      groups.set(key, [...(groups.get(key) ?? []), v]);
    }
    return [...groups.entries()]
      .map(([key, vs]) => `${key}\n    ${vs.length} case(s), e.g. #${vs[0]!.index}: ${vs[0]!.input}`)
      .join('\n');
  }

  /** Prints the counts and writes test/security/.last-run/<file>.json. */
  write(extra: Record<string, unknown> = {}): void {
    const summary = {
      file: this.file,
      seed: SEED,
      scale: SCALE,
      finished_at: new Date().toISOString(),
      duration_ms: Date.now() - this.started,
      // per category, then the same summed over "category: detail" names
      cases: this.counts,
      by_category: Object.entries(this.counts).reduce<Record<string, number>>((acc, [k, n]) => {
        const top = k.split(':')[0]!;
        acc[top] = (acc[top] ?? 0) + n;
        return acc;
      }, {}),
      total_cases: Object.values(this.counts).reduce((a, b) => a + b, 0),
      violations: this.violations.length,
      violation_summary: [...new Set(this.violations.map((v) => `${v.category}: ${v.problem}`))],
      ...extra,
    };
    console.info(`[security] ${this.file}: ${summary.total_cases} cases (seed ${SEED}) ${JSON.stringify(summary.by_category)}`);
    writeRecord('security', basename(this.file).replace(/\.test\.ts$/, ''), summary);
  }
}

function isExpectation(err: unknown): boolean {
  // vitest's expect throws AssertionError (chai); our own checks throw CheckFailed.
  const name = (err as { name?: string } | null)?.name;
  return name === 'AssertionError' || name === 'CheckFailed';
}

export class CheckFailed extends Error {
  override name = 'CheckFailed';
}

export function check(cond: unknown, problem: string): asserts cond {
  if (!cond) throw new CheckFailed(problem);
}

const firstLine = (s: string) => s.split('\n')[0]!.slice(0, 300);

export function preview(v: unknown, max = 240): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : v instanceof Uint8Array ? `bytes(${v.length}) ${Buffer.from(v).toString('hex').slice(0, 80)}` : jsonText(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}
