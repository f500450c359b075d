/**
 * The OIDC issuer's signing keys, kept in the control store (`identity_keys`, private halves
 * encrypted with the SecretBox) and rotated without a moment where a verifier lacks the key:
 *
 *   rotate()  → the new key is `published`: in the JWKS, not signing, for the publish lead time
 *               (≥ the JWKS max-age, so every verifier's cache has seen it before it signs);
 *   lead over → it becomes `active` (signs); the old one becomes `previous`: still in the JWKS until
 *               every token it signed has expired (token lifetime + this process's reload slack);
 *   then      → `retired`: out of the JWKS, private key erased.
 *
 * Transitions are applied lazily by whichever process next looks at the keys when one is due, under
 * an advisory lock (and a unique index allows one active key), so processes need no coordinator.
 */
import crypto from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { withTransaction, type Pool, type Queryable } from '../../control/db.js';
import type { SecretBox } from '../../control/secrets.js';
import { SluiceError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { selfSignedCertificate } from './certificate.js';

export type KeyState = 'published' | 'active' | 'previous' | 'retired';

export interface KeyInfo {
  kid: string;
  state: KeyState;
  publishedAt: Date;
  activatesAt: Date;
  activatedAt: Date | null;
  signingEndedAt: Date | null;
  retireAt: Date | null;
  retiredAt: Date | null;
}

export interface SigningKey {
  kid: string;
  privateKey: crypto.KeyObject;
}

export interface KeyStoreOptions {
  pool: Pool;
  secrets: SecretBox;
  log: Logger;
  /** Common name of the keys' self-signed certificates (the issuer's host). */
  commonName: string;
  /** Lifetime of the tokens the keys sign. */
  tokenTtlSeconds: number;
  /** How long a new key is published before it signs. */
  publishLeadSeconds: number;
  /** How long a process may keep signing with the key it loaded before it looks again (default 60 s). */
  reloadSeconds?: number;
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
}

interface KeyRow {
  kid: string;
  state: KeyState;
  public_jwk: JWK;
  private_key: Buffer | null;
  published_at: Date;
  activates_at: Date;
  activated_at: Date | null;
  signing_ended_at: Date | null;
  retire_at: Date | null;
  retired_at: Date | null;
}

const RSA_BITS = 2048;
const CERT_YEARS = 10;
// Verifiers' clocks may run behind ours; keep a retired key's tokens verifiable that much longer.
const CLOCK_SKEW_SECONDS = 60;
const LIVE_KEYS = `SELECT * FROM identity_keys WHERE state <> 'retired'`;

export class OidcKeyStore {
  readonly #o: Required<Omit<KeyStoreOptions, 'reloadSeconds'>> & { reloadSeconds: number };
  #signing: { key: SigningKey; validUntil: number } | undefined;

  constructor(opts: KeyStoreOptions) {
    this.#o = { reloadSeconds: 60, now: Date.now, ...opts };
  }

  /** How long a key stays published after it stops signing. */
  get retentionSeconds(): number {
    return this.#o.tokenTtlSeconds + this.#o.reloadSeconds + CLOCK_SKEW_SECONDS;
  }

  /** Makes sure a signing key exists (creating the first one) and applies due transitions. */
  async init(): Promise<void> {
    await this.#liveRows();
  }

  /** The key to sign with now; cached until the next transition or the reload interval. */
  async signingKey(): Promise<SigningKey> {
    const now = this.#o.now();
    if (this.#signing && now < this.#signing.validUntil) return this.#signing.key;
    const rows = await this.#liveRows();
    const active = rows.find((r) => r.state === 'active');
    if (!active?.private_key) throw new Error('identity_keys has no active key after initialisation');
    const pem = this.#o.secrets.decryptString(active.private_key, keyContext(active.kid));
    const key = { kid: active.kid, privateKey: crypto.createPrivateKey(pem) };
    this.#signing = { key, validUntil: Math.min(now + this.#o.reloadSeconds * 1000, nextTransition(rows) ?? Infinity) };
    return key;
  }

  /** The public keys to serve: the signing key first (Ceph RGW only reads the first), then the others. */
  async publicKeys(): Promise<JWK[]> {
    const rows = await this.#liveRows();
    const rank = { active: 0, published: 1, previous: 2, retired: 3 } as const;
    return rows
      .sort((a, b) => rank[a.state] - rank[b.state] || b.published_at.getTime() - a.published_at.getTime())
      .map((r) => r.public_jwk);
  }

  /** Publishes a new key that will sign after the publish lead time. */
  async rotate(): Promise<KeyInfo> {
    return withTransaction(this.#o.pool, async (client) => {
      await lock(client);
      const now = new Date(this.#o.now());
      const rows = await this.#transition(client, now);
      const pending = rows.find((r) => r.state === 'published');
      if (pending) {
        throw new SluiceError({
          code: 'rotation_pending',
          message: `Key ${pending.kid} is already published and starts signing at ${pending.activates_at.toISOString()}.`,
          hint: 'Wait until it is active before rotating again.',
          status: 409,
        });
      }
      const activatesAt = new Date(now.getTime() + this.#o.publishLeadSeconds * 1000);
      const row = await this.#insertKey(client, 'published', now, activatesAt);
      this.#o.log.info({ kid: row.kid, activatesAt }, 'published a new OIDC signing key');
      this.#signing = undefined;
      return toInfo(row);
    });
  }

  /** Every key, newest first, for `sluice identity`. */
  async list(): Promise<KeyInfo[]> {
    await this.#liveRows();
    const { rows } = await this.#o.pool.query<KeyRow>('SELECT * FROM identity_keys ORDER BY published_at DESC');
    return rows.map(toInfo);
  }

  /** Live keys with due transitions applied; takes the lock only when something is due. */
  async #liveRows(): Promise<KeyRow[]> {
    const now = new Date(this.#o.now());
    const { rows } = await this.#o.pool.query<KeyRow>(LIVE_KEYS);
    if (!transitionDue(rows, now)) return rows;
    return withTransaction(this.#o.pool, async (client) => {
      await lock(client);
      return this.#transition(client, now);
    });
  }

  /** Applies every due transition; call holding the lock. Returns the live keys afterwards. */
  async #transition(client: Queryable, now: Date): Promise<KeyRow[]> {
    const rows = (await client.query<KeyRow>(LIVE_KEYS)).rows;
    const retireAt = new Date(now.getTime() + this.retentionSeconds * 1000);
    const due = rows
      .filter((r) => r.state === 'published' && r.activates_at <= now)
      .sort((a, b) => b.activates_at.getTime() - a.activates_at.getTime());
    let next = due[0];
    // No signing key at all (an empty store, or one emptied by hand): the oldest published key, or a
    // new one, signs at once. Nobody can hold tokens of a key that never signed.
    if (!next && !rows.some((r) => r.state === 'active')) {
      next = rows.filter((r) => r.state === 'published').sort((a, b) => a.activates_at.getTime() - b.activates_at.getTime())[0];
      if (!next) {
        const created = await this.#insertKey(client, 'active', now, now);
        this.#o.log.info({ kid: created.kid }, 'created the first OIDC signing key');
        return [...rows, created];
      }
    }
    if (next) {
      // The current key and any due key that lost to a newer one stop signing; they stay published.
      await client.query(
        `UPDATE identity_keys SET state = 'previous', signing_ended_at = $1, retire_at = $2,
                activated_at = coalesce(activated_at, $1)
          WHERE state = 'active' OR (state = 'published' AND activates_at <= $1 AND kid <> $3)`,
        [now, retireAt, next.kid],
      );
      await client.query(`UPDATE identity_keys SET state = 'active', activated_at = $1 WHERE kid = $2`, [now, next.kid]);
      this.#o.log.info({ kid: next.kid }, 'OIDC signing key is now active');
    }
    const retired = await client.query<{ kid: string }>(
      `UPDATE identity_keys SET state = 'retired', retired_at = $1, private_key = NULL
        WHERE state = 'previous' AND retire_at <= $1 RETURNING kid`,
      [now],
    );
    for (const r of retired.rows) this.#o.log.info({ kid: r.kid }, 'retired an OIDC signing key');
    return (await client.query<KeyRow>(LIVE_KEYS)).rows;
  }

  async #insertKey(client: Queryable, state: 'active' | 'published', now: Date, activatesAt: Date): Promise<KeyRow> {
    const { privateKey, publicKey } = await generateRsaKeyPair();
    const jwk = publicKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(jwk, 'sha256');
    const notAfter = new Date(now.getTime());
    notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CERT_YEARS);
    const cert = selfSignedCertificate(privateKey, { commonName: this.#o.commonName, notBefore: new Date(now.getTime() - 3600_000), notAfter });
    const publicJwk: JWK = { kty: 'RSA', n: jwk.n, e: jwk.e, kid, use: 'sig', alg: 'RS256', x5c: [cert.toString('base64')] };
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const { rows } = await client.query<KeyRow>(
      `INSERT INTO identity_keys (kid, state, public_jwk, private_key, published_at, activates_at, activated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [kid, state, publicJwk, this.#o.secrets.encrypt(pem, keyContext(kid)), now, activatesAt, state === 'active' ? now : null],
    );
    const row = rows[0];
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return row;
  }
}

export function keyContext(kid: string): string {
  return `identity_key:${kid}`;
}

function transitionDue(rows: KeyRow[], now: Date): boolean {
  if (!rows.some((r) => r.state === 'active')) return true;
  return rows.some(
    (r) => (r.state === 'published' && r.activates_at <= now) || (r.state === 'previous' && r.retire_at !== null && r.retire_at <= now),
  );
}

function nextTransition(rows: KeyRow[]): number | undefined {
  const times = rows.flatMap((r) =>
    r.state === 'published' ? [r.activates_at.getTime()] : r.state === 'previous' && r.retire_at ? [r.retire_at.getTime()] : [],
  );
  return times.length > 0 ? Math.min(...times) : undefined;
}

async function lock(client: Queryable): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('sluice.identity_keys'))`);
}

function generateRsaKeyPair(): Promise<{ privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }> {
  return new Promise((resolve, reject) =>
    crypto.generateKeyPair('rsa', { modulusLength: RSA_BITS, publicExponent: 0x10001 }, (err, publicKey, privateKey) =>
      err ? reject(err) : resolve({ publicKey, privateKey }),
    ),
  );
}

function toInfo(r: KeyRow): KeyInfo {
  return {
    kid: r.kid,
    state: r.state,
    publishedAt: r.published_at,
    activatesAt: r.activates_at,
    activatedAt: r.activated_at,
    signingEndedAt: r.signing_ended_at,
    retireAt: r.retire_at,
    retiredAt: r.retired_at,
  };
}
