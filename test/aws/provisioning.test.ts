/**
 * The customer-side setup the other AWS tests rely on, done with the real SDK against RGW: a bucket
 * the admin can read back, an IAM OIDC provider, and a role carrying exactly the seed's policy.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetRolePolicyCommand } from '@aws-sdk/client-iam';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { seedPermissionsPolicy, useRgw, type TestRgw } from '../support/rgw.js';

let rgw: TestRgw;
before(async () => {
  rgw = await useRgw();
});
after(async () => {
  await rgw?.close();
});

test('a bucket is created and the admin reads back what it wrote', async () => {
  const bucket = await rgw.createBucket('provisioning');
  await rgw.admin.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/b.txt', Body: 'hello' }));
  assert.equal((await rgw.get(bucket, 'a/b.txt')).toString(), 'hello');
  assert.deepEqual(await rgw.list(bucket), ['a/b.txt']);
});

test('an OIDC provider and a role with the seed policy are registered, with RGW-style ARNs', async () => {
  const bucket = await rgw.createBucket('provisioning');
  const issuer = 'http://127.0.0.1:1';
  const provider = await rgw.createOidcProvider(issuer, ['aud-a', 'aud-b']);
  assert.equal(provider, 'arn:aws:iam:::oidc-provider/127.0.0.1:1');
  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: provider },
        Action: ['sts:AssumeRoleWithWebIdentity'],
        Condition: { StringEquals: { '127.0.0.1:1:sub': 'sluice', '127.0.0.1:1:aud': 'aud-a' } },
      },
    ],
  };
  const roleArn = await rgw.createRole(trust, seedPermissionsPolicy(bucket));
  assert.match(roleArn, /^arn:aws:iam:::role\/sluice-writer-[0-9a-f]{8}$/);
  const RoleName = roleArn.split('/').pop()!;
  const stored = await rgw.iam.send(new GetRolePolicyCommand({ RoleName, PolicyName: 'sluice-seed' }));
  assert.deepEqual(JSON.parse(decodeURIComponent(stored.PolicyDocument!)), seedPermissionsPolicy(bucket));
});
