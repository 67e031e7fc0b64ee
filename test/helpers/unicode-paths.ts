import fc from 'fast-check';
import picomatch from 'picomatch/posix.js';
import { normalizeClaimPaths } from '../../src/domain/claim-paths.js';
import { GLOB_OPTIONS } from '../../src/domain/path-overlap.js';

// Path and glob generators over the whole of Unicode, for the overlap and candidate-index
// properties (issue 10: every code point). Characters are drawn from every plane, with extra
// weight on the ones whose order or width differs between encodings: astral characters (two UTF-16
// units, which a glob's `?` or a bracket class sees one unit at a time), private use, the
// noncharacters U+FFFE/U+FFFF/U+10FFFF (the last one the greatest code point and the greatest
// UTF-8), U+E000–U+FFFF (above the surrogates in UTF-16, below astral characters in UTF-8),
// combining marks (never normalised: `é` and `e\u0301` are different names) and invisible ones.

export const EDGE_CHARS = [
  'a', 'b', '.', '-', '_', ' ',
  '\u00e9', '\u0301', '\u0300', '\u00a0', '\u2028', '\u200d', '\ufeff',
  '\ud7ff', '\ue000', '\uf8ff', '\ufffd', '\ufffe', '\uffff',
  '\u{10000}', '\u{1f600}', '\u{1f468}', '\u{f0000}', '\u{ffffd}', '\u{100000}', '\u{10fffd}', '\u{10fffe}', '\u{10ffff}',
] as const;

// What a claim may not contain at all (normalizeClaimPaths refuses it), and the separator.
const NOT_IN_NAMES = /[\u0000-\u001f\u007f-\u009f/\\]/;

/** Any code point of any plane (never a lone surrogate), but no separator or control character. */
export const anyCharArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !NOT_IN_NAMES.test(c));

/** One character, mostly from the edges above. */
export const charArb = fc.oneof({ arbitrary: fc.constantFrom(...EDGE_CHARS), weight: 3 }, { arbitrary: anyCharArb, weight: 1 });

/** A file or folder name of one to three code points. */
export const nameArb = fc
  .array(charArb, { minLength: 1, maxLength: 3 })
  .map((cs) => cs.join(''))
  .filter((n) => n !== '.' && n !== '..');

/** One glob segment built around Unicode characters: `?` against astral ones, classes of them, … */
export const unicodeGlobSegmentArb = fc
  .tuple(charArb, charArb, fc.integer({ min: 0, max: 12 }))
  .map(([c, d, k]) => [`?`, `??`, `*${c}`, `${c}*`, `?${c}`, `${c}?`, `[${c}${d}]`, `[^${c}]`, `{${c},${d}}`, `@(${c}|${d})`, `*${c}*`, `${c}${d}`, `${c}`][k]!);

/** A name with some of its code points turned into `?` and maybe a `*`: globs that nearly match it. */
export const globbedNameArb = (name: string) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: [...name].length, maxLength: [...name].length }), fc.integer({ min: -1, max: [...name].length })).map(
    ([wild, star]) => {
      const cs = [...name].map((c, i) => (wild[i] ? '?' : c));
      if (star >= 0) cs.splice(star, 0, '*');
      return cs.join('');
    },
  );

/** Is this a claim pattern normalizeClaimPaths accepts unchanged (so no normalising hides a case)? */
export function isClaimPattern(p: string): boolean {
  try {
    return normalizeClaimPaths([p])[0] === p;
  } catch {
    return false;
  }
}

/**
 * A pattern shaped like one of the tree's paths (some segments replaced by `segment`, some code
 * points turned into `?`, maybe cut short): it hits the tree more often than a random one.
 */
export const patternNear = (paths: string[], segment: fc.Arbitrary<string>) =>
  fc
    .constantFrom(...paths)
    .chain((p) =>
      fc.tuple(
        ...p.split('/').map((seg) =>
          fc.oneof({ arbitrary: fc.constant(seg), weight: 3 }, { arbitrary: segment, weight: 1 }, { arbitrary: globbedNameArb(seg), weight: 2 }),
        ),
      ),
    )
    .chain((segs) => fc.integer({ min: 1, max: segs.length }).map((n) => segs.slice(0, n).join('/')));

/** The tree's paths and all their ancestors. */
export function universe(paths: string[]): string[] {
  const all = new Set<string>();
  for (const p of paths) {
    const segs = p.split('/');
    for (let n = 1; n <= segs.length; n++) all.add(segs.slice(0, n).join('/'));
  }
  return [...all];
}

const ancestorsOrSelf = (path: string) => path.split('/').map((_, i, segs) => segs.slice(0, i + 1).join('/'));

/** Ground truth: some path of the tree is covered by both (covered = it or an ancestor matches). */
export function overlapsIn(tree: string[], a: string, b: string): boolean {
  // A picomatch matcher takes a second argument (return an object), so never pass it to .some().
  const ma = picomatch(a, GLOB_OPTIONS);
  const mb = picomatch(b, GLOB_OPTIONS);
  return tree.some((u) => ancestorsOrSelf(u).some((p) => ma(p)) && ancestorsOrSelf(u).some((p) => mb(p)));
}
