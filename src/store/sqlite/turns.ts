// One connection, one unit of work at a time (docs/architecture.md): a FIFO async mutex. Taking a
// free turn is synchronous, so an uncontended call costs no extra tick; waiters are served in
// arrival order, with one lane ahead of the rest for the wait queue's retries (TransactionOptions).

export class Turns {
  #busy = false;
  #ahead: (() => void)[] = [];
  #queue: (() => void)[] = [];

  /** Runs `work` when its turn comes (at once when free); the next turn starts once it settles. */
  run<T>(work: () => Promise<T> | T, ahead = false): Promise<T> {
    if (!this.#busy) {
      this.#busy = true;
      return this.#go(work);
    }
    return new Promise<T>((resolve, reject) => {
      (ahead ? this.#ahead : this.#queue).push(() => void this.#go(work).then(resolve, reject));
    });
  }

  get idle(): boolean {
    return !this.#busy;
  }

  async #go<T>(work: () => Promise<T> | T): Promise<T> {
    try {
      return await work();
    } finally {
      const next = this.#ahead.shift() ?? this.#queue.shift();
      if (next) next();
      else this.#busy = false;
    }
  }
}
