// The Python client's exception classes are pinned to the one error table (src/errors.ts): every
// name has a class with the same code, named after it (CONFLICT -> ConflictError,
// PARSE_ERROR -> ParseError), exported, and a DecapodError.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { ERRORS } from '../../src/errors.js';
import { packageRoot } from '../../src/util/package-root.js';

const DUMP = `
import json, decapod_client as d
print(json.dumps({
    "classes": {name: {"class": cls.__name__, "code": cls.CODE, "name": cls.NAME,
                       "base": issubclass(cls, d.DecapodError), "exported": cls.__name__ in d.__all__,
                       "same_object": getattr(d, cls.__name__, None) is cls}
                for name, cls in d.ERROR_CLASSES.items()},
}))
`;

function pythonClasses(): Record<string, { class: string; code: number; name: string; base: boolean; exported: boolean; same_object: boolean }> {
  const r = spawnSync('python3', ['-c', DUMP], {
    cwd: join(packageRoot(), 'clients', 'python'),
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return JSON.parse(r.stdout).classes;
}

const className = (name: string) =>
  `${name
    .replace(/_ERROR$/, '')
    .toLowerCase()
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('')}Error`;

test('every error of src/errors.ts has a Python class with the same code, and no other', () => {
  const py = pythonClasses();
  expect(Object.keys(py).sort()).toEqual(Object.keys(ERRORS).sort());
  for (const [name, spec] of Object.entries(ERRORS)) {
    expect(py[name], name).toEqual({ class: className(name), code: spec.code, name, base: true, exported: true, same_object: true });
  }
});
