#!/usr/bin/env node
// Writes the generated modules of the Python package clients/python/decapod_client/ from
// openapi/openapi.json (both generated whole; the rest of the package is written by hand):
//   types.py     one TypedDict per method's params and result (and per object inside them), the
//                protocol and schema version: `from decapod_client.types import ClaimAcquireResult`;
//   _methods.py  the method catalog (kind, audited, lease) and one typed method per RPC method,
//                the base class of decapod_client.Client.
//
//   node scripts/generate-python-types.mjs           rewrite them
//   node scripts/generate-python-types.mjs --check   exit 1 (naming the first difference) when stale
//   node scripts/generate-python-types.mjs --stdout  print them
//   --openapi PATH / --package DIR                    other places (tests use them)
//
// test/contract/python-types-drift.test.ts runs --check.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const OPENAPI_PATH = here('../openapi/openapi.json');
export const PACKAGE_DIR = here('../clients/python/decapod_client');
/** The package's generated files. */
export const GENERATED_FILES = ['types.py', '_methods.py'];

const PY_KEYWORDS = new Set(
  ('False None True and as assert async await break class continue def del elif else except finally for from ' +
    'global if import in is lambda nonlocal not or pass raise return try while with yield self').split(' '),
);

// Names the hand-written part of the package exports beside the types: a schema title never takes one.
const RESERVED = new Set([
  'Any', 'Callable', 'Dict', 'List', 'Literal', 'Mapping', 'Optional', 'Tuple', 'Type', 'TypedDict', 'Union',
  'Client', 'EphemeralClient', 'LeaseKeeper', 'MethodInfo', 'OMIT', 'PROTOCOL', 'METHODS',
]);
const typeName = (name) => (RESERVED.has(name) || name.endsWith('Error') ? `${name}Dict` : name);

