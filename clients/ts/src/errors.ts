import { RpcError as LauncherRpcError } from '../../src/launcher/rpc-call.js';
import type { ErrorName } from './types.js';

export { LaunchError } from '../../src/launcher/launcher.js';
export { TransportError } from '../../src/launcher/http-json.js';

/** What `error.data` carries for each error (DESIGN §3), beside `code`, the error's name. */
export interface ErrorData {
  LEASE_INVALID: { reason: 'unknown' | 'expired' | 'revoked'; lease_id?: string };
  NOT_FOUND: { kind: string; id: string };
  CONFLICT: { conflicts: { resource: string; claim_id: string; agent: string; mode: 'exclusive' | 'shared'; ttl_remaining_ms: number }[] };
  NOT_HOLDER: { holder: unknown };
  FENCED_OUT: { current_fence: number };
  PROOF_REQUIRED: {
    blocked_by: { gate: string; reason: 'missing' | 'failed' | 'stale' | 'changed_during_run' | 'agent_attested'; proof?: string; detail?: string }[];
  };
  INVALID_STATE: { from: string; to: string };
  PROOF_NOT_ALLOWED: { gate: string };
  OUT_OF_BOUNDS: { files: string[] };
  INVALID_PARAMS: { field: string };
  BUSY: { retry_after_ms: number };
  VERSION_MISMATCH: { client: number; server: number };
  /** the store takes no writes now; nothing was changed. disk_full names the file system */
  UNAVAILABLE: { reason: 'disk_full'; retry_after_ms: number; path?: string; mount?: string; free_bytes?: number };
}

/**
 * A JSON-RPC error answered by the server. `code` is the number, `name` the name from
 * `data.code` (`'CONFLICT'`), `data` what a caller needs to act. Also an instance of the launcher's
 * RpcError, so code shared with the CLI recognises it.
 *
 * @example
 * try {
 *   await client.claim.acquire({ lease: me.secret, paths: ['src/parser'] });
 * } catch (err) {
 *   if (err instanceof RpcError && err.name === 'CONFLICT') console.log(err.data.conflicts);
 *   else throw err;
 * }
 */
export class RpcError extends LauncherRpcError {
  constructor(code: number, message: string, data: { code?: string } & Record<string, unknown>) {
    super(code, message, data);
    this.name = data.code ?? 'RpcError';
  }
}

/**
 * True when `err` is an RpcError named `name`; narrows `err.data` to that error's data.
 *
 * @example
 * if (isRpcError(err, 'CONFLICT')) console.log(err.data.conflicts[0]?.agent);
 */
export function isRpcError<N extends ErrorName>(
  err: unknown,
  name: N,
): err is RpcError & { name: N; data: { code: N } & (N extends keyof ErrorData ? ErrorData[N] : Record<string, unknown>) } {
  return err instanceof RpcError && err.name === name;
}
