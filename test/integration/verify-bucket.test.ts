/**
 * `verifyBucket` against objects written with the admin client: a correct delivery verifies, and each
 * kind of damage is reported precisely (tampered file, missing file, broken chain, bad signature,
 * replay, fork), with orphans as information only.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { after, before, beforeEach, test } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { dataKey, manifestKey } from '../../src/transfer/keys.js';
import { schemaSha256, serialiseManifest, sha256Hex, signManifest, type UnsignedManifest } from '../../src/transfer/manifest.js';
import { parsePublicKeys, verifyBucket, type VerifyReport } from '../../src/verify/bucket.js';
import { startS3, type TestS3 } from '../support/s3.js';

let s3: TestS3;
let bucketNo = 0;
let bucket: string;
const prefix = 'exports/acme';
const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
const keys = new Map([['sk_test', publicKey]]);

before(async () => {
  s3 = await startS3(Array.from({ length: 10 }, (_, i) => `verify-${i}`));
});
after(async () => {
  await s3.close();
});
beforeEach(() => {
  bucket = `verify-${bucketNo++}`;
});

async function put(key: string, body: Buffer): Promise<void> {
  await s3.admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

interface Delivered {
  key: string;
  sha256: string;
  files: string[];
}

type Kind = 'jsonl.gz' | 'jsonl' | 'csv' | 'csv.gz';

/** Writes one transfer of `model` (files with `rowsPerFile` rows) and its manifest chained to `prev`. */
async function deliver(model: string, transferId: string, rowsPerFile: number[], prev: Delivered | null, at: Date, kind: Kind = 'jsonl.gz'): Promise<Delivered> {
  const files = [];
  const [format, gz] = kind.split('.') as ['jsonl' | 'csv', string | undefined];
  for (const [index, n] of rowsPerFile.entries()) {
    const lines =
      format === 'jsonl'
        ? Array.from({ length: n }, (_, i) => JSON.stringify({ id: i, _sluice_transfer_id: transferId })).join('\n') + '\n'
        : `id,_sluice_transfer_id\n${Array.from({ length: n }, (_, i) => `${i},${transferId}\n`).join('')}`;
    const body = gz ? zlib.gzipSync(lines) : Buffer.from(lines);
    const key = dataKey({ prefix, model, startedAt: at, transferId, index, extension: kind });
    await put(key, body);
    files.push({ key, rows: n, bytes: body.length, sha256: sha256Hex(body) });
  }
  const columns = [{ name: 'id', type: 'int64', nullable: false }];
  const unsigned: UnsignedManifest = {
    version: 1,
    transfer_id: transferId,
    destination_id: 'dst_test',
    model,
    type: 'INCREMENTAL',
    transfer_kind: 'INCREMENTAL',
    window: { cursor_column: 'updated_at', primary_key: ['id'], from: null, to: null },
    format,
    compression: gz ? 'gzip' : 'none',
    schema: { columns },
    schema_sha256: schemaSha256(columns),
    files,
    total_rows: files.reduce((a, f) => a + f.rows, 0),
    total_bytes: files.reduce((a, f) => a + f.bytes, 0),
    previous_manifest_key: prev?.key ?? null,
    previous_manifest_sha256: prev?.sha256 ?? null,
    created_at: at.toISOString(),
    key_id: 'sk_test',
  };
  const body = serialiseManifest(signManifest(unsigned, privateKey));
  const key = manifestKey({ prefix, model, startedAt: at, transferId });
  await put(key, body);
  return { key, sha256: sha256Hex(body), files: files.map((f) => f.key) };
}

async function chainOfThree(): Promise<Delivered[]> {
  const a = await deliver('orders', 'trf_a1', [3, 2], null, new Date('2026-01-01T00:00:00Z'));
  const b = await deliver('orders', 'trf_b2', [4], a, new Date('2026-01-01T01:00:00Z'));
  const c = await deliver('orders', 'trf_c3', [1], b, new Date('2026-01-02T00:00:00Z'));
  return [a, b, c];
}

const run = (): Promise<VerifyReport> =>
  verifyBucket({ client: s3.admin, bucket, prefix, publicKeys: keys });

const codes = (r: VerifyReport): string[] => r.problems.filter((p) => p.severity === 'error').map((p) => p.code).sort();

test('a correct delivery verifies; orphans are information only', async () => {
  await chainOfThree();
  await deliver('customers', 'trf_a1', [5], null, new Date('2026-01-01T00:00:00Z'));
  // An interrupted attempt's file and the connection test's leftovers.
  await put(dataKey({ prefix, model: 'orders', startedAt: new Date(), transferId: 'trf_dead', index: 0, extension: 'jsonl.gz' }), zlib.gzipSync('{}\n'));
  await put(`${prefix}/_sluice/connection-test/x.txt`, Buffer.from('x'));
  const r = await run();
  assert.deepEqual(codes(r), []);
  assert.equal(r.ok, true);
  assert.equal(r.manifests, 4);
  assert.equal(r.files, 5);
  assert.equal(r.rows, 3 + 2 + 4 + 1 + 5);
  assert.deepEqual(r.models, ['customers', 'orders']);
  assert.deepEqual(r.problems.map((p) => p.code), ['orphan_file']);
});

