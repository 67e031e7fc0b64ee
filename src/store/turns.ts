// One unit of work at a time (docs/architecture.md): per connection for SQLite, per server for
// PostgreSQL's writers. A FIFO async mutex: taking a free turn is synchronous, so an uncontended
// call costs no extra tick; waiters are served in arrival order, with one lane ahead of the rest
// for the wait queue's retries (TransactionOptions).

const TAKEN = Promise.resolve();

export class Turns {
  #busy = false;
  #ahead: (() => void)[] = [];
  #queue: (() => void)[] = [];

  /** Takes the turn if it is free, at once. */
  tryTake(): boolean {
    if (this.#busy) return false;
    this.#busy = true;
    return true;
  }

  /** Resolves once the turn is this caller's (at once when free). Pair with release(). */
  take(ahead = false): Promise<void> {
    if (this.tryTake()) return TAKEN;
    return new Promise<void>((resolve) => (ahead ? this.#ahead : this.#queue).push(resolve));
  }

  /** Hands the turn to the next waiter (the ahead lane first), or frees it. */
  release(): void {
    const next = this.#ahead.shift() ?? this.#queue.shift();
    if (next) next();
    else this.#busy = false;
  }

  /** Runs `work` in its turn. */
  async run<T>(work: () => Promise<T> | T, ahead = false): Promise<T> {
    if (!this.tryTake()) await this.take(ahead);
    try {
      return await work();
    } finally {
      this.release();
    }
  }
}
