import { ERRORS } from '../errors.js';
import { PROTOCOL, VERSION } from '../version.js';
import type { MethodDef } from './define.js';
import { plain } from './openrpc.js';

const errorObject = {
  type: 'object',
  required: ['code', 'message', 'data'],
  properties: {
    code: { type: 'integer' },
    message: { type: 'string' },
    data: {
      type: 'object',
      required: ['code'],
      properties: { code: { type: 'string', enum: Object.keys(ERRORS) } },
      additionalProperties: true,
    },
  },
};

/** OpenAPI 3.1 for both surfaces, derived from the method table (the one source of truth). */
export function buildOpenApi(methods: readonly MethodDef[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {
    '/rpc': {
      post: {
        operationId: 'rpc',
        summary: 'JSON-RPC 2.0 envelope: a request, a notification, or a batch (not atomic).',
        security: [{ bearer: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: { oneOf: [{ type: 'object' }, { type: 'array', items: { type: 'object' } }] } } } },
        responses: { '200': { description: 'JSON-RPC response(s)' }, '204': { description: 'notifications only' }, '401': { description: 'missing or wrong token' } },
      },
    },
    '/healthz': {
      get: {
        operationId: 'healthz',
        summary: 'Liveness and identity; no token.',
        responses: {
          '200': {
            description: 'ok',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['ok', 'version', 'protocol', 'instance_id', 'root', 'pid'],
                  properties: {
                    ok: { type: 'boolean' },
                    version: { type: 'string' },
                    protocol: { type: 'integer' },
                    instance_id: { type: 'string' },
                    root: { type: 'string' },
                    pid: { type: 'integer' },
                  },
                },
              },
            },
          },
        },
      },
    },
  };
  for (const m of methods) {
    const statuses = new Set(m.errors.map((e) => ERRORS[e].http));
    paths[`/rpc/${m.name}`] = {
      post: {
        operationId: m.name,
        summary: m.summary,
        'x-kind': m.kind,
        security: [{ bearer: [] }],
        requestBody: {
          required: false,
          content: {
            'application/json': {
              schema: plain(m.params),
              examples: Object.fromEntries(m.examples.map((ex, i) => [`example${i + 1}`, { summary: ex.name, value: ex.params }])),
            },
          },
        },
        responses: {
          '200': { description: 'the result', content: { 'application/json': { schema: plain(m.result) } } },
          ...Object.fromEntries(
            [400, ...statuses].map((s) => [String(s), { $ref: '#/components/responses/Error' }]),
          ),
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Decapod', version: VERSION, 'x-protocol': PROTOCOL },
    servers: [{ url: 'http://127.0.0.1:{port}', variables: { port: { default: '0' } } }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: errorObject },
      responses: {
        Error: {
          description: 'an error; error.data.code names it',
          content: { 'application/json': { schema: { type: 'object', required: ['error'], properties: { error: { $ref: '#/components/schemas/Error' } } } } },
        },
      },
    },
  };
}
