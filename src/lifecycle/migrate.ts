import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { verifyChain } from '../domain/audit-chain.js';
import { projectIdOf } from '../domain/gates.js';
import { firstDifference, stateDigest } from '../domain/replay.js';
import type { ChainHead, ClaimPattern, ClaimRow, Counter, IdempotencyRow, LeaseRow, ProofRow, Reader, StateDump, Store, TaskRow } from '../store/store.js';
import { postgresUrl, projectIdFor } from '../workspace/store-config.js';
import { ensureRunDir, readServerJson, runPaths } from './run-files.js';
import { acquireServerLocks, AlreadyLockedError } from './server-lock.js';

// docs/design.md §7: `decapod migrate --to postgres://…` copies a root's history (its events
// verbatim, its state rows, its meta and counters) from the local store into a shared database,
// in one transaction of the target, and checks before it commits that the audit head, the chain
// and the state digest audit.replay computes are the same on both. The copy speaks only the store
// contract; the composition root (serve.ts, the one file that opens engines) hands it both stores.

/** Why nothing was copied: `usage` is the caller's mistake (exit 2), `refused` and `failed` exit 1. */
export class MigrateError extends Error {
  constructor(
    readonly kind: 'usage' | 'refused' | 'failed',
    message: string,
  ) {
    super(message);
    this.name = 'MigrateError';
  }
}

/** Events per read of the source and per check of the target (each page is also a progress step). */
const PAGE = 1_000;
/** Progress is told every this many events. */
export const PROGRESS_EVERY = 10_000;
const COUNTERS: readonly Counter[] = ['fence', 'task', 'proof'];

export interface Side {
  head: { seq: number; hash: string };
  /** stateDigest of the live state: what audit.replay reports as live_digest */
  digest: string;
  counters: Record<Counter, number>;
}

export interface CopyReport {
  copied: { events: number; leases: number; tasks: number; claims: number; proofs: number; idempotency: number; meta: string[] };
  source: Side;
  target: Side;
}

export interface CopyOptions {
  /** told after every PROGRESS_EVERY events copied, and once at the end */
  onProgress?: (copied: number, total: number) => void;
  /** checked before the commit: a reason to give up (e.g. the server lock was lost) */
  abortReason?: () => string | undefined;
  /** how the source and the target are named in messages */
  names?: { source: string; target: string };
}

const short = (h: ChainHead | Side['head']) => ({ seq: h.seq, hash: h.hash });

/**
 * Copies the whole history of `source` into `target`, which must hold none of its own, in one
 * transaction of the target: rolled back unless, read back inside that transaction, the target's
 * chain verifies and its head, state digest and counters match the source's. The source is only
 * read; nothing may write it meanwhile (the caller holds its lock).
 */
