/**
 * Sluice's connection test against Ceph RGW, with the recipient set up exactly as Sluice tells it to:
 * the generated trust policy for Sluice's own OIDC issuer and the seed's permissions policy
 * (PutObject + DeleteObject only). Each broken setup must fail at its own step with its own code.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import { runConnectionTest, type ConnectionTestResult } from '../../src/destinations/s3/connection-test.js';
import type { S3DestinationConfig } from '../../src/destinations/s3/types.js';
import { silentLogger } from '../../src/core/log.js';
import { useRgw, type TestRgw } from '../support/rgw.js';
import { provisionDestination, provisionStoredDestination, type ProvisionedDestination } from './destination.js';
import { serveIssuer, type ServedIssuer } from './issuer.js';

let rgw: TestRgw;
let issuer: ServedIssuer;
let dest: ProvisionedDestination;
before(async () => {
  [rgw, issuer] = await Promise.all([useRgw(), serveIssuer()]);
  // The role is made from `sluice policy` output for the saved destination.
  dest = await provisionStoredDestination(rgw, issuer, 'conntest', 'acme');
});
after(async () => {
  await Promise.all([rgw?.close(), issuer?.close()]);
});

function connectionTest(config: S3DestinationConfig): Promise<ConnectionTestResult> {
  return runConnectionTest(config, {
    identity: issuer.identity,
    log: silentLogger,
    // The tests' operator allows its loopback RGW explicitly.
    endpointPolicy: { allowHttp: true, allowlist: ['127.0.0.1'] },
  });
}

/** `step:status[:code]` for each step, for one readable assertion. */
function outline(result: ConnectionTestResult): string[] {
  return result.steps.map((s) => [s.step, s.status, s.code].filter(Boolean).join(':'));
}

test('passes with the generated trust policy and only PutObject + DeleteObject, and leaves nothing behind', async () => {
  const result = await connectionTest(dest.config);
  assert.deepEqual(outline(result), ['validate_config:passed', 'assume_role:passed', 'audience_probe:passed', 'put_object:passed', 'delete_object:passed']);
  assert.equal(result.passed, true);
  assert.match(result.assumedRoleArn ?? '', /^arn:aws:sts:::assumed-role\//);
  assert.deepEqual(await rgw.list(dest.bucket), [], 'the test object was deleted');
});

test('a trust policy without the audience condition fails the negative probe (audience_not_pinned)', async () => {
  const unscoped = await provisionDestination(rgw, issuer, 'unscoped', { unscoped: true });
  const result = await connectionTest(unscoped.config);
  assert.equal(result.passed, false);
  assert.deepEqual(outline(result), ['validate_config:passed', 'assume_role:passed', 'audience_probe:failed:audience_not_pinned', 'put_object:skipped', 'delete_object:skipped']);
  assert.equal(result.steps[2]!.actor, 'recipient');
});

test('a role that does not trust this destination cannot be assumed (role_not_assumable)', async () => {
  // The role of another destination: its trust policy pins the other destination's audience.
  const other = await provisionDestination(rgw, issuer, 'other');
  const result = await connectionTest({ ...dest.config, auth: { kind: 'role', roleArn: other.roleArn } });
  assert.deepEqual(outline(result).slice(0, 2), ['validate_config:passed', 'assume_role:failed:role_not_assumable']);
  assert.equal(result.passed, false);
});

test('a bucket that does not exist fails the put step (bucket_not_found)', async () => {
  const result = await connectionTest({ ...dest.config, bucket: `missing-${crypto.randomBytes(4).toString('hex')}` });
  assert.deepEqual(outline(result), ['validate_config:passed', 'assume_role:passed', 'audience_probe:passed', 'put_object:failed:bucket_not_found', 'delete_object:skipped']);
});

test('a wrong access key fails the put step (invalid_credentials)', async () => {
  // Through the gateway without STS (with STS on, RGW 16 reports bad keys as AccessDenied).
  const result = await connectionTest({
    ...dest.config,
    endpoint: rgw.plainEndpoint,
    auth: { kind: 'access_key', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  });
  assert.deepEqual(outline(result), ['validate_config:passed', 'assume_role:skipped', 'audience_probe:skipped', 'put_object:failed:invalid_credentials', 'delete_object:skipped']);
});
