/**
 * The setup page's "prefer a terminal?" alternative: the same IAM steps as AWS CLI commands, with the
 * policies written to files first (heredocs, so the JSON is pasted exactly as shown on the page).
 */
import type { DestinationPolicies } from '../../destinations/s3/policies.js';

export interface CliInput {
  policies: DestinationPolicies;
  bucket: string;
  /** Account of the role when known (from the role ARN or the account field), else a placeholder. */
  accountId?: string;
  roleName?: string;
}

/** Policy names allow letters, digits and +=,.@_-: a bucket name always fits once dots are kept. */
export function policyName(bucket: string): string {
  return `sluice-write-${bucket}`.slice(0, 128);
}

export function awsCliCommands(input: CliInput): string {
  const role = input.roleName ?? 'transfer-role';
  const policy = policyName(input.bucket);
  const account = input.accountId && /^\d{12}$/.test(input.accountId) ? input.accountId : '<AWS_ACCOUNT_ID>';
  const lines: string[] = [];
  if (input.policies.oidcProvider) {
    const p = input.policies.oidcProvider;
    lines.push(
      '# 1. Register Sluice as an OIDC identity provider (once per account; if it exists, add the client ids)',
      `aws iam create-open-id-connect-provider --url ${p.url} ${p.clientIds.map((c) => `--client-id-list ${c}`).join(' ')}`,
      '',
    );
  }
  lines.push(
    `# ${input.policies.oidcProvider ? 2 : 1}. Create the permissions policy`,
    "cat > permissions-policy.json <<'EOF'",
    JSON.stringify(input.policies.permissionsPolicy, null, 2),
    'EOF',
    `aws iam create-policy --policy-name ${policy} --policy-document file://permissions-policy.json`,
    '',
    `# ${input.policies.oidcProvider ? 3 : 2}. Create the role with the trust policy, and attach the permissions policy`,
    "cat > trust-policy.json <<'EOF'",
    JSON.stringify(input.policies.trustPolicy, null, 2),
    'EOF',
    `aws iam create-role --role-name ${role} --assume-role-policy-document file://trust-policy.json`,
    `aws iam attach-role-policy --role-name ${role} --policy-arn arn:aws:iam::${account}:policy/${policy}`,
    '',
    '# The role ARN to paste into this page:',
    `aws iam get-role --role-name ${role} --query Role.Arn --output text`,
  );
  return lines.join('\n');
}