test('a tampered file is reported with both checksums', async () => {
  const [a] = await chainOfThree();
  await put(a!.files[0]!, zlib.gzipSync('{"id":666}\n{"id":1}\n{"id":2}\n'));
  const r = await run();
  assert.equal(r.ok, false);
  assert.ok(codes(r).includes('checksum_mismatch'));
  assert.ok(codes(r).every((c) => c === 'checksum_mismatch' || c === 'size_mismatch'));
  const p = r.problems.find((x) => x.code === 'checksum_mismatch')!;
  assert.equal(p.key, a!.files[0]);
  assert.match(p.message, /was altered/);
});

test('a missing file is reported with the manifest that lists it', async () => {
  const [, b] = await chainOfThree();
  await s3.admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: b!.files[0]! }));
  const r = await run();
  assert.deepEqual(codes(r), ['missing_file']);
  assert.ok(r.problems[0]!.message.includes(b!.key));
});

test('a removed manifest breaks the chain (gap)', async () => {
  const [, b, c] = await chainOfThree();
  await s3.admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: b!.key }));
  const r = await run();
  assert.ok(codes(r).includes('chain_gap'));
  const gap = r.problems.find((p) => p.code === 'chain_gap')!;
  assert.equal(gap.key, c!.key);
  assert.ok(gap.message.includes(b!.sha256));
  // b's files are now listed by nobody: orphans.
  assert.ok(r.problems.some((p) => p.code === 'orphan_file' && p.key === b!.files[0]));
});

test('an altered manifest fails its signature and breaks the chain after it', async () => {
  const [a] = await chainOfThree();
  const m = JSON.parse((await s3.get(bucket, a!.key)).toString('utf8')) as { total_rows: number; files: Array<{ rows: number }> };
  m.files[0]!.rows += 1;
  m.total_rows += 1;
  await put(a!.key, Buffer.from(JSON.stringify(m, null, 2)));
  const r = await run();
  assert.deepEqual(codes(r), ['bad_signature', 'chain_gap', 'row_count_mismatch']);
  assert.equal(r.problems.find((p) => p.code === 'bad_signature')!.key, a!.key);
});

test('a manifest signed by another key is refused; an unknown key id is named', async () => {
  await chainOfThree();
  const other = crypto.generateKeyPairSync('ed25519').publicKey;
  const r = await verifyBucket({ client: s3.admin, bucket, prefix, publicKeys: new Map([['sk_test', other]]) });
  assert.deepEqual(codes(r), ['bad_signature', 'bad_signature', 'bad_signature']);
  const r2 = await verifyBucket({ client: s3.admin, bucket, prefix, publicKeys: new Map([['sk_else', publicKey]]) });
  assert.ok(r2.problems.every((p) => p.code === 'unknown_signing_key'));
  assert.match(r2.problems[0]!.message, /sk_test/);
});

test('replays and forks are detected', async () => {
  const [a, b] = await chainOfThree();
  // A second, validly signed manifest following `a`: a fork.
  await deliver('orders', 'trf_fork', [1], a!, new Date('2026-01-01T02:00:00Z'));
  // The same manifest copied to another day: a replay (and its key no longer matches its content).
  await put(b!.key.replace('dt=2026-01-01', 'dt=2026-01-05'), await s3.get(bucket, b!.key));
  const r = await run();
  const got = codes(r);
  assert.ok(got.includes('chain_fork'), got.join());
  assert.ok(got.includes('chain_replay'), got.join());
});

test('public keys parse from the JWK set the API serves, one JWK, or a PEM', () => {
  const jwk = { kid: 'sk_1', ...publicKey.export({ format: 'jwk' }) };
  assert.deepEqual([...parsePublicKeys(JSON.stringify({ keys: [jwk] })).keys()], ['sk_1']);
  assert.deepEqual([...parsePublicKeys(JSON.stringify(jwk)).keys()], ['sk_1']);
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  assert.deepEqual([...parsePublicKeys(pem).keys()], ['*']);
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
  assert.throws(() => parsePublicKeys(rsa), /not Ed25519/);
});

test('uncompressed JSON Lines and CSV verify, like compressed ones', async () => {
  const a = await deliver('events', 'trf_a1', [3, 2], null, new Date('2026-01-01T00:00:00Z'), 'jsonl');
  await deliver('events', 'trf_b2', [4], a, new Date('2026-01-01T01:00:00Z'), 'jsonl');
  await deliver('rows', 'trf_a1', [5], null, new Date('2026-01-01T00:00:00Z'), 'csv');
  await deliver('rowsgz', 'trf_a1', [2], null, new Date('2026-01-01T00:00:00Z'), 'csv.gz');
  const r = await run();
  assert.deepEqual(codes(r), []);
  assert.equal(r.ok, true);
  assert.equal(r.rows, 3 + 2 + 4 + 5 + 2);
});

test('no manifest under the prefix is an error (a wrong prefix), unless allowEmpty', async () => {
  await chainOfThree();
  const wrong = await verifyBucket({ client: s3.admin, bucket, prefix: 'exports', publicKeys: keys });
  assert.equal(wrong.ok, false);
  assert.deepEqual(codes(wrong), ['no_manifests']);
  assert.match(wrong.problems.find((p) => p.code === 'no_manifests')!.message, /check --bucket and --prefix/);
  const empty = await verifyBucket({ client: s3.admin, bucket, prefix: 'nothing/here', publicKeys: keys, allowEmpty: true });
  assert.equal(empty.ok, true);
  assert.equal(empty.manifests, 0);
});
