import { canonicalJson } from '../../util/hash.js';
import type { ClaimRow, ClaimView, LeaseRow, LeaseState, ProofRow, TaskRow } from '../store.js';

// docs/architecture.md "Rows as values": how SQLite stores the contract's values. Arrays are JSON
// text, flags are 0/1, a lease's meta is canonical JSON (replay rebuilds the same bytes). Only
// this folder knows.

const list = (json: string) => JSON.parse(json) as string[];
const flag = (b: boolean) => (b ? 1 : 0);

export type Stored<T> = Record<keyof T, unknown>;

export const leaseIn = (r: LeaseRow) => ({ ...r, meta: r.meta === null ? null : canonicalJson(r.meta) });
export const leaseOut = (r: Record<string, unknown> | undefined): LeaseRow | undefined =>
  r === undefined ? undefined : ({ ...r, meta: r.meta === null ? null : JSON.parse(r.meta as string) } as LeaseRow);

export const taskIn = (r: TaskRow) => ({
  ...r,
  labels: JSON.stringify(r.labels),
  depends_on: JSON.stringify(r.depends_on),
  paths: JSON.stringify(r.paths),
  gates: JSON.stringify(r.gates),
  acceptance: JSON.stringify(r.acceptance),
  verified: r.verified === null ? null : flag(r.verified),
});
export const taskOut = (r: Record<string, unknown> | undefined): TaskRow | undefined =>
  r === undefined
    ? undefined
    : ({
        ...r,
        labels: list(r.labels as string),
        depends_on: list(r.depends_on as string),
        paths: list(r.paths as string),
        gates: list(r.gates as string),
        acceptance: list(r.acceptance as string),
        verified: r.verified === null ? null : r.verified === 1,
      } as TaskRow);

export const claimIn = (r: ClaimRow) => ({ ...r, paths: JSON.stringify(r.paths) });
/** A claims row joined with its lease's lease_state, lease_expires_at and lease_ended_at. */
export const claimOut = (r: Record<string, unknown> | undefined): ClaimView | undefined => {
  if (r === undefined) return undefined;
  const { lease_state, lease_expires_at, lease_ended_at, ...c } = r;
  return {
    ...(c as unknown as ClaimRow),
    paths: list(c.paths as string),
    lease: lease_state == null ? null : { state: lease_state as LeaseState, expires_at: lease_expires_at as number, ended_at: (lease_ended_at as number | null) ?? null },
  };
};

export const proofIn = (r: ProofRow) => ({
  ...r,
  passed: flag(r.passed),
  timed_out: flag(r.timed_out),
  truncated: flag(r.truncated),
  counts: flag(r.counts),
  changed_during_run: JSON.stringify(r.changed_during_run),
});
export const proofOut = (r: Record<string, unknown> | undefined): ProofRow | undefined =>
  r === undefined
    ? undefined
    : ({
        ...r,
        passed: r.passed === 1,
        timed_out: r.timed_out === 1,
        truncated: r.truncated === 1,
        counts: r.counts === 1,
        changed_during_run: list(r.changed_during_run as string),
      } as ProofRow);
