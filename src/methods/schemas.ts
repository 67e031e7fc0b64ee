import { Type } from '@sinclair/typebox';
import { LEASE_TTL } from '../domain/leases.js';

// Schemas shared by several namespaces. Each method's own params stay in its namespace file.

export const Agent = Type.String({ minLength: 1, maxLength: 200, description: 'who acts: a free-form agent name' });
export const LeaseSecret = Type.String({ minLength: 1, maxLength: 200, description: 'the secret lease string from lease.grant' });
export const IsoTime = Type.String({ format: 'date-time' });
export const TtlMs = Type.Integer({
  minimum: LEASE_TTL.min,
  maximum: LEASE_TTL.max,
  description: `milliseconds, ${LEASE_TTL.min}…${LEASE_TTL.max}`,
});

export const PublicLease = Type.Object(
  {
    lease_id: Type.String(),
    agent: Type.String(),
    state: Type.Union([Type.Literal('active'), Type.Literal('revoked'), Type.Literal('expired')]),
    granted_at: IsoTime,
    expires_at: IsoTime,
    ttl_ms: Type.Integer(),
    ttl_remaining_ms: Type.Integer({ minimum: 0 }),
    claims: Type.Array(Type.String()),
  },
  { title: 'Lease', additionalProperties: false },
);

export const Event = Type.Object(
  {
    seq: Type.Integer({ minimum: 1 }),
    at: IsoTime,
    type: Type.String(),
    agent: Type.Union([Type.String(), Type.Null()]),
    subject: Type.Union([Type.String(), Type.Null()]),
    data: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
      description: 'null when the payload was erased',
    }),
    prev_hash: Type.String(),
    hash: Type.String(),
  },
  { title: 'Event', additionalProperties: false },
);
