/**
 * API keys, each with a scope (see api/access.ts for what each may do): `operator` (everything),
 * `read_only` (reads only) or `recipient` (one recipient's resources only). Keys made before scopes
 * existed are operator keys (migration 007). A key is `sk_` + 32 random bytes (base64url); only its SHA-256 is stored, so the
 * key is shown once, at creation. Verification looks the hash up through the unique index: no
 * comparison of secret bytes happens in JavaScript, hence nothing to time.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { SluiceError, notFound } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Queryable } from './db.js';
import { CONTROL_MESSAGE, parseInput, withoutControlCharacters } from './validation.js';

export const SCOPES = ['operator', 'read_only', 'recipient'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who a request's key speaks for: what api/access.ts decides on. */
export type KeyScope = { scope: 'operator' } | { scope: 'read_only' } | { scope: 'recipient'; recipientId: string };

export interface ApiKeyView {
  id: string;
  name: string;
  scope: Scope;
  recipientId: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface ApiKeyRow {
  id: string;
  name: string;
  scope: Scope;
  recipient_id: string | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export const ApiKeyCreateInput = z
  .strictObject({
    name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').refine(withoutControlCharacters, CONTROL_MESSAGE),
    scope: z.enum(SCOPES).default('operator'),
    recipientId: z.string().min(1).max(100, 'must be at most 100 characters').optional(),
  })
  .superRefine((v, ctx) => {
    if (v.scope === 'recipient' && v.recipientId === undefined) ctx.addIssue({ code: 'custom', path: ['recipientId'], message: 'is required for a recipient key' });
    if (v.scope !== 'recipient' && v.recipientId !== undefined) ctx.addIssue({ code: 'custom', path: ['recipientId'], message: 'is only for a recipient key (scope recipient)' });
  });

const COLUMNS = 'id, name, scope, recipient_id, created_at, last_used_at, revoked_at';

/** last_used_at is refreshed at most this often per key, so authenticated requests rarely write. */
const LAST_USED_GRANULARITY_SECONDS = 60;

export function hashApiKey(key: string): Buffer {
  return crypto.createHash('sha256').update(key, 'utf8').digest();
}

function view(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    recipientId: row.recipient_id,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/** Creates a key; the returned `key` exists nowhere else afterwards. */
export async function createApiKey(db: Queryable, input: unknown): Promise<ApiKeyView & { key: string }> {
  const { name, scope, recipientId } = parseInput(ApiKeyCreateInput, input, 'API key');
  const key = `sk_${crypto.randomBytes(32).toString('base64url')}`;
  try {
    const { rows } = await db.query<ApiKeyRow>(
      `INSERT INTO api_keys (id, name, key_hash, scope, recipient_id)
       VALUES ($1, $2, $3, $4, $5)
       RETURNING ${COLUMNS}`,
      [newId('key'), name, hashApiKey(key), scope, recipientId ?? null],
    );
    return { ...view(rows[0] as ApiKeyRow), key };
  } catch (err) {
    if ((err as { code?: string }).code === '23503') {
      throw new SluiceError({
        code: 'not_found',
        message: `No recipient with id ${recipientId ?? ''}.`,
        hint: 'List recipients to find the right id.',
        status: 404,
        details: [{ field: 'recipientId', message: 'names no recipient' }],
      });
    }
    throw err;
  }
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyView[]> {
  const { rows } = await db.query<ApiKeyRow>(
    `SELECT ${COLUMNS}
       FROM api_keys
      ORDER BY created_at, id`,
  );
  return rows.map(view);
}

export async function revokeApiKey(db: Queryable, id: string): Promise<ApiKeyView> {
  const { rows } = await db.query<ApiKeyRow>(
    `UPDATE api_keys
        SET revoked_at = coalesce(revoked_at, now())
      WHERE id = $1
      RETURNING ${COLUMNS}`,
    [id],
  );
  const row = rows[0];
  if (!row) throw notFound('API key', id);
  return view(row);
}

export type VerifiedKey = { id: string; name: string } & KeyScope;

/** The key's id, name and scope when `key` is a live (not revoked) key, else null. */
export async function verifyApiKey(db: Queryable, key: string): Promise<VerifiedKey | null> {
  // Cheap syntactic gate first: anything that is not shaped like a key never reaches the database.
  if (!/^sk_[A-Za-z0-9_-]{43}$/.test(key)) return null;
  const { rows } = await db.query<{ id: string; name: string; scope: Scope; recipient_id: string | null; stale: boolean }>(
    `SELECT id, name, scope, recipient_id,
            (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2)) AS stale
       FROM api_keys
      WHERE key_hash = $1 AND revoked_at IS NULL`,
    [hashApiKey(key), LAST_USED_GRANULARITY_SECONDS],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.stale) await db.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [row.id]);
  const base = { id: row.id, name: row.name };
  if (row.scope === 'recipient' && row.recipient_id) return { ...base, scope: 'recipient', recipientId: row.recipient_id };
  return { ...base, scope: row.scope === 'read_only' ? 'read_only' : 'operator' };
}

export function unauthorized(message: string): SluiceError {
  return new SluiceError({
    code: 'unauthorized',
    message,
    hint: 'Send "Authorization: Bearer <key>" with a key made by `sluice apikeys create --name <name>`.',
    actor: 'provider',
    status: 401,
  });
}
