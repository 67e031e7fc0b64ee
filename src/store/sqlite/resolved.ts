// The SQLite repositories are synchronous (better-sqlite3): each is written against `Sync<R>` of
// its contract `R` and handed out as `R` by `resolved`, which returns every answer as an already
// settled promise. A transaction body that awaits only these never yields to the event loop, which
// is what lets the store run it inside the open commit group (docs/architecture.md).

/** The synchronous form of a repository contract: the same methods, answering without a promise. */
export type Sync<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R>
    ? (...args: A) => R
    : T[K] extends (...args: infer A) => AsyncIterable<infer R>
      ? (...args: A) => Iterable<R>
      : T[K];
};

/** Every method of `repo`, answering with a settled promise (a throw becomes a rejection). */
export function resolved<T extends object>(repo: Sync<T>, streams: readonly string[] = []): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(repo as Record<string, unknown>)) {
    if (typeof fn !== 'function') {
      out[name] = fn;
    } else if (streams.includes(name)) {
      out[name] = (...args: unknown[]) => streamed(() => (fn as (...a: unknown[]) => Iterable<unknown>)(...args));
    } else {
      // Fixed arity (no repository method takes more than four arguments): no rest array per call.
      const f = fn as (a?: unknown, b?: unknown, c?: unknown, d?: unknown) => unknown;
      out[name] = (a?: unknown, b?: unknown, c?: unknown, d?: unknown) => {
        try {
          return Promise.resolve(f(a, b, c, d));
        } catch (err) {
          return Promise.reject(err);
        }
      };
    }
  }
  return out as T;
}

/** A synchronous iteration handed out as an async one (opened on the first `next`). */
async function* streamed<R>(open: () => Iterable<R>): AsyncGenerator<R> {
  yield* open();
}
