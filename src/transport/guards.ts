import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

// DESIGN §3: loopback only (DNS-rebinding defence), bearer token, JSON media types only.

export const JSON_MEDIA_TYPES = new Set(['application/json', 'application/json-rpc', 'application/jsonrequest']);

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost'];

/** A Host header must name the loopback address with our port; an Origin, if any, must be loopback. */
export function hostAndOriginAllowed(req: FastifyRequest, port: number): string | null {
  const host = req.headers.host;
  if (!host || !LOOPBACK_HOSTS.some((h) => host === `${h}:${port}`)) return `Host ${JSON.stringify(host ?? '')} is not allowed`;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || url.protocol !== 'http:' || !LOOPBACK_HOSTS.includes(url.hostname)) {
      return `Origin ${JSON.stringify(origin)} is not allowed`;
    }
  }
  return null;
}

/** Compares hashes so the comparison takes the same time whatever the length or content. */
export function tokenMatcher(token: string): (header: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (header) => {
    const m = /^Bearer (.+)$/.exec(header ?? '');
    const given = createHash('sha256').update(m?.[1] ?? '').digest();
    return timingSafeEqual(given, expected) && m !== null;
  };
}

export function mediaTypeOf(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export function reject(reply: FastifyReply, status: number, name: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code: status, message, data: { code: name } } });
}
