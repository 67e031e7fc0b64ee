import { Type } from '@sinclair/typebox';
import { normalizeClaimPath, normalizeClaimPaths } from '../domain/claim-paths.js';
import {
  currentFence,
  endClaim,
  findConflictsMany,
  grantClaim,
  heldClaim,
  noteReacquired,
  sameClaim,
  toPublicClaim,
} from '../domain/claims.js';
import { peekLease, useLease } from '../domain/leases.js';
import { patternsOverlap } from '../domain/path-overlap.js';
import { DecapodError } from '../errors.js';
import { defineMethod } from './define.js';
import { Agent, Claim, ClaimMode, LeaseSecret, PathList, TaskId, TtlMs } from './schemas.js';

const ClaimId = Type.String({ minLength: 1, maxLength: 64 });
const Fence = Type.Integer({ minimum: 1 });
const Holder = Type.Object(
  { claim_id: Type.String(), agent: Type.String(), mode: ClaimMode, ttl_remaining_ms: Type.Integer() },
  { additionalProperties: false },
);

export const claimMethods = [
  defineMethod({
    name: 'claim.acquire',
    kind: 'mutation',
    summary: 'Holds paths exclusively or shared, with a new fence. All or nothing; wait_ms queues in arrival order.',
    params: {
      lease: LeaseSecret,
      paths: PathList,
      mode: Type.Optional(ClaimMode),
      ttl_ms: Type.Optional(TtlMs),
      reason: Type.Optional(Type.String({ maxLength: 500 })),
      wait_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, description: 'wait this long for the paths to come free' })),
    },
    result: { claim: Claim },
    errors: ['LEASE_INVALID', 'CONFLICT', 'INVALID_PARAMS'],
    examples: [{ name: 'claim a folder', params: { lease: 'dcl_…', paths: ['src/parser'], mode: 'exclusive', reason: 'refactor' } }],
    waitMs: (p) => p.wait_ms,
    waitsFor: async ({ tx }, p) => ({ lease: await peekLease(tx, p.lease), paths: normalizeClaimPaths(p.paths), mode: p.mode ?? 'exclusive', task: null }),
    handler: async ({ tx, place }, p) => {
      const lease = await useLease(tx, p.lease);
      const req = { paths: normalizeClaimPaths(p.paths), mode: p.mode ?? 'exclusive', task: null };
      // Re-acquiring what this lease already holds returns that claim and its fence.
      const existing = await sameClaim(tx, lease, req);
      if (existing) {
        await noteReacquired(tx, existing);
        return { claim: toPublicClaim(existing, tx.now) };
      }
      const claim = await grantClaim(tx, lease, { ...req, ...(p.ttl_ms !== undefined ? { ttl_ms: p.ttl_ms } : {}), ...(p.reason ? { reason: p.reason } : {}) }, place);
      return { claim: toPublicClaim(claim, tx.now) };
    },
  }),
  defineMethod({
    name: 'claim.renew',
    kind: 'mutation',
    audited: false,
    summary: "Extends a time-boxed claim by its own ttl_ms (and renews its lease). Refused once the claim is lost.",
    params: { lease: LeaseSecret, claim: ClaimId, fence: Type.Optional(Fence) },
    result: { claim: Claim },
    errors: ['LEASE_INVALID', 'NOT_FOUND', 'NOT_HOLDER', 'FENCED_OUT'],
    examples: [{ name: 'renew', params: { lease: 'dcl_…', claim: 'C7' } }],
    handler: async ({ tx }, p) => {
      const lease = await useLease(tx, p.lease);
      const claim = await heldClaim(tx, lease, p.claim, p.fence);
      const now = tx.now;
      await tx.claims.renew(claim.id, now, claim.ttl_ms === null ? null : now + claim.ttl_ms);
      return { claim: toPublicClaim((await tx.claims.byId(claim.id))!, now) };
    },
  }),
  defineMethod({
    name: 'claim.release',
    kind: 'mutation',
    summary: 'Gives a claim up. Only its holder, with its current fence.',
    params: { lease: LeaseSecret, claim: ClaimId, fence: Fence },
    result: { claim: Claim },
    errors: ['LEASE_INVALID', 'NOT_FOUND', 'NOT_HOLDER', 'FENCED_OUT'],
    examples: [{ name: 'release', params: { lease: 'dcl_…', claim: 'C7', fence: 7 } }],
    handler: async ({ tx }, p) => {
      const lease = await useLease(tx, p.lease);
      const claim = await heldClaim(tx, lease, p.claim, p.fence);
      return { claim: toPublicClaim(await endClaim(tx, claim, 'released', 'released by its holder'), tx.now) };
    },
  }),
  defineMethod({
    name: 'claim.list',
    kind: 'query',
    summary: 'Live claims, optionally of one agent, one task, or touching one path.',
    params: { agent: Type.Optional(Agent), task: Type.Optional(TaskId), path: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })) },
    result: { claims: Type.Array(Claim) },
    examples: [{ name: 'who holds src/', params: { path: 'src' } }],
    handler: async ({ read }, p) => {
      const pattern = p.path === undefined ? undefined : normalizeClaimPath(p.path, 'path');
      const live = await read.claims.live({ now: read.now, ...(p.agent ? { agent: p.agent } : {}), ...(p.task ? { task: p.task } : {}) });
      const touching = pattern === undefined ? live : live.filter((c) => c.paths.some((held) => patternsOverlap(pattern, held)));
      return { claims: touching.map((c) => toPublicClaim(c, read.now)) };
    },
  }),
  defineMethod({
    name: 'claim.check',
    kind: 'query',
    summary: 'Is each path free of other holders? One answer per path, in request order. What a git hook asks before a commit.',
    params: { paths: PathList, lease: Type.Optional(LeaseSecret) },
    result: {
      paths: Type.Array(Type.Object({ path: Type.String(), free: Type.Boolean(), holders: Type.Array(Holder) }, { additionalProperties: false })),
    },
    errors: ['LEASE_INVALID'],
    examples: [{ name: 'check staged files', params: { paths: ['src/a.ts', 'README.md'] } }],
    handler: async ({ read }, p) => {
      // A query: the lease only says whose claims count as one's own; it is not renewed here.
      const leaseId = p.lease === undefined ? '' : (await peekLease(read, p.lease)).lease_id;
      // One answer per requested path, in request order (a hook pairs them with its files); one
      // lookup for all of them.
      const paths = p.paths.map((path, i) => normalizeClaimPath(path, `paths.${i}`));
      const judged = await findConflictsMany(read, paths.map((path) => ({ leaseId, paths: [path], mode: 'exclusive' as const, task: null })));
      return {
        paths: paths.map((path, i) => {
          const holders = judged[i]!.map(({ resource: _r, ...h }) => h);
          return { path, free: holders.length === 0, holders };
        }),
      };
    },
  }),
  defineMethod({
    name: 'claim.validate',
    kind: 'query',
    summary: 'Is this fence still current for this claim? For hooks and tools that write on an agent’s behalf.',
    params: { claim: ClaimId, fence: Fence },
    result: {
      valid: Type.Boolean(),
      reason: Type.Optional(Type.String()),
      current_fence: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    },
    errors: ['NOT_FOUND'],
    examples: [{ name: 'validate', params: { claim: 'C7', fence: 7 } }],
    handler: async ({ read }, p) => {
      const claim = await read.claims.byId(p.claim);
      if (!claim) throw new DecapodError('NOT_FOUND', `no claim ${p.claim}`, { kind: 'claim', id: p.claim });
      const state = toPublicClaim(claim, read.now).state;
      if (state === 'active' && claim.fence === p.fence) return { valid: true };
      const reason = state !== 'active' ? state : 'stale fence';
      return { valid: false, reason, current_fence: state === 'active' ? claim.fence : await currentFence(read, claim) };
    },
  }),
];
