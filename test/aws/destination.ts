/**
 * One recipient's setup, as customer-s3-setup.md describes it, done against RGW with the policies
 * Sluice generates: a bucket, the IAM OIDC provider for Sluice's issuer with the destination's audience
 * as client id, and a role whose trust policy and permissions policy are Sluice's output unchanged.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadS3Config } from '../../src/control/destination-store.js';
import { destinationPolicies, type DestinationPolicies } from '../../src/destinations/s3/policies.js';
import type { S3DestinationConfig } from '../../src/destinations/s3/types.js';
import { newAudience, probeAudience } from '../../src/core/audience.js';
import { newId } from '../../src/core/ids.js';
import { runSluice } from '../support/cli.js';
import { seedPermissionsPolicy, type TestRgw } from '../support/rgw.js';
import { markTested } from '../support/trust.js';
import type { ServedIssuer } from './issuer.js';

export interface ProvisionedDestination {
  bucket: string;
  roleArn: string;
  policies: DestinationPolicies;
  /** The destination as Sluice holds it: role auth, RGW endpoint, path-style. */
  config: S3DestinationConfig;
  /** Another destination's audience, registered with the same OIDC provider. */
  otherAudience: string;
}

export interface ProvisionOptions {
  /** Drop the audience condition from the trust policy (the mistake the negative probe catches). */
  unscoped?: boolean;
}

/**
 * RGW fixes a provider's `ClientIDList` at registration (it has no AddClientIDToOpenIDConnectProvider)
 * and there is one provider per issuer, so each test file registers once, up front, the audiences of
 * every destination it will provision, each with its probe audience, as Sluice's policy output asks.
 */
const registered = new WeakMap<ServedIssuer, { provider: Promise<string>; audiences: string[] }>();

function providerFor(rgw: TestRgw, issuer: ServedIssuer, policies: DestinationPolicies): Promise<string> {
  let entry = registered.get(issuer);
  if (!entry) {
    const audiences = Array.from({ length: 8 }, () => newAudience());
    assert.ok(policies.oidcProvider, 'an oidc identity asks the recipient to register an OIDC provider');
    entry = { audiences, provider: rgw.createOidcProvider(policies.oidcProvider.url, audiences.flatMap((a) => [a, probeAudience(a)])) };
    registered.set(issuer, entry);
  }
  return entry.provider;
}

function takeAudience(issuer: ServedIssuer): string {
  const a = registered.get(issuer)!.audiences.pop();
  assert.ok(a, 'more destinations than registered audiences');
  return a;
}

export async function provisionDestination(rgw: TestRgw, issuer: ServedIssuer, hint: string, opts: ProvisionOptions = {}): Promise<ProvisionedDestination> {
  const identity = await issuer.identity.describe();
  const bucket = await rgw.createBucket(hint);
  // Before the destination exists the generator works with a placeholder; register the provider first.
  await providerFor(rgw, issuer, destinationPolicies({ bucket, prefix: '', audience: null, accountId: '', identity }));
  const audience = takeAudience(issuer);
  const otherAudience = takeAudience(issuer);
  // RGW ARNs have an empty account: the generator is told so with accountId ''.
  const policies = destinationPolicies({ bucket, prefix: '', audience, accountId: '', identity });
  assert.deepEqual(policies.permissionsPolicy, seedPermissionsPolicy(bucket), "Sluice's permissions policy is the seed's, exactly");
  assert.deepEqual(policies.oidcProvider, { url: issuer.issuer, clientIds: [audience, probeAudience(audience)] });

  const trust = structuredClone(policies.trustPolicy);
  if (opts.unscoped) {
    for (const s of trust.Statement) {
      const eq = s.Condition?.StringEquals ?? {};
      for (const k of Object.keys(eq)) if (!k.endsWith(':sub')) delete eq[k];
    }
  }
  const roleArn = await rgw.createRole(trust, policies.permissionsPolicy, `${hint}-role`);
  const config: S3DestinationConfig = {
    id: newId('dst'),
    recipientId: newId('rcp'),
    audience,
    bucket,
    region: rgw.region,
    prefix: '',
    auth: { kind: 'role', roleArn },
    endpoint: rgw.endpoint,
    forcePathStyle: true,
    conditionalWrites: true,
    // RGW 16 answers aws-chunked bodies with trailing checksums with 411.
    requestChecksums: false,
  };
  return { bucket, roleArn, policies, config, otherAudience };
}

/**
 * The setup end to end as an operator and a recipient do it: the destination is saved in the control
 * store first (its role ARN names the role the recipient is about to create), `sluice policy <id>`
 * prints the two documents, and the role is created from that output verbatim. The CLI's output is
 * also checked against the generator, so the other destinations of the suite (made with the generator
 * directly, without a CLI process each) get the same documents.
 */
export async function provisionStoredDestination(rgw: TestRgw, issuer: ServedIssuer, hint: string, tenantId: string): Promise<ProvisionedDestination> {
  const identity = await issuer.identity.describe();
  const bucket = await rgw.createBucket(hint);
  await providerFor(rgw, issuer, destinationPolicies({ bucket, prefix: '', audience: null, accountId: '', identity }));
  const audience = takeAudience(issuer);
  const otherAudience = takeAudience(issuer);
  const roleName = `${hint}-role-${randomBytes(4).toString('hex')}`;
  const roleArn = `arn:aws:iam:::role/${roleName}`;
  const recipientId = newId('rcp');
  const id = newId('dst');
  const control = issuer.db.pool;
  await control.query('INSERT INTO recipients (id, name, tenant_id) VALUES ($1, $2, $3)', [recipientId, `Tenant ${tenantId}`, tenantId]);
  await control.query(
    `INSERT INTO destinations (id, recipient_id, name, audience, bucket, region, prefix, auth_kind, role_arn, account_id,
       endpoint, force_path_style, conditional_writes, request_checksums, format, compression, enabled, status)
     VALUES ($1, $2, $3, $4, $5, $6, '', 'role', $7, '', $8, true, true, false, 'parquet', 'snappy', true, 'active')`,
    [id, recipientId, hint, audience, bucket, rgw.region, roleArn, rgw.endpoint],
  );

  const policies = await sluicePolicy(issuer, id);
  assert.deepEqual(policies, destinationPolicies({ bucket, prefix: '', audience, accountId: '', identity }), '`sluice policy` prints what the generator makes');
  assert.deepEqual(policies.permissionsPolicy, seedPermissionsPolicy(bucket), "Sluice's permissions policy is the seed's, exactly");
  await rgw.createRole(policies.trustPolicy, policies.permissionsPolicy, hint, roleName);
  await markTested(control, [id]);
  const config = await loadS3Config(control, issuer.secrets, id);
  return { bucket, roleArn, policies, config, otherAudience };
}

/** `sluice policy <destination-id>`, as a child process against the issuer's control store. */
async function sluicePolicy(issuer: ServedIssuer, destinationId: string): Promise<DestinationPolicies> {
  const { code, stdout, stderr } = await runSluice(['policy', destinationId], {
    DATABASE_URL: issuer.db.url,
    SLUICE_SECRET_KEY: issuer.secretKey,
    SLUICE_IDENTITY: 'oidc',
    SLUICE_PUBLIC_URL: issuer.issuer,
    SLUICE_OIDC_SUBJECT: issuer.subject,
    SLUICE_LOG_LEVEL: 'warn',
    SLUICE_LOG_FORMAT: 'json',
  });
  assert.equal(code, 0, `sluice policy failed: ${stderr}`);
  return JSON.parse(stdout) as DestinationPolicies;
}
