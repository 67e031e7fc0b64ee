import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { appendEvent, GENESIS_HASH, verifyChain } from '../../src/domain/audit-chain.js';
import type { Store } from '../../src/store/store.js';
import { tempDomain } from '../helpers/temp-store.js';

async function seeded(n: number) {
  const ctx = tempDomain();
  for (let i = 1; i <= n; i++) {
    await ctx.store.transaction((tx) => appendEvent(tx, { type: 'test.event', agent: `agent-${i % 3}`, subject: `s-${i}`, data: { i, note: `event ${i}` } }));
    ctx.clock.advance(7);
  }
  return ctx;
}

const verify = (ctx: { store: Store }) => ctx.store.snapshot((r) => verifyChain(r));
const headHash = (ctx: { store: Store }) => ctx.store.snapshot(async (r) => (await r.events.head()).hash);

/** What someone with the database file can do: drop the guard trigger, then rewrite history. */
function tamper(file: string, sql: string, ...args: unknown[]) {
  const db = new Database(file);
  db.exec('DROP TRIGGER IF EXISTS events_only_redact; DROP TRIGGER IF EXISTS events_no_delete;');
  db.prepare(sql).run(...args);
  db.close();
}

test('an untouched chain verifies, each event linking to the one before', async () => {
  const ctx = await seeded(5);
  const report = await verify(ctx);
  expect(report).toEqual({ ok: true, count: 5, head: await headHash(ctx), redacted: 0 });
  const events = await ctx.store.snapshot((r) => r.events.list({ limit: 10 }));
  expect(events[0]!.prev_hash).toBe(GENESIS_HASH);
  for (let i = 1; i < events.length; i++) expect(events[i]!.prev_hash).toBe(events[i - 1]!.hash);
});

const alterations: [string, string][] = [
  ['data', "UPDATE events SET data = '{\"i\":99}' WHERE seq = ?"],
  ['type', "UPDATE events SET type = 'forged' WHERE seq = ?"],
  ['agent', "UPDATE events SET agent = 'mallory' WHERE seq = ?"],
  ['subject', "UPDATE events SET subject = 'other' WHERE seq = ?"],
  ['at', 'UPDATE events SET at = at + 1 WHERE seq = ?'],
  ['data_digest', "UPDATE events SET data_digest = 'ab' || substr(data_digest, 3) WHERE seq = ?"],
  ['hash', "UPDATE events SET hash = 'cd' || substr(hash, 3) WHERE seq = ?"],
  ['prev_hash', "UPDATE events SET prev_hash = 'ef' || substr(prev_hash, 3) WHERE seq = ?"],
];

for (const [field, sql] of alterations) {
  for (const seq of [1, 3, 5]) {
    test(`altering ${field} of event ${seq} is reported at seq ${seq}`, async () => {
      const ctx = await seeded(5);
      tamper(ctx.file, sql, seq);
      const report = await verify(ctx);
      expect(report.ok).toBe(false);
      expect(report.first_bad_seq).toBe(seq);
      expect(report.problem).toEqual(expect.any(String));
    });
  }
}

test('a deleted event is reported where the gap is', async () => {
  const ctx = await seeded(5);
  tamper(ctx.file, 'DELETE FROM events WHERE seq = ?', 3);
  expect(await verify(ctx)).toMatchObject({ ok: false, first_bad_seq: 3, problem: 'event 3 is missing' });
});

test('an erased payload reads as redacted, not tampered', async () => {
  const ctx = await seeded(4);
  const db = new Database(ctx.file);
  db.prepare('UPDATE events SET data = NULL WHERE seq = 2').run(); // allowed by the trigger
  db.close();
  expect(await verify(ctx)).toEqual({ ok: true, count: 4, head: await headHash(ctx), redacted: 1 });
});

test('the store itself refuses to delete or rewrite events', async () => {
  const ctx = await seeded(2);
  const db = new Database(ctx.file);
  expect(() => db.prepare('DELETE FROM events WHERE seq = 1').run()).toThrow('events are append-only');
  expect(() => db.prepare("UPDATE events SET type = 'x' WHERE seq = 1").run()).toThrow('only data may be erased');
  db.close();
  expect((await verify(ctx)).ok).toBe(true);
});
