import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DecapodError } from '../errors.js';
import type { MethodContext, MethodDef } from '../methods/define.js';
import type { Dispatch } from '../methods/dispatch.js';
import type { McpHandler } from './mcp-server.js';

/** The request headers MCP's Streamable HTTP transport reads; the token never reaches it. */
const MCP_HEADERS = ['accept', 'content-type', 'mcp-protocol-version', 'mcp-session-id', 'last-event-id'];

/**
 * docs/design.md §9: MCP over Streamable HTTP at POST /mcp, behind the same guards as /rpc (the
 * onRequest hooks: Host/Origin, token, media type, body limit). Stateless: no session outlives a
 * request, so a server that exits when idle and is respawned loses nothing a client holds, and no
 * GET stream keeps it from ever being idle (GET and DELETE answer 405, as the spec allows).
 */
export function registerMcpRoute(app: FastifyInstance, opts: { ctx: MethodContext; dispatch: Dispatch; methods: ReadonlyMap<string, MethodDef> }): void {
  let handler: Promise<McpHandler> | undefined;
  const load = () => (handler ??= import('./mcp-server.js').then((m) => m.createMcpHandler(opts)));

  app.post('/mcp', async (req, reply) => {
    let body: unknown;
    try {
      // Our content-type parser leaves bodies as strings (http-server.ts).
      body = JSON.parse(req.body as string);
    } catch {
      const err = new DecapodError('PARSE_ERROR', 'parse error: the body is not valid JSON');
      return reply.code(400).send({ jsonrpc: '2.0', error: err.toJSON(), id: null });
    }
    const response = await (await load())(webRequest(req), body);
    reply.code(response.status);
    response.headers.forEach((value, name) => void reply.header(name, value));
    const text = await response.text();
    return reply.send(text === '' ? undefined : text);
  });

  const notAllowed = async (_req: FastifyRequest, reply: FastifyReply) =>
    reply
      .code(405)
      .header('allow', 'POST')
      .send({ jsonrpc: '2.0', error: { code: -32000, message: 'method not allowed: this server is stateless and offers no SSE stream; POST /mcp' }, id: null });
  app.get('/mcp', notAllowed);
  app.delete('/mcp', notAllowed);
}

/** The web Request the SDK's transport takes; the body is already parsed, so it carries none. */
function webRequest(req: FastifyRequest): Request {
  const headers = new Headers();
  for (const name of MCP_HEADERS) {
    const value = req.headers[name];
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url}`, { method: 'POST', headers });
}
