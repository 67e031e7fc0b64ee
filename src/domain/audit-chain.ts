import type { EventRow, Reader, Tx } from '../store/store.js';
import { canonicalJson, hashCanonical, sha256Hex } from '../util/hash.js';
import { iso } from '../util/clock.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface NewEvent {
  type: string;
  agent: string | null;
  subject: string | null;
  data: Record<string, unknown>;
}

export interface PublicEvent {
  seq: number;
  at: string;
  type: string;
  agent: string | null;
  subject: string | null;
  /** null when the payload was erased (redacted) */
  data: Record<string, unknown> | null;
  prev_hash: string;
  hash: string;
}

// The chain covers the payload's digest, not the payload (docs/design.md §4): erasing data stays verifiable.
function eventHash(e: Omit<EventRow, 'data' | 'hash'>): string {
  return hashCanonical({
    seq: e.seq,
    at: iso(e.at),
    type: e.type,
    agent: e.agent,
    subject: e.subject,
    data_digest: e.data_digest,
    prev_hash: e.prev_hash,
  });
}

/** Appends one event after the transaction's head, at the transaction's instant. */
export async function appendEvent(tx: Tx, ev: NewEvent): Promise<EventRow> {
  const head = tx.head();
  const data = canonicalJson(ev.data);
  const partial = {
    seq: head.seq + 1,
    at: tx.now,
    type: ev.type,
    agent: ev.agent,
    subject: ev.subject,
    data_digest: sha256Hex(data),
    prev_hash: head.hash,
  };
  const row: EventRow = { ...partial, data, hash: eventHash(partial) };
  await tx.events.append(row);
  return row;
}

export function toPublicEvent(row: EventRow): PublicEvent {
  return {
    seq: row.seq,
    at: iso(row.at),
    type: row.type,
    agent: row.agent,
    subject: row.subject,
    data: row.data === null ? null : (JSON.parse(row.data) as Record<string, unknown>),
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}

export interface ChainReport {
  ok: boolean;
  count: number;
  head: string;
  redacted: number;
  first_bad_seq?: number;
  problem?: string;
}

/** Walks the whole chain and names the first event that does not hold. */
export async function verifyChain(r: Reader): Promise<ChainReport> {
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  let redacted = 0;
  const bad = (seq: number, problem: string): ChainReport => ({
    ok: false,
    count,
    head: prevHash,
    redacted,
    first_bad_seq: seq,
    problem,
  });
  for await (const row of r.events.all()) {
    if (row.seq !== expectedSeq) return bad(expectedSeq, `event ${expectedSeq} is missing`);
    if (row.prev_hash !== prevHash) return bad(row.seq, 'prev_hash does not match the previous event');
    if (row.data === null) redacted++;
    else if (sha256Hex(row.data) !== row.data_digest) return bad(row.seq, 'data does not match its digest');
    if (eventHash(row) !== row.hash) return bad(row.seq, 'hash does not match the event');
    prevHash = row.hash;
    expectedSeq++;
    count++;
  }
  return { ok: true, count, head: prevHash, redacted };
}

/** What a caller kept of a mutation's receipt: enough to hold the log to it later. */
export interface KeptReceipt {
  seq: number;
  hash: string;
}

export interface Contradiction {
  seq: number;
  hash: string;
  /** missing: the log has no event `seq` (rolled back or truncated); different: it has another one */
  problem: 'missing' | 'different';
  /** the hash the log has at `seq`, when it has one */
  log_hash?: string;
}

/**
 * docs/design.md §11: each kept receipt the log contradicts, in the order given. A receipt is
 * contradicted when the log no longer has its event, or has another event at its seq. A
 * redacted event still has its hash, so redaction contradicts nothing.
 */
export async function contradictedReceipts(reader: Reader, kept: readonly KeptReceipt[]): Promise<Contradiction[]> {
  const hashes = await reader.events.hashesAt(kept.map((r) => r.seq));
  const out: Contradiction[] = [];
  for (const r of kept) {
    const have = hashes.get(r.seq);
    if (have === undefined) out.push({ seq: r.seq, hash: r.hash, problem: 'missing' });
    else if (have !== r.hash) out.push({ seq: r.seq, hash: r.hash, problem: 'different', log_hash: have });
  }
  return out;
}

/** One line saying how the log contradicts a kept `{seq, hash}`. */
export function describeContradiction(c: Contradiction): string {
  return c.problem === 'missing'
    ? `the log has no event ${c.seq}: it was rolled back or truncated`
    : `event ${c.seq} has hash ${c.log_hash}, not ${c.hash}: the history was rewritten`;
}
