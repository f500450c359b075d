/**
 * Sluice's object writer against Ceph RGW, authenticated the way a recipient sets it up: a role that
 * trusts Sluice's own OIDC issuer through the trust policy Sluice generates, with exactly the seed's
 * permissions policy (s3:PutObject + s3:DeleteObject on BUCKET/*). Everything Sluice does here goes
 * through its own code (identity, credentials, client, writer); the admin keys only provision and read
 * back.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/destinations/s3/client.js';
import { assumeRoleWithAudience, createCredentialProvider } from '../../src/destinations/s3/credentials.js';
import { createObjectWriter } from '../../src/destinations/s3/object-writer.js';
import { MIB } from '../../src/destinations/s3/part-size.js';
import type { S3DestinationConfig } from '../../src/destinations/s3/types.js';
import { SluiceError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { useRgw, type TestRgw } from '../support/rgw.js';
import { serveIssuer, type ServedIssuer } from './issuer.js';
import { provisionDestination, type ProvisionedDestination } from './destination.js';
import { localNetwork } from '../support/s3.js';

let rgw: TestRgw;
let issuer: ServedIssuer;
let dest: ProvisionedDestination;
before(async () => {
  [rgw, issuer] = await Promise.all([useRgw(), serveIssuer()]);
  dest = await provisionDestination(rgw, issuer, 'writer');
});
after(async () => {
  await Promise.all([rgw?.close(), issuer?.close()]);
});

const deps = () => ({ identity: issuer.identity, log: silentLogger, network: localNetwork });

/** A body of unknown length, in uneven chunks, as a transfer produces it. */
function chunked(data: Buffer, chunk = 300_000): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    })(),
  );
}

function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** The SluiceError `code` a rejected promise carries. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SluiceError, `expected a SluiceError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected a rejection');
}

describe('object writer with the seed policy, through the role', () => {
  test('a small body is written with one PutObject and reads back byte for byte', async () => {
    const writer = createObjectWriter(dest.config, deps());
    try {
      const data = crypto.randomBytes(200_000);
      const written = await writer.write('single/part-0.bin', chunked(data, 65_536));
      assert.equal(written.bytes, data.length);
      assert.equal(written.sha256, sha256(data));
      assert.ok(!written.etag?.includes('-'), 'a single PutObject has a plain ETag');
      assert.ok((await rgw.get(dest.bucket, 'single/part-0.bin')).equals(data));
    } finally {
      writer.close();
    }
  });

  test('a body above the part size is written as a multipart upload and reads back byte for byte', async () => {
    const writer = createObjectWriter(dest.config, { ...deps(), options: { partSize: 5 * MIB, queueSize: 2 } });
    try {
      const data = crypto.randomBytes(11 * MIB + 123);
      const written = await writer.write('multi/part-0.bin', chunked(data));
      assert.equal(written.bytes, data.length);
      assert.equal(written.sha256, sha256(data));
      const head = await rgw.admin.send(new HeadObjectCommand({ Bucket: dest.bucket, Key: 'multi/part-0.bin' }));
      assert.match(head.ETag ?? '', /-3"$/, 'three parts: 5 MiB, 5 MiB, the rest');
      assert.equal(head.ContentLength, data.length);
      assert.ok((await rgw.get(dest.bucket, 'multi/part-0.bin')).equals(data));
      assert.equal(writer.buffers.current, 0);
    } finally {
      writer.close();
    }
  });

  test('a second write to an existing key is refused by If-None-Match (object_exists) and changes nothing', async () => {
    const writer = createObjectWriter(dest.config, deps());
    try {
      const first = Buffer.from('first\n');
      await writer.write('once/manifest.json', chunked(first));
      assert.equal(await codeOf(writer.write('once/manifest.json', chunked(Buffer.from('second\n')))), 'object_exists');
      assert.ok((await rgw.get(dest.bucket, 'once/manifest.json')).equals(first));
    } finally {
      writer.close();
    }
  });

  test('the role credentials cannot read, list or head: least privilege is enforced by the server', async () => {
    const writer = createObjectWriter(dest.config, deps());
    await writer.write('private/data.bin', chunked(Buffer.from('secret rows')));
    writer.close();
    const client: S3Client = createS3Client(dest.config, { credentials: createCredentialProvider(dest.config, deps()), network: localNetwork });
    try {
      const denied = (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 403;
      await assert.rejects(client.send(new GetObjectCommand({ Bucket: dest.bucket, Key: 'private/data.bin' })), denied);
      await assert.rejects(client.send(new HeadObjectCommand({ Bucket: dest.bucket, Key: 'private/data.bin' })), denied);
      await assert.rejects(client.send(new ListObjectsV2Command({ Bucket: dest.bucket })), denied);
    } finally {
      client.destroy();
    }
  });
});

describe('refusals and their distinct outcomes', () => {
  test("a token for another destination's audience is refused (role_not_assumable)", async () => {
    // The other audience is registered with the OIDC provider too: only the trust policy's aud pin refuses it.
    assert.equal(await codeOf(assumeRoleWithAudience(dest.config, dest.otherAudience, deps())), 'role_not_assumable');
    const assumed = await assumeRoleWithAudience(dest.config, dest.config.audience, deps());
    assert.match(assumed.assumedRoleArn ?? '', /^arn:aws:sts:::assumed-role\//);
  });

  test('a bad access key or secret gives invalid_credentials', async () => {
    // Through the gateway without STS: with STS on, RGW 16 answers bad keys with a plain AccessDenied.
    const keys = [
      { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      { accessKeyId: rgw.adminCredentials.accessKeyId, secretAccessKey: 'not-the-secret-of-this-key' },
    ];
    for (const pair of keys) {
      const config: S3DestinationConfig = { ...dest.config, endpoint: rgw.plainEndpoint, auth: { kind: 'access_key', ...pair } };
      const writer = createObjectWriter(config, deps());
      try {
        assert.equal(await codeOf(writer.write('bad-key/x.txt', chunked(Buffer.from('x')))), 'invalid_credentials');
      } finally {
        writer.close();
      }
    }
    assert.deepEqual(await rgw.list(dest.bucket, 'bad-key/'), []);
  });

  test('a role that does not exist cannot be assumed (role_not_assumable)', async () => {
    const config: S3DestinationConfig = { ...dest.config, auth: { kind: 'role', roleArn: 'arn:aws:iam:::role/no-such-role' } };
    assert.equal(await codeOf(assumeRoleWithAudience(config, config.audience, deps())), 'role_not_assumable');
  });

  test('a wrong bucket gives bucket_not_found', async () => {
    const config: S3DestinationConfig = { ...dest.config, bucket: `missing-${crypto.randomBytes(4).toString('hex')}` };
    const writer = createObjectWriter(config, deps());
    try {
      assert.equal(await codeOf(writer.write('x.txt', chunked(Buffer.from('x')))), 'bucket_not_found');
    } finally {
      writer.close();
    }
  });
});
