/**
 * Builds the TrustedIdentity a recipient's trust policy names, for the two shapes IAM knows:
 * Google's built-in federation (`accounts.google.com`) and an OIDC identity provider registered in
 * the recipient's account for any other issuer.
 */
import type { IdentityKind, TrustedIdentity } from '../core/identity.js';

export const GOOGLE_ISSUER = 'https://accounts.google.com';

/** The issuer without its scheme and trailing slash: IAM's provider name and condition-key prefix. */
export function issuerHostPath(issuer: string): string {
  return issuer.replace(/^https?:\/\//, '').replace(/\/+$/, '');
}

export function googleTrustedIdentity(subject: string): TrustedIdentity {
  return {
    kind: 'google',
    issuer: GOOGLE_ISSUER,
    subject,
    conditionKeyPrefix: 'accounts.google.com',
    // Google puts the requested audience in `aud` but IAM exposes it as `oaud` (its `aud` is the azp).
    audienceConditionKey: 'oaud',
    federatedPrincipal: () => 'accounts.google.com',
    requiresOidcProvider: false,
  };
}

export function oidcTrustedIdentity(kind: Exclude<IdentityKind, 'google'>, issuer: string, subject: string): TrustedIdentity {
  const prefix = issuerHostPath(issuer);
  return {
    kind,
    issuer,
    subject,
    conditionKeyPrefix: prefix,
    audienceConditionKey: 'aud',
    // An empty account (Ceph RGW has none) gives `arn:aws:iam:::oidc-provider/…`, which RGW expects.
    federatedPrincipal: (accountId: string, partition = 'aws') => `arn:${partition}:iam::${accountId}:oidc-provider/${prefix}`,
    requiresOidcProvider: true,
  };
}

/** The token-file identity may be Google-issued (GKE workload identity) or any OIDC issuer. */
export function trustedIdentityFor(kind: Exclude<IdentityKind, 'google'>, issuer: string, subject: string): TrustedIdentity {
  if (issuerHostPath(issuer) === 'accounts.google.com') return { ...googleTrustedIdentity(subject), kind };
  return oidcTrustedIdentity(kind, issuer, subject);
}
