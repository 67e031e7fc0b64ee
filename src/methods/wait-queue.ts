/**
 * Requests waiting for claimed paths to come free (claim.acquire with wait_ms). Whenever state
 * changes, every waiter retries, in arrival order, ahead of any request that has not started yet
 * (the store runs `ahead` transactions first): among waiters the first to ask is the first
 * served, and no later request takes the paths before them (docs/design.md §5).
 */

export type WaitResult<T> = { kind: 'done'; value: T } | { kind: 'failed'; error: unknown } | { kind: 'timed_out'; last: unknown };

interface Waiter {
  /** must start its transaction (ahead) before it returns its promise: that fixes its place */
  attempt: () => Promise<unknown>;
  retryable: (err: unknown) => boolean;
  last: unknown;
  inFlight: boolean;
  /** state changed again while an attempt was in flight */
  again: boolean;
  timedOut: boolean;
  finish: (r: WaitResult<unknown>) => void;
}

export class WaitQueue {
  #waiters: Waiter[] = [];

  /**
   * Enlists `attempt` to be retried on every change until it succeeds, fails for good (an error
   * `retryable` rejects) or `timeoutMs` passes. Call it while the failed first attempt still runs
   * (inside its transaction), so no change after it can go unseen.
   */
  wait<T>(attempt: () => Promise<T>, retryable: (err: unknown) => boolean, first: unknown, timeoutMs: number): Promise<WaitResult<T>> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiter.timedOut = true;
        // An attempt under way decides: a grant it makes must reach the caller, never be lost.
        if (!waiter.inFlight) waiter.finish({ kind: 'timed_out', last: waiter.last });
      }, timeoutMs);
      const waiter: Waiter = {
        attempt,
        retryable,
        last: first,
        inFlight: false,
        again: false,
        timedOut: false,
        finish: (r) => {
          clearTimeout(timer);
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve(r as WaitResult<T>);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  get size(): number {
    return this.#waiters.length;
  }

  /** State changed: every waiter retries, in arrival order. */
  notify(): void {
    for (const w of [...this.#waiters]) this.#retry(w);
  }

  #retry(w: Waiter): void {
    if (w.inFlight) {
      w.again = true;
      return;
    }
    w.inFlight = true;
    w.attempt().then(
      (value) => w.finish({ kind: 'done', value }),
      (err: unknown) => {
        w.inFlight = false;
        if (!w.retryable(err)) return w.finish({ kind: 'failed', error: err });
        w.last = err;
        if (w.timedOut) return w.finish({ kind: 'timed_out', last: err });
        if (w.again) {
          w.again = false;
          this.#retry(w);
        }
      },
    );
  }
}
