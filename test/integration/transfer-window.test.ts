import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SecretBox } from '../../src/control/secrets.js';
import { activeSigningKey, publicSigningKeys, rotateSigningKey } from '../../src/control/signing-keys.js';
import { publicKeyFromJwk } from '../../src/transfer/manifest.js';
import { signManifest, verifyManifestSignature, type UnsignedManifest } from '../../src/transfer/manifest.js';
import { planWindow, subtractLookback } from '../../src/transfer/window.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import crypto from 'node:crypto';

let db: TestDatabase;
before(async () => {
  db = await freshDatabase();
});
after(async () => {
  await db.drop();
});

test('incremental window: (watermark − lookback, high], the watermark\'s pk kept for ties', async () => {
  const wm = { cursor: '2026-01-01T00:10:00Z', primaryKey: ['42'] };
  assert.deepEqual(await planWindow(db.pool, { kind: 'INCREMENTAL', watermark: null, lookback: 60, cursorType: 'timestamp with time zone' }), {
    from: null,
    to: null,
  });
  assert.deepEqual(await planWindow(db.pool, { kind: 'INCREMENTAL', watermark: wm, lookback: 0, cursorType: 'timestamp with time zone' }), {
    from: wm,
    to: null,
  });
  assert.deepEqual(await planWindow(db.pool, { kind: 'INCREMENTAL', watermark: wm, lookback: 90, cursorType: 'timestamp(3) with time zone' }), {
    // The reader's text form (as high() returns it), so that manifests' bounds have one format.
    from: { cursor: '2026-01-01 00:08:30+00', primaryKey: ['42'] },
    to: null,
  });
});

test('after a commit-safe watermark the next window starts exactly at it, included, on the cursor alone; lookback settings do not matter', async () => {
  const wm = { cursor: '2026-01-01 00:10:00+00', primaryKey: [] };
  for (const lookback of [0, 300]) {
    assert.deepEqual(
      await planWindow(db.pool, { kind: 'INCREMENTAL', watermark: wm, watermarkMethod: 'commit_safe', lookback, cursorType: 'timestamp with time zone' }),
      { from: wm, to: null, fromInclusive: true },
    );
  }
  // A watermark written by the lookback method (or before the method existed) keeps the lookback rules.
  assert.deepEqual(
    (await planWindow(db.pool, { kind: 'INCREMENTAL', watermark: { cursor: '100', primaryKey: ['7'] }, watermarkMethod: 'lookback', lookback: 10, cursorType: 'bigint' })).from,
    { cursor: '90', primaryKey: ['7'] },
  );
});

test('timestamptz: a quiet table starts at the watermark once its last row is older than the lookback', async () => {
  const wm = { cursor: '2026-01-01T00:10:00Z', primaryKey: ['42'] };
  // The last read started long after the last row: nothing can still be in flight below the watermark.
  const quiet = await planWindow(db.pool, {
    kind: 'INCREMENTAL',
    watermark: wm,
    watermarkReadAt: new Date('2026-01-01T01:00:00Z'),
    lookback: 60,
    cursorType: 'timestamp with time zone',
  });
  assert.deepEqual(quiet.from, wm);
  // The last read started right after the last row: rows up to `lookback` before the read may be late.
  const busy = await planWindow(db.pool, {
    kind: 'INCREMENTAL',
    watermark: wm,
    watermarkReadAt: new Date('2026-01-01T00:10:20Z'),
    lookback: 60,
    cursorType: 'timestamp with time zone',
  });
  assert.deepEqual(busy.from, { cursor: '2026-01-01 00:09:20+00', primaryKey: [] });
});

test('lookback arithmetic keeps each cursor type\'s meaning', async () => {
  assert.equal(await subtractLookback(db.pool, 'bigint', '1000', 10), '990');
  assert.equal(await subtractLookback(db.pool, 'numeric(12,2)', '10.50', 1), '9.50');
  assert.equal(await subtractLookback(db.pool, 'timestamp without time zone', '2026-01-01 00:00:30', 60), '2025-12-31 23:59:30');
  assert.equal(await subtractLookback(db.pool, 'timestamp with time zone', '2026-01-01 00:00:30.25+00', 0.125), '2026-01-01 00:00:30.125+00');
  assert.equal(await subtractLookback(db.pool, 'date', '2026-01-02', 3600), '2026-01-01');
  await assert.rejects(subtractLookback(db.pool, 'text', 'abc', 5), /lookback_unsupported|cannot be applied/);
});

test('full refresh reads everything; a backfill reads its range (from exclusive, to inclusive)', async () => {
  const wm = { cursor: '5', primaryKey: ['1'] };
  assert.deepEqual(await planWindow(db.pool, { kind: 'FULL_REFRESH', watermark: wm, lookback: 3, cursorType: 'bigint' }), { from: null, to: null });
  assert.deepEqual(
    await planWindow(db.pool, { kind: 'BACKFILL', watermark: wm, lookback: 3, cursorType: 'bigint', range: { from: '10', to: '20' } }),
    { from: { cursor: '10', primaryKey: [] }, to: { cursor: '20', primaryKey: [] } },
  );
});

test('signing keys: created once, private key encrypted, public JWK verifies, rotation keeps old keys published', async () => {
  const secrets = new SecretBox(crypto.randomBytes(32));
  const [a, b] = await Promise.all([activeSigningKey(db.pool, secrets), activeSigningKey(db.pool, secrets)]);
  assert.equal(a.id, b.id);
  const stored = await db.pool.query<{ private_key: Buffer }>('SELECT private_key FROM manifest_signing_keys WHERE id = $1', [a.id]);
  const der = a.privateKey.export({ format: 'der', type: 'pkcs8' });
  assert.equal(stored.rows[0]!.private_key.includes(der.subarray(-32)), false, 'the raw private key is not stored');

  const m = signManifest({ model: 'x', key_id: a.id } as unknown as UnsignedManifest, a.privateKey);
  const [jwk] = await publicSigningKeys(db.pool);
  assert.equal(jwk!.kid, a.id);
  assert.equal(verifyManifestSignature(m, publicKeyFromJwk(jwk!)), true);

  const next = await rotateSigningKey(db.pool, secrets);
  assert.notEqual(next, a.id);
  assert.equal((await activeSigningKey(db.pool, secrets)).id, next);
  const keys = await publicSigningKeys(db.pool);
  assert.deepEqual(keys.map((k) => k.kid).sort(), [a.id, next].sort());
  assert.ok(keys.find((k) => k.kid === a.id)!.retired_at);
});
