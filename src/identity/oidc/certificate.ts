/**
 * A self-signed X.509 certificate for a signing key, published as the JWK's `x5c`. AWS ignores it,
 * but Ceph RGW verifies tokens with the certificate only (it ignores `n`/`e`), so every published key
 * carries one. Node parses certificates but does not build them; this is the one certificate Sluice
 * makes (RSA, SHA-256, a common name, two extensions), so it is written here in DER (RFC 5280) with
 * Node's key export and signature, and checked by Node's X509Certificate in the tests.
 */
import crypto from 'node:crypto';

export interface CertificateOptions {
  /** Common name, e.g. the issuer's host. */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

// DER: tag, length, contents.
function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const sequence = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);
const explicit = (n: number, c: Buffer): Buffer => tlv(0xa0 + n, c);
const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
const octetString = (c: Buffer): Buffer => tlv(0x04, c);
/** A BIT STRING of whole bytes, or of `bits` bits with the rest unused. */
const bitString = (c: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.from([unusedBits]), c);

/** An unsigned big-endian integer, minimal, with a leading 0 when its high bit is set. */
function integer(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0 && (bytes[i + 1]! & 0x80) === 0) i++;
  const v = bytes.subarray(i);
  return tlv(0x02, (v[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280, 4.1.2.5), to the second, in UTC. */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

const SHA256_WITH_RSA = sequence(oid('1.2.840.113549.1.1.11'), nullValue());
const name = (commonName: string): Buffer => sequence(set(sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName, 'utf8')))));

/** DER bytes of a self-signed certificate for the RSA key pair. */
export function selfSignedCertificate(privateKey: crypto.KeyObject, opts: CertificateOptions): Buffer {
  const spki = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  // A positive 16-byte serial: the high bit cleared so DER does not read it as negative.
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  const subject = name(opts.commonName.slice(0, 64));
  const extensions = sequence(
    // basicConstraints: not a CA (cA defaults to false, so the value is an empty SEQUENCE).
    sequence(oid('2.5.29.19'), octetString(sequence())),
    // keyUsage: digitalSignature only (bit 0 of the BIT STRING, seven unused bits).
    sequence(oid('2.5.29.15'), octetString(bitString(Buffer.from([0x80]), 7))),
  );
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // version 3
    integer(serial),
    SHA256_WITH_RSA,
    subject, // issuer: self-signed
    sequence(time(opts.notBefore), time(opts.notAfter)),
    subject,
    spki,
    explicit(3, extensions),
  );
  const signature = crypto.sign('sha256', tbs, privateKey);
  return sequence(tbs, SHA256_WITH_RSA, bitString(signature));
}
