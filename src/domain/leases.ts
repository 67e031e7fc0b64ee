import { createHmac, randomBytes } from 'node:crypto';
import { DecapodError } from '../errors.js';
import type { LeaseRow, LeaseState } from '../store/store.js';
import { iso } from '../util/clock.js';
import { canonicalJson, sha256Hex } from '../util/hash.js';
import { appendEvent } from './audit-chain.js';
import { endClaimsOfLease } from './claims.js';
import type { DomainContext } from './context.js';

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
export function derivedSecret(ctx: DomainContext, idempotencyKey: string, leaseId: string): string {
  let pepper = ctx.store.meta.get('lease_pepper');
  if (!pepper) {
    pepper = randomBytes(32).toString('hex');
    ctx.store.meta.set('lease_pepper', pepper);
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

export function grantLease(
  ctx: DomainContext,
  p: { agent: string; ttl_ms?: number; pid?: number; meta?: Record<string, unknown>; idempotency_key?: string },
): GrantedLease {
  const ttl = p.ttl_ms ?? LEASE_TTL.default;
  const now = ctx.clock.now();
  const leaseId = `lease_${randomBytes(9).toString('base64url')}`;
  const secret =
    p.idempotency_key === undefined
      ? `dcl_${randomBytes(32).toString('base64url')}`
      : derivedSecret(ctx, p.idempotency_key, leaseId);
  const row: LeaseRow = {
    lease_id: leaseId,
    secret_hash: hashSecret(secret),
    agent: p.agent,
    state: 'active',
    ttl_ms: ttl,
    pid: p.pid ?? null,
    // Canonical, as the event records it: replay rebuilds the same bytes.
    meta: p.meta === undefined ? null : canonicalJson(p.meta),
    granted_at: now,
    renewed_at: now,
    expires_at: now + ttl,
    ended_at: null,
  };
  ctx.store.leases.insert(row);
  appendEvent(ctx, {
    type: 'lease.granted',
    agent: row.agent,
    subject: row.lease_id,
    // The secret's hash, never the secret: enough for replay to rebuild the row.
    data: { lease_id: row.lease_id, secret_hash: row.secret_hash, agent: row.agent, ttl_ms: ttl, pid: row.pid, meta: p.meta ?? null },
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
export function useLease(ctx: DomainContext, secret: string): LeaseRow {
  const row = peekLease(ctx, secret);
  const now = ctx.clock.now();
  const expiresAt = now + row.ttl_ms;
  ctx.store.leases.renew(row.lease_id, now, expiresAt);
  return { ...row, renewed_at: now, expires_at: expiresAt };
}

/** The live lease of a secret, without renewing it (for queries, which write nothing). */
export function peekLease(ctx: DomainContext, secret: string): LeaseRow {
  const row = ctx.store.leases.bySecretHash(hashSecret(secret));
  if (!row) throw new DecapodError('LEASE_INVALID', 'lease is unknown', { reason: 'unknown' });
  const state = stateAt(row, ctx.clock.now());
  if (state !== 'active') {
    throw new DecapodError('LEASE_INVALID', `lease ${row.lease_id} is ${state}; grant a new one with lease.grant`, {
      reason: state,
      lease_id: row.lease_id,
    });
  }
  return row;
}

export function renewLease(ctx: DomainContext, secret: string) {
  const row = useLease(ctx, secret);
  return {
    lease_id: row.lease_id,
    ttl_remaining_ms: row.expires_at - ctx.clock.now(),
    expires_at: iso(row.expires_at),
  };
}

export function revokeLease(ctx: DomainContext, secret: string): { released: string[] } {
  return { released: endLease(ctx, useLease(ctx, secret), 'revoked', 'revoked by its holder') };
}

/** Ends a lease and every claim on it, in the caller's transaction: one event each (docs/design.md §4). */
function endLease(ctx: DomainContext, row: LeaseRow, state: 'revoked' | 'expired', reason: string): string[] {
  const released = endClaimsOfLease(ctx, row.lease_id, state === 'revoked' ? 'released' : 'expired', `lease ${state}`);
  ctx.store.leases.end(row.lease_id, state, ctx.clock.now());
  appendEvent(ctx, {
    type: state === 'revoked' ? 'lease.revoked' : 'lease.expired',
    agent: row.agent,
    subject: row.lease_id,
    data: { lease_id: row.lease_id, reason, released, ...(state === 'expired' ? { expired_at: iso(row.expires_at) } : {}) },
  });
  return released;
}

export function listLeases(ctx: DomainContext): PublicLease[] {
  const now = ctx.clock.now();
  const claimsOf = new Map<string, string[]>();
  for (const c of ctx.store.claims.live({ now })) claimsOf.set(c.lease_id, [...(claimsOf.get(c.lease_id) ?? []), c.id]);
  return ctx.store.leases.list().map((r) => toPublicLease(r, now, claimsOf.get(r.lease_id)));
}

/** docs/design.md §4: a lease whose same-host process is gone is revoked while the server runs. */
export function revokeOrphanedLeases(ctx: DomainContext, isAlive: (pid: number) => boolean): string[] {
  const now = ctx.clock.now();
  const orphans = ctx.store.leases.activeWithPid().filter((l) => l.expires_at > now && !isAlive(l.pid!));
  for (const l of orphans) endLease(ctx, l, 'revoked', `process ${l.pid} is gone`);
  return orphans.map((l) => l.lease_id);
}

/** Ends every lease whose time is up, one event each. Returns the lease ids ended. */
export function expireDueLeases(ctx: DomainContext): string[] {
  const now = ctx.clock.now();
  const due = ctx.store.leases.dueForExpiry(now);
  for (const row of due) endLease(ctx, row, 'expired', 'not renewed in time');
  return due.map((r) => r.lease_id);
}
