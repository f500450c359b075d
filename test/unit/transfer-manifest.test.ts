import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import {
  canonicalJson,
  schemaSha256,
  serialiseManifest,
  sha256Hex,
  signingBytes,
  signManifest,
  verifyManifestSignature,
  type Manifest,
  type UnsignedManifest,
} from '../../src/transfer/manifest.js';
import { publicKeyFromJwk } from '../../src/transfer/manifest.js';

function sample(): UnsignedManifest {
  const columns = [
    { name: 'id', type: 'int64', nullable: false },
    { name: 'amount', type: 'decimal(12,2)', nullable: true },
  ];
  return {
    version: 1,
    transfer_id: 'trf_1',
    destination_id: 'dst_1',
    model: 'orders',
    type: 'INCREMENTAL',
    transfer_kind: 'INCREMENTAL',
    window: { cursor_column: 'updated_at', primary_key: ['id'], from: null, to: { cursor: '2026-01-01T00:00:00Z', primaryKey: ['9'] } },
    format: 'parquet',
    compression: 'snappy',
    schema: { columns },
    schema_sha256: schemaSha256(columns),
    files: [{ key: 'orders/dt=2026-01-01/part-00000_20260101000000_trf_1.parquet', rows: 9, bytes: 1234, sha256: 'ab'.repeat(32) }],
    total_rows: 9,
    total_bytes: 1234,
    previous_manifest_key: null,
    previous_manifest_sha256: null,
    created_at: '2026-01-01T00:00:01.000Z',
    key_id: 'sk_1',
  };
}

test('canonical JSON sorts members at every level and has no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: null, y: 'é' }], c: true } }), '{"a":{"c":true,"d":[2,{"y":"é","z":null}]},"b":1}');
  assert.throws(() => canonicalJson({ x: 1.5 }), /integers only/);
});

test('a signed manifest verifies with the published JWK, and any change breaks it', () => {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const signed = signManifest(sample(), privateKey);
  const jwk = publicKey.export({ format: 'jwk' });
  const pub = publicKeyFromJwk(jwk);
  assert.equal(verifyManifestSignature(signed, pub), true);

  // Round trip through the stored form still verifies, and so does any re-indentation of it: the
  // signature is over the canonical form, not over the bytes.
  const stored = JSON.parse(serialiseManifest(signed).toString('utf8')) as Manifest;
  assert.equal(verifyManifestSignature(stored, pub), true);
  assert.equal(verifyManifestSignature(JSON.parse(JSON.stringify(stored, null, 2)) as Manifest, pub), true);

  for (const tamper of [
    (m: Manifest) => (m.total_rows = 10),
    (m: Manifest) => (m.files[0]!.sha256 = 'cd'.repeat(32)),
    (m: Manifest) => (m.previous_manifest_sha256 = 'ef'.repeat(32)),
  ]) {
    const copy = structuredClone(signed);
    tamper(copy);
    assert.equal(verifyManifestSignature(copy, pub), false);
  }
  const other = crypto.generateKeyPairSync('ed25519').publicKey;
  assert.equal(verifyManifestSignature(signed, other), false);
});

test('the signature covers exactly the canonical form without `signature`', () => {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const signed = signManifest(sample(), privateKey);
  const bytes = signingBytes(signed);
  assert.equal(bytes.toString('utf8').includes('"signature"'), false);
  assert.equal(bytes.toString('utf8'), canonicalJson(sample()));
  assert.equal(crypto.verify(null, bytes, publicKey, Buffer.from(signed.signature, 'base64')), true);
});

test('the stored form is the canonical JSON on one line; the chain hash is over its bytes', () => {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const body = serialiseManifest(signManifest(sample(), privateKey));
  const text = body.toString('utf8');
  assert.ok(text.endsWith('}\n'));
  assert.equal(text.trimEnd().includes('\n'), false, 'one line');
  assert.ok(text.indexOf('"compression"') < text.indexOf('"version"'));
  assert.equal(sha256Hex(body), crypto.createHash('sha256').update(body).digest('hex'));
});

test('the schema hash changes with a column type', () => {
  const a = schemaSha256([{ name: 'id', type: 'int64', nullable: false }]);
  const b = schemaSha256([{ name: 'id', type: 'int32', nullable: false }]);
  assert.notEqual(a, b);
  assert.match(a, /^[0-9a-f]{64}$/);
});
