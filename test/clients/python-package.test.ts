// The Python client as a user gets it: clients/python installed by pip into fresh venvs outside
// the checkout, offline and without build isolation (the package's in-tree, standard-library build
// backend), with the commands its README gives. Installing leaves the source folder exactly as it
// was; the wheel holds the package, py.typed, the generated modules and the right metadata; the
// README's example runs from an empty folder on the installed package (DECAPOD_BIN naming a
// private copy of the built CLI); an editable install (PEP 660) imports the package, and only the
// package, from the source folder; the sdist builds the very same wheel; Python 3.9 (the oldest
// supported) installs and runs it too, where it is installed.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { binPath, describeRun, REPO, useBuiltCli, type RunResult } from '../helpers/process.js';
import { createVenv, PY_SOURCE, python39, pythonEnv, run, runOk, type Venv } from '../helpers/python-venv.js';

useBuiltCli();

const README = readFileSync(join(PY_SOURCE, 'README.md'), 'utf8');
const PYPROJECT = readFileSync(join(PY_SOURCE, 'pyproject.toml'), 'utf8');
const VERSION = /^version = "([^"]+)"$/m.exec(PYPROJECT)![1]!;
const PY39 = python39();

/** Every file and folder under dir (ignored ones too: bytecode, build/, *.egg-info) with a digest of each file. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readdirSync(dir, { recursive: true }).map(String).sort()) {
    const full = join(dir, rel);
    out[rel] = statSync(full).isDirectory() ? 'dir' : createHash('sha256').update(readFileSync(full)).digest('hex');
  }
  return out;
}

/** The README's own install commands, pointed at this checkout and run with the venv's pip. */
function readmeInstall(venv: Venv, editable: boolean): Promise<RunResult> {
  const cmd = editable
    ? /`(pip install --no-index --no-build-isolation -e path\/to\/decapod\/clients\/python)`/.exec(README)?.[1]
    : /^(pip install --no-index --no-build-isolation path\/to\/decapod\/clients\/python)$/m.exec(README)?.[1];
  if (!cmd) throw new Error(`clients/python/README.md lacks its ${editable ? 'editable ' : ''}install command`);
  const args = cmd.split(' ').slice(1).map((a) => a.replace('path/to/decapod', REPO));
  return runOk(venv.pip, args, { cwd: work, timeoutMs: 120_000 });
}

let work: string;
let empty: string;
let venv: Venv;
let editable: Venv;
let venv39: Venv | undefined;
let before: Record<string, string>;
let after: Record<string, string>;
let wheel: string;
let sdist: string;
let wheelFromSdist: string;

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

beforeAll(async () => {
  work = realpathSync(mkdtempSync(join(tmpdir(), 'decapod-py-package-')));
  empty = join(work, 'empty');
  mkdirSync(empty);
  [venv, editable, venv39] = await Promise.all([
    createVenv(join(work, 'venv')),
    createVenv(join(work, 'venv-editable')),
    PY39 ? createVenv(join(work, 'venv39'), PY39) : Promise.resolve(undefined),
  ]);
  // Everything that builds from the source folder runs between the two snapshots, with bytecode
  // writing left on (the default): the backend must clean up after itself.
  before = snapshot(PY_SOURCE);
  await readmeInstall(venv, false);
  await readmeInstall(editable, true);
  if (venv39) await readmeInstall(venv39, false);
  const wheels = join(work, 'wheels');
  await runOk(venv.pip, ['wheel', '--no-index', '--no-build-isolation', '--no-deps', '-w', wheels, PY_SOURCE], { cwd: work, timeoutMs: 120_000 });
  [wheel] = readdirSync(wheels).map((f) => join(wheels, f));
  // An sdist, as a frontend (python -m build --sdist) asks the backend for one.
  const sdists = join(work, 'sdists');
  const hook = 'import sys; sys.path.insert(0, "build_backend"); import decapod_build; print(decapod_build.build_sdist(sys.argv[1]))';
  const made = await runOk(venv.python, ['-c', hook, sdists], { cwd: PY_SOURCE });
  sdist = join(sdists, made.stdout.trim());
  after = snapshot(PY_SOURCE);
  // The sdist builds (from its own unpacked copy, outside the checkout) a wheel of its own.
  const fromSdist = join(work, 'wheels-from-sdist');
  await runOk(venv.pip, ['wheel', '--no-index', '--no-build-isolation', '--no-deps', '-w', fromSdist, sdist], { cwd: work, timeoutMs: 120_000 });
  [wheelFromSdist] = readdirSync(fromSdist).map((f) => join(fromSdist, f));
}, 180_000);

/**
 * Runs Python code with a venv's interpreter from the empty folder (so never the source tree),
 * bytecode off (an editable install would cache it in the source folder).
 */
