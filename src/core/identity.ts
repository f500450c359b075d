/**
 * Sluice's workload identity: whatever it is (a Google service account, Sluice's own OIDC issuer, a
 * projected token file), it answers one question — "give me a signed ID token for audience A" — and
 * can say what a recipient's trust policy must name.
 */
export type IdentityKind = 'google' | 'oidc' | 'token-file';

export interface TrustedIdentity {
  kind: IdentityKind;
  /** Issuer URL as it appears in tokens' `iss` (e.g. https://accounts.google.com). */
  issuer: string;
  /** The `sub` every token carries; the trust policy pins it. */
  subject: string;
  /**
   * Prefix of the IAM condition keys: `accounts.google.com` for Google, else the issuer without its
   * scheme (`sluice.example.com` → `sluice.example.com:sub`, `sluice.example.com:aud`).
   */
  conditionKeyPrefix: string;
  /** Condition key that carries the requested audience: `oaud` for Google (its `aud` is the azp), else `aud`. */
  audienceConditionKey: 'aud' | 'oaud';
  /**
   * The trust policy's Principal.Federated for a role in `accountId`: "accounts.google.com" for
   * Google, `arn:<partition>:iam::<account>:oidc-provider/<issuer without scheme>` for an OIDC issuer.
   */
  federatedPrincipal(accountId: string, partition?: string): string;
  /** True when recipients must register an IAM OIDC identity provider for `issuer` (not for Google). */
  requiresOidcProvider: boolean;
}

export interface IdentitySource {
  readonly kind: IdentityKind;
  /**
   * True when the source can only present tokens for one audience fixed outside Sluice (token-file):
   * it serves a single destination, and a connection test cannot run the negative audience probe.
   */
  readonly singleAudience?: boolean;
  /** What recipients must trust. */
  describe(): Promise<TrustedIdentity>;
  /** A freshly minted ID token whose `aud` is `audience`. Never logged, never stored. */
  token(audience: string): Promise<string>;
  /**
   * What Sluice can check of its own side before it blames a recipient for a refused token: for its
   * own issuer, that the discovery document and the JWKS answer at the public URL and publish the
   * key that signs now. Null when all is well; a problem is the provider's to fix.
   */
  selfCheck?(): Promise<IdentityProblem | null>;
  close?(): Promise<void>;
}

/** A fault on Sluice's side of the token exchange (the provider must act; transfers retry). */
export interface IdentityProblem {
  code: 'issuer_unreachable' | 'signing_key_unpublished';
  message: string;
  hint: string;
}
