/**
 * Operator API keys. A key is `sk_` + 32 random bytes (base64url); only its SHA-256 is stored, so the
 * key is shown once, at creation. Verification looks the hash up through the unique index: no
 * comparison of secret bytes happens in JavaScript, hence nothing to time.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { SluiceError, notFound } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Queryable } from './db.js';
import { parseInput } from './validation.js';

export interface ApiKeyView {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface ApiKeyRow {
  id: string;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export const ApiKeyCreateInput = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});

/** last_used_at is refreshed at most this often per key, so authenticated requests rarely write. */
const LAST_USED_GRANULARITY_SECONDS = 60;

export function hashApiKey(key: string): Buffer {
  return crypto.createHash('sha256').update(key, 'utf8').digest();
}

function view(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/** Creates a key; the returned `key` exists nowhere else afterwards. */
export async function createApiKey(db: Queryable, input: unknown): Promise<ApiKeyView & { key: string }> {
  const { name } = parseInput(ApiKeyCreateInput, input, 'API key');
  const key = `sk_${crypto.randomBytes(32).toString('base64url')}`;
  const { rows } = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, name, key_hash)
     VALUES ($1, $2, $3)
     RETURNING id, name, created_at, last_used_at, revoked_at`,
    [newId('key'), name, hashApiKey(key)],
  );
  return { ...view(rows[0] as ApiKeyRow), key };
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyView[]> {
  const { rows } = await db.query<ApiKeyRow>(
    `SELECT id, name, created_at, last_used_at, revoked_at
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
      RETURNING id, name, created_at, last_used_at, revoked_at`,
    [id],
  );
  const row = rows[0];
  if (!row) throw notFound('API key', id);
  return view(row);
}

/** The key's id and name when `key` is a live (not revoked) key, else null. */
export async function verifyApiKey(db: Queryable, key: string): Promise<{ id: string; name: string } | null> {
  // Cheap syntactic gate first: anything that is not shaped like a key never reaches the database.
  if (!/^sk_[A-Za-z0-9_-]{43}$/.test(key)) return null;
  const { rows } = await db.query<{ id: string; name: string; stale: boolean }>(
    `SELECT id, name,
            (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2)) AS stale
       FROM api_keys
      WHERE key_hash = $1 AND revoked_at IS NULL`,
    [hashApiKey(key), LAST_USED_GRANULARITY_SECONDS],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.stale) await db.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [row.id]);
  return { id: row.id, name: row.name };
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
