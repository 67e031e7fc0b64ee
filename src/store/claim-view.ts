import type { ClaimView, LeaseState } from './store.js';

/**
 * A claim read joined with its lease (columns lease_state, lease_expires_at, lease_ended_at), as
 * the contract's ClaimView; `paths` already decoded by the engine. Every field spelled out: one
 * object shape for every claim read, on every engine (V8 keeps it fast).
 */
export function claimViewOf(r: Record<string, unknown>, paths: string[]): ClaimView {
  return {
    id: r.id as string,
    lease_id: r.lease_id as string,
    agent: r.agent as string,
    task_id: r.task_id as string | null,
    mode: r.mode as ClaimView['mode'],
    fence: r.fence as number,
    state: r.state as ClaimView['state'],
    paths,
    ttl_ms: r.ttl_ms as number | null,
    reason: r.reason as string | null,
    acquired_at: r.acquired_at as number,
    renewed_at: r.renewed_at as number,
    expires_at: r.expires_at as number | null,
    ended_at: r.ended_at as number | null,
    end_reason: r.end_reason as string | null,
    lease:
      r.lease_state == null
        ? null
        : { state: r.lease_state as LeaseState, expires_at: r.lease_expires_at as number, ended_at: (r.lease_ended_at as number | null) ?? null },
  };
}
