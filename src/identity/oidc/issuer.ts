/**
 * Sluice as its own OpenID issuer: it signs short-lived RS256 ID tokens for a destination's audience
 * and publishes what a verifier (AWS IAM, Ceph RGW) needs to check them — the discovery document and
 * the JWKS, both served by api/routes/oidc.ts.
 */
import crypto from 'node:crypto';
import { SignJWT, type JWK } from 'jose';
import { assertTokenAudience } from '../../core/audience.js';
import { oidcTrustedIdentity } from '../trusted.js';
import type { IdentityProblem, IdentitySource, TrustedIdentity } from '../../core/identity.js';
import type { KeyInfo, OidcKeyStore } from './keys.js';

export const DISCOVERY_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/.well-known/jwks.json';

const SELF_CHECK_TIMEOUT_MS = 5_000;

function describeCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string } } | null)?.cause;
  return cause?.code ?? (err instanceof Error ? err.message : String(err));
}

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

  /**
   * Fetches the discovery document and the JWKS from the public issuer URL, as a verifier does, and
   * checks that they name this issuer and publish the key that signs now. Run before a refused
   * token is blamed on the recipient (a stopped API process, a broken proxy or an unpublished key
   * makes every STS call fail with the same refusal as a wrong trust policy).
   */
  async selfCheck(): Promise<IdentityProblem | null> {
    const where = `${this.issuer}${DISCOVERY_PATH}`;
    const unreachable = (why: string): IdentityProblem => ({
      code: 'issuer_unreachable',
      message: `Sluice's OIDC issuer is not answering as verifiers need: ${why}. STS cannot check Sluice's tokens, so it refuses them whatever the recipient's setup.`,
      hint: `Make ${where} and the JWKS it names reachable at the public URL (SLUICE_PUBLIC_URL; the API process serves them), then retry; transfers retry by themselves.`,
    });
    let doc: Partial<DiscoveryDocument>;
    try {
      const res = await fetch(where, { redirect: 'error', signal: AbortSignal.timeout(SELF_CHECK_TIMEOUT_MS) });
      if (!res.ok) return unreachable(`${where} answered HTTP ${res.status}`);
      doc = (await res.json()) as Partial<DiscoveryDocument>;
    } catch (err) {
      return unreachable(`${where} could not be fetched (${describeCause(err)})`);
    }
    if (doc.issuer !== this.issuer) return unreachable(`${where} names issuer ${String(doc.issuer)}, not ${this.issuer}`);
    if (typeof doc.jwks_uri !== 'string') return unreachable(`${where} has no jwks_uri`);
    let kids: string[];
    try {
      const res = await fetch(doc.jwks_uri, { redirect: 'error', signal: AbortSignal.timeout(SELF_CHECK_TIMEOUT_MS) });
      if (!res.ok) return unreachable(`the JWKS ${doc.jwks_uri} answered HTTP ${res.status}`);
      const jwks = (await res.json()) as { keys?: { kid?: string }[] };
      kids = (jwks.keys ?? []).map((k) => String(k.kid));
    } catch (err) {
      return unreachable(`the JWKS ${doc.jwks_uri} could not be fetched (${describeCause(err)})`);
    }
    const signing = await this.keys.signingKey();
    if (!kids.includes(signing.kid)) {
      return {
        code: 'signing_key_unpublished',
        message: `The key that signs Sluice's tokens now (kid ${signing.kid}) is not in the JWKS served at ${doc.jwks_uri}, so verifiers refuse its tokens.`,
        hint: 'Check that every Sluice process uses the same control store and that no cache in front of the issuer serves an old JWKS; `sluice identity` lists the keys. Transfers retry by themselves.',
      };
    }
    return null;
  }

  rotate(): Promise<KeyInfo> {
    return this.keys.rotate();
  }
}
