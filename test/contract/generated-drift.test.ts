import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { renderGenerated } from '../../src/methods/generated-files.js';
import { packageRoot } from '../../src/util/package-root.js';

// Generated files come from the method table; this fails when they drift. Fix: `npm run generate`.
for (const [file, expected] of Object.entries(renderGenerated())) {
  test(`${file} is up to date with the method table`, () => {
    const actual = readFileSync(join(packageRoot(), file), 'utf8');
    expect(actual, `${file} is stale: run npm run generate`).toBe(expected);
  });
}
