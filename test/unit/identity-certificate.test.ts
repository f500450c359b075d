import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { selfSignedCertificate } from '../../src/identity/oidc/certificate.js';

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

test('the self-signed certificate parses, names its host, is valid for its dates and is signed by its own key', () => {
  const notBefore = new Date('2026-11-30T10:00:00Z');
  const notAfter = new Date('2027-11-30T10:00:00Z');
  const der = selfSignedCertificate(privateKey, { commonName: 'sluice.example.com', notBefore, notAfter });
  const cert = new crypto.X509Certificate(der);
  assert.equal(cert.subject, 'CN=sluice.example.com');
  assert.equal(cert.issuer, 'CN=sluice.example.com');
  assert.equal(new Date(cert.validFrom).toISOString(), notBefore.toISOString());
  assert.equal(new Date(cert.validTo).toISOString(), notAfter.toISOString());
  assert.equal(cert.ca, false);
  assert.equal(cert.verify(publicKey), true, 'signed with the key it certifies');
  assert.equal(cert.checkPrivateKey(privateKey), true);
  assert.ok(cert.publicKey.equals(publicKey));
  assert.match(cert.serialNumber, /^[0-9A-F]+$/);
});

test('OpenSSL reads it as a v3 certificate with the expected extensions', () => {
  const der = selfSignedCertificate(privateKey, { commonName: 'x', notBefore: new Date('2026-01-01Z'), notAfter: new Date('2051-01-01Z') });
  const text = execFileSync('openssl', ['x509', '-inform', 'DER', '-noout', '-text'], { input: der }).toString();
  assert.match(text, /Version: 3 \(0x2\)/);
  assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
  assert.match(text, /CA:FALSE/);
  assert.match(text, /Digital Signature/);
  // After 2049 RFC 5280 wants GeneralizedTime; OpenSSL shows the year either way.
  assert.match(text, /Not After : Jan {2}1 00:00:00 2051 GMT/);
});

test('a different key does not verify it, and every certificate gets its own positive serial', () => {
  const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  const opts = { commonName: 'a', notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000) };
  const a = new crypto.X509Certificate(selfSignedCertificate(privateKey, opts));
  const b = new crypto.X509Certificate(selfSignedCertificate(privateKey, opts));
  assert.equal(a.verify(other), false);
  assert.notEqual(a.serialNumber, b.serialNumber);
});
