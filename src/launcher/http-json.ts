// Lives in the client package; re-exported for the CLI.
export { httpJson, TransportError, type HttpResult } from '../../clients/ts/src/http-json.js';
