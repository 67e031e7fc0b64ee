import { Type } from '@sinclair/typebox';
import { derivedSecret, grantLease, listLeases, renewLease, revokeLease } from '../domain/leases.js';
import { defineMethod } from './define.js';
import { Agent, IsoTime, LeaseSecret, PublicLease, TtlMs } from './schemas.js';

export const leaseMethods = [
  defineMethod({
    name: 'lease.grant',
    kind: 'mutation',
    summary: "Starts an agent's presence; returns the secret lease string every later call acts with.",
    params: {
      agent: Agent,
      ttl_ms: Type.Optional(TtlMs),
      pid: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'a same-host process whose exit ends the lease' })),
      meta: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { maxProperties: 64, description: 'free-form, stored and audited' })),
    },
    result: {
      lease: Type.String({ description: 'secret: send it as `lease`; stored only hashed' }),
      lease_id: Type.String({ description: 'public id' }),
      agent: Type.String(),
      ttl_ms: Type.Integer(),
      ttl_remaining_ms: Type.Integer(),
      expires_at: IsoTime,
    },
    errors: ['INVALID_PARAMS'],
    examples: [{ name: 'grant a 30 s lease', params: { agent: 'alice', ttl_ms: 30000 } }],
    // The idempotency record keeps no secret; a replay derives the same one from the key.
    secrets: {
      strip: ({ lease: _secret, ...rest }) => rest,
      restore: async ({ tx }, p, stored) => ({
        lease: await derivedSecret(tx, String(p.idempotency_key), String(stored.lease_id)),
        ...stored,
      }),
    },
    handler: ({ tx, host }, p) => grantLease(tx, p, host),
  }),
  defineMethod({
    name: 'lease.renew',
    kind: 'mutation',
    audited: false, // docs/design.md §4: renewal is cheap, no audit event
    summary: 'Keeps a lease alive for another ttl_ms. Never revives an expired or revoked lease.',
    params: { lease: LeaseSecret },
    result: { lease_id: Type.String(), ttl_remaining_ms: Type.Integer(), expires_at: IsoTime },
    errors: ['LEASE_INVALID'],
    examples: [{ name: 'renew', params: { lease: 'dcl_…' } }],
    handler: ({ tx }, p) => renewLease(tx, p.lease),
  }),
  defineMethod({
    name: 'lease.revoke',
    kind: 'mutation',
    summary: 'Ends a lease now and releases every claim on it.',
    params: { lease: LeaseSecret },
    result: { released: Type.Array(Type.String(), { description: 'claim ids released' }) },
    errors: ['LEASE_INVALID'],
    examples: [{ name: 'revoke', params: { lease: 'dcl_…' } }],
    handler: ({ tx }, p) => revokeLease(tx, p.lease),
  }),
  defineMethod({
    name: 'lease.list',
    kind: 'query',
    summary: 'Every lease with its state as judged now by the server clock.',
    params: {},
    result: { leases: Type.Array(PublicLease) },
    examples: [{ name: 'list', params: {} }],
    handler: async ({ read }) => ({ leases: await listLeases(read) }),
  }),
];
