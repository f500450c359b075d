/**
 * Sluice's identity from a projected service-account token file (Kubernetes `serviceAccountToken`
 * volume, EKS/GKE workload identity). The kubelet rewrites the file before the token expires, so it
 * is read on every call.
 *
 * The token's audience is fixed by the pod spec, not by Sluice: one token file serves one audience,
 * hence one destination. Asking for any other audience is refused rather than sending a token the
 * recipient's role would reject (or, worse, one another destination's role accepts).
 */
import fs from 'node:fs/promises';
import { decodeJwt, type JWTPayload } from 'jose';
import { describeError, SluiceError } from '../core/errors.js';
import type { ErrorCode } from '../core/error-codes.js';
import { assertTokenAudience } from '../core/audience.js';
import { trustedIdentityFor } from './trusted.js';
import type { IdentitySource, TrustedIdentity } from '../core/identity.js';

const DOCS = 'docs/identity-and-trust.md';

export interface TokenFileOptions {
  file: string;
  /** Override the issuer read from the token (`iss`). */
  issuer?: string;
  /** Override the subject read from the token (`sub`). */
  subject?: string;
  now?: () => number;
}

export class TokenFileIdentity implements IdentitySource {
  readonly kind = 'token-file' as const;
  readonly singleAudience = true;
  readonly #o: TokenFileOptions;
  readonly #now: () => number;

  constructor(opts: TokenFileOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  async describe(): Promise<TrustedIdentity> {
    const needClaims = !this.#o.issuer || !this.#o.subject;
    const claims = needClaims ? (await this.#read()).claims : {};
    const issuer = this.#o.issuer ?? claims.iss;
    const subject = this.#o.subject ?? claims.sub;
    if (!issuer || !subject) {
      throw tokenFileError(
        'invalid_identity_config',
        `The token in ${this.#o.file} has no ${issuer ? 'sub' : 'iss'} claim.`,
        'Set SLUICE_TOKEN_FILE_ISSUER and SLUICE_TOKEN_FILE_SUBJECT.',
      );
    }
    return trustedIdentityFor('token-file', issuer.replace(/\/+$/, ''), subject);
  }

  /** The audience the current token carries: the one destination this identity can serve. */
  async audiences(): Promise<string[]> {
    return audiencesOf((await this.#read()).claims);
  }

  async token(audience: string): Promise<string> {
    assertTokenAudience(audience);
    const { token, claims } = await this.#read();
    const audiences = audiencesOf(claims);
    if (!audiences.includes(audience)) {
      throw tokenFileError(
        'identity_audience_fixed',
        `The token file ${this.#o.file} is issued for audience ${audiences.join(', ') || '(none)'}, not for ${audience}; a token file serves one destination only.`,
        `Set the projected token's audience to ${audience} in the pod spec, or use SLUICE_IDENTITY=oidc to serve several destinations.`,
      );
    }
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= this.#now()) {
      throw tokenFileError(
        'identity_token_expired',
        `The token in ${this.#o.file} expired at ${new Date(claims.exp * 1000).toISOString()}.`,
        'The file is no longer refreshed: check the projected volume (kubelet) or whatever writes the file.',
      );
    }
    return token;
  }

  async #read(): Promise<{ token: string; claims: JWTPayload }> {
    let token: string;
    try {
      token = (await fs.readFile(this.#o.file, 'utf8')).trim();
    } catch (err) {
      throw tokenFileError(
        'identity_unavailable',
        `Cannot read the token file ${this.#o.file}: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}.`,
        'Check SLUICE_TOKEN_FILE and the projected volume mount.',
      );
    }
    try {
      return { token, claims: decodeJwt(token) };
    } catch {
      throw tokenFileError('identity_unavailable', `The token file ${this.#o.file} does not hold a JWT.`, 'Check SLUICE_TOKEN_FILE.');
    }
  }
}

function audiencesOf(claims: JWTPayload): string[] {
  if (Array.isArray(claims.aud)) return claims.aud;
  return typeof claims.aud === 'string' ? [claims.aud] : [];
}

function tokenFileError(code: ErrorCode, message: string, hint: string): SluiceError {
  return new SluiceError({ code, message, hint, docs: DOCS, actor: 'provider', status: code === 'invalid_identity_config' ? 400 : 502 });
}
