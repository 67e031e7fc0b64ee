// DESIGN §3: the one error table. name → JSON-RPC code → HTTP status (for POST /rpc/<method>).
// Retired codes are never reused. Domain code throws only DecapodError.

export const ERRORS = {
  PARSE_ERROR: { code: -32700, http: 400, fix: 'Send valid JSON.' },
  INVALID_REQUEST: { code: -32600, http: 400, fix: 'Send {"jsonrpc":"2.0","method":…,"params":{…},"id":…}; batches hold 1…100 items.' },
  METHOD_NOT_FOUND: { code: -32601, http: 404, fix: 'Check the name against rpc.discover.' },
  INVALID_PARAMS: { code: -32602, http: 400, fix: 'Fix the field named in data.field; nothing was changed.' },
  INTERNAL_ERROR: { code: -32603, http: 500, fix: 'A bug: see .decapod/run/server.log and report it.' },
  LEASE_INVALID: { code: 1001, http: 403, fix: 'data.reason says why (unknown, expired, revoked): grant a new lease with lease.grant.' },
  NOT_FOUND: { code: 1002, http: 404, fix: 'data.kind and data.id name what is missing; list to find the right id.' },
  CONFLICT: { code: 1003, http: 409, fix: 'data.conflicts names the holders and when they expire: wait, or pick other work.' },
  NOT_HOLDER: { code: 1004, http: 403, fix: 'Act only on claims held by your own lease; data.holder is the holder.' },
  FENCED_OUT: { code: 1005, http: 409, fix: 'Your claim was lost and re-granted; stop writing, re-claim, use data.current_fence.' },
  PROOF_REQUIRED: { code: 1006, http: 412, fix: 'Run the gates listed in data.blocked_by (proof.run), then complete again.' },
  INVALID_STATE: { code: 1007, http: 409, fix: 'data.from and data.to name the refused transition.' },
  PROOF_NOT_ALLOWED: { code: 1008, http: 403, fix: 'This gate accepts only server-run proofs: use proof.run.' },
  OUT_OF_BOUNDS: { code: 1009, http: 409, fix: 'data.files lists the changes or claims outside the claim’s paths or on forbidden paths: revert them or claim them.' },
  BUSY: { code: -32001, http: 503, fix: 'Retry after data.retry_after_ms; nothing was changed.' },
  VERSION_MISMATCH: { code: -32002, http: 400, fix: 'Use a client of the server\'s protocol version (data.server).' },
  SHUTTING_DOWN: { code: -32003, http: 503, fix: 'Reconnect (a new server starts on demand) and retry.' },
  UNAVAILABLE: { code: -32004, http: 503, fix: 'data.reason says why the store takes no writes now (disk_full: data.path and data.mount name the file system): free space there, then retry after data.retry_after_ms; nothing was changed.' },
} as const satisfies Record<string, { code: number; http: number; fix: string }>;

export type ErrorName = keyof typeof ERRORS;

export interface RpcErrorObject {
  code: number;
  message: string;
  data: { code: ErrorName } & Record<string, unknown>;
}

export class DecapodError extends Error {
  readonly errorName: ErrorName;
  readonly data: Record<string, unknown>;

  constructor(name: ErrorName, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'DecapodError';
    this.errorName = name;
    this.data = data;
  }

  get code(): number {
    return ERRORS[this.errorName].code;
  }

  get httpStatus(): number {
    return ERRORS[this.errorName].http;
  }

  toJSON(): RpcErrorObject {
    return { code: this.code, message: this.message, data: { code: this.errorName, ...this.data } };
  }
}

/** Anything that is not a DecapodError becomes a generic -32603: never a stack or a SQLite message. */
export function toRpcError(err: unknown): DecapodError {
  if (err instanceof DecapodError) return err;
  return new DecapodError('INTERNAL_ERROR', 'internal error');
}

export function invalidParams(field: string, message: string): DecapodError {
  return new DecapodError('INVALID_PARAMS', `invalid params: ${field} ${message}`, { field });
}
