/**
 * Sluice as its own OpenID issuer: it signs short-lived RS256 ID tokens for a destination's audience
 * and publishes what a verifier (AWS IAM, Ceph RGW) needs to check them — the discovery document and
 * the JWKS, both served by api/routes/oidc.ts.
 */
import crypto from 'node:crypto';
import { SignJWT, type JWK } from 'jose';
import { assertTokenAudience } from '../../core/audience.js';
import { oidcTrustedIdentity } from '../trusted.js';
import type { IdentitySource, TrustedIdentity } from '../../core/identity.js';
import type { KeyInfo, OidcKeyStore } from './keys.js';

export const DISCOVERY_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/.well-known/jwks.json';

export interface OidcIdentityOptions {
  /** Issuer URL (no trailing slash): the tokens' `iss`. */
  issuer: string;
  /** The tokens' `sub`: one stable subject for this installation. */
  subject: string;
  tokenTtlSeconds: number;
  /** Cache-Control max-age of the discovery document and JWKS. */
  jwksMaxAgeSeconds: number;
  keys: OidcKeyStore;
  now?: () => number;
}

export interface DiscoveryDocument {
  issuer: string;
  jwks_uri: string;
  id_token_signing_alg_values_supported: string[];
  response_types_supported: string[];
  subject_types_supported: string[];
  claims_supported: string[];
}

export class OidcIdentity implements IdentitySource {
  readonly kind = 'oidc' as const;
  readonly issuer: string;
  readonly subject: string;
  readonly tokenTtlSeconds: number;
  readonly jwksMaxAgeSeconds: number;
  readonly keys: OidcKeyStore;
  readonly #now: () => number;

  constructor(opts: OidcIdentityOptions) {
    this.issuer = opts.issuer;
    this.subject = opts.subject;
    this.tokenTtlSeconds = opts.tokenTtlSeconds;
    this.jwksMaxAgeSeconds = opts.jwksMaxAgeSeconds;
    this.keys = opts.keys;
    this.#now = opts.now ?? Date.now;
  }

  async describe(): Promise<TrustedIdentity> {
    return oidcTrustedIdentity('oidc', this.issuer, this.subject);
  }

  async token(audience: string): Promise<string> {
    assertTokenAudience(audience);
    const key = await this.keys.signingKey();
    // Integer seconds: some verifiers reject fractional NumericDates.
    const iat = Math.floor(this.#now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(this.subject)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + this.tokenTtlSeconds)
      .setJti(crypto.randomUUID())
      .sign(key.privateKey);
  }

  discovery(): DiscoveryDocument {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}${JWKS_PATH}`,
      id_token_signing_alg_values_supported: ['RS256'],
      // Sluice only mints tokens for itself; there is no authorization endpoint, but the field is required.
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      claims_supported: ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti'],
    };
  }

  /** The JWKS: the signing key first (Ceph RGW only uses the first), then published and previous keys. */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: await this.keys.publicKeys() };
  }

  cacheControl(): string {
    return `public, max-age=${this.jwksMaxAgeSeconds}`;
  }

  rotate(): Promise<KeyInfo> {
    return this.keys.rotate();
  }
}
