import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

// docs/design.md §3: loopback only (DNS-rebinding defence), bearer token, JSON media types only.

export const JSON_MEDIA_TYPES = new Set(['application/json', 'application/json-rpc', 'application/jsonrequest']);

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost'];
/** A page served from any loopback address may call us; we listen on 127.0.0.1 only. */
const LOOPBACK_ORIGINS = [...LOOPBACK_HOSTS, '[::1]'];

/** A Host header must name the loopback address with our port; an Origin, if any, must be loopback. */
export function hostAndOriginAllowed(req: FastifyRequest, port: number): string | null {
  const host = req.headers.host?.toLowerCase(); // host names are case-insensitive
  if (!host || !LOOPBACK_HOSTS.some((h) => host === `${h}:${port}`)) return `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed`;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !LOOPBACK_ORIGINS.includes(url.hostname)) {
      return `Origin ${JSON.stringify(origin)} is not allowed`;
    }
  }
  return null;
}

/** Compares hashes so the comparison takes the same time whatever the length or content. */
export function tokenMatcher(token: string): (header: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (header) => {
    const m = /^bearer +(.+)$/i.exec(header ?? ''); // auth scheme names are case-insensitive (RFC 9110)
    const given = createHash('sha256').update(m?.[1] ?? '').digest();
    return timingSafeEqual(given, expected) && m !== null;
  };
}

/** The media type, or null when a charset other than UTF-8 is declared (bodies are read as UTF-8). */
export function mediaTypeOf(req: FastifyRequest): string | null {
  const [type, ...params] = (req.headers['content-type'] ?? '').split(';');
  for (const p of params) {
    const [k, v] = p.split('=').map((x) => x.trim().toLowerCase());
    if (k === 'charset' && v?.replace(/"/g, '') !== 'utf-8' && v?.replace(/"/g, '') !== 'utf8') return null;
  }
  return type!.trim().toLowerCase();
}

export function reject(reply: FastifyReply, status: number, name: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code: status, message, data: { code: name } } });
}
