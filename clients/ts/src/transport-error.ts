/** The server could not be reached, or answered with something other than JSON-RPC. `code` is Node's (`ECONNREFUSED`, `ECONNRESET`…) or ours (`ECLOSED`, `EBADANSWER`, `EUNAUTHORIZED`). */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** true when the request certainly never reached a server (safe to retry anything) */
    readonly undelivered: boolean,
  ) {
    super(message);
  }
}
