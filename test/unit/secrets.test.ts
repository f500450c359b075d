import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { SecretBox, parseSecretKey } from '../../src/control/secrets.js';
import { SluiceError } from '../../src/core/errors.js';

describe('SecretBox', () => {
  const box = new SecretBox(crypto.randomBytes(32));

  it('round-trips and never stores the plaintext', () => {
    const stored = box.encrypt('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'destination:dst_1:secret');
    assert.ok(!stored.includes(Buffer.from('wJalrXUtnFEMI')));
    assert.equal(box.decryptString(stored, 'destination:dst_1:secret'), 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
  });

  it('refuses a ciphertext moved to another row', () => {
    const stored = box.encrypt('s3cr3t', 'destination:dst_1:secret');
    assert.throws(() => box.decrypt(stored, 'destination:dst_2:secret'), (e: unknown) => e instanceof SluiceError && e.code === 'secret_undecryptable');
  });

  it('refuses a key of the wrong size with a hint', () => {
    assert.throws(() => parseSecretKey(Buffer.alloc(16).toString('base64')), /must be 32/);
  });
});
