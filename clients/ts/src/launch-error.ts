/**
 * No server could be had for the root. `code` says why: `NO_SERVER` (none running and spawning is
 * off, or the root is gone), `NO_CLI` (nothing to start one with: neither DECAPOD_BIN nor
 * `decapod` on PATH), `START_FAILED` (it did not become healthy in time: `data.log` names its log),
 * `VERSION_MISMATCH` (it speaks another protocol: `data.client`, `data.server`).
 */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly code: 'NO_SERVER' | 'NO_CLI' | 'START_FAILED' | 'VERSION_MISMATCH',
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}
