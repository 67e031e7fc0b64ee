const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `30s`, `2m`, `1h` (or a bare number of milliseconds). Throws naming `what`. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) {
    throw new Error(`${what}: expected a duration like 500ms, 30s or 2m, got ${JSON.stringify(text)}`);
  }
  const ms = Number(m[1]) * UNITS[m[2] ?? 'ms']!;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`${what}: must be a positive duration, got ${JSON.stringify(text)}`);
  return ms;
}
