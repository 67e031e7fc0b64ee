// One call from the CLI: the client package's call under its one retry policy
// (clients/ts/src/retry-policy.ts), launched with the CLI's options (launcher.ts).
import { callMethod as callWith } from '../../clients/ts/src/connection.js';
import { cliLaunchOptions, type LaunchOptions } from './launcher.js';

export { RpcError } from '../../clients/ts/src/errors.js';

export function callMethod(root: string, method: string, params: Record<string, unknown> = {}, opts: LaunchOptions = {}): Promise<unknown> {
  return callWith(root, method, params, cliLaunchOptions(opts));
}
