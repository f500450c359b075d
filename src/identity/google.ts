/**
 * Sluice's identity as a Google service account. AWS trusts Google's tokens natively
 * (`"Federated": "accounts.google.com"`), so recipients register nothing but the trust policy.
 *
 * Two ways to get an ID token for audience A:
 *  - on GCP, the metadata server of the VM / GKE node / Cloud Run instance;
 *  - anywhere, with a service-account key file: a JWT assertion signed with the key is exchanged at
 *    the key's `token_uri` for an OAuth access token, which calls the IAM Credentials API's
 *    `generateIdToken` for the service account.
 */
import fs from 'node:fs/promises';
import crypto from 'node:crypto';
import { decodeJwt, SignJWT } from 'jose';
import { z } from 'zod';
import { describeError, SluiceError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { assertTokenAudience } from '../core/audience.js';
import { googleTrustedIdentity } from './trusted.js';
import type { IdentitySource, TrustedIdentity } from '../core/identity.js';

const DOCS = 'docs/identity-and-trust.md';
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const REQUEST_TIMEOUT_MS = 10_000;
// Refresh the OAuth access token this long before Google says it expires.
const ACCESS_TOKEN_MARGIN_MS = 5 * 60_000;
// Audience of the token minted only to learn the service account's unique id (its `sub`).
const PROBE_AUDIENCE = 'sluice-identity-describe';

export interface GoogleMetadataOptions {
  /** host[:port] of the metadata server (metadata.google.internal on GCP). */
  metadataHost: string;
  /** The service account's numeric unique id, if known; else learnt from a minted token. */
  subject?: string;
  log: Logger;
}

export interface GoogleKeyFileOptions {
  key: ServiceAccountKey;
  /** Service account to mint tokens for (default: the key's own). */
  serviceAccountEmail?: string;
  /** Base URL of the IAM Credentials API (https://iamcredentials.googleapis.com). */
  iamCredentialsUrl: string;
  subject?: string;
  log: Logger;
  now?: () => number;
}

const KeyFileSchema = z.object({
  type: z.literal('service_account', { message: 'must be "service_account" (a service-account key, not a user credential)' }),
  private_key_id: z.string().min(1),
  private_key: z.string().includes('PRIVATE KEY', { message: 'must be a PEM private key' }),
  client_email: z.string().email(),
  client_id: z.string().regex(/^\d+$/, 'must be the numeric unique id of the service account'),
  token_uri: z.string().url(),
});

export type ServiceAccountKey = z.infer<typeof KeyFileSchema>;

/** Reads and checks a service-account key file; the key itself never appears in errors. */
export async function readServiceAccountKey(file: string): Promise<ServiceAccountKey> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw keyFileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw keyFileError(`${file} is not JSON.`);
  }
  const parsed = KeyFileSchema.safeParse(json);
  if (!parsed.success) {
    throw keyFileError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}.`);
  }
  return parsed.data;
}

/** ID tokens from the GCP metadata server of the machine Sluice runs on. */
export class GoogleMetadataIdentity implements IdentitySource {
  readonly kind = 'google' as const;
  readonly #o: GoogleMetadataOptions;
  #subject: string | undefined;

  constructor(opts: GoogleMetadataOptions) {
    this.#o = opts;
    this.#subject = opts.subject;
  }

  async describe(): Promise<TrustedIdentity> {
    // Minting any token teaches the subject (its `sub`).
    if (!this.#subject) await this.token(PROBE_AUDIENCE);
    return googleTrustedIdentity(requireSubject(this.#subject));
  }

  async token(audience: string): Promise<string> {
    assertTokenAudience(audience);
    const url =
      `http://${this.#o.metadataHost}/computeMetadata/v1/instance/service-accounts/default/identity` +
      `?audience=${encodeURIComponent(audience)}&format=full`;
    const res = await request(url, { headers: { 'Metadata-Flavor': 'Google' } }, 'the GCP metadata server');
    const body = (await res.text()).trim();
    if (!res.ok) throw googleError(`The GCP metadata server answered ${res.status} for an ID token: ${body.slice(0, 200)}`);
    // A proxy or captive portal would not send this header back; the real server always does.
    if (res.headers.get('metadata-flavor') !== 'Google') {
      throw googleError(`${this.#o.metadataHost} did not answer like the GCP metadata server (no Metadata-Flavor: Google).`);
    }
    this.#subject ??= learntSubject(checkIdToken(body, audience).sub, this.#o.log);
    return body;
  }
}

/** ID tokens from the IAM Credentials API, authenticated with a service-account key. */
export class GoogleKeyFileIdentity implements IdentitySource {
  readonly kind = 'google' as const;
  readonly #o: GoogleKeyFileOptions;
  readonly #privateKey: crypto.KeyObject;
  readonly #email: string;
  readonly #now: () => number;
  #subject: string | undefined;
  #accessToken: { value: string; refreshAt: number } | undefined;

  constructor(opts: GoogleKeyFileOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    try {
      this.#privateKey = crypto.createPrivateKey(opts.key.private_key);
    } catch {
      throw keyFileError('private_key is not a valid PEM private key.');
    }
    this.#email = opts.serviceAccountEmail ?? opts.key.client_email;
    // The key's client_id is its own service account's unique id; another account's must be learnt.
    this.#subject = opts.subject ?? (this.#email === opts.key.client_email ? opts.key.client_id : undefined);
  }