function python(v: Venv, code: string, opts: { args?: string[]; extra?: Record<string, string>; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const env = opts.env ?? pythonEnv({ PYTHONDONTWRITEBYTECODE: '1', ...opts.extra });
  return run(v.python, ['-c', code, ...(opts.args ?? [])], { cwd: empty, env, timeoutMs: 60_000 });
}

async function pythonJson(v: Venv, code: string, args: string[] = []): Promise<any> {
  const r = await python(v, code, { args });
  expect(r.code, describeRun(r)).toBe(0);
  return JSON.parse(r.stdout);
}

test('installing, editable installing, building a wheel and an sdist leave the source folder as it was', () => {
  const added = Object.keys(after).filter((f) => !(f in before));
  const removed = Object.keys(before).filter((f) => !(f in after));
  const changed = Object.keys(after).filter((f) => f in before && before[f] !== after[f]);
  expect({ added, removed, changed }).toEqual({ added: [], removed: [], changed: [] });
  // Never there at all, not even from an earlier run: build output has no business in this folder.
  expect(Object.keys(after).filter((f) => /^(build|dist)$|\.egg-info$/.test(f))).toEqual([]);
});

test('the wheel holds the package with py.typed and its generated modules, and the right metadata', async () => {
  expect(wheel.endsWith(`decapod_client-${VERSION}-py3-none-any.whl`), wheel).toBe(true);
  const info = await pythonJson(
    venv,
    `
import base64, csv, hashlib, io, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
dist = [n for n in names if n.endswith(".dist-info/METADATA")][0].rsplit("/", 1)[0]
record = list(csv.reader(io.StringIO(z.read(dist + "/RECORD").decode())))
bad = [p for p, h, n in record if h and (h != "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(z.read(p)).digest()).rstrip(b"=").decode() or int(n) != len(z.read(p)))]
print(json.dumps({"names": names, "dist_info": dist, "metadata": z.read(dist + "/METADATA").decode(),
                  "wheel": z.read(dist + "/WHEEL").decode(), "recorded": sorted(r[0] for r in record), "bad": bad}))
`,
    [wheel],
  );
  const pkgFiles = readdirSync(join(PY_SOURCE, 'decapod_client'))
    .filter((f) => f !== '__pycache__' && !f.endsWith('.pyc'))
    .map((f) => `decapod_client/${f}`);
  for (const f of ['__init__.py', 'types.py', '_methods.py', 'errors.py', '_client.py', 'py.typed']) expect(pkgFiles).toContain(`decapod_client/${f}`);
  const dist = `decapod_client-${VERSION}.dist-info`;
  expect(info.dist_info).toBe(dist);
  expect([...info.names].sort()).toEqual(
    [...pkgFiles, `${dist}/METADATA`, `${dist}/WHEEL`, `${dist}/top_level.txt`, `${dist}/RECORD`].sort(),
  );
  expect(info.recorded).toEqual([...info.names].sort());
  expect(info.bad).toEqual([]);
  const meta: string = info.metadata;
  expect(meta).toMatch(/^Metadata-Version: 2\.1$/m);
  expect(meta).toMatch(/^Name: decapod-client$/m);
  expect(meta).toMatch(new RegExp(`^Version: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
  expect(meta).toMatch(/^Requires-Python: >=3\.9$/m);
  expect(meta).not.toMatch(/^Requires-Dist:/m);
  expect(meta).toContain('Description-Content-Type: text/markdown\n\n# Decapod from Python\n');
  expect(info.wheel).toMatch(/^Root-Is-Purelib: true$/m);
  expect(info.wheel).toMatch(/^Tag: py3-none-any$/m);
  // The package says the version it is built as.
  expect(readFileSync(join(PY_SOURCE, 'decapod_client', '__init__.py'), 'utf8')).toContain(`__version__ = "${VERSION}"`);
});

test('the venv imports the installed copy: version, py.typed, the types module, every name it exports, nothing but the standard library', async () => {
  const got = await pythonJson(
    venv,
    `
import importlib.metadata, json, os, sys
loaded = set(sys.modules)
import decapod_client, decapod_client.types as types
new = {m.split(".")[0] for m in set(sys.modules) - loaded}
print(json.dumps({"file": decapod_client.__file__, "version": importlib.metadata.version("decapod-client"),
                  "dunder": decapod_client.__version__, "typed": os.path.isfile(os.path.join(os.path.dirname(decapod_client.__file__), "py.typed")),
                  "types": types.__file__, "missing": [n for n in decapod_client.__all__ + types.__all__ if not hasattr(decapod_client, n)],
                  "methods": len(decapod_client.METHODS), "errors": len(decapod_client.ERROR_CLASSES),
                  "foreign": sorted(new - set(sys.stdlib_module_names) - {"decapod_client"})}))
`,
  );
  expect(got.file).toBe(join(venv.dir, 'lib', /python3\.\d+/.exec(got.file)![0], 'site-packages', 'decapod_client', '__init__.py'));
  expect(got.types).toBe(join(dirname(got.file), 'types.py'));
  expect(got).toMatchObject({ version: VERSION, dunder: VERSION, typed: true, missing: [], foreign: [] }); // standard library only
  expect(got.methods).toBeGreaterThanOrEqual(20);
  expect(got.errors).toBe(18);
});

test("the README's example runs from an empty folder on the installed package (and the top README's too)", async () => {
  const first = /^```python\n([\s\S]*?)^```$/m.exec(README)![1]!;
  const top = /^```python\n([\s\S]*?)^```$/m.exec(readFileSync(join(REPO, 'README.md'), 'utf8'))![1]!;
  for (const example of [first, top]) {
    expect(example).toContain('from decapod_client import start_ephemeral');
    expect(example).not.toMatch(/sys\.path|clients\/python/);
    const r = await python(venv, `${example}\nimport decapod_client\nprint("imported from", decapod_client.__file__)\n`, { extra: { DECAPOD_BIN: binPath() } });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stderr, describeRun(r)).toBe('');
    expect(r.stdout).toContain("python holds ['src'] with fence 1");
    expect(r.stdout).toContain(`imported from ${venv.dir}/lib/`);
  }
});

test('without DECAPOD_BIN and with no decapod on PATH, the installed package says what to set', async () => {
  const root = join(work, 'nocli');
  mkdirSync(root);
  const r = await python(
    venv,
    `
from decapod_client import connect, LaunchError
try:
    connect(${JSON.stringify(root)})
except LaunchError as err:
    print(type(err).__name__, err.name, err.message)
`,
    { env: { PATH: '/usr/bin:/bin', HOME: root, PYTHONDONTWRITEBYTECODE: '1' } },
  );
  expect(r.code, describeRun(r)).toBe(0);
  expect(r.stdout).toMatch(/^LaunchError START_FAILED cannot start a decapod server: set DECAPOD_BIN to the decapod CLI or put decapod on PATH$/m);
});

test('an editable install (PEP 660) imports the package, and only the package, from the source folder', async () => {
  const site = readdirSync(join(editable.dir, 'lib'))[0]!;
  const sitePackages = readdirSync(join(editable.dir, 'lib', site, 'site-packages'));
  expect(sitePackages).not.toContain('decapod_client'); // no copy: the finder points at the source
  expect(sitePackages).toContain('_decapod_client_editable.pth');
  expect(sitePackages).toContain(`decapod_client-${VERSION}.dist-info`);
  const got = await pythonJson(
    editable,
    `
import importlib.metadata, importlib.util, json
import decapod_client, decapod_client.types
print(json.dumps({"file": decapod_client.__file__, "types": decapod_client.types.__file__,
                  "version": importlib.metadata.version("decapod-client"),
                  "others": [m for m in ("decapod_build", "test_decapod_client") if importlib.util.find_spec(m) is not None]}))
`,
  );
  expect(got).toEqual({
    file: join(PY_SOURCE, 'decapod_client', '__init__.py'),
    types: join(PY_SOURCE, 'decapod_client', 'types.py'),
    version: VERSION,
    others: [],
  });
  // The example runs on it too (bytecode off: it would be cached in the source folder).
  const first = /^```python\n([\s\S]*?)^```$/m.exec(README)![1]!;
  const r = await python(editable, first, { extra: { DECAPOD_BIN: binPath() } });
  expect(r.code, describeRun(r)).toBe(0);
  expect(r.stdout).toContain("python holds ['src'] with fence 1");
});

test('the sdist carries what the wheel is built from, and builds the same wheel, byte for byte', async () => {
  const base = `decapod_client-${VERSION}`;
  expect(relative(join(work, 'sdists'), sdist)).toBe(`${base}.tar.gz`);
  const names: string[] = await pythonJson(venv, `import json, tarfile; print(json.dumps(tarfile.open(${JSON.stringify(sdist)}).getnames()))`);
  for (const f of ['PKG-INFO', 'pyproject.toml', 'README.md', 'build_backend/decapod_build.py', 'decapod_client/__init__.py', 'decapod_client/types.py', 'decapod_client/_methods.py', 'decapod_client/py.typed']) {
    expect(names).toContain(`${base}/${f}`);
  }
  expect(names.filter((n) => /test_decapod_client|__pycache__|\.pyc$/.test(n))).toEqual([]);
  const digest = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  expect(digest(wheelFromSdist)).toBe(digest(wheel));
});

test.runIf(PY39 !== undefined)('Python 3.9 installs the package (pyproject.toml read without tomllib) and runs the example', async () => {
  const r = await python(venv39!, `import sys; assert sys.version_info[:2] == (3, 9)\n${/^```python\n([\s\S]*?)^```$/m.exec(README)![1]!}`, { extra: { DECAPOD_BIN: binPath() } });
  expect(r.code, describeRun(r)).toBe(0);
  expect(r.stdout).toContain("python holds ['src'] with fence 1");
});
