import { DecapodError } from '../errors.js';
import type { EventRow, StateDump, Store, TaskRow, Tx } from '../store/store.js';
import { hashCanonical } from '../util/hash.js';
import { staticPrefix } from './claim-paths.js';
import { proofRow, type PublicProof } from './proofs.js';

// docs/design.md §4: state is a pure function of the log. Each event type has one projection here that
// rebuilds its rows from the event alone (its data, `at` and `agent`). Renewals are deliberately
// not audited (they are cheap and frequent), so the columns they move are left out of the
// comparison: replay rebuilds every fact, and leases' and claims' deadlines as granted.

const VOLATILE: Record<string, string[]> = {
  leases: ['renewed_at', 'expires_at'],
  claims: ['renewed_at', 'expires_at'],
};

type Data = Record<string, any>;

function taskRow(d: Data, at: number, agent: string | null, prev?: TaskRow): TaskRow {
  const t = d.task as Data;
  return {
    id: t.id,
    seq: Number(String(t.id).slice(1)),
    title: t.title,
    description: t.description,
    status: t.status,
    priority: t.priority,
    labels: t.labels,
    depends_on: t.depends_on,
    paths: t.paths,
    gates: t.gates,
    // Events written before tasks had acceptance criteria (migration 005) carry none.
    acceptance: t.acceptance ?? [],
    parent: t.parent,
    created_by: prev ? prev.created_by : agent,
    created_at: prev ? prev.created_at : at,
    updated_at: at,
    completed_at: prev ? prev.completed_at : null,
    verified: prev ? prev.verified : null,
  };
}

const PROJECTIONS: Record<string, (s: Tx, d: Data, e: EventRow) => Promise<void>> = {
  'lease.granted': (s, d, e) =>
    s.leases.insert({
      lease_id: d.lease_id,
      secret_hash: d.secret_hash,
      agent: d.agent,
      state: 'active',
      ttl_ms: d.ttl_ms,
      pid: d.pid,
      // Events written before hosts were recorded (migration 006) carry none.
      host: d.host ?? null,
      meta: d.meta,
      granted_at: e.at,
      renewed_at: e.at,
      expires_at: e.at + d.ttl_ms,
      ended_at: null,
    }),
  'lease.revoked': (s, d, e) => s.leases.end(d.lease_id, 'revoked', e.at),
  'lease.expired': (s, d, e) => s.leases.end(d.lease_id, 'expired', e.at),
  'claim.acquired': (s, d, e) =>
    s.claims.insert(
      {
        id: d.claim_id,
        lease_id: d.lease_id,
        agent: e.agent!,
        task_id: d.task,
        mode: d.mode,
        fence: d.fence,
        state: 'active',
        paths: d.paths,
        ttl_ms: d.ttl_ms,
        reason: d.reason,
        acquired_at: e.at,
        renewed_at: e.at,
        expires_at: d.ttl_ms === null ? null : e.at + d.ttl_ms,
        ended_at: null,
        end_reason: null,
      },
      (d.paths as string[]).map((pattern) => ({ pattern, prefix: staticPrefix(pattern) })),
    ),
  'claim.paths_changed': (s, d) =>
    s.claims.setPaths(d.claim_id, d.paths, (d.paths as string[]).map((pattern) => ({ pattern, prefix: staticPrefix(pattern) }))),
  'claim.reacquired': async () => {},
  'claim.released': (s, d, e) => s.claims.end(d.claim_id, 'released', e.at, d.reason),
  'claim.expired': (s, d, e) => s.claims.end(d.claim_id, 'expired', e.at, d.reason),
  'task.created': (s, d, e) => s.tasks.insert(taskRow(d, e.at, e.agent)),
  'task.updated': async (s, d, e) => s.tasks.update(taskRow(d, e.at, e.agent, await s.tasks.byId(d.task.id))),
  'task.cancelled': (s, d, e) => setStatus(s, d.task, 'cancelled', e.at),
  'task.reopened': (s, d, e) => setStatus(s, d.task, 'open', e.at),
  'task.completed': async (s, d, e) => {
    const t = (await s.tasks.byId(d.task))!;
    await s.tasks.update({ ...t, status: 'done', updated_at: e.at, completed_at: e.at, verified: d.verified === true });
  },
  'store.pruned': async (s, d) => {
    await s.claims.delete(d.claims);
    await s.leases.delete(d.leases);
  },
  // docs/design.md §11: a checkpoint lives in git, not in the state; its event only records that it was taken.
  'audit.checkpointed': async () => {},
  'proof.recorded': (s, d, e) => s.proofs.insert(proofRow(d.proof as PublicProof, e.at)),
};

async function setStatus(s: Tx, id: string, status: 'open' | 'cancelled', at: number): Promise<void> {
  const t = (await s.tasks.byId(id))!;
  await s.tasks.update({ ...t, status, updated_at: at, completed_at: null, verified: null });
}

/** Events replayed per transaction of the target: the event loop turns between pages. */
const REPLAY_PAGE = 1_000;

/** Applies these events to the target in one transaction. Refuses an event it cannot replay, naming it. */
export async function replayInto(target: Store, events: Iterable<EventRow>): Promise<number> {
  return target.transaction(async (tx) => {
    let n = 0;
    for (const e of events) {
      const project = PROJECTIONS[e.type];
      if (!project) throw new DecapodError('INVALID_STATE', `event ${e.seq} has a type replay does not know: ${e.type}`, { from: e.type, to: 'replayed' });
      if (e.data === null) throw new DecapodError('INVALID_STATE', `event ${e.seq} was redacted: its payload cannot be replayed`, { from: 'redacted', to: 'replayed', seq: e.seq });
      await project(tx, JSON.parse(e.data) as Data, e);
      n++;
    }
    return n;
  });
}

/** Replays the source's log up to event `upTo` into an empty target, a page at a time. Returns how many. */
export async function replayLog(source: Store, target: Store, upTo: number): Promise<number> {
  let since = 0;
  let n = 0;
  while (since < upTo) {
    const page = (await source.snapshot((r) => r.events.list({ since, limit: REPLAY_PAGE }))).filter((e) => e.seq <= upTo);
    if (page.length === 0) break;
    n += await replayInto(target, page);
    since = page[page.length - 1]!.seq;
  }
  return n;
}

/** The rows that count, without the columns renewals move. */
export function comparable(dump: StateDump): StateDump {
  return Object.fromEntries(
    Object.entries(dump).map(([table, rows]) => [
      table,
      rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !(VOLATILE[table] ?? []).includes(k)))),
    ]),
  );
}

export const stateDigest = (dump: StateDump): string => hashCanonical(comparable(dump));

export interface Difference {
  table: string;
  row: number;
  live: Record<string, unknown> | null;
  replay: Record<string, unknown> | null;
}

/** The first table and row (in key order) where two states differ. */
export function firstDifference(live: StateDump, replay: StateDump): Difference | undefined {
  const a = comparable(live);
  const b = comparable(replay);
  for (const table of Object.keys(a)) {
    const rowsA = a[table] ?? [];
    const rowsB = b[table] ?? [];
    for (let i = 0; i < Math.max(rowsA.length, rowsB.length); i++) {
      if (hashCanonical(rowsA[i] ?? null) !== hashCanonical(rowsB[i] ?? null)) {
        return { table, row: i, live: rowsA[i] ?? null, replay: rowsB[i] ?? null };
      }
    }
  }
  return undefined;
}
