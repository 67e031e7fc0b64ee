import type { ErrorName } from './types.js';

export { LaunchError } from './launch-error.js';
export { TransportError } from './transport-error.js';
export { ERROR_CODES } from './generated/errors.js';

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
 * `data.code` (`'CONFLICT'`), `data` what a caller needs to act. The CLI prints `toJSON()`.
 *
 * @example
 * try {
 *   await client.claim.acquire({ lease: me.secret, paths: ['src/parser'] });
 * } catch (err) {
 *   if (err instanceof RpcError && err.name === 'CONFLICT') console.log(err.data.conflicts);
 *   else throw err;
 * }
 */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data: { code?: string } & Record<string, unknown>,
  ) {
    super(message);
    this.name = data.code ?? 'RpcError';
  }
  /** the error's name (`data.code`), e.g. `'CONFLICT'` */
  get errorName(): string | undefined {
    return this.data.code;
  }
  /** the JSON-RPC error object, as the server sent it */
  toJSON(): { code: number; message: string; data: Record<string, unknown> } {
    return { code: this.code, message: this.message, data: this.data };
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
