/**
 * What a recipient must trust, as one plain object: printed by `sluice identity`, and the shape an
 * API endpoint can return. Nothing in it is secret.
 */
import { OidcIdentity } from './oidc/issuer.js';
import type { KeyInfo } from './oidc/keys.js';
import { TokenFileIdentity } from './token-file.js';
import type { IdentityKind, IdentitySource } from '../core/identity.js';

/** Placeholder for the recipient's AWS account id in the principal template. */
export const ACCOUNT_PLACEHOLDER = '<RECIPIENT_ACCOUNT_ID>';

export interface IdentityReport {
  kind: IdentityKind;
  issuer: string;
  subject: string;
  /** Trust policy `Principal.Federated`, with the recipient's account as a placeholder. */
  federatedPrincipal: string;
  conditionKeys: { subject: string; audience: string };
  /** For issuers other than Google: the IAM OIDC identity provider each recipient registers. */
  oidcProvider?: { url: string; clientIds: string };
  /** token-file: the audiences the current token carries (the only destinations it can serve). */
  tokenAudiences?: string[];
  /** oidc: the signing keys and their rotation state. */
  keys?: Array<Pick<KeyInfo, 'kid' | 'state' | 'publishedAt' | 'activatesAt' | 'activatedAt' | 'retireAt'>>;
}

export async function identityReport(identity: IdentitySource): Promise<IdentityReport> {
  const t = await identity.describe();
  const report: IdentityReport = {
    kind: t.kind,
    issuer: t.issuer,
    subject: t.subject,
    federatedPrincipal: t.federatedPrincipal(ACCOUNT_PLACEHOLDER),
    conditionKeys: { subject: `${t.conditionKeyPrefix}:sub`, audience: `${t.conditionKeyPrefix}:${t.audienceConditionKey}` },
  };
  if (t.requiresOidcProvider) {
    report.oidcProvider = { url: t.issuer, clientIds: "each destination's audience and its probe audience (two client ids per destination; `sluice policy <destination>` prints both)" };
  }
  if (identity instanceof TokenFileIdentity) report.tokenAudiences = await identity.audiences();
  if (identity instanceof OidcIdentity) {
    report.keys = (await identity.keys.list())
      .filter((k) => k.state !== 'retired')
      .map(({ kid, state, publishedAt, activatesAt, activatedAt, retireAt }) => ({ kid, state, publishedAt, activatesAt, activatedAt, retireAt }));
  }
  return report;
}

export function formatIdentityReport(r: IdentityReport): string {
  const lines = [
    `identity        ${r.kind}`,
    `issuer          ${r.issuer}`,
    `subject         ${r.subject}`,
    '',
    'Each recipient\'s role trust policy names:',
    `  Principal.Federated   ${r.federatedPrincipal}`,
    `  Action                sts:AssumeRoleWithWebIdentity`,
    `  Condition             StringEquals ${r.conditionKeys.subject} = ${r.subject}`,
    `                        StringEquals ${r.conditionKeys.audience} = <the destination's audience>`,
    '  (`sluice policy` prints the filled-in documents for a destination.)',
  ];
  if (r.oidcProvider) {
    lines.push(
      '',
      'Each recipient registers an IAM OIDC identity provider:',
      `  Provider URL          ${r.oidcProvider.url}`,
      `  Audience (client id)  ${r.oidcProvider.clientIds}`,
    );
  }
  if (r.tokenAudiences) {
    lines.push('', `The token file is issued for: ${r.tokenAudiences.join(', ') || '(no audience)'} — only that destination can be served.`);
  }
  if (r.keys) {
    lines.push('', 'Signing keys:');
    for (const k of r.keys) {
      const when =
        k.state === 'published'
          ? `signs from ${k.activatesAt.toISOString()}`
          : k.state === 'active'
            ? `signing since ${k.activatedAt?.toISOString()}`
            : `published until ${k.retireAt?.toISOString()}`;
      lines.push(`  ${k.kid}  ${k.state.padEnd(9)}  ${when}`);
    }
  }
  return lines.join('\n');
}
