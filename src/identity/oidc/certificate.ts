/**
 * A self-signed X.509 certificate for a signing key, published as the JWK's `x5c`. AWS ignores it,
 * but Ceph RGW verifies tokens with the certificate only (it ignores `n`/`e`), so every published key
 * carries one. Node cannot build certificates, so node-forge assembles and signs it; the key pair
 * itself is Node's.
 */
import crypto from 'node:crypto';
import forge from 'node-forge';

export interface CertificateOptions {
  /** Common name, e.g. the issuer's host. */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** DER bytes of a self-signed certificate for the RSA key pair. */
export function selfSignedCertificate(privateKey: crypto.KeyObject, opts: CertificateOptions): Buffer {
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  // A positive 16-byte serial: the high bit cleared so DER does not read it as negative.
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = opts.notBefore;
  cert.validity.notAfter = opts.notAfter;
  const name = [{ name: 'commonName', value: opts.commonName.slice(0, 64) }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true },
  ]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}
