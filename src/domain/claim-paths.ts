import picomatch from 'picomatch/posix.js';
import { invalidParams } from '../errors.js';

// What an agent may claim (docs/design.md §4): exact paths, folders and globs, relative to the project
// root. Conflicts are decided on the text alone (path-overlap.ts), so normalising here is what
// makes `./src/`, `src//` and `src` the same claim.
//
// Percent-encodings are NOT decoded: a literal `%2e%2e` is just a file name with percent signs
// in it, never `..`. Decoding belongs to the transport that received the bytes; doing it again
// here would let `%252e` sneak a `..` past this check. Likewise nothing is trimmed or Unicode-
// normalised: a name with a trailing space or in NFD is a different name.

export const CLAIM_PATHS_LIMITS = { maxPaths: 256, maxLength: 1024 } as const;
/** More stars than this in one segment make glob matching backtrack badly (measured: 3 stars
 * against a 1 024-character name take ~60 ms a match, 2 stars ~0.2 ms). */
export const MAX_STARS_PER_SEGMENT = 2;

/** The pattern that means "the whole project": what `.` normalises to. */
export const WHOLE_ROOT = '**';

// C0, DEL and C1: never part of a path anyone means to claim, and they garble logs.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// `C:`, `C:/x`, `c:x`: absolute (or drive-relative) on Windows, so not "relative to the root".
const WINDOWS_DRIVE = /^[A-Za-z]:/;
// A segment with any of these may stand for zero segments (`**`, `{,a}`, `*(a)`).
const GLOB_CHARS = /[*?[\]{}()|]/;
// Inside braces and extglobs, the alternatives are separated by these; a `..` alternative would
// let a file-system walker leave the root even though the text has no `..` segment.
const ALTERNATIVE_SEPARATORS = /[{},()|]/;

/**
 * Normalises the paths of one claim: POSIX separators, no `./`, no trailing `/`, no duplicate
 * slashes, `.` segments removed, `..` resolved (and refused if it leaves the root), deduplicated
 * and sorted. `.` alone (the whole root) becomes `**`. Throws INVALID_PARAMS naming `field.<i>`.
 */
/** One path given on its own (claim.list's `path`): the error names `field` itself. */
export function normalizeClaimPath(path: string, field: string): string {
  return normalizeOne(path, field);
}

export function normalizeClaimPaths(paths: string[], field = 'paths'): string[] {
  if (!Array.isArray(paths)) throw invalidParams(field, 'must be a list of paths');
  if (paths.length === 0) throw invalidParams(field, 'must name at least one path');
  if (paths.length > CLAIM_PATHS_LIMITS.maxPaths) {
    throw invalidParams(field, `must hold at most ${CLAIM_PATHS_LIMITS.maxPaths} paths`);
  }
  const out = new Set<string>();
  paths.forEach((p, i) => out.add(normalizeOne(p, `${field}.${i}`)));
  // Code-unit order, not localeCompare: the same list must sort the same on every machine.
  return [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function normalizeOne(p: unknown, field: string): string {
  if (typeof p !== 'string') throw invalidParams(field, 'must be a string');
  if (p === '') throw invalidParams(field, 'must not be empty (use "." for the whole project)');
  if (p.length > CLAIM_PATHS_LIMITS.maxLength) {
    throw invalidParams(field, `must be at most ${CLAIM_PATHS_LIMITS.maxLength} characters`);
  }
  if (p.includes('\u0000')) throw invalidParams(field, 'must not contain a NUL byte');
  if (CONTROL.test(p)) throw invalidParams(field, 'must not contain control characters');
  // A backslash is a separator on Windows and an escape in globs: either reading could be meant.
  if (p.includes('\\')) throw invalidParams(field, 'must not contain a backslash (use / as the separator)');
  if (p.startsWith('/') || WINDOWS_DRIVE.test(p)) {
    throw invalidParams(field, 'must be relative to the project root, not absolute');
  }
  // picomatch reads a leading `!` as "everything except": a claim names what it holds.
  if (p.startsWith('!') && !p.startsWith('!(')) {
    throw invalidParams(field, 'must not be a negated pattern (leading !)');
  }

  const segments: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      const parent = segments.pop();
      if (parent === undefined) throw invalidParams(field, 'must stay inside the project root (.. leads above it)');
      // `**/..` or `{,a}/..` may stand for zero segments, so `..` after a glob could leave the root.
      if (GLOB_CHARS.test(parent)) throw invalidParams(field, 'must not use .. after a glob segment');
      continue;
    }
    if (seg.split(ALTERNATIVE_SEPARATORS).includes('..')) {
      throw invalidParams(field, 'must not use .. inside a glob');
    }
    // Glob matching backtracks: `*a*a*a*…` against a long name takes time exponential in the stars.
    if (seg !== '**' && (seg.match(/\*/g)?.length ?? 0) > MAX_STARS_PER_SEGMENT) {
      throw invalidParams(field, `must have at most ${MAX_STARS_PER_SEGMENT} * in one path segment`);
    }
    segments.push(seg);
  }
  return segments.length === 0 ? WHOLE_ROOT : segments.join('/');
}