export async function copyHistory(source: Store, target: Store, opts: CopyOptions = {}): Promise<CopyReport> {
  const names = opts.names ?? { source: 'the source', target: 'the target' };
  // The state, meta and counters in one snapshot; the log and the idempotency records are read
  // page by page below (nothing writes the source meanwhile, so every page is of this same state).
  const seen = await source.snapshot(async (r) => ({
    head: await r.events.head(),
    chain: await verifyChain(r),
    dump: await r.dump(),
    leases: await r.leases.list(),
    meta: await r.meta.all(),
    counters: await r.counters(),
  }));
  if (!seen.chain.ok) {
    throw new MigrateError(
      'refused',
      `the audit log of ${names.source} does not verify (event ${seen.chain.first_bad_seq}: ${seen.chain.problem}); nothing was copied (decapod audit verify shows it)`,
    );
  }
  const sourceSide: Side = { head: short(seen.head), digest: stateDigest(seen.dump), counters: seen.counters };
  const total = seen.head.seq;

  const report = await target.transaction(async (tx) => {
    const already = await tx.events.count();
    if (already > 0 || tx.head().seq > 0) {
      throw new MigrateError('refused', `${names.target} already has ${already} events: migrate never merges two histories (--project ID copies into another claim space); nothing was copied`);
    }
    const rows = Object.entries(await tx.dump()).reduce((n, [, t]) => n + t.length, 0);
    if (rows > 0) throw new MigrateError('refused', `${names.target} has no events but ${rows} state rows: not an empty project; nothing was copied`);

    // The log, verbatim: every event follows the one before (append checks it).
    let copied = 0;
    for (let since = 0; since < total; ) {
      const page = (await source.snapshot((r) => r.events.list({ since, limit: PAGE }))).filter((e) => e.seq <= total);
      if (page.length === 0) break;
      for (const e of page) await tx.events.append(e);
      const last = page[page.length - 1]!;
      // Reading the page's last event back sends the page (an engine may batch writes until a read).
      const landed = (await tx.events.hashesAt([last.seq])).get(last.seq);
      if (landed !== last.hash) throw new MigrateError('failed', `event ${last.seq} did not arrive in ${names.target} as written; nothing was kept`);
      const before = copied;
      copied += page.length;
      since = last.seq;
      if (Math.floor(copied / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY)) opts.onProgress?.(copied, total);
    }
    if (copied !== total) throw new MigrateError('failed', `${names.source} has ${copied} events up to seq ${total}: its log has gaps; nothing was kept`);

    // The state rows, as the source holds them now (replaying the log would rebuild the same, but
    // leases' and claims' renewals are not in the log).
    const d = seen.dump as StateDump;
    for (const lease of seen.leases) await tx.leases.insert(lease as LeaseRow);
    const tasks = (d.tasks ?? []) as unknown as TaskRow[];
    for (const t of [...tasks].sort((a, b) => a.seq - b.seq)) await tx.tasks.insert(t);
    const patterns = new Map<string, ClaimPattern[]>();
    for (const cp of (d.claim_paths ?? []) as { claim_id: string; pattern: string; prefix: string }[]) {
      const list = patterns.get(cp.claim_id) ?? [];
      list.push({ pattern: cp.pattern, prefix: cp.prefix });
      patterns.set(cp.claim_id, list);
    }
    const claims = (d.claims ?? []) as unknown as ClaimRow[];
    for (const c of claims) await tx.claims.insert(c, patterns.get(c.id) ?? []);
    const proofs = (d.proofs ?? []) as unknown as ProofRow[];
    for (const p of proofs) await tx.proofs.insert(p);

    // What a repeated call must get back, and the domain's meta (the lease pepper among it, so a
    // grant retried with its idempotency key derives the same secret).
    let idempotency = 0;
    for (let after = ''; ; ) {
      const page: IdempotencyRow[] = await source.snapshot((r) => r.idempotency.list(after, PAGE));
      for (const row of page) await tx.idempotency.put(row);
      idempotency += page.length;
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.key_hash;
    }
    for (const [key, value] of seen.meta) await tx.meta.set(key, value);
    // Fences, task and proof ids the source handed out are never handed out again.
    for (const c of COUNTERS) await tx.advance(c, seen.counters[c]);

    // Read back inside the transaction: anything that does not match rolls it all back.
    const targetSide = await sideOf(tx, tx.head());
    const chain = await verifyChain(tx);
    const problems: string[] = [];
    if (!chain.ok) problems.push(`its audit log does not verify (event ${chain.first_bad_seq}: ${chain.problem})`);
    if (targetSide.head.seq !== sourceSide.head.seq || targetSide.head.hash !== sourceSide.head.hash) {
      problems.push(`its audit head is ${describeHead(targetSide.head)}, the source's ${describeHead(sourceSide.head)}`);
    }
    if (targetSide.digest !== sourceSide.digest) {
      const diff = firstDifference(seen.dump, await tx.dump());
      problems.push(`its state digest is ${targetSide.digest}, the source's ${sourceSide.digest}${diff ? ` (first difference: ${diff.table} row ${diff.row})` : ''}`);
    }
    for (const c of COUNTERS) {
      if (targetSide.counters[c] < sourceSide.counters[c]) problems.push(`its ${c} counter is ${targetSide.counters[c]}, below the source's ${sourceSide.counters[c]}`);
    }
    const abort = opts.abortReason?.();
    if (abort) problems.push(abort);
    if (problems.length > 0) throw new MigrateError('failed', `the copy in ${names.target} does not match: ${problems.join('; ')}; rolled back, nothing was kept`);
    opts.onProgress?.(copied, total);
    return {
      copied: { events: copied, leases: seen.leases.length, tasks: tasks.length, claims: claims.length, proofs: proofs.length, idempotency, meta: [...seen.meta.keys()] },
      source: sourceSide,
      target: targetSide,
    };
  });

  // Committed: read it back once more, as the next server will see it.
  const committed = await target.snapshot(async (r) => sideOf(r, await r.events.head()));
  if (committed.head.seq !== sourceSide.head.seq || committed.head.hash !== sourceSide.head.hash || committed.digest !== sourceSide.digest) {
    throw new MigrateError(
      'failed',
      `${names.target} committed the copy but reads back head ${describeHead(committed.head)} and digest ${committed.digest}, expected ${describeHead(sourceSide.head)} and ${sourceSide.digest}`,
    );
  }
  return { ...report, target: committed };
}

