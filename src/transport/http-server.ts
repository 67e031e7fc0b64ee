import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { MethodContext, MethodDef } from '../methods/define.js';
import { createDispatcher } from '../methods/dispatch.js';
import { buildOpenApi } from '../methods/openapi.js';
import { METHODS } from '../methods/table.js';
import { hostAndOriginAllowed, JSON_MEDIA_TYPES, mediaTypeOf, reject, tokenMatcher } from './guards.js';
import { registerMcpRoute } from './mcp-route.js';
import { registerRestRoute } from './rest-route.js';
import { registerRpcRoute } from './rpc-route.js';

export interface HttpServerOptions {
  ctx: MethodContext;
  token: string;
  health: () => Record<string, unknown>;
  methods?: ReadonlyMap<string, MethodDef>;
  /** bytes; larger bodies get 413 */
  bodyLimit?: number;
  /** items; larger batches get -32600 */
  maxBatch?: number;
  logger?: FastifyServerOptions['logger'];
  /** called as each request starts and once it is over (for idle exit) */
  activity?: { begin(): void; end(): void };
  /** ms a client has to send one whole request, headers and body; slower ones get 408 and are cut off */
  requestTimeoutMs?: number;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_MAX_BATCH = 100;
/**
 * Slow-loris defence: a loopback client sends a whole request (at most the body limit) in
 * milliseconds. Only receiving the request is bounded; a handler may take as long as it needs
 * (claim.acquire with wait_ms, proof.run).
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Readable without the token: they describe the server, not the project's state. */
const PUBLIC_PATHS = new Set(['/healthz', '/openapi.json']);

/**
 * Builds the HTTP transport around one dispatcher. It never listens by itself: `decapod serve`
 * and the tests call `listen({host: '127.0.0.1', port: 0})`.
 */
export function createServer(opts: HttpServerOptions): FastifyInstance {
  const methods = opts.methods ?? METHODS;
  const dispatch = createDispatcher(methods);
  const tokenOk = tokenMatcher(opts.token);
  const requestTimeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Quiet: no per-request lines (bodies and headers carry lease secrets and the token).
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger (nothing is logged per request): a fault is logged by the server's.
    childLoggerFactory: (logger) => logger,
    // Calls arriving while stopping reach the dispatcher, which answers SHUTTING_DOWN (-32003).
    return503OnClosing: false,
    // fastify's default 0 turns off node's own limit. Node enforces requestTimeout on a slow body
    // only while headersTimeout <= requestTimeout, and looks every connectionsCheckingInterval.
    requestTimeout,
    http: { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: 1_000 },
  });
  let port = 0;
  const ownPort = () => (port ||= (app.server.address() as AddressInfo | null)?.port ?? 0);

  app.removeAllContentTypeParsers();
  // Bodies stay strings here: the routes parse them to answer -32700 in JSON-RPC's own terms.
  app.addContentTypeParser([...JSON_MEDIA_TYPES], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req, reply) => {
    if (opts.activity) {
      opts.activity.begin();
      reply.raw.once('close', opts.activity.end);
    }
    const refused = hostAndOriginAllowed(req, ownPort());
    if (refused) return reject(reply, 403, 'FORBIDDEN', refused);
    if (req.method === 'GET' && PUBLIC_PATHS.has(req.url.split('?')[0]!)) return;
    if (!tokenOk(req.headers.authorization)) {
      return reject(reply, 401, 'UNAUTHORIZED', 'missing or wrong token: send Authorization: Bearer <token from server.json>');
    }
    if (req.method === 'POST') {
      const type = mediaTypeOf(req);
      const bodyless = type === '' && !req.headers['transfer-encoding'] && Number(req.headers['content-length'] ?? 0) === 0;
      if ((type === null || !JSON_MEDIA_TYPES.has(type)) && !bodyless) {
        return reject(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Type must be one of ${[...JSON_MEDIA_TYPES].join(', ')}, in UTF-8`);
      }
    }
  });

  // One error boundary: fastify's own 4xx keep their status; nothing else leaks a message.
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413) return reject(reply, 413, 'PAYLOAD_TOO_LARGE', `body exceeds ${opts.bodyLimit ?? DEFAULT_BODY_LIMIT} bytes`);
    if (status >= 400 && status < 500) return reject(reply, status, err.code ?? 'BAD_REQUEST', err.message);
    req.log.error({ err }, 'unhandled error');
    return reject(reply, 500, 'INTERNAL_ERROR', 'internal error');
  });
  app.setNotFoundHandler((req, reply) => reject(reply, 404, 'NOT_FOUND', `no route ${req.method} ${req.url}`));

  app.get('/healthz', async () => opts.health());
  let openapi: Record<string, unknown> | undefined;
  app.get('/openapi.json', async () => (openapi ??= buildOpenApi([...methods.values()])));
  registerRpcRoute(app, { ctx: opts.ctx, dispatch, methods: methods.keys(), maxBatch: opts.maxBatch ?? DEFAULT_MAX_BATCH });
  registerRestRoute(app, { ctx: opts.ctx, dispatch });
  registerMcpRoute(app, { ctx: opts.ctx, dispatch, methods });
  return app;
}
