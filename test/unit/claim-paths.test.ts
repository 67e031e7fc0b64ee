import { describe, expect, test } from 'vitest';
import { actsOnWholePattern, normalizeClaimPaths, staticPrefix } from '../../src/domain/claim-paths.js';
import { DecapodError } from '../../src/errors.js';

/** The INVALID_PARAMS error normalizeClaimPaths throws, for exact field and message checks. */
function rejection(paths: unknown, field?: string): { field: unknown; message: string; name: string } {
  try {
    normalizeClaimPaths(paths as string[], field);
  } catch (err) {
    expect(err).toBeInstanceOf(DecapodError);
    const e = err as DecapodError;
    return { field: e.data.field, message: e.message, name: e.errorName };
  }
  throw new Error(`accepted ${JSON.stringify(paths)}`);
}

describe('normalizeClaimPaths rejects', () => {
  test.each([
    ['an empty string', ['src', ''], 'paths.1', 'must not be empty (use "." for the whole project)'],
    ['a NUL byte', ['src/a\u0000.ts'], 'paths.0', 'must not contain a NUL byte'],
    ['a control character', ['ok', 'src/a\nb'], 'paths.1', 'must not contain control characters'],
    ['DEL', ['src/\u007f'], 'paths.0', 'must not contain control characters'],
    ['a C1 control character', ['src/\u0085'], 'paths.0', 'must not contain control characters'],
    ['a tab', ['a\tb'], 'paths.0', 'must not contain control characters'],
    ['a backslash', ['a', 'b', 'src\\a.ts'], 'paths.2', 'must not contain a backslash (use / as the separator)'],
    ['an escaped glob', ['src/\\*.ts'], 'paths.0', 'must not contain a backslash (use / as the separator)'],
    ['an absolute path', ['/etc/passwd'], 'paths.0', 'must be relative to the project root, not absolute'],
    ['a root slash', ['/'], 'paths.0', 'must be relative to the project root, not absolute'],
    ['a UNC-like path', ['//server/share'], 'paths.0', 'must be relative to the project root, not absolute'],
    ['a Windows drive', ['C:/Users'], 'paths.0', 'must be relative to the project root, not absolute'],
    ['a drive-relative path', ['c:foo'], 'paths.0', 'must be relative to the project root, not absolute'],
    ['a leading ..', ['../x'], 'paths.0', 'must stay inside the project root (.. leads above it)'],
    ['.. alone', ['..'], 'paths.0', 'must stay inside the project root (.. leads above it)'],
    ['.. escaping after normalisation', ['a/../../b'], 'paths.0', 'must stay inside the project root (.. leads above it)'],
    ['.. escaping through ./ and //', ['./a//./../..'], 'paths.0', 'must stay inside the project root (.. leads above it)'],
    ['.. after a globstar', ['**/../x'], 'paths.0', 'must not use .. after a glob segment'],
    ['.. after any glob', ['src/*/../x'], 'paths.0', 'must not use .. after a glob segment'],
    ['.. after a brace', ['{a,}/../x'], 'paths.0', 'must not use .. after a glob segment'],
    ['.. inside braces', ['{..,src}/x'], 'paths.0', 'must not use .. inside a glob'],
    ['.. inside an extglob', ['@(a|..)/x'], 'paths.0', 'must not use .. inside a glob'],
    ['.. inside braces across /', ['{a,x/..}'], 'paths.0', 'must not use .. inside a glob'],
    ['a negated pattern', ['!src/a.ts'], 'paths.0', 'must not be a negated pattern (leading !)'],
    ['a non-string', ['a', 3], 'paths.1', 'must be a string'],
  ])('%s', (_what, paths, field, message) => {
    expect(rejection(paths)).toEqual({ name: 'INVALID_PARAMS', field, message: `invalid params: ${field} ${message}` });
  });

  test('a path longer than 1024 characters, but not one of exactly 1024', () => {
    const ok = 'a/'.repeat(511) + 'bc'; // 1024
    expect(ok).toHaveLength(1024);
    expect(normalizeClaimPaths([ok])).toEqual([ok]);
    expect(rejection(['x', `${ok}d`])).toEqual({
      name: 'INVALID_PARAMS',
      field: 'paths.1',
      message: 'invalid params: paths.1 must be at most 1024 characters',
    });
  });

  test('more than 256 paths, but not 256', () => {
    const many = Array.from({ length: 256 }, (_, i) => `f${i}`);
    expect(normalizeClaimPaths(many)).toHaveLength(256);
    expect(rejection([...many, 'one-more'])).toEqual({
      name: 'INVALID_PARAMS',
      field: 'paths',
      message: 'invalid params: paths must hold at most 256 paths',
    });
  });

  test('an empty list', () => {
    expect(rejection([])).toEqual({ name: 'INVALID_PARAMS', field: 'paths', message: 'invalid params: paths must name at least one path' });
  });

  test('something that is not a list', () => {
    expect(rejection('src')).toEqual({ name: 'INVALID_PARAMS', field: 'paths', message: 'invalid params: paths must be a list of paths' });
  });

  test('the field name is the caller’s, with the index appended', () => {
    expect(rejection(['ok', '/abs'], 'task.paths')).toEqual({
      name: 'INVALID_PARAMS',
      field: 'task.paths.1',
      message: 'invalid params: task.paths.1 must be relative to the project root, not absolute',
    });
    expect(rejection([], 'task.paths').field).toBe('task.paths');
  });
});

