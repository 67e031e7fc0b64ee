// Writes the generated files from the method table: openapi/openapi.json, openapi/openrpc.json and
// src/generated/catalog.ts. `npm run generate`; test/contract/generated-drift.test.ts fails on drift.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderGenerated } from '../src/methods/generated-files.js';
import { packageRoot } from '../src/util/package-root.js';

const root = packageRoot();
for (const [file, text] of Object.entries(renderGenerated())) {
  mkdirSync(join(root, file, '..'), { recursive: true });
  writeFileSync(join(root, file), text);
  console.log(`wrote ${file}`);
}
