/**
 * RGW trusts Sluice's own OIDC issuer: a token Sluice mints for a destination's audience is exchanged
 * for role credentials; a token for any other audience is refused. (RGW answers STS errors in S3's XML
 * shape, so the SDK cannot name them: rejection is asserted by HTTP status.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { newAudience } from '../../src/identity/audience.js';
import { seedPermissionsPolicy, useRgw, type TestRgw } from '../support/rgw.js';
import { serveIssuer, type ServedIssuer } from './issuer.js';

let rgw: TestRgw;
let issuer: ServedIssuer;
let sts: STSClient;
before(async () => {
  [rgw, issuer] = await Promise.all([useRgw(), serveIssuer()]);
  // AssumeRoleWithWebIdentity is unsigned: the token is the only credential.
  sts = new STSClient({ endpoint: rgw.endpoint, region: rgw.region });
});
after(async () => {
  sts?.destroy();
  await Promise.all([rgw?.close(), issuer?.close()]);
});

async function roleFor(audience: string, registered: string[]): Promise<string> {
  const trusted = await issuer.identity.describe();
  const bucket = await rgw.createBucket('web-identity');
  const provider = await rgw.createOidcProvider(trusted.issuer, registered).catch(async (err: Error) => {
    // One provider per issuer: a second registration in this file reuses the first.
    if (!/exist/i.test(`${err.name} ${err.message}`)) throw err;
    return trusted.federatedPrincipal('');
  });
  assert.equal(provider, trusted.federatedPrincipal(''));
  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: provider },
        Action: ['sts:AssumeRoleWithWebIdentity'],
        Condition: { StringEquals: { [`${trusted.conditionKeyPrefix}:sub`]: trusted.subject, [`${trusted.conditionKeyPrefix}:aud`]: audience } },
      },
    ],
  };
  return rgw.createRole(trust, seedPermissionsPolicy(bucket));
}

test("a token from Sluice's issuer assumes the role; another audience's token is refused", async () => {
  const mine = newAudience();
  const other = newAudience();
  const roleArn = await roleFor(mine, [mine, other]);

  const ok = await sts.send(
    new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'sluice-test', WebIdentityToken: await issuer.identity.token(mine) }),
  );
  assert.ok(ok.Credentials?.SessionToken);
  assert.equal(ok.SubjectFromWebIdentityToken, 'sluice-aws-suite');

  await assert.rejects(
    sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'sluice-test', WebIdentityToken: await issuer.identity.token(other) })),
    (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 403,
  );
});