const isIdentifier = (s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !PY_KEYWORDS.has(s);
const pascal = (s) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
const snake = (s) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_').toLowerCase();
const py = (v) => JSON.stringify(v); // a JSON string literal is a valid Python string literal
const pyValue = (v) => (v === null ? 'None' : v === true ? 'True' : v === false ? 'False' : JSON.stringify(v));
const comment = (text, indent) =>
  text
    .split('\n')
    .map((l) => `${indent}# ${l}`.trimEnd())
    .join('\n');

/** Renders the generated modules for one OpenAPI document: {'types.py': text, '_methods.py': text}. */
export function renderPythonModules(doc) {
  /** name -> rendered body, in emission order (dependencies first) */
  const defs = [];
  const byName = new Map();

  const resolve = (schema) => {
    let s = schema;
    for (let i = 0; s && typeof s === 'object' && typeof s.$ref === 'string' && i < 32; i++) {
      const parts = s.$ref.replace(/^#\//, '').split('/');
      s = parts.reduce((o, k) => (o == null ? o : o[k.replace(/~1/g, '/').replace(/~0/g, '~')]), doc);
    }
    return s ?? {};
  };

  /** Registers a TypedDict, reusing an identical one of the same name; returns its name. */
  const define = (wanted, render) => {
    const text = render;
    for (let n = 1; ; n++) {
      const name = n === 1 ? wanted : `${wanted}${n}`;
      const existing = byName.get(name);
      if (existing === undefined) {
        byName.set(name, text(name));
        defs.push(name);
        return name;
      }
      if (existing === text(name)) return name;
    }
  };

  const isNull = (s) => s.type === 'null';
  const union = (members) => {
    const uniq = [...new Set(members)];
    return uniq.length === 1 ? uniq[0] : `Union[${uniq.join(', ')}]`;
  };

  /** A Python type expression for a schema; nested objects become named TypedDicts. */
  const typeOf = (schema, name) => {
    const s = resolve(schema);
    if (s.const !== undefined) return `Literal[${pyValue(s.const)}]`;
    if (Array.isArray(s.enum)) return `Literal[${s.enum.map(pyValue).join(', ')}]`;
    const alts = s.anyOf ?? s.oneOf;
    if (Array.isArray(alts)) {
      const members = alts.map(resolve);
      const nonNull = members.filter((m) => !isNull(m));
      const nullable = nonNull.length < members.length;
      let inner;
      if (nonNull.length > 0 && nonNull.every((m) => m.const !== undefined || Array.isArray(m.enum))) {
        inner = `Literal[${nonNull.flatMap((m) => (m.const !== undefined ? [m.const] : m.enum)).map(pyValue).join(', ')}]`;
      } else if (nonNull.length === 0) {
        inner = undefined;
      } else {
        inner = union(nonNull.map((m, i) => typeOf(m, nonNull.length === 1 ? name : `${name}${i + 1}`)));
      }
      if (inner === undefined) return 'None';
      return nullable ? `Optional[${inner}]` : inner;
    }
    if (Array.isArray(s.allOf)) {
      const parts = s.allOf.map(resolve);
      if (parts.every((p) => p.type === 'object' || p.properties)) {
        const merged = { type: 'object', properties: {}, required: [], additionalProperties: false };
        for (const p of parts) {
          Object.assign(merged.properties, p.properties ?? {});
          merged.required.push(...(p.required ?? []));
          if (p.additionalProperties !== false) merged.additionalProperties = true;
        }
        return typeOf(merged, name);
      }
      return 'Any';
    }
    if (Array.isArray(s.type)) {
      const types = s.type.map((t) => typeOf({ ...s, type: t }, name));
      const nonNull = types.filter((t) => t !== 'None');
      const inner = nonNull.length ? union(nonNull) : 'None';
      return nonNull.length < types.length && nonNull.length ? `Optional[${inner}]` : inner;
    }
    switch (s.type) {
      case 'string':
        return 'str';
      case 'integer':
        return 'int';
      case 'number':
        return 'float';
      case 'boolean':
        return 'bool';
      case 'null':
        return 'None';
      case 'array':
        return `List[${s.items ? typeOf(s.items, `${name}Item`) : 'Any'}]`;
      case 'object':
        return objectType(s, name);
      default:
        if (s.properties) return objectType(s, name);
        return 'Any';
    }
  };

  const objectType = (s, name) => {
    const props = s.properties ?? {};
    const keys = Object.keys(props);
    if (keys.length === 0 && s.additionalProperties !== false) {
      const extra = s.additionalProperties && typeof s.additionalProperties === 'object' ? typeOf(s.additionalProperties, `${name}Value`) : 'Any';
      return `Dict[str, ${extra}]`;
    }
    return typedDict(s, typeName(s.title ? pascal(s.title) : name));
  };

  const typedDict = (s, wanted) => {
    const props = s.properties ?? {};
    const required = new Set(s.required ?? []);
    // Field types first: nested definitions are emitted before the dict that uses them.
    const fields = Object.entries(props).map(([key, sub]) => ({
      key,
      type: typeOf(sub, `${wanted}${pascal(key)}`),
      required: required.has(key),
      description: resolve(sub).description,
    }));
    const render = (name) => {
      const req = fields.filter((f) => f.required);
      const opt = fields.filter((f) => !f.required);
      const out = [];
      const summary = s.description ? comment(s.description, '') + '\n' : '';
      const functional = fields.some((f) => !isIdentifier(f.key));
      const entries = (list) => list.map((f) => `${py(f.key)}: ${f.type}`).join(', ');
      const body = (list) =>
        list.length === 0
          ? ['    pass']
          : list.flatMap((f) => [...(f.description ? [comment(f.description, '    ')] : []), `    ${f.key}: ${f.type}`]);
      if (functional) {
        // Keys that are not identifiers need the functional syntax, which cannot mix required and
        // optional keys before Python 3.11: a dict with both is rendered total=False.
        out.push(`${name} = TypedDict(${py(name)}, {${entries(fields)}}${opt.length ? ', total=False' : ''})`);
        return summary + out.join('\n');
      }
      if (req.length && opt.length) {
        out.push(`class _${name}Required(TypedDict):`, ...body(req), '', '');
        out.push(`class ${name}(_${name}Required, total=False):`, ...body(opt));
      } else if (opt.length) {
        out.push(`class ${name}(TypedDict, total=False):`, ...body(opt));
      } else {
        out.push(`class ${name}(TypedDict):`, ...body(req));
      }
      return summary + out.join('\n');
    };
    return define(wanted, render);
  };

  const jsonSchema = (content) => content?.['application/json']?.schema;
  const methods = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const m = /^\/rpc\/(.+)$/.exec(path);
    const op = item.post;
    if (!m || !op) continue;
    const method = op.operationId ?? m[1];
    const base = pascal(method);
    const paramsSchema = resolve(jsonSchema(op.requestBody?.content) ?? { type: 'object', properties: {}, additionalProperties: false });
    const resultSchema = resolve(jsonSchema(op.responses?.['200']?.content) ?? {});
    const paramsName = typedDict({ ...paramsSchema, title: undefined }, typeName(`${base}Params`));
    const resultType = typeOf({ ...resultSchema, title: undefined }, typeName(`${base}Result`));
    const props = paramsSchema.properties ?? {};
    const required = new Set(paramsSchema.required ?? []);
    methods.push({
      method,
      pyName: snake(method),
      summary: op.summary ?? '',
      kind: op['x-kind'] ?? 'query',
      audited: 'idempotency_key' in props,
      lease: 'lease' in props ? (required.has('lease') ? 'required' : 'optional') : 'none',
      paramsName,
      resultType,
      params: Object.entries(props).map(([key, sub]) => {
        const r = resolve(sub);
        const type = typeOf(sub, `${base}Params${pascal(key)}`);
        const nullable = type.startsWith('Optional[') || type === 'None';
        return { key, arg: isIdentifier(key) ? key : `${snake(key)}_`, type, required: required.has(key), nullable, description: r.description };
      }),
    });
  }

  const header = (what) => [
    '# Generated by scripts/generate-python-types.mjs from openapi/openapi.json: do not edit by hand.',
    '# test/contract/python-types-drift.test.ts fails when this file is stale.',
    `"""${what}"""`,
    '',
    'from __future__ import annotations',
    '',
  ];

  const types = header(
    'The types of every Decapod method: one TypedDict per params and result object, generated from\n' +
      'the OpenAPI document. ``decapod_client`` re-exports them all.',
  );
  types.push('from typing import Any, Dict, List, Literal, Optional, TypedDict, Union');
  types.push('');
  const exported = ['PROTOCOL', 'SCHEMA_VERSION', 'MethodInfo', ...defs.filter((n) => !n.startsWith('_'))];
  types.push('__all__ = [', ...exported.map((n) => `    ${py(n)},`), ']');
  types.push('');
  types.push(`PROTOCOL = ${pyValue(doc.info?.['x-protocol'] ?? 1)}`);
  types.push(`SCHEMA_VERSION = ${py(doc.info?.version ?? '')}`);
  types.push('');
  types.push('');
  types.push('class MethodInfo(TypedDict):');
  types.push('    """What a method is: its kind, whether it writes an audit event, whether it takes a lease."""');
  types.push('');
  types.push('    kind: Literal["query", "mutation"]');
  types.push('    audited: bool');
  types.push('    lease: Literal["required", "optional", "none"]');
  types.push('    summary: str');
  types.push('');
  for (const name of defs) types.push('', byName.get(name), '');

  const lines = header(
    'The method catalog and one typed method per RPC method, generated from the OpenAPI document:\n' +
      '``decapod_client.Client`` inherits them and supplies ``_call``.',
  );
  lines.push('from typing import Any, Dict, List, Literal, Mapping, Optional, Union, overload');
  lines.push('');
  lines.push('from ._params import OMIT, _params');
  lines.push('from .types import *  # noqa: F401,F403 (the signatures below use every type)');
  lines.push('from .types import MethodInfo');
  lines.push('');
  lines.push('');
  lines.push('# What each method is: "audited" mutations get an idempotency_key from the client so a retry never');
  lines.push('# applies twice; "lease" says whether the method takes the secret lease string.');
  lines.push('METHODS: Dict[str, MethodInfo] = {');
  for (const m of methods) {
    lines.push(`    ${py(m.method)}: {"kind": ${py(m.kind)}, "audited": ${pyValue(m.audited)}, "lease": ${py(m.lease)}, "summary": ${py(m.summary)}},`);
  }
  lines.push('}');
  lines.push('');
  lines.push('');
  lines.push('class _GeneratedMethods:');
  lines.push('    """One typed method per RPC method (`client.claim_acquire(lease=..., paths=[...])` calls');
  lines.push('    claim.acquire), and `call(method, params)` typed per method name."""');
  lines.push('');
  lines.push('    def _call(self, method: str, params: Optional[Mapping[str, Any]]) -> Any:  # pragma: no cover');
  lines.push('        raise NotImplementedError');
  for (const m of methods) {
    const anyRequired = m.params.some((p) => p.required);
    lines.push('');
    lines.push('    @overload');
    const paramsType = anyRequired ? m.paramsName : `Optional[${m.paramsName}] = None`;
    lines.push(`    def call(self, method: Literal[${py(m.method)}], params: ${paramsType}) -> ${m.resultType}: ...`);
  }
  lines.push('');
  lines.push('    @overload');
  lines.push('    def call(self, method: str, params: Optional[Mapping[str, Any]] = None) -> Any: ...');
  lines.push('');
  lines.push('    def call(self, method: str, params: Optional[Mapping[str, Any]] = None) -> Any:');
  lines.push('        """Calls any method by name with its params object; returns its result or raises a DecapodError."""');
  lines.push('        return self._call(method, params)');
  for (const m of methods) {
    const ordered = [...m.params.filter((p) => p.required), ...m.params.filter((p) => !p.required)];
    const sig = ['self', ...(ordered.length ? ['*'] : [])];
    for (const p of ordered) {
      if (p.required) sig.push(`${p.arg}: ${p.type}`);
      else if (p.nullable) sig.push(`${p.arg}: ${p.type} = OMIT`);
      else sig.push(`${p.arg}: Optional[${p.type}] = None`);
    }
    lines.push('');
    lines.push(`    def ${m.pyName}(${sig.join(', ')}) -> ${m.resultType}:`);
    const doclines = [`${m.method}: ${m.summary}`.trim()];
    const described = ordered.filter((p) => p.description);
    if (described.length) {
      doclines.push('');
      for (const p of described) doclines.push(`${p.arg}: ${p.description}`);
    }
    const esc = (l) => l.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    if (doclines.length === 1) lines.push(`        """${esc(doclines[0])}"""`);
    else lines.push(`        """${esc(doclines[0])}`, ...doclines.slice(1).map((l) => (l ? `        ${esc(l)}` : '')), '        """');
    const dict = ordered.map((p) => `${py(p.key)}: ${p.arg}`).join(', ');
    const keepNone = ordered.filter((p) => !p.required && p.nullable).map((p) => py(p.key));
    lines.push(`        return self._call(${py(m.method)}, _params({${dict}}${keepNone.length ? `, keep_none=(${keepNone.join(', ')},)` : ''}))`);
  }
  const finish = (text) => `${text.join('\n').replace(/\n{3,}/g, '\n\n\n')}\n`;
  return { 'types.py': finish(types), '_methods.py': finish(lines) };
}

function main(argv) {
  const opt = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
  const check = argv.includes('--check');
  const dir = opt('--package', PACKAGE_DIR);
  const modules = renderPythonModules(JSON.parse(readFileSync(opt('--openapi', OPENAPI_PATH), 'utf8')));
  if (argv.includes('--stdout')) {
    for (const file of GENERATED_FILES) process.stdout.write(`# ${file}\n${modules[file]}`);
    return 0;
  }
  let stale = 0;
  for (const file of GENERATED_FILES) {
    const path = join(dir, file);
    const wanted = modules[file];
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === wanted) {
      if (!check) process.stdout.write(`${path} is up to date\n`);
    } else if (!check) {
      writeFileSync(path, wanted);
      process.stdout.write(`wrote ${path}\n`);
    } else if (current === undefined) {
      stale++;
      process.stderr.write(`${path} is missing\n`);
    } else {
      stale++;
      const a = current.split('\n');
      const b = wanted.split('\n');
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      process.stderr.write(
        `${path} is stale (first difference at line ${i + 1}):\n` +
          `  has:    ${a[i] ?? '(end of file)'}\n  wanted: ${b[i] ?? '(end of file)'}\n`,
      );
    }
  }
  if (stale) process.stderr.write('run: node scripts/generate-python-types.mjs\n');
  return stale ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
