/** The server's clock. Leases are judged by it alone (docs/design.md §2); tests inject a manual one. */
export interface Clock {
  now(): number;
}

/**
 * Wall time read once at start, then advanced by the monotonic clock: a wall-clock jump while the
 * server runs (NTP step, a VM resumed, someone setting the date) neither expires leases early nor
 * stretches them. Deadlines are stored as wall times, so a jump between two servers does count:
 * see RELIABILITY.md, "Clock".
 */
export function monotonicWallClock(): Clock {
  const wallAtStart = Date.now();
  const monoAtStart = performance.now();
  return { now: () => wallAtStart + Math.round(performance.now() - monoAtStart) };
}

export const systemClock: Clock = monotonicWallClock();

/** A clock that moves only when told to: expiry tests without sleeps. */
export class ManualClock implements Clock {
  #t: number;
  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.#t = start;
  }
  now(): number {
    return this.#t;
  }
  advance(ms: number): void {
    this.#t += ms;
  }
}

export const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * One instant for a whole transaction: every timestamp a mutation writes, in rows and in its
 * events, is the same, so replaying the log rebuilds the rows exactly.
 */
export function frozenAt(clock: Clock): Clock {
  const t = clock.now();
  return { now: () => t };
}
