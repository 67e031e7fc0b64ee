// DESIGN §3: the one error table. name → JSON-RPC code → HTTP status (for POST /rpc/<method>).
// Retired codes are never reused. Domain code throws only DecapodError.

export const ERRORS = {
  PARSE_ERROR: { code: -32700, http: 400 },
  INVALID_REQUEST: { code: -32600, http: 400 },
  METHOD_NOT_FOUND: { code: -32601, http: 404 },
  INVALID_PARAMS: { code: -32602, http: 400 },
  INTERNAL_ERROR: { code: -32603, http: 500 },
  LEASE_INVALID: { code: 1001, http: 403 },
  NOT_FOUND: { code: 1002, http: 404 },
  CONFLICT: { code: 1003, http: 409 },
  NOT_HOLDER: { code: 1004, http: 403 },
  FENCED_OUT: { code: 1005, http: 409 },
  PROOF_REQUIRED: { code: 1006, http: 412 },
  INVALID_STATE: { code: 1007, http: 409 },
  PROOF_NOT_ALLOWED: { code: 1008, http: 403 },
  BUSY: { code: -32001, http: 503 },
  VERSION_MISMATCH: { code: -32002, http: 400 },
  SHUTTING_DOWN: { code: -32003, http: 503 },
} as const satisfies Record<string, { code: number; http: number }>;

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
