import { createHmac, randomBytes } from 'node:crypto';
import { DecapodError } from '../errors.js';
import type { ClaimView, LeaseRow, LeaseState, Reader, Tx } from '../store/store.js';
import { iso } from '../util/clock.js';
import { sha256Hex } from '../util/hash.js';
import { appendEvent } from './audit-chain.js';
import { endClaim } from './claims.js';

export const LEASE_TTL = { min: 1_000, max: 86_400_000, default: 60_000 } as const;

export interface PublicLease {
  lease_id: string;
  agent: string;
  state: LeaseState;
  granted_at: string;
  expires_at: string;
  ttl_ms: number;
  ttl_remaining_ms: number;
  claims: string[];
}

export interface GrantedLease {
  lease: string;
  lease_id: string;
  agent: string;
  ttl_ms: number;
  ttl_remaining_ms: number;
  expires_at: string;
}

// The secret is 256 random bits, so a plain sha256 is enough to store it safely.
const hashSecret = (secret: string): string => sha256Hex(secret);

/**
 * A grant made with an idempotency key gets a secret derived from that key, so a retried grant
 * can be answered with the same secret without the secret ever being stored (docs/design.md §3, §4).
 * The pepper lives in the store; the key only with the caller (the store keeps its hash).
 */
export async function derivedSecret(tx: Tx, idempotencyKey: string, leaseId: string): Promise<string> {
  let pepper = await tx.meta.get('lease_pepper');
  if (!pepper) {
    pepper = randomBytes(32).toString('hex');
    await tx.meta.set('lease_pepper', pepper);
  }
  const mac = createHmac('sha256', pepper).update(`lease:${leaseId}:${idempotencyKey}`).digest('base64url');
  return `dcl_${mac}`;
}

/** A lease's state as judged now by the server's clock, whatever the row says. */
function stateAt(row: LeaseRow, now: number): LeaseState {
  return row.state === 'active' && row.expires_at <= now ? 'expired' : row.state;
}

export function toPublicLease(row: LeaseRow, now: number, claims: string[] = []): PublicLease {
  const state = stateAt(row, now);
  return {
    lease_id: row.lease_id,
    agent: row.agent,
    state,
    granted_at: iso(row.granted_at),
    expires_at: iso(row.expires_at),
    ttl_ms: row.ttl_ms,
    ttl_remaining_ms: state === 'active' ? row.expires_at - now : 0,
    claims: state === 'active' ? claims : [],
  };
}

/**
 * A new lease. `host` is the machine of the server recording it: a pid is judged only by a
 * server on that same host (docs/design.md §7).
 */
export async function grantLease(
  tx: Tx,
  p: { agent: string; ttl_ms?: number; pid?: number; meta?: Record<string, unknown>; idempotency_key?: string },
  host: string,
): Promise<GrantedLease> {
  const ttl = p.ttl_ms ?? LEASE_TTL.default;
  const now = tx.now;
  const leaseId = `lease_${randomBytes(9).toString('base64url')}`;
  const secret =
    p.idempotency_key === undefined
      ? `dcl_${randomBytes(32).toString('base64url')}`
      : await derivedSecret(tx, p.idempotency_key, leaseId);
  const row: LeaseRow = {
    lease_id: leaseId,
    secret_hash: hashSecret(secret),
    agent: p.agent,
    state: 'active',
    ttl_ms: ttl,
    pid: p.pid ?? null,
    host: p.pid === undefined ? null : host,
    meta: p.meta ?? null,
    granted_at: now,
    renewed_at: now,
    expires_at: now + ttl,
    ended_at: null,
  };
  await tx.leases.insert(row);
  await appendEvent(tx, {
    type: 'lease.granted',
    agent: row.agent,
    subject: row.lease_id,
    // The secret's hash, never the secret: enough for replay to rebuild the row. `host` only with
    // a pid (what it qualifies), so events without one read as before.
    data: {
      lease_id: row.lease_id,
      secret_hash: row.secret_hash,
      agent: row.agent,
      ttl_ms: ttl,
      pid: row.pid,
      ...(row.host !== null ? { host: row.host } : {}),
      meta: p.meta ?? null,
    },
  });
  return {
    lease: secret,
    lease_id: row.lease_id,
    agent: row.agent,
    ttl_ms: ttl,
    ttl_remaining_ms: ttl,
    expires_at: iso(row.expires_at),
  };
}

/**
 * Resolves a secret to its live lease and renews it: any call made with a lease keeps it alive
 * (docs/design.md §4). Renewal never revives an expired or revoked lease.
 */
