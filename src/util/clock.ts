/** The server's clock. Leases are judged by it alone (DESIGN §2); tests inject a manual one. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

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
