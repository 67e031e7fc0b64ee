import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

// The published OpenAPI document passes a strict linter: redocly's recommended-strict ruleset
// (redocly.yaml), where every warning is an error. No network: telemetry and update checks off.
test('redocly lint finds no error and no warning in openapi/openapi.json', async () => {
  const root = packageRoot();
  const run = await promisify(execFile)(join(root, 'node_modules', '.bin', 'redocly'), ['lint', 'openapi/openapi.json', '--format=summary'], {
    cwd: root,
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    timeout: 60_000,
  }).catch((err: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: err.stdout ?? '', stderr: `${err.stderr ?? ''} (exit ${err.code})` }));
  const out = `${run.stdout}\n${run.stderr}`;
  expect(out, out).toContain('Your API description is valid');
  expect(out).not.toMatch(/^(error|warning)\s/m);
  expect(out).not.toContain('No configurations were provided'); // redocly.yaml's strict rules applied
});
