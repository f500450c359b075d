/**
 * Operator authentication: every /v1 route needs `Authorization: Bearer <api key>`. Public paths
 * (health, readiness, the OpenAPI document, /.well-known/*) are outside /v1 and need nothing.
 */
import type { FastifyRequest } from 'fastify';
import { unauthorized, verifyApiKey, type VerifiedKey } from '../control/apikeys.js';
import type { Queryable } from '../control/db.js';
import { SluiceError } from '../core/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The key that authenticated this request (on /v1 routes), with its scope (api/access.ts). */
    apiKey?: VerifiedKey;
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

/** Query parameters that look like an API key's place; and the shape of a key itself. */
const KEY_PARAMS = new Set(['key', 'api_key', 'apikey', 'api-key', 'access_token', 'token', 'auth', 'authorization', 'bearer', 'sk']);
const KEY_SHAPE = /sk_[A-Za-z0-9_-]{20,}/;

/**
 * Refuses (401) any request whose query string carries an API key — by name (`?key=`, `?api_key=`, …)
 * or by shape — on every path: URLs end up in proxies' and browsers' logs. The key is not checked,
 * and is gone from Sluice's own log lines, which drop the query string.
 */
export async function queryKeyHook(req: FastifyRequest): Promise<void> {
  const at = req.url.indexOf('?');
  if (at < 0) return;
  const params = new URLSearchParams(req.url.slice(at + 1));
  for (const [name, value] of params) {
    if (KEY_PARAMS.has(name.toLowerCase()) || KEY_SHAPE.test(value)) {
      throw new SluiceError({
        code: 'api_key_in_query',
        message: 'API keys are not accepted in the query string.',
        hint: 'Send the key in the "Authorization: Bearer <key>" header instead, and revoke this key (`sluice apikeys revoke <id>`): URLs are kept in proxy and browser logs.',
        actor: 'provider',
        status: 401,
      });
    }
  }
}
