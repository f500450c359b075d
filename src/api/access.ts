/**
 * What an API key may do, decided in one place for every /v1 route.
 *
 * Every /v1 route declares, in its Fastify `config.access`, whether it changes anything and which
 * recipient its resource belongs to (read from the validated request: a path id, a body field).
 * `decideAccess` judges a key's scope against that; the `preHandler` hook below runs it for every
 * request, and registering a /v1 route without a declaration fails at start, so no route can be
 * left open by omission.
 *
 *   operator    everything
 *   read_only   every route that changes nothing
 *   recipient   only routes whose resource belongs to that recipient (its destinations, their tests,
 *               policies and transfers, its setup links), and recipient-free reads such as the
 *               manifest keys; never other recipients', never recipients' own settings
 */
import type { FastifyRequest, RouteOptions } from 'fastify';
import type { KeyScope } from '../control/apikeys.js';
import type { Queryable } from '../control/db.js';
import { SluiceError } from '../core/errors.js';

/** Where a route's resource's recipient comes from. */
export type Owner =
  /** Operator keys only (read-only keys too when the route changes nothing): e.g. creating recipients. */
  | { kind: 'operator' }
  /** Not tied to any recipient (e.g. the manifest public keys): every scope, subject to `writes`. */
  | { kind: 'none' }
  /** A list: a recipient key sees only its recipient's entries, forced through the query field named. */
  | { kind: 'list'; queryField: string }
  /** A resource whose recipient is looked up from an id in the request. */
  | { kind: 'recipient' | 'destination' | 'transfer'; id: (req: FastifyRequest) => string | undefined };

export interface Access {
  /** Whether the route changes state (or writes to a bucket): read-only keys may not use it. */
  writes: boolean;
  owner: Owner;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may use this route (api/access.ts); required on every /v1 route. */
    access?: Access;
  }
}

const params = (req: FastifyRequest): Record<string, string | undefined> => (req.params ?? {}) as Record<string, string | undefined>;
const body = (req: FastifyRequest): Record<string, unknown> => (req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {});

/** Declarations for routes, by the kind of resource they touch. */
export const access = {
  operator: (writes: boolean): Access => ({ writes, owner: { kind: 'operator' } }),
  none: (writes: boolean): Access => ({ writes, owner: { kind: 'none' } }),
  list: (queryField: string): Access => ({ writes: false, owner: { kind: 'list', queryField } }),
  recipient: (writes: boolean, id: (req: FastifyRequest) => string | undefined = (r) => params(r).id): Access => ({
    writes,
    owner: { kind: 'recipient', id },
  }),
  destination: (writes: boolean, id: (req: FastifyRequest) => string | undefined = (r) => params(r).id): Access => ({
    writes,
    owner: { kind: 'destination', id },
  }),
  transfer: (writes: boolean, id: (req: FastifyRequest) => string | undefined = (r) => params(r).id): Access => ({
    writes,
    owner: { kind: 'transfer', id },
  }),
  /** A recipient named in the request body (e.g. `recipientId` of a new destination). */
  bodyRecipient: (writes: boolean, field = 'recipientId'): Access => ({
    writes,
    owner: { kind: 'recipient', id: (r) => (typeof body(r)[field] === 'string' ? (body(r)[field] as string) : undefined) },
  }),
};

const OWNER_SQL: Record<'destination' | 'transfer', string> = {
  destination: 'SELECT recipient_id FROM destinations WHERE id = $1',
  transfer: 'SELECT d.recipient_id FROM transfers t JOIN destinations d ON d.id = t.destination_id WHERE t.id = $1',
};

/** The recipient a resource belongs to; null when there is no such resource (the route then answers 404). */
async function ownerOf(db: Queryable, kind: 'recipient' | 'destination' | 'transfer', id: string): Promise<string | null> {
  if (kind === 'recipient') return id;
  const { rows } = await db.query<{ recipient_id: string }>(OWNER_SQL[kind], [id]);
  return rows[0]?.recipient_id ?? null;
}

function forbidden(message: string, hint: string): SluiceError {
  return new SluiceError({ code: 'forbidden', message, hint, actor: 'provider', status: 403 });
}

export type AccessDecision = { allowed: true; forceQuery?: { field: string; value: string } } | { allowed: false; error: SluiceError };

/**
 * Whether a key of `scope` may make this request. The only function that decides it. `owner` is the
 * recipient of the resource (null: none found, or the route has no single resource).
 */
export function decideAccess(scope: KeyScope, rule: Access, owner: string | null, query: Record<string, unknown> = {}): AccessDecision {
  if (scope.scope === 'operator') return { allowed: true };
  if (rule.writes && scope.scope === 'read_only') {
    return { allowed: false, error: forbidden('This API key is read-only; this route changes state.', 'Use an operator key (or the recipient\'s key, for its own resources).') };
  }
  if (scope.scope === 'read_only') return { allowed: true };
  const mine = scope.recipientId;
  const recipientOnly = `This API key belongs to recipient ${mine}`;
  switch (rule.owner.kind) {
    case 'operator':
      return { allowed: false, error: forbidden(`${recipientOnly}; this route is for operator keys.`, 'Use an operator key.') };
    case 'none':
      return { allowed: true };
    case 'list': {
      const asked = query[rule.owner.queryField];
      if (asked !== undefined && asked !== mine) {
        return { allowed: false, error: forbidden(`${recipientOnly}; it cannot list another recipient's resources.`, `Leave out ${rule.owner.queryField}, or give ${mine}.`) };
      }
      return { allowed: true, forceQuery: { field: rule.owner.queryField, value: mine } };
    }
    default:
      // A missing resource is left to the route (404); anything of another recipient is refused.
      if (owner === null || owner === mine) return { allowed: true };
      return { allowed: false, error: forbidden(`${recipientOnly}; the ${rule.owner.kind} in this request belongs to another recipient.`, 'Use that recipient\'s key or an operator key.') };
  }
}

/** The hook that enforces `decideAccess` on every authenticated request. */
export function accessHook(db: Queryable) {
  return async (req: FastifyRequest): Promise<void> => {
    const key = req.apiKey;
    if (!key) return;
    const rule = req.routeOptions.config.access;
    // No route matched: the not-found handler answers 404 and touches nothing.
    if (!rule && req.routeOptions.url === undefined) return;
    if (!rule) throw new Error(`route ${req.method} ${req.routeOptions.url ?? ''} declares no access rule`);
    let owner: string | null = null;
    if (key.scope === 'recipient' && (rule.owner.kind === 'recipient' || rule.owner.kind === 'destination' || rule.owner.kind === 'transfer')) {
      const id = rule.owner.id(req);
      owner = id === undefined ? null : await ownerOf(db, rule.owner.kind, id);
    }
    const query = (req.query && typeof req.query === 'object' ? req.query : {}) as Record<string, unknown>;
    const decision = decideAccess(key, rule, owner, query);
    if (!decision.allowed) throw decision.error;
    if (decision.forceQuery) query[decision.forceQuery.field] = decision.forceQuery.value;
  };
}

/** Refuses, at registration, a /v1 route that does not say who may use it. */
export function requireAccessDeclaration(route: RouteOptions): void {
  const path = route.url ?? '';
  if (!(path === '/v1' || path.startsWith('/v1/'))) return;
  const config = route.config as { access?: Access } | undefined;
  if (!config?.access) throw new Error(`route ${String(route.method)} ${path} must declare config.access (api/access.ts)`);
}
