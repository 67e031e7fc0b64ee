import { expect, test } from 'vitest';
import type { MethodContext } from '../../src/methods/define.js';
import { METHODS } from '../../src/methods/table.js';
import { createMcpHandler } from '../../src/transport/mcp-server.js';

// docs/design.md §9: the MCP tools come from the same method table. This asks the MCP layer itself
// (the SDK's Server and transport, as POST /mcp runs them) for tools/list, so a method without its
// tool, a tool without its method, or an inputSchema that is not the method's params schema fails.

const seen: { method: string; params: unknown }[] = [];
const handle = createMcpHandler({
  ctx: {} as MethodContext,
  dispatch: async (_ctx, method, params) => {
    seen.push({ method, params });
    return { ok: true, result: { echoed: method } };
  },
  methods: METHODS,
});

async function mcp(body: unknown): Promise<any> {
  const request = new Request('http://127.0.0.1/mcp', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  });
  const res = await handle(request, body);
  expect(res.status).toBe(200);
  return res.json();
}

test('every method has its MCP tool, named with . → _, with the params schema as inputSchema', async () => {
  const { result } = await mcp({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
  const tools = new Map<string, any>(result.tools.map((t: any) => [t.name, t]));
  const missing = [...METHODS.keys()].filter((m) => !tools.has(m.replace(/\./g, '_')));
  expect(missing).toEqual([]);
  expect(tools.size).toBe(METHODS.size);
  for (const [name, m] of METHODS) {
    const tool = tools.get(name.replace(/\./g, '_'));
    expect(tool.inputSchema, name).toEqual(JSON.parse(JSON.stringify(m.params)));
    expect(tool.inputSchema.type, name).toBe('object');
    expect(tool.description.startsWith(m.summary), name).toBe(true);
    for (const e of m.errors) expect(tool.description, `${name} names ${e}`).toContain(e);
    expect(tool.outputSchema, `${name}: no outputSchema (see mcp-tools.ts)`).toBeUndefined();
  }
});

test('each tool calls its own method with the arguments unchanged', async () => {
  seen.length = 0;
  let id = 0;
  for (const name of METHODS.keys()) {
    const args = { probe: name };
    const { result } = await mcp({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: name.replace(/\./g, '_'), arguments: args } });
    expect(result.structuredContent).toEqual({ echoed: name });
  }
  expect(seen).toEqual([...METHODS.keys()].map((method) => ({ method, params: { probe: method } })));
});
