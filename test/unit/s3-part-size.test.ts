import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PART_SIZE, MAX_PART_SIZE, MAX_PARTS, MIB, maxObjectSize, partSizeFor } from '../../src/destinations/s3/part-size.js';
import { backoffDelay } from '../../src/destinations/s3/retry.js';

const TIB = 1024 ** 4;

describe('multipart part sizes', () => {
  it('start at 8 MiB and double every 1,000 parts', () => {
    assert.equal(DEFAULT_PART_SIZE, 8 * MIB);
    assert.equal(partSizeFor(1), 8 * MIB);
    assert.equal(partSizeFor(1000), 8 * MIB);
    assert.equal(partSizeFor(1001), 16 * MIB);
    assert.equal(partSizeFor(2001), 32 * MIB);
    assert.equal(partSizeFor(MAX_PARTS), 8 * MIB * 2 ** 9);
  });

  it('never exceed S3 limits: ≥ 5 MiB, ≤ 5 GiB per part', () => {
    for (let n = 1; n <= MAX_PARTS; n++) {
      const size = partSizeFor(n);
      assert.ok(size >= 5 * MIB && size <= MAX_PART_SIZE, `part ${n}: ${size}`);
    }
    assert.equal(partSizeFor(1, 4 * 1024 * MIB * 2), MAX_PART_SIZE);
  });

  it('let 10,000 parts hold more than 5 TiB', () => {
    let total = 0;
    for (let n = 1; n <= MAX_PARTS; n++) total += partSizeFor(n);
    assert.equal(total, maxObjectSize());
    assert.ok(total >= 5 * TIB, `${total / TIB} TiB`);
  });
});

describe('retry backoff', () => {
  it('is full jitter under an exponential cap', () => {
    assert.equal(backoffDelay(0, 200, 20_000, () => 0.999999), 199);
    assert.equal(backoffDelay(3, 200, 20_000, () => 0.5), 800);
    assert.equal(backoffDelay(20, 200, 20_000, () => 0.5), 10_000);
    assert.equal(backoffDelay(5, 200, 20_000, () => 0), 0);
  });
});
