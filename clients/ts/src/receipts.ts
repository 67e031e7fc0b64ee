import type { Receipt } from './types.js';

/** How many receipts a client keeps by default (docs/design.md §11): about 300 kB. */
export const DEFAULT_KEEP_RECEIPTS = 1_000;
/** audit.verify takes at most this many receipts per call. */
export const MAX_KEEP_RECEIPTS = 10_000;

/**
 * The receipts of one client's own mutations, the newest `limit` of them, oldest first: evidence
 * kept outside the server's database, to hold its log to later (`verifyReceipts()`).
 */
export class ReceiptLog {
  readonly #items: Receipt[] = [];

  constructor(readonly limit: number = DEFAULT_KEEP_RECEIPTS) {
    if (!Number.isInteger(limit) || limit < 0 || limit > MAX_KEEP_RECEIPTS) {
      throw new RangeError(`keepReceipts: expected a whole number from 0 to ${MAX_KEEP_RECEIPTS}, got ${String(limit)}`);
    }
  }

  /** Keeps the receipt of a result, if it has one (a repeat answered from its record: once). */
  note(result: unknown): void {
    if (this.limit === 0) return;
    const r = (result as { receipt?: Partial<Receipt> } | null)?.receipt;
    if (!r || typeof r.seq !== 'number' || typeof r.hash !== 'string') return;
    const last = this.#items.at(-1);
    if (last && last.seq === r.seq && last.hash === r.hash) return;
    this.#items.push({ ...(r as Receipt) });
    if (this.#items.length > this.limit) this.#items.splice(0, this.#items.length - this.limit);
  }

  list(): Receipt[] {
    return this.#items.map((r) => ({ ...r }));
  }
}
