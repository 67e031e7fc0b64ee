// How every engine finds the live claim patterns that may overlap a static prefix
// (docs/design.md §4, docs/architecture.md): patterns whose prefix is an ancestor of it (or it),
// and patterns strictly under it. Shared by the engines so they search the same ranges.

/** The ancestors of a static prefix, itself included: '' then each leading run of segments. */
export function ancestorsOf(prefix: string): string[] {
  const out = [''];
  if (prefix === '') return out;
  let at = prefix.indexOf('/');
  while (at !== -1) {
    out.push(prefix.slice(0, at));
    at = prefix.indexOf('/', at + 1);
  }
  out.push(prefix);
  return out;
}

/**
 * The bounds (exclusive) of the prefixes strictly under a non-empty prefix `p`: `p/…`. '0' is the
 * byte right after '/', in UTF-8 as in UTF-16, so the range holds exactly the strings that
 * continue `p` with '/', whatever follows (byte order: SQLite's, and PostgreSQL's "C" collation).
 */
export function rangeUnder(prefix: string): { lo: string; hi: string } {
  return { lo: `${prefix}/`, hi: `${prefix}0` };
}
