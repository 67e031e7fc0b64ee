import picomatch from 'picomatch/posix.js';
import { actsOnWholePattern, isLiteralSegment, staticPrefix } from './claim-paths.js';

// When do two path claims conflict (docs/design.md §4)? When some path could be held by both. A claim
// holds a path when the path equals the pattern, lies under a path it matches (a folder contains
// its files), or is matched by its glob, so each claim covers "its matches and everything under
// them". Two claims overlap iff some match of one is a segment-prefix of (or equal to) some match
// of the other.
//
// The answer must never be a wrong "no": a missed overlap lets two agents write the same file.
// A wrong "yes" only makes an agent wait or pick other work, so whatever this module cannot decide
// exactly (extglobs against globs, brace ranges, quotes, odd picomatch corners) counts as overlap.
// Inputs are patterns as normalizeClaimPaths returns them.

/** The options every claim glob is matched with: `*` also matches dot files. */
export const GLOB_OPTIONS = { dot: true } as const;

/**
 * The rule that makes an index on staticPrefix sound: if two patterns overlap, one static prefix
 * is a segment-prefix of the other (`` is a prefix of everything, `a/b` is not one of `a/bc`).
 */
export function mayOverlapByPrefix(prefixA: string, prefixB: string): boolean {
  return isSegmentPrefix(prefixA, prefixB) || isSegmentPrefix(prefixB, prefixA);
}

function isSegmentPrefix(prefix: string, path: string): boolean {
  return prefix === '' || prefix === path || path.startsWith(`${prefix}/`);
}

