import type { JSONRPCRequest } from 'json-rpc-2.0';
import { DecapodError } from '../errors.js';

// json-rpc-2.0 departs from the spec on malformed envelopes (brief: machine facts), so every
// item is checked here first and only well-formed requests reach it.

export type EnvelopeCheck = { ok: true; request: JSONRPCRequest } | { ok: false; response: Record<string, unknown> };

const isId = (id: unknown) => id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));

export function errorResponse(id: unknown, err: DecapodError): Record<string, unknown> {
  return { jsonrpc: '2.0', error: err.toJSON(), id: isId(id) ? id : null };
}

export function checkEnvelope(item: unknown): EnvelopeCheck {
  const invalid = (why: string, id: unknown = null): EnvelopeCheck => ({
    ok: false,
    response: errorResponse(id, new DecapodError('INVALID_REQUEST', `invalid request: ${why}`)),
  });
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return invalid('expected an object');
  const r = item as Record<string, unknown>;
  const id = 'id' in r ? r.id : undefined;
  if ('id' in r && !isId(id)) return invalid('id must be a string, a number or null');
  if (r.jsonrpc !== '2.0') return invalid('jsonrpc must be "2.0"', id);
  if (typeof r.method !== 'string') return invalid('method must be a string', id);
  if ('result' in r || 'error' in r) return invalid('a request carries no result or error member', id);
  if ('params' in r && (typeof r.params !== 'object' || r.params === null)) {
    return invalid('params must be an object or an array', id);
  }
  return { ok: true, request: r as unknown as JSONRPCRequest };
}
