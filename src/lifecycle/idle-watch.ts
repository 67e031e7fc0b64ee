import type { Clock } from '../util/clock.js';

/** Calls `onIdle` once no request has been in flight for `timeoutMs` (docs/design.md §2). */
export class IdleWatch {
  #inFlight = 0;
  #last: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly onIdle: () => void,
  ) {
    this.#last = clock.now();
  }

  readonly begin = (): void => {
    this.#inFlight++;
    this.#last = this.clock.now();
  };

  readonly end = (): void => {
    this.#inFlight--;
    this.#last = this.clock.now();
  };

  start(): void {
    // Check often enough to exit within about a tenth of the timeout, at most once a second.
    const every = Math.max(50, Math.min(1000, Math.floor(this.timeoutMs / 10)));
    this.#timer = setInterval(() => {
      if (this.#inFlight === 0 && this.clock.now() - this.#last >= this.timeoutMs) {
        this.stop();
        this.onIdle();
      }
    }, every);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
