/**
 * The two IAM documents a recipient pastes (customer-s3-setup.md), filled in for one destination:
 * a trust policy that pins Sluice's identity (sub) AND the destination's audience — the web-identity
 * equivalent of ExternalId — and a permissions policy with only s3:PutObject and s3:DeleteObject.
 *
 * Google: only `:sub` and `:oaud` are pinned. `accounts.google.com:aud` is the token's `azp`, which for
 * a service account is its own unique id again, so pinning it adds nothing beyond `:sub`; `:oaud` is the
 * only key that carries the audience Sluice requested (aws-facts §2, §6).
 */
import { probeAudience } from '../../core/audience.js';
import type { TrustedIdentity } from '../../core/identity.js';

export const AUDIENCE_PLACEHOLDER = '<DESTINATION_AUDIENCE>';
export const ACCOUNT_PLACEHOLDER = '<AWS_ACCOUNT_ID>';
export const PROBE_AUDIENCE_PLACEHOLDER = '<DESTINATION_PROBE_AUDIENCE>';

export interface PolicyStatement {
  Effect: 'Allow';
  Action: string[];
  Principal?: { Federated: string };
  Resource?: string | string[];
  Condition?: { StringEquals: Record<string, string> };
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export interface DestinationPolicies {
  trustPolicy: PolicyDocument;
  permissionsPolicy: PolicyDocument;
  /** For an OIDC issuer: the IAM OIDC identity provider the recipient registers in its account. */
  oidcProvider?: { url: string; clientIds: string[] };
  notes: string[];
}

export interface DestinationPoliciesInput {
  bucket: string;
  prefix: string;
  kmsKeyArn?: string;
  /** null before the destination exists: a placeholder stands in for it. */
  audience: string | null;
  /** '' for stores without accounts (Ceph RGW); undefined when not known yet. */
  accountId?: string;
  identity: TrustedIdentity;
  /** AWS partition of the bucket (aws, aws-cn, aws-us-gov); defaults to aws. */
  partition?: string;
}

/** The partition of a region code, for ARNs (arn:aws-cn:s3:::… in China). */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

export function destinationPolicies(input: DestinationPoliciesInput): DestinationPolicies {
  const { identity } = input;
  const partition = input.partition ?? 'aws';
  const audience = input.audience ?? AUDIENCE_PLACEHOLDER;
  const notes: string[] = [];

  const accountForPrincipal = input.accountId ?? ACCOUNT_PLACEHOLDER;
  const trustPolicy: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['sts:AssumeRoleWithWebIdentity'],
        Principal: { Federated: identity.federatedPrincipal(accountForPrincipal, partition) },
        Condition: {
          StringEquals: {
            [`${identity.conditionKeyPrefix}:sub`]: identity.subject,
            [`${identity.conditionKeyPrefix}:${identity.audienceConditionKey}`]: audience,
          },
        },
      },
    ],
  };

  const objects = input.prefix ? `${input.bucket}/${input.prefix}/*` : `${input.bucket}/*`;
  const permissionsPolicy: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: `arn:${partition}:s3:::${objects}` }],
  };
  if (input.kmsKeyArn) {
    permissionsPolicy.Statement.push({ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: input.kmsKeyArn });
    notes.push('The bucket uses SSE-KMS: the key policy of that key must also let this role use kms:GenerateDataKey and kms:Decrypt.');
  }

  if (input.audience === null) {
    notes.push(`${AUDIENCE_PLACEHOLDER} stands for the audience Sluice generates when the destination is created; use the policy shown for the destination, which has it filled in.`);
  }
  if (identity.requiresOidcProvider && input.accountId === undefined) {
    notes.push(`${ACCOUNT_PLACEHOLDER} stands for the 12-digit id of the AWS account that owns the role (the one in the role ARN).`);
  }

  let oidcProvider: DestinationPolicies['oidcProvider'];
  if (identity.requiresOidcProvider) {
    const probe = input.audience === null ? PROBE_AUDIENCE_PLACEHOLDER : probeAudience(audience);
    oidcProvider = { url: identity.issuer, clientIds: [audience, probe] };
    notes.push(
      `Register ${identity.issuer} as an IAM OIDC identity provider in the role's account with ${audience} and ${probe} as client ids (audiences); if it already exists, add the client ids. ` +
        `The trust policy accepts only ${audience}; the connection test checks that it refuses ${probe}, an audience shaped like another destination's (a wildcard or a missing audience condition would admit it, and another recipient's destination with it).`,
    );
  } else if (identity.kind === 'google') {
    notes.push('Google is built into AWS: do not create an IAM identity provider for accounts.google.com.');
  }
  notes.push('s3:DeleteObject is only needed by the connection test, which deletes its test object; you may remove it once the destination is enabled.');
  notes.push('Add a lifecycle rule with AbortIncompleteMultipartUpload (e.g. after 7 days) so parts of interrupted uploads do not stay billed.');

  return { trustPolicy, permissionsPolicy, ...(oidcProvider ? { oidcProvider } : {}), notes };
}
