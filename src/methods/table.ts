import { Type } from '@sinclair/typebox';
import { auditMethods } from './audit.js';
import { defineMethod, type MethodDef } from './define.js';
import { leaseMethods } from './lease.js';
import { buildOpenRpc } from './openrpc.js';
import { serverMethods } from './server.js';
import { claimMethods } from './claim.js';
import { taskMethods } from './task.js';
import { gateMethods } from './gate.js';
import { proofMethods } from './proof.js';

function join(...groups: MethodDef[][]): ReadonlyMap<string, MethodDef> {
  const table = new Map<string, MethodDef>();
  for (const m of groups.flat()) {
    if (table.has(m.name)) throw new Error(`method ${m.name} is defined twice`);
    table.set(m.name, m);
  }
  return table;
}

const namespaced = [...serverMethods, ...leaseMethods, ...taskMethods, ...claimMethods, ...gateMethods, ...proofMethods, ...auditMethods];
let discovery: Record<string, unknown> | undefined;

const discover = defineMethod({
  name: 'rpc.discover',
  kind: 'query',
  summary: 'The OpenRPC document of this server.',
  params: {},
  result: { openrpc: Type.String(), info: Type.Object({}), methods: Type.Array(Type.Object({})) },
  examples: [{ name: 'discover', params: {} }],
  handler: () => (discovery ??= buildOpenRpc([...METHODS.values()])) as never,
});

/** Every method, by name. The one table both HTTP surfaces, the documents and the clients use. */
export const METHODS = join([discover], namespaced);
