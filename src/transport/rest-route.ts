import type { FastifyInstance } from 'fastify';
import { DecapodError } from '../errors.js';
import type { MethodContext } from '../methods/define.js';
import type { Dispatch } from '../methods/dispatch.js';
import { stripBom } from './exact-ids.js';

/** POST /rpc/<method>: params object as the body, the result on 200, `{error}` with a fitting status. */
export function registerRestRoute(app: FastifyInstance, opts: { ctx: MethodContext; dispatch: Dispatch }): void {
  app.post<{ Params: { method: string } }>('/rpc/:method', async (req, reply) => {
    let params: unknown = {};
    const text = typeof req.body === 'string' ? stripBom(req.body) : '';
    if (text.trim() !== '') {
      try {
        params = JSON.parse(text);
      } catch {
        const err = new DecapodError('PARSE_ERROR', 'parse error: the body is not valid JSON');
        return reply.code(err.httpStatus).send({ error: err.toJSON() });
      }
    }
    const out = await opts.dispatch(opts.ctx, req.params.method, params);
    if (out.ok) return reply.send(out.result);
    const retry = out.error.data.retry_after_ms;
    if (typeof retry === 'number') reply.header('Retry-After', String(Math.max(1, Math.ceil(retry / 1000))));
    return reply.code(out.error.httpStatus).send({ error: out.error.toJSON() });
  });
}
