import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AUDIENCE_PLACEHOLDER, PROBE_AUDIENCE_PLACEHOLDER, destinationPolicies, partitionOf } from '../../src/destinations/s3/policies.js';
import { probeAudience } from '../../src/core/audience.js';
import type { TrustedIdentity } from '../../src/core/identity.js';

const google: TrustedIdentity = {
  kind: 'google',
  issuer: 'https://accounts.google.com',
  subject: '112233445566778899000',
  conditionKeyPrefix: 'accounts.google.com',
  audienceConditionKey: 'oaud',
  federatedPrincipal: () => 'accounts.google.com',
  requiresOidcProvider: false,
};

const oidc: TrustedIdentity = {
  kind: 'oidc',
  issuer: 'https://sluice.example.com',
  subject: 'sluice',
  conditionKeyPrefix: 'sluice.example.com',
  audienceConditionKey: 'aud',
  federatedPrincipal: (account, partition = 'aws') => `arn:${partition}:iam::${account}:oidc-provider/sluice.example.com`,
  requiresOidcProvider: true,
};

const AUD = 'sluice-abcdefghijklmnopqrstuvwxyz';

describe('destination policies', () => {
  it('Google: the seed trust policy, pinning sub and oaud (the requested audience)', () => {
    const p = destinationPolicies({ bucket: 'acme-exports', prefix: '', audience: AUD, accountId: '123456789012', identity: google });
    assert.deepEqual(p.trustPolicy, {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['sts:AssumeRoleWithWebIdentity'],
          Principal: { Federated: 'accounts.google.com' },
          Condition: { StringEquals: { 'accounts.google.com:sub': '112233445566778899000', 'accounts.google.com:oaud': AUD } },
        },
      ],
    });
    assert.deepEqual(p.permissionsPolicy, {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: 'arn:aws:s3:::acme-exports/*' }],
    });
    assert.equal(p.oidcProvider, undefined);
  });

  it('OIDC: the provider ARN in the role account, issuer:sub and issuer:aud, and the provider to register', () => {
    const p = destinationPolicies({ bucket: 'acme', prefix: 'sluice/out', audience: AUD, accountId: '123456789012', identity: oidc });
    const st = p.trustPolicy.Statement[0]!;
    assert.deepEqual(st.Principal, { Federated: 'arn:aws:iam::123456789012:oidc-provider/sluice.example.com' });
    assert.deepEqual(st.Condition, { StringEquals: { 'sluice.example.com:sub': 'sluice', 'sluice.example.com:aud': AUD } });
    assert.equal(p.permissionsPolicy.Statement[0]!.Resource, 'arn:aws:s3:::acme/sluice/out/*');
    assert.deepEqual(p.oidcProvider, { url: 'https://sluice.example.com', clientIds: [AUD, probeAudience(AUD)] });
  });

  it('adds the KMS statement when the bucket uses SSE-KMS', () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const p = destinationPolicies({ bucket: 'acme', prefix: '', audience: AUD, kmsKeyArn: key, identity: google });
    assert.deepEqual(p.permissionsPolicy.Statement[1], { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: key });
    assert.ok(p.notes.some((n) => n.includes('key policy')));
  });

  it('before the destination exists: a placeholder audience and account, each with a note', () => {
    const p = destinationPolicies({ bucket: 'acme', prefix: '', audience: null, identity: oidc });
    const cond = p.trustPolicy.Statement[0]!.Condition!.StringEquals;
    assert.equal(cond['sluice.example.com:aud'], AUDIENCE_PLACEHOLDER);
    assert.match(String(p.trustPolicy.Statement[0]!.Principal!.Federated), /iam::<AWS_ACCOUNT_ID>:oidc-provider/);
    assert.deepEqual(p.oidcProvider?.clientIds, [AUDIENCE_PLACEHOLDER, PROBE_AUDIENCE_PLACEHOLDER]);
    assert.ok(p.notes.some((n) => n.includes(AUDIENCE_PLACEHOLDER)));
    assert.ok(p.notes.some((n) => n.includes('<AWS_ACCOUNT_ID>')));
  });

  it('keeps an empty account (Ceph RGW) as is', () => {
    const p = destinationPolicies({ bucket: 'acme', prefix: '', audience: AUD, accountId: '', identity: oidc });
    assert.equal(p.trustPolicy.Statement[0]!.Principal!.Federated, 'arn:aws:iam:::oidc-provider/sluice.example.com');
  });

  it('uses the partition of the region in ARNs', () => {
    assert.equal(partitionOf('cn-north-1'), 'aws-cn');
    assert.equal(partitionOf('us-gov-west-1'), 'aws-us-gov');
    const p = destinationPolicies({ bucket: 'acme', prefix: '', audience: AUD, accountId: '123456789012', identity: oidc, partition: 'aws-cn' });
    assert.equal(p.permissionsPolicy.Statement[0]!.Resource, 'arn:aws-cn:s3:::acme/*');
  });
});