export async function useLease(tx: Tx, secret: string): Promise<LeaseRow> {
  const row = await peekLease(tx, secret);
  const now = tx.now;
  const expiresAt = now + row.ttl_ms;
  await tx.leases.renew(row.lease_id, now, expiresAt);
  return { ...row, renewed_at: now, expires_at: expiresAt };
}

/** The live lease of a secret, without renewing it (for queries, which write nothing). */
export async function peekLease(r: Reader, secret: string): Promise<LeaseRow> {
  const row = await r.leases.bySecretHash(hashSecret(secret));
  if (!row) throw new DecapodError('LEASE_INVALID', 'lease is unknown', { reason: 'unknown' });
  const state = stateAt(row, r.now);
  if (state !== 'active') {
    throw new DecapodError('LEASE_INVALID', `lease ${row.lease_id} is ${state}; grant a new one with lease.grant`, {
      reason: state,
      lease_id: row.lease_id,
    });
  }
  return row;
}

export async function renewLease(tx: Tx, secret: string) {
  const row = await useLease(tx, secret);
  return {
    lease_id: row.lease_id,
    ttl_remaining_ms: row.expires_at - tx.now,
    expires_at: iso(row.expires_at),
  };
}

export async function revokeLease(tx: Tx, secret: string): Promise<{ released: string[] }> {
  const lease = await useLease(tx, secret);
  return { released: (await endLeases(tx, [lease], 'revoked', () => 'revoked by its holder')).get(lease.lease_id)! };
}

/**
 * Ends leases and every claim on them, in the caller's transaction: one event each
 * (docs/design.md §4). The claims of all of them are looked up at once. Returns the claims
 * released per lease.
 */
async function endLeases(tx: Tx, rows: readonly LeaseRow[], state: 'revoked' | 'expired', reason: (l: LeaseRow) => string): Promise<Map<string, string[]>> {
  const claimsOf = new Map<string, ClaimView[]>(rows.map((r) => [r.lease_id, []]));
  for (const c of await tx.claims.activeOfLeases(rows.map((r) => r.lease_id))) claimsOf.get(c.lease_id)!.push(c);
  const released = new Map<string, string[]>();
  for (const row of rows) {
    // Each lease's claims, then the lease: the order a lease ended alone has always written.
    const own = claimsOf.get(row.lease_id)!;
    for (const c of own) await endClaim(tx, c, state === 'revoked' ? 'released' : 'expired', `lease ${state}`);
    released.set(row.lease_id, own.map((c) => c.id));
    await tx.leases.end(row.lease_id, state, tx.now);
    await appendEvent(tx, {
      type: state === 'revoked' ? 'lease.revoked' : 'lease.expired',
      agent: row.agent,
      subject: row.lease_id,
      data: { lease_id: row.lease_id, reason: reason(row), released: released.get(row.lease_id)!, ...(state === 'expired' ? { expired_at: iso(row.expires_at) } : {}) },
    });
  }
  return released;
}

export async function listLeases(r: Reader): Promise<PublicLease[]> {
  const now = r.now;
  const [live, leases] = await Promise.all([r.claims.live({ now }), r.leases.list()]);
  const claimsOf = new Map<string, string[]>();
  for (const c of live) claimsOf.set(c.lease_id, [...(claimsOf.get(c.lease_id) ?? []), c.id]);
  return leases.map((l) => toPublicLease(l, now, claimsOf.get(l.lease_id)));
}

/**
 * docs/design.md §4: a lease whose same-host process is gone is revoked while the server runs.
 * Only leases recorded on `host`: a pid names nothing on another machine (§7).
 */
export async function revokeOrphanedLeases(tx: Tx, host: string, isAlive: (pid: number) => boolean): Promise<string[]> {
  const now = tx.now;
  const orphans = (await tx.leases.activeWithPid(host)).filter((l) => l.expires_at > now && !isAlive(l.pid!));
  if (orphans.length > 0) await endLeases(tx, orphans, 'revoked', (l) => `process ${l.pid} is gone`);
  return orphans.map((l) => l.lease_id);
}

/** Ends every lease whose time is up, one event each. Returns the lease ids ended. */
export async function expireDueLeases(tx: Tx): Promise<string[]> {
  const due = await tx.leases.dueForExpiry(tx.now);
  if (due.length > 0) await endLeases(tx, due, 'expired', () => 'not renewed in time');
  return due.map((r) => r.lease_id);
}
