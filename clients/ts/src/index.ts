// The Decapod TypeScript client. See clients/ts/README.md.
export { connect, type ClientCore, type ConnectOptions, type DecapodClient, type LeaseHelpers, type ServerInfo } from './client.js';
export { startEphemeral, type Ephemeral, type EphemeralOptions } from './ephemeral.js';
export { Lease, type HoldOptions, type LeaseState, type LostReason } from './lease.js';
export { DEFAULT_KEEP_RECEIPTS } from './receipts.js';
export { isRpcError, LaunchError, RpcError, TransportError, type ErrorData } from './errors.js';
export type { Claim, ErrorName, MethodName, Methods, Namespaces, Params, ParamsArg, PublicLease, Receipt, Result, Task } from './types.js';