// Characters picomatch always reads literally, however repeated (checked by fuzzing picomatch
// 4.0.7): everything but glob syntax, quotes (`"a/b"` matches `a/b`), `|` (leaks into the regex
// alternation at top level: `src/a|b` matches `b`) and `$`/`+` (`$$` alone matches `$`).
const NOT_LITERAL = /[*?[\]{}()|"$+\\]/;

/** True when picomatch matches `segment` as exactly itself and nothing else. */
export function isLiteralSegment(segment: string): boolean {
  return segment !== '' && !NOT_LITERAL.test(segment);
}

/**
 * The leading segments of a (normalised) pattern that contain no glob syntax, segment-aligned:
 * every path the pattern matches lies under it, so the store can index claims by it.
 * `src/lib/*.ts` → `src/lib`, `src/fo*` followed by `/x` → `src`, `**` followed by `/x.ts` → ``,
 * `src/a.ts` (no glob) → `src/a.ts`.
 */
export function staticPrefix(pattern: string): string {
  // No prefix is safe to promise when the syntax acts on the whole pattern.
  if (actsOnWholePattern(pattern)) return '';
  const segments = pattern.split('/');
  let n = 0;
  while (n < segments.length && isLiteralSegment(segments[n]!)) n++;
  const ours = segments.slice(0, n).join('/');
  // picomatch's own reading as a second opinion; what both agree on is the safe prefix.
  const scan = picomatch.scan(pattern);
  return scan.isGlob ? commonPrefix(ours, scan.base.replace(/\/+$/, '')) : ours;
}

/** The longest segment-prefix two paths share. */
function commonPrefix(a: string, b: string): string {
  const as = a === '' ? [] : a.split('/');
  const bs = b === '' ? [] : b.split('/');
  let n = 0;
  while (n < as.length && n < bs.length && as[n] === bs[n]) n++;
  return as.slice(0, n).join('/');
}

/**
 * Syntax that changes the meaning of the whole pattern rather than one segment: a leading `!`
 * (negation), quotes (`"a/b"` matches `a/b`) and a `|` outside balanced parentheses, which
 * picomatch 4.0.7 leaves in its regex at top level (`src/a|b` matches `b`).
 */
export function actsOnWholePattern(pattern: string): boolean {
  if (pattern.startsWith('!') || pattern.includes('"')) return true;
  if (!pattern.includes('|')) return false;
  let depth = 0;
  for (const ch of pattern) {
    if (ch === '(') depth++;
    else if (ch === ')') {
      if (depth === 0) return true;
      depth--;
    } else if (ch === '|' && depth === 0) return true;
  }
  return depth !== 0;
}
