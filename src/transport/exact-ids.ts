import { randomBytes } from 'node:crypto';
import { parse as losslessParse, LosslessNumber } from 'lossless-json';

// JSON-RPC ids keep their exact value. JSON.parse turns an id such as 9007199254740993 or 1.10
// into a double that prints differently, and an answer with another id matches no request. Such
// ids are swapped for unique placeholders while the request is served, and the answer's text gets
// the caller's own digits back. The common case (string or safe-integer ids) costs one check.

export interface ExactIds {
  /** the answer's JSON text with every placeholder id replaced by the id's original digits */
  restore(json: string): string;
}

const NONE: ExactIds = { restore: (json) => json };

// A finite id that is not a safe integer; an id past the double range (1e309) stays Infinity and
// is refused by the envelope check, as before.
const inexactId = (item: unknown): boolean => {
  const id = typeof item === 'object' && item !== null ? (item as { id?: unknown }).id : undefined;
  return typeof id === 'number' && Number.isFinite(id) && !Number.isSafeInteger(id);
};

/**
 * Looks for numeric ids a double cannot carry exactly in a parsed body (a request or a batch);
 * where there are some, rewrites them in place to placeholders and says how to restore them.
 */
export function preserveExactIds(text: string, body: unknown): ExactIds {
  const items = Array.isArray(body) ? body : [body];
  if (!items.some(inexactId)) return NONE;
  let exact: unknown;
  try {
    exact = losslessParse(text);
  } catch {
    return NONE; // JSON.parse took it, lossless-json not (duplicate keys): the id stays as parsed
  }
  const exactItems = (Array.isArray(exact) ? exact : [exact]) as { id?: unknown }[];
  const nonce = randomBytes(12).toString('hex');
  const digits = new Map<string, string>();
  items.forEach((item, i) => {
    const raw = exactItems[i]?.id;
    if (!inexactId(item) || !(raw instanceof LosslessNumber)) return;
    const placeholder = `\u0000decapod-id:${nonce}:${i}`;
    digits.set(JSON.stringify(placeholder), raw.value);
    (item as { id: unknown }).id = placeholder;
  });
  const pattern = new RegExp(`"\\\\u0000decapod-id:${nonce}:\\d+"`, 'g');
  return { restore: (json) => json.replace(pattern, (m) => digits.get(m) ?? m) };
}

/** A UTF-8 byte order mark before the JSON is tolerated (some Windows tools write one). */
export const stripBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
