import type { FastifyInstance, FastifyReply } from 'fastify';
import { JSONRPCServer, type JSONRPCRequest, type JSONRPCResponse } from 'json-rpc-2.0';
import { DecapodError } from '../errors.js';
import type { MethodContext } from '../methods/define.js';
import type { Dispatch } from '../methods/dispatch.js';
import { preserveExactIds, stripBom } from './exact-ids.js';
import { checkEnvelope, errorResponse } from './rpc-envelope.js';

/**
 * POST /rpc: JSON-RPC 2.0 single, notification or bounded batch (not atomic).
 *
 * A body of notifications only is answered 200 with an empty body (docs/design.md §3), not 204:
 * the JSON-RPC-over-HTTP drafts allow either, and clients such as jsonrpclib-pelix accept only
 * 200 — on a 204 they raise and leave their kept-alive connection unusable.
 */
export function registerRpcRoute(
  app: FastifyInstance,
  opts: { ctx: MethodContext; dispatch: Dispatch; methods: Iterable<string>; maxBatch: number },
): void {
  const rpc = new JSONRPCServer<MethodContext>();
  const call = async (request: JSONRPCRequest, ctx: MethodContext): Promise<JSONRPCResponse | null> => {
    const out = await opts.dispatch(ctx, request.method, request.params);
    if (request.id === undefined) return null; // a notification is never answered, not even its error
    return (out.ok
      ? { jsonrpc: '2.0', id: request.id ?? null, result: out.result }
      : errorResponse(request.id, out.error)) as unknown as JSONRPCResponse;
  };
  for (const name of opts.methods) rpc.addMethodAdvanced(name, call);
  rpc.handleMethodNotFound = call as typeof rpc.handleMethodNotFound;

  // One item: an envelope error, the library's answer, or null for a notification.
  const answer = async (item: unknown): Promise<unknown> => {
    const checked = checkEnvelope(item);
    if (!checked.ok) return checked.response;
    return rpc.receive(checked.request, opts.ctx);
  };

  const nothing = (reply: FastifyReply) => reply.code(200).header('content-length', '0').send();
  app.post('/rpc', async (req, reply) => {
    let body: unknown;
    const text = stripBom(req.body as string);
    try {
      body = JSON.parse(text);
    } catch {
      return reply.send(errorResponse(null, new DecapodError('PARSE_ERROR', 'parse error: the body is not valid JSON')));
    }
    if (Array.isArray(body)) {
      if (body.length === 0) {
        return reply.send(errorResponse(null, new DecapodError('INVALID_REQUEST', 'invalid request: empty batch')));
      }
      if (body.length > opts.maxBatch) {
        return reply.send(
          errorResponse(null, new DecapodError('INVALID_REQUEST', `invalid request: batch of ${body.length} exceeds ${opts.maxBatch}`, { max_batch: opts.maxBatch })),
        );
      }
    }
    const ids = preserveExactIds(text, body);
    const out = Array.isArray(body) ? (await Promise.all(body.map(answer))).filter((a) => a !== null) : await answer(body);
    if (out === null || (Array.isArray(out) && out.length === 0)) return nothing(reply);
    return reply.type('application/json; charset=utf-8').send(ids.restore(JSON.stringify(out)));
  });
}