/** Could some path be covered by both claims? Symmetric; never false when they can overlap. */
export function patternsOverlap(a: string, b: string): boolean {
  const pa = parse(a);
  const pb = parse(b);
  if (!mayOverlapByPrefix(pa.prefix, pb.prefix)) return false;
  // Plain paths: the prefix relation is the whole answer.
  if (pa.prefix === a && pb.prefix === b) return true;
  if (pa.alternatives === null || pb.alternatives === null) return true;
  for (const x of pa.alternatives) {
    for (const y of pb.alternatives) {
      if (sequencesOverlap(x, y)) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Parsing. A pattern becomes its brace alternatives, each a list of segments. Parsed patterns are
// cached: the same few claims are compared against every acquire.

/** One character of a bracket class: `[a-c]` is { negated: false, chars: 'abc' }. */
interface CharClass {
  negated: boolean;
  chars: string;
}
type Token = string | typeof STAR | typeof ANY | CharClass;
const STAR = 0;
const ANY = 1;

type Segment =
  | { kind: 'globstar' }
  | { kind: 'literal'; text: string }
  // tokens: the segment as `*`, `?`, bracket classes and literal characters, or null when it
  // holds syntax that model cannot over-approximate (extglobs, brace ranges, `$`, `+`).
  | { kind: 'glob'; text: string; match: (s: string) => boolean; tokens: Token[][] | null };

interface Parsed {
  prefix: string;
  /** null: opaque, overlaps everything that shares a prefix with it. */
  alternatives: Segment[][] | null;
}

const MAX_ALTERNATIVES = 64;
const CACHE_LIMIT = 4096;
const cache = new Map<string, Parsed>();

function parse(pattern: string): Parsed {
  let parsed = cache.get(pattern);
  if (parsed === undefined) {
    parsed = { prefix: staticPrefix(pattern), alternatives: parseAlternatives(pattern) };
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(pattern, parsed);
  }
  return parsed;
}

function parseAlternatives(pattern: string): Segment[][] | null {
  // Syntax that acts on the whole pattern, not one segment: negation, quotes (`"a/b"` matches
  // `a/b`), a `|` outside parentheses (`src/a|b` matches `b`). staticPrefix is `` for these.
  if (actsOnWholePattern(pattern)) return null;
  const expanded = expandBraces(pattern);
  if (expanded === null) return null;
  const out: Segment[][] = [];
  for (const alt of expanded) {
    const segments: Segment[] = [];
    for (const text of alt.split('/')) {
      // Dropping empty and `.` segments only widens what the alternative matches: safe.
      if (text === '' || text === '.') continue;
      if (text === '..' || !balanced(text) || text.includes('!(')) return null;
      segments.push(toSegment(text));
    }
    out.push(segments);
  }
  return out;
}

function toSegment(text: string): Segment {
  if (text === '**') return { kind: 'globstar' };
  if (isLiteralSegment(text)) return { kind: 'literal', text };
  const re = picomatch.makeRe(text, GLOB_OPTIONS);
  return { kind: 'glob', text, match: (s) => re.test(s), tokens: tokenize(text) };
}

const MAX_TOKEN_LISTS = 16;

/**
 * A glob segment as lists of `*`, `?`, class and literal-character tokens: it matches what any
 * of the lists matches. Lists, because picomatch 4.0.7 lets a bracket expression without regex
 * characters also match its own text (`[slug]` matches `s` and `[slug]`). null for syntax this
 * model does not cover.
 */
function tokenize(text: string): Token[][] | null {
  let lists: Token[][] = [[]];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '*') lists.forEach((l) => l.push(STAR));
    else if (ch === '?') lists.forEach((l) => l.push(ANY));
    else if (ch === '[') {
      const close = text.indexOf(']', i + 1);
      const cls = close === -1 ? null : charClass(text.slice(i + 1, close));
      if (cls === null) return null;
      const literal = [...text.slice(i, close + 1)];
      lists = lists.flatMap((l) => [[...l, cls], [...l, ...literal]]);
      if (lists.length > MAX_TOKEN_LISTS) return null;
      i = close;
    } else if (isLiteralSegment(ch)) lists.forEach((l) => l.push(ch));
    else return null;
  }
  return lists;
}

const MAX_CLASS_CHARS = 256;

/**
 * The inside of `[…]`: characters and `x-y` ranges, `^` first negates. A leading `!` is read as
 * "any character" (picomatch 4.0.7 takes it literally, bash as negation: cover both). Anything
 * fancier (a `]` first, POSIX classes, huge ranges) is null, left to the conservative path.
 */
function charClass(body: string): CharClass | typeof ANY | null {
  if (body.startsWith('!')) return body.length > 1 ? ANY : null;
  const negated = body.startsWith('^');
  const inner = negated ? body.slice(1) : body;
  if (inner === '' || inner.includes('[') || /[\uD800-\uDFFF]/.test(inner)) return null;
  let chars = '';
  for (let k = 0; k < inner.length; k++) {
    if (inner[k + 1] === '-' && k + 2 < inner.length) {
      const lo = inner.codePointAt(k)!;
      const hi = inner.codePointAt(k + 2)!;
      if (hi < lo || hi - lo > MAX_CLASS_CHARS) return null;
      for (let c = lo; c <= hi; c++) chars += String.fromCodePoint(c);
      k += 2;
    } else chars += inner[k];
  }
  return { negated, chars };
}

/** Can one character satisfy both single-character tokens? */
function charsMeet(x: Exclude<Token, typeof STAR>, y: Exclude<Token, typeof STAR>): boolean {
  if (x === ANY || y === ANY) return true;
  if (typeof x === 'string' && typeof y === 'string') return x === y;
  if (typeof x === 'string') return inClass(x, y as CharClass);
  if (typeof y === 'string') return inClass(y, x);
  // Two negated classes leave almost every character; one of each is rarely decidable cheaply.
  if (x.negated || y.negated) return true;
  return [...x.chars].some((c) => y.chars.includes(c));
}

const inClass = (ch: string, cls: CharClass): boolean => cls.chars.includes(ch) !== cls.negated;

/** Brackets, braces and parentheses closed within the segment (else the `/` split cut a group). */
function balanced(text: string): boolean {
  const stack: string[] = [];
  for (const ch of text) {
    if (ch === '[' || ch === '{' || ch === '(') stack.push(ch);
    else if (ch === ']' || ch === '}' || ch === ')') {
      const open = stack.pop();
      if (open !== { ']': '[', '}': '{', ')': '(' }[ch]) return false;
    }
  }
  return stack.length === 0;
}

/**
 * Expands comma braces (`{a,b}`, nested, across `/`) the way picomatch alternates them. Groups
 * without a comma (`{a}`, ranges like `{1..3}`) stay as text. null: too many alternatives, or a
 * group holding brackets, parentheses or quotes whose commas this does not try to read.
 */
function expandBraces(pattern: string): string[] | null {
  const open = findCommaGroup(pattern);
  if (open === undefined) return [pattern];
  if (open === null) return null;
  const { start, end, parts } = open;
  const out: string[] = [];
  for (const part of parts) {
    const more = expandBraces(pattern.slice(0, start) + part + pattern.slice(end + 1));
    if (more === null) return null;
    out.push(...more);
    if (out.length > MAX_ALTERNATIVES) return null;
  }
  return out;
}

/** The first brace group with a top-level comma; undefined if none, null if unreadable. */
function findCommaGroup(s: string): { start: number; end: number; parts: string[] } | null | undefined {
  for (let start = s.indexOf('{'); start !== -1; start = s.indexOf('{', start + 1)) {
    let depth = 0;
    let end = -1;
    const commas: number[] = [];
    for (let i = start; i < s.length; i++) {
      const ch = s[i];
      if (ch === '{') depth++;
      else if (ch === '}') {
        depth--;
        if (depth === 0) {
          end = i;
          break;
        }
      } else if (ch === ',' && depth === 1) commas.push(i);
    }
    if (end === -1) return undefined; // unclosed: text, and `balanced` makes it opaque
    if (commas.length === 0) continue; // `{a}` or a range: text
    if (/[[\]()"]/.test(s.slice(start, end))) return null;
    const bounds = [start, ...commas, end];
    const parts = bounds.slice(1).map((b, k) => s.slice(bounds[k]! + 1, b));
    return { start, end, parts };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Deciding. Both sides are segment lists that may extend by any segments after their end (a
// match covers what lies under it). `**` takes zero or more segments; other segments one each.

function sequencesOverlap(a: Segment[], b: Segment[]): boolean {
  const width = b.length + 1;
  // 0 = not computed, 1 = false, 2 = true
  const memo = new Uint8Array((a.length + 1) * width);
  const go = (i: number, j: number): boolean => {
    // One side has matched in full: everything under that match is covered, and the other side's
    // remaining segments can always be satisfied below it.
    if (i === a.length || j === b.length) return true;
    const key = i * width + j;
    if (memo[key] !== 0) return memo[key] === 2;
    const x = a[i]!;
    const y = b[j]!;
    let result: boolean;
    if (x.kind === 'globstar' || y.kind === 'globstar') {
      // The globstar either ends here or swallows the other side's segment.
      result = go(i + 1, j) || go(i, j + 1);
    } else {
      result = segmentsOverlap(x, y) && go(i + 1, j + 1);
    }
    memo[key] = result ? 2 : 1;
    return result;
  };
  return go(0, 0);
}

type SingleSegment = Exclude<Segment, { kind: 'globstar' }>;

function segmentsOverlap(x: SingleSegment, y: SingleSegment): boolean {
  if (x.kind === 'literal' && y.kind === 'literal') return x.text === y.text;
  if (x.kind === 'literal') return (y as Extract<Segment, { kind: 'glob' }>).match(x.text);
  if (y.kind === 'literal') return x.match(y.text);
  if (x.tokens === null || y.tokens === null) return true;
  return x.tokens.some((tx) => y.tokens!.some((ty) => wildcardsIntersect(tx, ty)));
}

/** Is there a string both token lists match? Exact for that model. */
function wildcardsIntersect(a: Token[], b: Token[]): boolean {
  const width = b.length + 1;
  const memo = new Uint8Array((a.length + 1) * width);
  const go = (i: number, j: number): boolean => {
    if (i === a.length && j === b.length) return true;
    const key = i * width + j;
    if (memo[key] !== 0) return memo[key] === 2;
    const x = a[i];
    const y = b[j];
    let result: boolean;
    if (x === STAR) result = go(i + 1, j) || (j < b.length && go(i, j + 1));
    else if (y === STAR) result = go(i, j + 1) || (i < a.length && go(i + 1, j));
    else if (x === undefined || y === undefined) result = false;
    else result = charsMeet(x, y) && go(i + 1, j + 1);
    memo[key] = result ? 2 : 1;
    return result;
  };
  return go(0, 0);
}

/**
 * Which file paths do these claim patterns cover? The same meaning as for conflicts: the path
 * equals a pattern, lies under it (a plain path is a folder claim too), or a glob matches the path
 * or one of its ancestor folders. No patterns: everything (a task without paths covers the whole
 * worktree). Used to decide which files a proof's content digest includes.
 */
export function coverageOf(patterns: string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => true;
  const matchers = patterns.map((p) => ({ p, match: picomatch(p, GLOB_OPTIONS) }));
  return (path) => {
    const segments = path.split('/');
    return matchers.some(({ p, match }) => {
      if (p === path || path.startsWith(`${p}/`)) return true;
      for (let i = 1; i <= segments.length; i++) if (match(segments.slice(0, i).join('/'))) return true;
      return false;
    });
  };
}