  async describe(): Promise<TrustedIdentity> {
    // Minting any token teaches the subject (its `sub`).
    if (!this.#subject) await this.token(PROBE_AUDIENCE);
    return googleTrustedIdentity(requireSubject(this.#subject));
  }

  async token(audience: string): Promise<string> {
    assertTokenAudience(audience);
    const accessToken = await this.#getAccessToken();
    const base = this.#o.iamCredentialsUrl.replace(/\/+$/, '');
    const url = `${base}/v1/projects/-/serviceAccounts/${encodeURIComponent(this.#email)}:generateIdToken`;
    const res = await request(
      url,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ audience, includeEmail: true }),
      },
      'the IAM Credentials API',
    );
    const body = await readJson(res, 'the IAM Credentials API');
    if (!res.ok || typeof body.token !== 'string') {
      if (res.status === 401) this.#accessToken = undefined;
      throw googleError(
        `generateIdToken for ${this.#email} failed (${res.status}): ${googleMessage(body)}`,
        res.status === 403
          ? `Grant the key's service account roles/iam.serviceAccountOpenIdTokenCreator on ${this.#email}, and enable the IAM Service Account Credentials API.`
          : undefined,
      );
    }
    this.#subject ??= learntSubject(checkIdToken(body.token, audience).sub, this.#o.log);
    return body.token;
  }

  /** An OAuth access token for the key's service account, cached until 5 minutes before expiry. */
  async #getAccessToken(): Promise<string> {
    const now = this.#now();
    if (this.#accessToken && now < this.#accessToken.refreshAt) return this.#accessToken.value;
    const key = this.#o.key;
    const iat = Math.floor(now / 1000);
    const assertion = await new SignJWT({ scope: CLOUD_PLATFORM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.private_key_id })
      .setIssuer(key.client_email)
      .setAudience(key.token_uri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(this.#privateKey);
    const res = await request(
      key.token_uri,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
      },
      'the Google OAuth token endpoint',
    );
    const body = await readJson(res, 'the Google OAuth token endpoint');
    if (!res.ok || typeof body.access_token !== 'string') {
      throw googleError(
        `The service-account key was refused at ${key.token_uri} (${res.status}): ${googleMessage(body)}`,
        'The key may be deleted or disabled: create a new key for the service account and point SLUICE_GOOGLE_SERVICE_ACCOUNT_KEY_FILE at it.',
      );
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 3600;
    this.#accessToken = { value: body.access_token, refreshAt: now + expiresIn * 1000 - ACCESS_TOKEN_MARGIN_MS };
    return body.access_token;
  }
}

async function request(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw googleError(
      `Cannot reach ${what} (${new URL(url).host}): ${describeError(err)}.`,
      what.includes('metadata')
        ? 'The metadata server exists only on GCP; elsewhere set SLUICE_GOOGLE_SERVICE_ACCOUNT_KEY_FILE, or choose another SLUICE_IDENTITY.'
        : 'Check outbound HTTPS from Sluice to Google.',
    );
  }
}

async function readJson(res: Response, what: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object') return value as Record<string, unknown>;
  } catch {
    // fall through: not JSON
  }
  throw googleError(`${what} answered ${res.status} with something that is not JSON.`);
}

/** Google errors come as {error: {message}} (APIs) or {error, error_description} (OAuth). */
function googleMessage(body: Record<string, unknown>): string {
  const e = body.error;
  if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  if (typeof body.error_description === 'string') return body.error_description;
  return typeof e === 'string' ? e : 'no error message';
}

/** A minted token must be a JWT for the requested audience; returns its claims. */
function checkIdToken(token: string, audience: string): { sub: string } {
  let claims;
  try {
    claims = decodeJwt(token);
  } catch {
    throw googleError('Google returned an ID token that is not a JWT.');
  }
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(audience)) throw googleError(`Google returned an ID token for another audience (${String(claims.aud)}).`);
  if (typeof claims.sub !== 'string') throw googleError('Google returned an ID token without a subject.');
  return { sub: claims.sub };
}

function learntSubject(subject: string, log: Logger): string {
  log.info({ subject }, 'google identity: learnt the service account\'s unique id from a minted token');
  return subject;
}

function requireSubject(subject: string | undefined): string {
  if (!subject) throw googleError('Could not learn the service account\'s unique id.', 'Set SLUICE_GOOGLE_SUBJECT to its numeric unique id.');
  return subject;
}

function googleError(message: string, hint?: string): SluiceError {
  return new SluiceError({
    code: 'identity_unavailable',
    message,
    hint: hint ?? 'Check the Google identity settings (SLUICE_IDENTITY=google).',
    docs: DOCS,
    actor: 'provider',
    status: 502,
  });
}

function keyFileError(message: string): SluiceError {
  return new SluiceError({
    code: 'invalid_identity_config',
    message: `SLUICE_GOOGLE_SERVICE_ACCOUNT_KEY_FILE: ${message}`,
    hint: 'Download a JSON key for the service account (IAM → Service accounts → Keys) and point the variable at it.',
    docs: DOCS,
  });
}
