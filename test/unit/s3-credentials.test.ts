import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionTestKey } from '../../src/destinations/s3/connection-test.js';
import { roleSessionName } from '../../src/destinations/s3/credentials.js';

describe('role session names', () => {
  it('derive from the destination id, within 2–64 characters of [\\w+=,.@-]', () => {
    assert.equal(roleSessionName('dst_abc123'), 'sluice-dst_abc123');
    assert.equal(roleSessionName('dst_abc123', 'probe'), 'sluice-dst_abc123-probe');
    const long = roleSessionName('x'.repeat(100), 'probe');
    assert.equal(long.length, 64);
    assert.ok(long.endsWith('-probe'));
    assert.match(roleSessionName('dst with spaces/and:colons'), /^[\w+=,.@-]{2,64}$/);
  });
});

describe('connection test key', () => {
  it('sits under the prefix in _sluice/connection-test', () => {
    assert.equal(connectionTestKey('acme/exports', 'u1'), 'acme/exports/_sluice/connection-test/u1.txt');
    assert.equal(connectionTestKey('', 'u1'), '_sluice/connection-test/u1.txt');
    assert.match(connectionTestKey(''), /^_sluice\/connection-test\/[0-9a-f-]{36}\.txt$/);
  });
});
