import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { DecapodError } from '../errors.js';
import type { MethodContext, MethodDef } from '../methods/define.js';
import type { Dispatch } from '../methods/dispatch.js';
import { VERSION } from '../version.js';
import { buildTools, errorOf, INSTRUCTIONS, resultOf } from './mcp-tools.js';

// The MCP SDK's side of POST /mcp, loaded on the first MCP request only (mcp-route.ts): a server
// that never sees MCP never loads the SDK.

export type McpHandler = (request: Request, parsedBody: unknown) => Promise<Response>;

/**
 * Answers one POST /mcp with the official SDK's Server and Streamable HTTP transport, stateless:
 * a fresh Server and transport per request (the SDK refuses to reuse a stateless transport), no
 * session id, JSON answers rather than an SSE stream. Tool calls go through the same dispatcher as
 * /rpc, so they get the same validation, transactions, idempotency and receipts.
 */
export function createMcpHandler(opts: { ctx: MethodContext; dispatch: Dispatch; methods: ReadonlyMap<string, MethodDef> }): McpHandler {
  const { tools, methodOf } = buildTools(opts.methods.values());
  return async (request, parsedBody) => {
    const server = new Server({ name: 'decapod', version: VERSION }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
    server.setRequestHandler(CallToolRequestSchema, async (req) => {
      const method = methodOf.get(req.params.name);
      if (!method) {
        const err = new DecapodError('METHOD_NOT_FOUND', `unknown tool: ${req.params.name} (tools/list names them)`, { tool: req.params.name });
        return errorOf(err.toJSON());
      }
      const out = await opts.dispatch(opts.ctx, method, req.params.arguments ?? {});
      return out.ok ? resultOf(out.result) : errorOf(out.error.toJSON());
    });
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    try {
      return await transport.handleRequest(request, { parsedBody });
    } finally {
      await server.close();
    }
  };
}
