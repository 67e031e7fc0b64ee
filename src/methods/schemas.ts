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

export const PathList = Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), {
  minItems: 1,
  maxItems: 256,
  description: 'paths relative to the root: files, folders (contain everything under them) or globs',
});

export const ClaimMode = Type.Union([Type.Literal('exclusive'), Type.Literal('shared')]);

export const Claim = Type.Object(
  {
    id: Type.String(),
    lease_id: Type.String(),
    agent: Type.String(),
    task: Type.Union([Type.String(), Type.Null()]),
    paths: Type.Array(Type.String()),
    mode: ClaimMode,
    fence: Type.Integer({ minimum: 1, description: 'only grows; pass it to release, prove and complete' }),
    state: Type.Union([Type.Literal('active'), Type.Literal('released'), Type.Literal('expired')]),
    acquired_at: IsoTime,
    expires_at: IsoTime,
    ttl_remaining_ms: Type.Integer({ minimum: 0 }),
  },
  { title: 'Claim', additionalProperties: false },
);

export const TaskId = Type.String({ minLength: 1, maxLength: 64, description: 'a task id such as T12' });
export const Label = Type.String({ minLength: 1, maxLength: 64 });
export const Priority = Type.Integer({ minimum: 0, maximum: 4, description: '0 = highest … 4; default 2' });
export const GateName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });

export const Task = Type.Object(
  {
    id: Type.String(),
    title: Type.String(),
    description: Type.String(),
    status: Type.Union([Type.Literal('open'), Type.Literal('done'), Type.Literal('cancelled')]),
    priority: Type.Integer(),
    labels: Type.Array(Type.String()),
    depends_on: Type.Array(Type.String()),
    paths: Type.Array(Type.String()),
    gates: Type.Array(Type.String()),
    acceptance: Type.Array(Type.String(), { description: 'acceptance criteria, in the order written' }),
    parent: Type.Union([Type.String(), Type.Null()]),
    created_at: IsoTime,
    updated_at: IsoTime,
    completed_at: Type.Union([IsoTime, Type.Null()]),
    verified: Type.Union([Type.Boolean(), Type.Null()]),
    holder: Type.Union([
      Type.Object(
        { agent: Type.String(), lease_id: Type.String(), claim_id: Type.String(), fence: Type.Integer() },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
  },
  { title: 'Task', additionalProperties: false },
);
