import { ERRORS } from '../errors.js';
import { PROTOCOL, VERSION } from '../version.js';
import type { MethodDef } from './define.js';

/** The OpenRPC document, derived from the method table: the same schemas that validate params. */
export function buildOpenRpc(methods: readonly MethodDef[]): Record<string, unknown> {
  return {
    openrpc: '1.3.2',
    info: { title: 'Decapod', version: VERSION, 'x-protocol': PROTOCOL },
    methods: methods.map((m) => ({
      name: m.name,
      summary: m.summary,
      paramStructure: 'by-name',
      'x-kind': m.kind,
      params: Object.entries(m.params.properties).map(([name, schema]) => ({
        name,
        required: (m.params.required ?? []).includes(name),
        schema: plain(schema),
      })),
      result: { name: 'result', schema: plain(m.result) },
      errors: m.errors.map((name) => ({ code: ERRORS[name].code, message: name })),
      examples: m.examples.map((ex) => ({
        name: ex.name,
        params: Object.entries(ex.params).map(([name, value]) => ({ name, value })),
        ...(ex.result ? { result: { name: 'result', value: ex.result } } : {}),
      })),
    })),
  };
}

/** TypeBox schemas carry symbol keys; JSON round-tripping leaves plain JSON Schema. */
export const plain = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema));
