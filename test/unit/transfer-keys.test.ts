import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dataKey, dtOf, manifestKey, parseDataKey, parseManifestKey, stampOf } from '../../src/transfer/keys.js';

const startedAt = new Date('2026-03-04T05:06:07.890Z');

test('data keys follow the bucket contract, dt and stamp in UTC', () => {
  assert.equal(
    dataKey({ prefix: 'exports/acme', model: 'orders', startedAt, transferId: 'trf_abc123', index: 7, extension: 'parquet' }),
    'exports/acme/orders/dt=2026-03-04/part-00007_20260304050607_trf_abc123.parquet',
  );
  // Late evening in New York is already the next day in UTC: dt follows UTC.
  const late = new Date('2026-03-04T23:59:59-05:00');
  assert.equal(dtOf(late), '2026-03-05');
  assert.equal(stampOf(late), '20260305045959');
});

test('no leading slash when the prefix is empty', () => {
  const k = dataKey({ prefix: '', model: 'orders', startedAt, transferId: 'trf_x', index: 0, extension: 'csv.gz' });
  assert.equal(k, 'orders/dt=2026-03-04/part-00000_20260304050607_trf_x.csv.gz');
  assert.equal(
    manifestKey({ prefix: '', model: 'orders', startedAt, transferId: 'trf_x' }),
    '_manifests/orders/dt=2026-03-04/manifest_trf_x.json',
  );
});

test('manifest keys follow the bucket contract', () => {
  assert.equal(
    manifestKey({ prefix: 'p', model: 'order_items', startedAt, transferId: 'trf_Q1' }),
    'p/_manifests/order_items/dt=2026-03-04/manifest_trf_Q1.json',
  );
});

test('keys parse back, and foreign keys do not', () => {
  const k = dataKey({ prefix: 'a/b', model: 'm1', startedAt, transferId: 'trf_Z9', index: 12, extension: 'jsonl.zst' });
  assert.deepEqual(parseDataKey('a/b', k), {
    model: 'm1',
    dt: '2026-03-04',
    index: 12,
    stamp: '20260304050607',
    transferId: 'trf_Z9',
    extension: 'jsonl.zst',
  });
  assert.equal(parseDataKey('other', k), null);
  assert.equal(parseDataKey('', 'm1/readme.txt'), null);
  assert.deepEqual(parseManifestKey('a/b', 'a/b/_manifests/m1/dt=2026-03-04/manifest_trf_Z9.json'), {
    model: 'm1',
    dt: '2026-03-04',
    transferId: 'trf_Z9',
  });
});

test('file indexes outside five digits are refused', () => {
  assert.throws(() => dataKey({ prefix: '', model: 'm', startedAt, transferId: 'trf_x', index: 100_000, extension: 'csv' }));
  assert.throws(() => dataKey({ prefix: '', model: 'm', startedAt, transferId: 'trf_x', index: -1, extension: 'csv' }));
});
