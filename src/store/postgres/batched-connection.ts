import pg from 'pg';

// docs/architecture.md "PostgreSQL round trips": inside a transaction, a write whose answer
// nobody reads (an INSERT, an UPDATE of a known row, a NOTIFY) need not cost a round trip of its
// own. It waits and travels with the next read, or with the COMMIT, as one simple-protocol query
// of several statements. PostgreSQL runs them in order and stops at the first error, which then
// fails that read or the COMMIT: the transaction is rolled back either way.

export type Raw = Record<string, unknown>;
/** a statement whose rows are wanted now */
export type Read = (sql: string, params: unknown[]) => Promise<Raw[]>;
/** a statement whose rows nobody reads: sent with the next read or the end */
export type Write = (sql: string, params: unknown[]) => void;

/**
 * A value as a quoted literal: the text the extended protocol would send as an untyped parameter
 * (pg's own encoding, then pg's own quoting), so a statement means the same inlined or not.
 */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  return pg.escapeLiteral(String(prepareValue(value)));
}
// pg exports its parameter encoder as `utils`; @types/pg does not declare it.
const { prepareValue } = (pg as unknown as { utils: { prepareValue: (v: unknown) => unknown } }).utils;

/** `sql` with $1…$n replaced by the literals of `params` (our statements hold no `$` in strings). */
export function inline(sql: string, params: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => {
    const i = Number(n) - 1;
    if (i >= params.length) throw new Error(`statement refers to $${n} but has ${params.length} parameters`);
    return literal(params[i]);
  });
}

export class BatchedConnection {
  readonly #client: pg.ClientBase;
  #pending: string[] = [];
  /** round trips made, for the benchmarks' count (scripts/bench) */
  roundTrips = 0;

  constructor(client: pg.ClientBase, first?: string) {
    this.#client = client;
    if (first) this.#pending.push(first);
  }

  /** the statement in flight: reads issued together (Promise.all) go one after another */
  #busy: Promise<unknown> = Promise.resolve();

  readonly read: Read = (sql, params) => this.#inTurn(async () => {
    this.roundTrips++;
    if (this.#pending.length === 0) return (await this.#client.query(sql, params)).rows as Raw[];
    return this.#flushWith(inline(sql, params));
  });

  #inTurn<T>(run: () => Promise<T>): Promise<T> {
    const turn = this.#busy.then(run);
    this.#busy = turn.catch(() => {});
    return turn;
  }

  readonly write: Write = (sql, params) => {
    this.#pending.push(inline(sql, params));
  };

  /** Sends what waits and `last` (e.g. COMMIT) in one round trip. */
  async finish(last: string): Promise<void> {
    await this.#inTurn(() => {
      this.roundTrips++;
      return this.#flushWith(last);
    });
  }

  /** Drops what waits (the transaction is being rolled back). */
  discard(): void {
    this.#pending = [];
  }

  async #flushWith(last: string): Promise<Raw[]> {
    const text = [...this.#pending, last].join(';\n');
    this.#pending = [];
    const res = (await this.#client.query(text)) as pg.QueryResult | pg.QueryResult[];
    const results = Array.isArray(res) ? res : [res];
    return results[results.length - 1]!.rows as Raw[];
  }
}