async function sideOf(r: Reader, head: ChainHead): Promise<Side> {
  return { head: short(head), digest: stateDigest(await r.dump()), counters: await r.counters() };
}

const describeHead = (h: { seq: number; hash: string }) => `seq ${h.seq} ${h.hash.slice(0, 12)}…`;

// ---- the command: a root's local store into a shared database -----------------------------------

export interface MigrateOptions {
  root: string;
  /** the target database: a postgres:// URL (the TLS rule of store-config applies) */
  to: string;
  /** the claim space to copy into; default: the one a server on this root would use */
  projectId?: string;
  /** told once the lock is held and both stores are open, before anything is copied */
  onStart?: (start: { root: string; project: string; database: string; to: string; events: number }) => void;
  onProgress?: (copied: number, total: number) => void;
  env?: NodeJS.ProcessEnv;
}

export interface MigrateReport extends CopyReport {
  root: string;
  project: string;
  /** the project id a server on this root uses by default (differs from `project` after --project), if it has one */
  defaultProject: string | undefined;
  /** the source file */
  database: string;
  /** the target URL without its password */
  to: string;
}

/** How the composition root opens the two engines. */
export interface MigrateEngines {
  openSource(file: string): Store;
  openTarget(url: string, projectId: string): Promise<Store>;
}

/** The URL as shown: without its password. */
export function shownUrl(url: URL): string {
  const u = new URL(url.href);
  if (u.password) u.password = '***';
  return u.href;
}

/**
 * Copies the root's SQLite history into the target database under the root's project id, holding
 * the root's server lock throughout (no server can run, so nothing writes the file meanwhile).
 */
export async function migrateRoot(opts: MigrateOptions, engines: MigrateEngines): Promise<MigrateReport> {
  const env = opts.env ?? process.env;
  let url: URL;
  let project: string;
  try {
    url = postgresUrl(opts.to, '--to', env);
  } catch (err) {
    throw new MigrateError('usage', (err as Error).message);
  }
  try {
    project = opts.projectId !== undefined ? projectIdOf(opts.projectId, '--project') : projectIdFor(opts.root, env);
  } catch (err) {
    throw new MigrateError('usage', `${(err as Error).message}${opts.projectId === undefined ? '; or name one with --project ID' : ''}`);
  }
  let defaultProject: string | undefined;
  try {
    defaultProject = opts.projectId === undefined ? project : projectIdFor(opts.root, env);
  } catch {
    defaultProject = undefined; // no default: the server needs DECAPOD_PROJECT or "project"
  }
  const root = realpathSync(resolve(opts.root));
  const paths = runPaths(root);
  if (!existsSync(paths.database)) throw new MigrateError('refused', `${root} has no local history to copy (no ${paths.database})`);

  ensureRunDir(paths);
  let lost: string | undefined;
  let locks;
  try {
    locks = await acquireServerLocks(paths, (err) => (lost = `the server lock of ${root} was lost during the copy (${err.message})`));
  } catch (err) {
    if (!(err instanceof AlreadyLockedError)) throw err;
    const pid = readServerJson(paths)?.pid;
    throw new MigrateError(
      'refused',
      `a decapod server is running on ${root}${pid ? ` (pid ${pid})` : ''}: it would go on writing the SQLite history; stop it first (decapod stop --root ${root}); nothing was copied`,
    );
  }
  const to = shownUrl(url);
  try {
    const source = engines.openSource(paths.database);
    try {
      let target: Store;
      try {
        target = await engines.openTarget(opts.to, project);
      } catch (err) {
        throw new MigrateError('failed', `cannot open ${to}: ${(err as Error).message}; nothing was copied`);
      }
      try {
        const events = await source.snapshot(async (r) => (await r.events.head()).seq);
        opts.onStart?.({ root, project, database: paths.database, to, events });
        const report = await copyHistory(source, target, {
          onProgress: opts.onProgress,
          abortReason: () => lost,
          names: { source: paths.database, target: `project ${project} in ${to}` },
        });
        return { root, project, defaultProject, database: paths.database, to, ...report };
      } catch (err) {
        if (err instanceof MigrateError) throw err;
        throw new MigrateError('failed', `copying into project ${project} in ${to} failed: ${(err as Error).message}; rolled back, nothing was kept`);
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
  } finally {
    await locks.release();
  }
}
