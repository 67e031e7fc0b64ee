import { DecapodError } from '../errors.js';
import { takeCheckpoint } from '../methods/audit-anchor.js';
import type { MethodContext } from '../methods/define.js';

// docs/design.md §11: the server checkpoints the audit log's head on its own, every `every` events and on
// shutdown, off the request path and writing no event. A root that is not a git repository is
// skipped silently; a log that contradicts the ref's checkpoint is never anchored (logged).

/** DECAPOD_CHECKPOINT_EVERY's default: events between automatic checkpoints. */
export const DEFAULT_CHECKPOINT_EVERY = 1_000;

/** How long shutdown waits for its checkpoint before going on without it. */
export const SHUTDOWN_CHECKPOINT_MS = 3_000;

/** How often the head is looked at (a cheap indexed read). */
const LOOK_EVERY_MS = 1_000;

export interface AutoCheckpoints {
  /** Stops the periodic checkpoints, then takes one last checkpoint within `boundMs`. Never throws. */
  final(boundMs?: number): Promise<void>;
  /** Stops everything at once (no last checkpoint). */
  stop(): void;
}

export function startAutoCheckpoints(ctx: MethodContext, every: number, onProblem: (err: unknown, when: 'periodic' | 'shutdown') => void): AutoCheckpoints {
  const aborts = new AbortController();
  let lastSeq = 0;
  let inFlight: Promise<void> | undefined;
  const report = (err: unknown, when: 'periodic' | 'shutdown') => {
    if (aborts.signal.aborted) return;
    // Not a git repository (or no events yet): nothing to anchor, nothing to say.
    if (err instanceof DecapodError && err.errorName === 'INVALID_STATE' && (err.data.from === 'no-git-repository' || err.data.from === 'empty')) return;
    onProblem(err, when);
  };
  const tick = async () => {
    if (inFlight) return;
    let head;
    try {
      head = await ctx.store.snapshot((r) => r.events.head());
    } catch {
      return; // closing
    }
    if (inFlight || head.seq - lastSeq < every) return;
    const seen = head.seq;
    inFlight = takeCheckpoint(ctx, { minNew: every, signal: aborts.signal })
      .then(
        (cp) => void (lastSeq = cp.written ? cp.seq : Math.max(cp.seq, lastSeq)),
        (err: unknown) => {
          lastSeq = seen; // try again `every` events later
          report(err, 'periodic');
        },
      )
      .finally(() => (inFlight = undefined));
  };
  const timer = every > 0 ? setInterval(() => void tick(), LOOK_EVERY_MS) : undefined;
  timer?.unref();
  const stop = () => {
    if (timer) clearInterval(timer);
    aborts.abort();
  };
  return {
    stop,
    final: async (boundMs = SHUTDOWN_CHECKPOINT_MS) => {
      if (timer) clearInterval(timer);
      const last = new AbortController();
      const bound = setTimeout(() => last.abort(), boundMs);
      try {
        const work = takeCheckpoint(ctx, { minNew: 1, signal: last.signal }).then(
          () => {},
          (err: unknown) => report(err, 'shutdown'),
        );
        // Queued behind a periodic one that hangs: the bound still holds.
        await Promise.race([work, new Promise<void>((resolve) => last.signal.addEventListener('abort', () => resolve(), { once: true }))]);
      } finally {
        clearTimeout(bound);
        stop();
      }
    },
  };
}
