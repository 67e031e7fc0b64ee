// The one retry policy (clients/ts/src/retry-policy.ts), for CLI code that sends its own requests
// (`decapod mcp` relays MCP messages rather than calling one method).
export { decide, STOPPING_WAIT_MS, withIdempotencyKey, type Failure } from '../../clients/ts/src/retry-policy.js';
