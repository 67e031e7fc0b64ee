/**
 * Requests waiting for claimed paths to come free (claim.acquire with wait_ms). Whenever state
 * changes, waiters retry in arrival order, synchronously, before any other request is handled:
 * so among waiters the first to ask is the first served (docs/design.md §5).
 */
export class WaitQueue {
  #waiters: { attempt: () => boolean }[] = [];

  /** `attempt` returns true when the waiter is done (granted or failed for good). */
  add(attempt: () => boolean): () => void {
    const waiter = { attempt };
    this.#waiters.push(waiter);
    return () => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
    };
  }

  get size(): number {
    return this.#waiters.length;
  }

  notify(): void {
    if (this.#waiters.length === 0) return;
    // A grant here is itself a change, but it only ever takes resources: no one behind it gains.
    for (const w of [...this.#waiters]) {
      if (w.attempt()) this.#waiters = this.#waiters.filter((x) => x !== w);
    }
  }
}
