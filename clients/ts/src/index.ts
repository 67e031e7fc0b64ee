// The Decapod TypeScript client (npm package `decapod-client`). See its README.md.
export { connect, type ClientCore, type ConnectOptions, type DecapodClient, type LeaseHelpers, type ServerInfo } from './client.js';
export { startEphemeral, type Ephemeral, type EphemeralOptions } from './ephemeral.js';
export type { Env } from './env.js';
export { Lease, type HoldOptions, type LeaseState, type LostReason } from './lease.js';
export { DEFAULT_KEEP_RECEIPTS } from './receipts.js';
export { BUSY_RETRIES } from './retry-policy.js';
export { ERROR_CODES, isRpcError, LaunchError, RpcError, TransportError, type ErrorData } from './errors.js';
export type { Claim, ErrorName, MethodName, Methods, Namespaces, Params, ParamsArg, PublicLease, Receipt, Result, Task } from './types.js';