describe('normalizeClaimPaths normalises', () => {
  test.each([
    ['src/a.ts', 'src/a.ts'],
    ['./src/a.ts', 'src/a.ts'],
    ['src/', 'src'],
    ['src//lib///a.ts', 'src/lib/a.ts'],
    ['./src/./lib/.', 'src/lib'],
    ['.//src', 'src'],
    ['a/../b', 'b'],
    ['a/b/../../c/./d/', 'c/d'],
    ['.', '**'],
    ['./', '**'],
    ['./.', '**'],
    ['a/..', '**'],
    ['**', '**'],
    ['src/**/*.ts', 'src/**/*.ts'],
    ['src/{a,b}/*.md/', 'src/{a,b}/*.md'],
    ['@(a|b)/x', '@(a|b)/x'],
    ['!(a)/x', '!(a)/x'],
    ['src/!important.txt', 'src/!important.txt'],
    ['{1..3}/x', '{1..3}/x'],
    ['.github/workflows', '.github/workflows'],
    ['...', '...'],
    ['..a/b..', '..a/b..'],
    [' spaced /name ', ' spaced /name '],
    ['src/naïve.ts', 'src/naïve.ts'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeClaimPaths([input])).toEqual([expected]);
  });

  test('percent-encodings are file names, not decoded', () => {
    expect(normalizeClaimPaths(['%2e%2e/x', 'a%2Fb', '%2e'])).toEqual(['%2e', '%2e%2e/x', 'a%2Fb']);
  });

  test('deduplicates after normalising and sorts by code unit', () => {
    expect(normalizeClaimPaths(['src/b', './src/a/', 'src//a', 'src/a', 'Z', 'src/b/../a', '.', './'])).toEqual([
      '**',
      'Z',
      'src/a',
      'src/b',
    ]);
  });
});

describe('staticPrefix', () => {
  test.each([
    ['src/lib/*.ts', 'src/lib'],
    ['src/fo*/x', 'src'],
    ['**/x.ts', ''],
    ['**', ''],
    ['src/a.ts', 'src/a.ts'],
    ['src', 'src'],
    ['src/**', 'src'],
    ['src/{a,b}/x', 'src'],
    ['{src,lib}/x', ''],
    ['a/b?c/d', 'a'],
    ['a/[bc]/d', 'a'],
    ['a/@(b|c)/d', 'a'],
    ['a/!(b)', 'a'],
    ['a(b)/c', ''],
    ['src/a!b/c', 'src/a!b/c'],
    ['src/+page.svelte', 'src'],
    ['src/$lib/x', 'src'],
    ['.github/*.yml', '.github'],
  ])('%j → %j', (pattern, expected) => {
    expect(staticPrefix(pattern)).toBe(expected);
  });

  test('is empty when the syntax acts on the whole pattern', () => {
    // picomatch 4.0.7: `src/a|b` matches `b`, `"src/x"` matches `src/x`, `!src` almost anything.
    for (const p of ['src/a|b', 'src/a(|b', 'src/x)|y', '"src/x"', '!src/a', '!(a)/b']) {
      expect(actsOnWholePattern(p), p).toBe(true);
      expect(staticPrefix(p), p).toBe('');
    }
    for (const p of ['src/@(a|b)/c', 'src/a.ts', 'src/a!b']) expect(actsOnWholePattern(p), p).toBe(false);
  });
});
