import { performance } from 'node:perf_hooks';
import { Connection } from './connection.js';
import type { Env } from './env.js';
import { CATALOG } from './generated/catalog.js';
import { Lease, type HoldOptions } from './lease.js';
import { projectRoot } from './project-root.js';
import { ReceiptLog } from './receipts.js';
import type { ServerJson } from './run-files.js';
import type { MethodName, Namespaces, ParamsArg, Receipt, Result } from './types.js';

export interface ConnectOptions {
  /** the project root; default: the main worktree of the repository around the current folder, else the folder */
  root?: string;
  /** start a server when none answers; default: yes, unless DECAPOD_NO_SPAWN=1 */
  spawn?: boolean;
  /** the environment the launcher reads and a spawned server gets (DECAPOD_BIN, PATH, DECAPOD_IDLE_TIMEOUT…); default process.env */
  env?: Env;
  /** how long to wait for a server to become healthy, in ms; default 20 s */
  launchTimeoutMs?: number;
  /** how many receipts of its own mutations the client keeps for verifyReceipts(), newest first; default 1000, at most 10 000, 0: none */
  keepReceipts?: number;
}

/** What server.json advertises, without the token. */
export type ServerInfo = Omit<ServerJson, 'token'>;

export interface ClientCore {
  /** the project root this client serves */
  readonly root: string;
  /**
   * Calls any method by name, typed by the method map.
   *
   * @example
   * const { claim } = await client.call('claim.acquire', { lease: me.secret, paths: ['src/parser'] });
   */
  call<M extends MethodName>(method: M, ...args: ParamsArg<M>): Promise<Result<M>>;
  /**
   * The server now answering for the root (found or started on demand).
   *
   * @example
   * const { url, pid } = await client.info();
   */
  info(): Promise<ServerInfo>;
  /**
   * The receipts of this client's own mutations, oldest first: the last `keepReceipts` (default
   * 1000) of them. Kept in this process, outside the server's database.
   *
   * @example
   * const kept = client.receipts(); // [{ seq, hash, op, at, inputs_hash, outputs_hash }, …]
   */
  receipts(): Receipt[];
  /**
   * Holds the server's log to the kept receipts (`audit.verify` with their seq and hash): `ok` is
   * false when the log contradicts any of them (rolled back, truncated or rewritten), each one
   * listed in `receipts.contradicted`; the result also says how the log stands against its
   * chain and its git checkpoints.
   *
   * @example
   * const v = await client.verifyReceipts();
   * if (!v.ok) console.error(v.problem, v.receipts?.contradicted);
   */
  verifyReceipts(): Promise<Result<'audit.verify'>>;
  /**
   * Closes the client: pooled connections are dropped, later calls fail (TransportError code
   * `ECLOSED`), and leases held through it stop renewing (their `onLost` hears `closed`). Optional
   * at exit: idle connections never keep the process alive.
   *
   * @example
   * client.close();
   */
  close(): void;
}

export interface LeaseHelpers {
  /**
   * Grants a lease and keeps it alive in the background (every third of its TTL) until
   * `release()`; `onLost` hears if it is revoked or expires. See {@link Lease}.
   *
   * @example
   * const me = await client.lease.hold({ agent: 'alice', ttl_ms: 30_000, onLost: (why) => console.error(why) });
   */
  hold(opts: HoldOptions): Promise<Lease>;
}

/** A client: `call(name, params)`, and one function per method, `client.claim.acquire(params)`. */
export type DecapodClient = ClientCore & Omit<Namespaces, 'lease'> & { lease: Namespaces['lease'] & LeaseHelpers };

/**
 * Connects to the project's Decapod server: finds it from `.decapod/run/server.json`, or starts
 * one (`decapod serve`, found through DECAPOD_BIN or PATH), and reconnects when it goes away,
 * under the retry policy of the README.
 *
 * @example
 * import { connect } from 'decapod-client';
 * const client = await connect(); // the repository around the current folder
 * const { tasks } = await client.task.list({ ready: true });
 */
export async function connect(opts: ConnectOptions = {}): Promise<DecapodClient> {
  const root = projectRoot(process.cwd(), opts.root);
  const conn = new Connection(root, {
    ...(opts.spawn !== undefined ? { spawn: opts.spawn } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.launchTimeoutMs !== undefined ? { boundMs: opts.launchTimeoutMs } : {}),
  });
  const kept = new ReceiptLog(opts.keepReceipts);
  await conn.server(); // fail here, not on the first call, when no server can be had
  return buildClient(conn, kept);
}

function buildClient(conn: Connection, kept: ReceiptLog): DecapodClient {
  // docs/design.md §11: every mutation's receipt is kept, to hold the server's log to later.
  const callAny = async (method: string, params?: Record<string, unknown>) => {
    const result = await conn.call(method, params);
    kept.note(result);
    return result;
  };
  const call = callAny as ClientCore['call'];
  const core: ClientCore = {
    root: conn.root,
    call,
    info: async () => {
      const { token: _token, ...info } = await conn.server();
      return info;
    },
    receipts: () => kept.list(),
    verifyReceipts: async () =>
      (await conn.call('audit.verify', { receipts: kept.list().map(({ seq, hash }) => ({ seq, hash })) })) as Result<'audit.verify'>,
    close: () => conn.close(),
  };
  const client: Record<string, unknown> = { ...core };
  // The namespaces come from the generated catalog: a new method appears without edits here.
  for (const name of Object.keys(CATALOG)) {
    const dot = name.indexOf('.');
    if (dot <= 0) continue; // reachable through call() only
    const [ns, member] = [name.slice(0, dot), name.slice(dot + 1)];
    if (Object.hasOwn(core, ns)) throw new Error(`method ${name} collides with the client's own ${ns}`);
    const group = (client[ns] ??= {}) as Record<string, unknown>;
    group[member] = (params?: Record<string, unknown>) => callAny(name, params);
  }
  const leaseGroup = (client.lease ??= {}) as Record<string, unknown>;
  const hold: LeaseHelpers['hold'] = async ({ onLost, ...params }) => {
    const sentAt = performance.now();
    const granted = await call('lease.grant', params);
    return new Lease(call, granted, sentAt, onLost);
  };
  leaseGroup.hold = hold;
  return client as unknown as DecapodClient;
}
