/**
 * The pure parts of the trust path: role identity (one role, one recipient) and the probe audience's
 * shape (indistinguishable from another destination's).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkRoleArn, roleIdentity } from '../../src/destinations/s3/rules.js';
import { isAudience, newAudience, probeAudience } from '../../src/core/audience.js';

describe('role identity', () => {
  it('is the account and the lower-cased role name: partition, path and case do not make another role', () => {
    const id = roleIdentity('arn:aws:iam::111122223333:role/sluice-acme');
    assert.equal(id, '111122223333:sluice-acme');
    for (const arn of ['arn:aws-cn:iam::111122223333:role/sluice-acme', 'arn:aws:iam::111122223333:role/x/sluice-acme', 'arn:aws-us-gov:iam::111122223333:role/a/b/SLUICE-ACME']) {
      assert.equal(roleIdentity(arn), id, arn);
    }
    assert.notEqual(roleIdentity('arn:aws:iam::999988887777:role/sluice-acme'), id);
    assert.notEqual(roleIdentity('arn:aws:iam::111122223333:role/sluice-acme2'), id);
  });

  it("keeps Ceph RGW's empty account: the partition and path variants RGW resolves to one role are one role", () => {
    assert.equal(roleIdentity('arn:aws-cn:iam:::role/sluice-acme'), roleIdentity('arn:aws:iam:::role/x/sluice-acme'));
    assert.notEqual(roleIdentity('arn:aws:iam:::role/sluice-acme'), roleIdentity('arn:aws:iam::111122223333:role/sluice-acme'));
  });

  it('has no identity for a malformed ARN, which validation refuses with a clear message', () => {
    for (const arn of ['arn:aws:iam::111122223333:user/x', 'arn:aws:iam::1:role/x', 'role/x', 'arn:aws:iam::111122223333:role/', 'arn:aws:iam::111122223333:role/a b']) {
      assert.equal(roleIdentity(arn), null, arn);
      assert.match(checkRoleArn(arn, false) ?? '', /must|characters/, arn);
    }
  });
});

describe('probe audience', () => {
  it("has a destination audience's exact shape (prefix, length, alphabet), differs from it, and is stable", () => {
    for (let i = 0; i < 200; i++) {
      const aud = newAudience();
      const probe = probeAudience(aud);
      assert.ok(isAudience(probe), probe);
      assert.equal(probe.length, aud.length);
      assert.notEqual(probe, aud);
      assert.equal(probeAudience(aud), probe, 'deterministic: the recipient registers it once');
      const diff = [...aud].filter((c, j) => probe[j] !== c).length;
      assert.equal(diff, 1, 'one character differs');
    }
  });

  it('is admitted by every pattern that admits another destination, refused by the exact audience', () => {
    // IAM StringLike: * is any run of characters, ? exactly one.
    const like = (pattern: string, value: string): boolean =>
      new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(value);
    const aud = newAudience();
    const probe = probeAudience(aud);
    const sibling = newAudience();
    for (const pattern of ['sluice-*', 'sluice-?*', '*', `${aud.slice(0, 12)}*`, `*${aud.slice(-8)}`, `sluice-${'?'.repeat(26)}`]) {
      assert.ok(like(pattern, aud), pattern);
      assert.ok(like(pattern, probe), `${pattern} admits the probe`);
    }
    assert.ok(like('sluice-*', sibling));
    assert.equal(like(aud, probe), false, 'an exact pin refuses it');
  });
});
