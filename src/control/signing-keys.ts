/**
 * Ed25519 keys that sign manifests, kept in the control store. The private key is encrypted with the
 * secret box (context `manifest_key:<id>`); the public key is published as a JWK set
 * (GET /v1/manifest-keys, and publicly GET /.well-known/sluice-manifest-keys.json, which `sluice verify --public-key` reads).
 *
 * One key is active at a time; `rotateSigningKey` retires it and creates the next. Retired keys stay
 * published so that old manifests remain verifiable.
 */
import crypto from 'node:crypto';
import type { Pool, Queryable } from '../core/pg.js';
import type { SigningKey } from '../transfer/manifest.js';
import type { SecretBox } from './secrets.js';
import { SluiceError } from '../core/errors.js';
import { newId } from '../core/ids.js';

export interface PublicJwk {
  kid: string;
  kty: 'OKP';
  crv: 'Ed25519';
  /** base64url of the 32-byte public key. */
  x: string;
  use: 'sig';
  alg: 'EdDSA';
  created_at: string;
  retired_at: string | null;
}

const context = (id: string): string => `manifest_key:${id}`;

async function createKey(db: Queryable, secrets: SecretBox): Promise<SigningKey> {
  const id = newId('sk');
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  await db.query(
    'INSERT INTO manifest_signing_keys (id, public_key, private_key) VALUES ($1, $2, $3)',
    [id, jwk.x, secrets.encrypt(der, context(id))],
  );
  return { id, privateKey };
}

/** The active key, created on first use. Concurrent first uses agree on one key (unique index). */
export async function activeSigningKey(pool: Pool, secrets: SecretBox): Promise<SigningKey> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await pool.query<{ id: string; private_key: Buffer }>(
      'SELECT id, private_key FROM manifest_signing_keys WHERE retired_at IS NULL',
    );
    const row = r.rows[0];
    if (row) {
      const der = secrets.decrypt(row.private_key, context(row.id));
      return { id: row.id, privateKey: crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
    }
    try {
      return await createKey(pool, secrets);
    } catch (err) {
      // Another process created the active key first: read it.
      if ((err as { code?: string }).code !== '23505') throw err;
    }
  }
  throw new SluiceError({ code: 'signing_key_unavailable', message: 'No manifest signing key could be created.', actor: 'sluice', status: 500 });
}

/** Retires the active key and creates a new one, in one transaction. Returns the new key's id. */
export async function rotateSigningKey(pool: Pool, secrets: SecretBox): Promise<string> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('UPDATE manifest_signing_keys SET retired_at = now() WHERE retired_at IS NULL');
    const key = await createKey(client, secrets);
    await client.query('COMMIT');
    return key.id;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Every public key, newest first, as JWKs. */
export async function publicSigningKeys(db: Queryable): Promise<PublicJwk[]> {
  const r = await db.query<{ id: string; public_key: string; created_at: Date; retired_at: Date | null }>(
    'SELECT id, public_key, created_at, retired_at FROM manifest_signing_keys ORDER BY created_at DESC, id',
  );
  return r.rows.map((k) => ({
    kid: k.id,
    kty: 'OKP',
    crv: 'Ed25519',
    x: k.public_key,
    use: 'sig',
    alg: 'EdDSA',
    created_at: k.created_at.toISOString(),
    retired_at: k.retired_at ? k.retired_at.toISOString() : null,
  }));
}

/** The transfer's manifest signer: the active key of this control store. */
export function controlStoreSigner(pool: Pool, secrets: SecretBox): () => Promise<SigningKey> {
  return () => activeSigningKey(pool, secrets);
}
