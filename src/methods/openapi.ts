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

// What the transport refuses before any method runs (src/transport/guards.ts): error.data.code is
// the HTTP reason (FORBIDDEN, UNAUTHORIZED, …), not a name of the error table.
const refusal = (description: string) => ({
  description,
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message', 'data'],
            properties: { code: { type: 'integer' }, message: { type: 'string' }, data: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } } },
          },
        },
      },
    },
  },
});
const REFUSALS = {
  '401': { $ref: '#/components/responses/Unauthorized' },
  '403': { $ref: '#/components/responses/Forbidden' },
  '413': { $ref: '#/components/responses/TooLarge' },
  '415': { $ref: '#/components/responses/UnsupportedMediaType' },
};
const PUBLIC_REFUSALS = { '403': REFUSALS['403'] };

/** OpenAPI 3.1 for both surfaces, derived from the method table (the one source of truth). */
export function buildOpenApi(methods: readonly MethodDef[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {
    '/rpc': {
      post: {
        operationId: 'rpc',
        summary: 'JSON-RPC 2.0 envelope: a request, a notification, or a batch (not atomic).',
        description:
          'Every JSON-RPC answer is HTTP 200. A body of notifications only is answered 200 with an empty body. Ids come back exactly as sent.',
        security: [{ bearer: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: { oneOf: [{ type: 'object' }, { type: 'array', items: { type: 'object' } }] } } } },
        responses: {
          '200': {
            description: 'JSON-RPC response(s); an empty body when every item was a notification',
            content: { 'application/json': { schema: { oneOf: [{ type: 'object' }, { type: 'array', items: { type: 'object' } }] } } },
          },
          ...REFUSALS,
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document; no token.',
        security: [],
        responses: {
          '200': { description: 'the OpenAPI 3.1 document of this server', content: { 'application/json': { schema: { type: 'object' } } } },
          ...PUBLIC_REFUSALS,
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'healthz',
        summary: 'Liveness and identity; no token.',
        security: [],
        responses: {
          ...PUBLIC_REFUSALS,
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
          ...REFUSALS,
          ...Object.fromEntries(
            [400, ...statuses].map((s) => [String(s), { $ref: '#/components/responses/Error' }]),
          ),
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Decapod',
      version: VERSION,
      description: 'A local control plane for AI coding agents sharing one repository: leases, claims, tasks, proofs, an audit log. Contract: docs/design.md.',
      license: { name: 'MIT', identifier: 'MIT' },
      'x-protocol': PROTOCOL,
    },
    servers: [{ url: 'http://127.0.0.1:{port}', variables: { port: { default: '0' } } }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: errorObject },
      responses: {
        Unauthorized: refusal('missing or wrong token: send Authorization: Bearer <token from server.json>'),
        Forbidden: refusal('Host is not the loopback address with this port, or Origin is not loopback (DNS-rebinding defence)'),
        TooLarge: refusal('the body exceeds the size limit'),
        UnsupportedMediaType: refusal('Content-Type is not a JSON media type'),
        Error: {
          description: 'an error; error.data.code names it',
          content: { 'application/json': { schema: { type: 'object', required: ['error'], properties: { error: { $ref: '#/components/schemas/Error' } } } } },
        },
      },
    },
  };
}
