import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkBucketName,
  checkEndpointAddress,
  checkEndpointUrl,
  checkKmsKeyArn,
  checkPrefix,
  checkRegion,
  checkRoleArn,
  parseRoleArn,
} from '../../src/destinations/s3/rules.js';
import { decideAddress } from '../../src/destinations/s3/network.js';

describe('bucket names', () => {
  it('accepts names that follow the AWS rules', () => {
    for (const ok of ['abc', 'my-bucket', 'my.bucket.example', 'a'.repeat(63), '1bucket'])
      assert.equal(checkBucketName(ok), null, ok);
  });
  it('explains each broken rule', () => {
    assert.match(checkBucketName('ab')!, /3 to 63/);
    assert.match(checkBucketName('My_Bucket')!, /lowercase/);
    assert.match(checkBucketName('-bucket')!, /begin and end/);
    assert.match(checkBucketName('my..bucket')!, /adjacent dots/);
    assert.match(checkBucketName('192.168.1.1')!, /IP address/);
    assert.match(checkBucketName('xn--bucket')!, /reserved prefix/);
    assert.match(checkBucketName('bucket-s3alias')!, /reserved suffix/);
  });
});

describe('regions', () => {
  it('knows AWS region codes and explains unknown ones', () => {
    assert.equal(checkRegion('eu-west-1', false), null);
    assert.match(checkRegion('europe', false)!, /not an AWS region code/);
  });
  it('accepts any well-formed name with a custom endpoint', () => {
    assert.equal(checkRegion('auto', true), null);
    assert.match(checkRegion('US East', true)!, /region name/);
  });
});

describe('role ARNs', () => {
  it('extracts the account id', () => {
    assert.deepEqual(parseRoleArn('arn:aws:iam::123456789012:role/transfer-role'), {
      partition: 'aws',
      accountId: '123456789012',
      path: '',
      roleName: 'transfer-role',
    });
    assert.equal(parseRoleArn('arn:aws:iam::123456789012:role/service/exports/writer')?.path, 'service/exports/');
  });
  it('refuses malformed ARNs and account-less ARNs on AWS', () => {
    assert.match(checkRoleArn('arn:aws:iam::12345:role/x', false)!, /must look like/);
    assert.match(checkRoleArn('arn:aws:iam:::role/export-writer', false)!, /12-digit/);
    assert.equal(checkRoleArn('arn:aws:iam:::role/export-writer', true), null);
  });
});

describe('prefixes', () => {
  it('accepts the empty prefix and nested prefixes', () => {
    assert.equal(checkPrefix(''), null);
    assert.equal(checkPrefix('exports/acme'), null);
  });
  it('explains each broken rule', () => {
    assert.match(checkPrefix('/exports')!, /start or end/);
    assert.match(checkPrefix('exports/')!, /start or end/);
    assert.match(checkPrefix('a//b')!, /"\/\/"/);
    assert.match(checkPrefix('a/../b')!, /"\.\."/);
    assert.match(checkPrefix('a b')!, /may contain only/);
    assert.match(checkPrefix('_sluice/x')!, /reserves/);
  });
});

describe('KMS key ARNs', () => {
  it('accepts key and alias ARNs', () => {
    assert.equal(checkKmsKeyArn('arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'), null);
    assert.equal(checkKmsKeyArn('arn:aws:kms:us-east-1:123456789012:alias/exports'), null);
    assert.match(checkKmsKeyArn('1234abcd')!, /KMS key ARN/);
  });
});

describe('endpoints', () => {
  const strict = { allowHttp: false, allowlist: [] };
  it('requires https unless the operator allows http', () => {
    assert.match(checkEndpointUrl('http://s3.example.com', strict)!, /SLUICE_ALLOW_HTTP_ENDPOINTS/);
    assert.equal(checkEndpointUrl('http://s3.example.com', { allowHttp: true, allowlist: [] }), null);
    assert.match(checkEndpointUrl('https://user:pw@s3.example.com', strict)!, /credentials/);
    assert.match(checkEndpointUrl('https://s3.example.com/bucket', strict)!, /path/);
  });
  it('refuses internal addresses unless allow-listed', async () => {
    const resolveTo = (ip: string) => async () => [{ address: ip, family: (ip.includes(':') ? 6 : 4) as 4 | 6 }];
    assert.match((await checkEndpointAddress('https://s3.internal', strict, resolveTo('10.1.2.3')))!, /private/);
    assert.match((await checkEndpointAddress('https://meta', strict, resolveTo('169.254.169.254')))!, /metadata/);
    assert.match((await checkEndpointAddress('http://127.0.0.1:9000', strict))!, /loopback/);
    assert.match((await checkEndpointAddress('https://x', strict, resolveTo('::ffff:127.0.0.1')))!, /loopback/);
    assert.equal(await checkEndpointAddress('http://127.0.0.1:9000', { allowHttp: true, allowlist: ['127.0.0.0/8'] }), null);
    assert.equal(await checkEndpointAddress('https://s3.example.com', strict, resolveTo('52.216.1.1')), null);
  });
  it('classifies addresses', () => {
    assert.deepEqual(decideAddress('8.8.8.8', strict), { allowed: true });
    const refused = decideAddress('fd12::1', strict);
    assert.ok(!refused.allowed && /unique-local/.test(refused.message));
  });
});
