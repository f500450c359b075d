/**
 * The manifest: the commit record of one model in one transfer, written after its files.
 *
 * Signature: Ed25519 over the *canonical serialisation* of the manifest without its `signature`
 * member, defined as: JSON (RFC 8259) with the members of every object sorted by key (UTF-16 code
 * unit order, as JavaScript sorts strings), no insignificant whitespace, strings escaped as
 * `JSON.stringify` does, numbers only as integers; encoded as UTF-8. The signature is the
 * base64 (standard alphabet, padded) of the 64-byte Ed25519 signature, and `key_id` names the public
 * key (GET /.well-known/sluice-manifest-keys.json) that verifies it.
 *
 * The manifest is stored as its canonical serialisation (with `signature`) and a newline: one JSON
 * object per line, which Athena's JSON SerDe and DuckDB's read_json read as a table (`jq .` shows
 * it to people). The chain hash (`previous_manifest_sha256` of the next manifest) is the SHA-256 of
 * the stored bytes, so a recipient can check it with `sha256sum`.
 */
import crypto from 'node:crypto';
import type { CursorPosition, TransferKind } from '../core/types.js';

export const MANIFEST_VERSION = 1;

export type ManifestType = 'INCREMENTAL' | 'FULL_REFRESH';
export type WindowBounds = '(]' | '[]' | '()' | '[)';

export interface ManifestColumn {
  name: string;
  /** Logical type as written into the files, e.g. `decimal(12,2)`, `timestamp_us_utc`. */
  type: string;
  nullable: boolean;
}

export interface ManifestFile {
  key: string;
  rows: number;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  version: number;
  transfer_id: string;
  destination_id: string;
  model: string;
  type: ManifestType;
  /** The transfer kind that produced it (a backfill is an INCREMENTAL manifest over a chosen range). */
  transfer_kind: TransferKind;
  window: {
    cursor_column: string;
    primary_key: string[];
    /** Exclusive lower end on (cursor, primary key); null = from the beginning. */
    from: CursorPosition | null;
    /** Inclusive upper end; null when the window had no row. */
    to: CursorPosition | null;
    /**
     * Which ends are included: `(]` (the default when absent) compares on (cursor, primary key) as
     * above; a commit-safe end has no key and compares on the cursor alone: `[` from included (a
     * commit-safe watermark), `)` to excluded (a commit-safe bound).
     */
    bounds?: WindowBounds;
  };
  format: string;
  compression: string;
  schema: { columns: ManifestColumn[] };
  schema_sha256: string;
  files: ManifestFile[];
  total_rows: number;
  total_bytes: number;
  previous_manifest_key: string | null;
  previous_manifest_sha256: string | null;
  created_at: string;
  key_id: string;
  signature: string;
}

export type UnsignedManifest = Omit<Manifest, 'signature'>;

/** Canonical JSON as defined above. Throws on values JSON cannot represent exactly. */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isSafeInteger(value)) throw new Error(`canonical JSON holds integers only, got ${value}`);
      return String(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
    }
    default:
      throw new Error(`canonical JSON cannot hold a ${typeof value}`);
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export function schemaSha256(columns: ManifestColumn[]): string {
  return sha256Hex(canonicalJson(columns));
}

/** The bytes that are signed: the canonical serialisation of the manifest without `signature`. */
export function signingBytes(m: UnsignedManifest | Manifest): Buffer {
  const rest: Record<string, unknown> = { ...m };
  delete rest.signature;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

/** A manifest signing key: its id (the manifest's `key_id`) and the Ed25519 private key. */
export interface SigningKey {
  id: string;
  privateKey: crypto.KeyObject;
}

export function signManifest(m: UnsignedManifest, privateKey: crypto.KeyObject): Manifest {
  const signature = crypto.sign(null, signingBytes(m), privateKey).toString('base64');
  return { ...m, signature };
}

export function verifyManifestSignature(m: Manifest, publicKey: crypto.KeyObject): boolean {
  if (typeof m.signature !== 'string') return false;
  const sig = Buffer.from(m.signature, 'base64');
  if (sig.length !== 64) return false;
  return crypto.verify(null, signingBytes(m), publicKey, sig);
}

/** The stored form: the canonical serialisation, newline-terminated. */
export function serialiseManifest(m: Manifest): Buffer {
  return Buffer.from(canonicalJson(m) + '\n', 'utf8');
}

/** A public key object from a published JWK. */
export function publicKeyFromJwk(jwk: { kty?: unknown; crv?: unknown; x?: unknown }): crypto.KeyObject {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new Error('not an Ed25519 public JWK (kty OKP, crv Ed25519, x)');
  }
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
}
