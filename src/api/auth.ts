/**
 * Operator authentication: every /v1 route needs `Authorization: Bearer <api key>`. Public paths
 * (health, readiness, the OpenAPI document, /.well-known/*) are outside /v1 and need nothing.
 */
import type { FastifyRequest } from 'fastify';
import { unauthorized, verifyApiKey } from '../control/apikeys.js';
import type { Queryable } from '../control/db.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The operator key that authenticated this request (on /v1 routes). */
    apiKey?: { id: string; name: string };
  }
}

export function isProtectedPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path === '/v1' || path.startsWith('/v1/');
}

export function authHook(db: Queryable) {
  return async (req: FastifyRequest): Promise<void> => {
    if (!isProtectedPath(req.url)) return;
    const header = req.headers.authorization;
    if (!header) throw unauthorized('This route needs an API key.');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m?.[1]) throw unauthorized('The Authorization header must be "Bearer <key>".');
    const key = await verifyApiKey(db, m[1]);
    if (!key) throw unauthorized('The API key is unknown or revoked.');
    req.apiKey = key;
  };
}
