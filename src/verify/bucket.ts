/**
 * `sluice verify`: what a recipient can check about its bucket with its own read access (List + Get),
 * without trusting Sluice's control store:
 *
 *  - every manifest parses, sits at its contract key, and carries a valid Ed25519 signature by a
 *    published key;
 *  - per model, manifests form one chain by `previous_manifest_sha256` (SHA-256 of the previous
 *    manifest's bytes): a gap (a manifest pointing at one that is not there), a fork (two manifests
 *    with the same predecessor, or two first manifests), a replay (the same manifest or the same
 *    transfer twice, a file listed twice) are each reported;
 *  - every listed file exists with the listed size, SHA-256 and row count (rows counted by DuckDB);
 *  - data files no manifest lists are reported as orphans: information, not an error (a failed or
 *    interrupted attempt leaves them; consumers following manifests never see them).
 *
 * Not detectable from the bucket alone: the removal of the newest manifest(s) of a chain. Compare the
 * chain's head with GET /v1/transfers for that.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { ErrorCode, VerifyProblemCode } from '../core/error-codes.js';
import { describeError, SluiceError } from '../core/errors.js';
import { MANIFESTS_DIR, parseDataKey, parseManifestKey, relativeKey } from '../transfer/keys.js';
import { publicKeyFromJwk, sha256Hex, verifyManifestSignature, type Manifest } from '../transfer/manifest.js';

export type Severity = 'error' | 'info';

export interface VerifyProblem {
  severity: Severity;
  code: VerifyProblemCode;
  message: string;
  key?: string;
  model?: string;
}

export interface VerifyReport {
  ok: boolean;
  manifests: number;
  files: number;
  rows: number;
  models: string[];
  problems: VerifyProblem[];
}

export interface VerifyOptions {
  client: S3Client;
  bucket: string;
  prefix: string;
  /** Public keys by key id; a key under '*' verifies any key id (a single PEM given on the command line). */
  publicKeys: Map<string, crypto.KeyObject>;
  /** Files checked at once (download + hash + count). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Accept a prefix with no manifest (a destination that has not delivered yet); otherwise it is an error. */
  allowEmpty?: boolean;
}

interface LoadedManifest {
  key: string;
  model: string;
  sha256: string;
  manifest: Manifest;
}

/** Reads public keys: a JWK set ({"keys": […]}, as GET /v1/manifest-keys serves it), one JWK, or a PEM. */
export function parsePublicKeys(text: string): Map<string, crypto.KeyObject> {
  const keys = new Map<string, crypto.KeyObject>();
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    const key = crypto.createPublicKey(trimmed);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the PEM key is ${key.asymmetricKeyType}, not Ed25519`);
    keys.set('*', key);
    return keys;
  }
  const doc = JSON.parse(trimmed) as { keys?: unknown[]; kid?: string };
  const list = Array.isArray(doc.keys) ? doc.keys : [doc];
  for (const jwk of list as Array<{ kid?: string; kty?: unknown; crv?: unknown; x?: unknown }>) {
    keys.set(jwk.kid ?? '*', publicKeyFromJwk(jwk));
  }
  if (keys.size === 0) throw new Error('no public key found');
  return keys;
}

async function listAll(client: S3Client, bucket: string, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let token: string | undefined;
  do {
    const r = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix === '' ? undefined : `${prefix}/`, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) if (o.Key) out.set(o.Key, o.Size ?? 0);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function getBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** Streams an object to a file, hashing on the way (bounded memory). */
async function download(client: S3Client, bucket: string, key: string, file: string): Promise<{ bytes: number; sha256: string }> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(r.Body as Readable, tap, createWriteStream(file));
  return { bytes, sha256: hash.digest('hex') };
}

function countSql(file: string, format: string, compression: string): string {
  const f = file.replaceAll("'", "''");
  // DuckDB's name for no compression is 'uncompressed' ('none' failed every uncompressed JSON Lines file).
  const c = compression === 'gzip' || compression === 'zstd' ? compression : 'uncompressed';
  switch (format) {
    case 'parquet':
      return `SELECT count(*) AS n FROM read_parquet('${f}')`;
    case 'csv':
      return `SELECT count(*) AS n FROM read_csv('${f}', header = true, all_varchar = true, compression = '${c}')`;
    case 'jsonl':
      return `SELECT count(*) AS n FROM read_ndjson_objects('${f}', compression = '${c}')`;
    default:
      throw new Error(`unknown format ${format}`);
  }
}

export async function verifyBucket(opts: VerifyOptions): Promise<VerifyReport> {
  const { client, bucket, prefix } = opts;
  const problems: VerifyProblem[] = [];
  const problem = (p: VerifyProblem): void => {
    problems.push(p);
  };
  let objects: Map<string, number>;
  try {
    objects = await listAll(client, bucket, prefix);
  } catch (err) {
    throw listError(err, bucket, prefix);
  }

  // 1. Manifests: parse, place, signature.
  const manifests: LoadedManifest[] = [];
  for (const key of [...objects.keys()].sort()) {
    const rel = relativeKey(prefix, key);
    if (rel === null || !rel.startsWith(`${MANIFESTS_DIR}/`)) continue;
    const where = parseManifestKey(prefix, key);
    if (!where) {
      problem({ severity: 'error', code: 'unexpected_manifest_key', key, message: `${key} is under ${MANIFESTS_DIR}/ but is not a manifest key of the bucket contract.` });
      continue;
    }
    let body: Buffer;
    let manifest: Manifest;
    try {
      body = await getBytes(client, bucket, key);
      manifest = JSON.parse(body.toString('utf8')) as Manifest;
    } catch (err) {
      problem({ severity: 'error', code: 'manifest_unreadable', key, model: where.model, message: `${key} cannot be read as JSON: ${describeError(err)}.` });
      continue;
    }
    const m = manifest;
    if (m.version !== 1 || !Array.isArray(m.files)) {
      problem({ severity: 'error', code: 'manifest_invalid', key, model: where.model, message: `${key} is not a version 1 manifest with a file list.` });
      continue;
    }
    if (m.model !== where.model || m.transfer_id !== where.transferId) {
      problem({
        severity: 'error',
        code: 'manifest_key_mismatch',
        key,
        model: where.model,
        message: `${key} holds the manifest of model ${m.model}, transfer ${m.transfer_id}: it was moved or copied.`,
      });
    }
    const pub = opts.publicKeys.get(m.key_id) ?? opts.publicKeys.get('*');
    if (!pub) {
      problem({ severity: 'error', code: 'unknown_signing_key', key, model: where.model, message: `${key} is signed with key ${m.key_id}, which is not among the public keys given.` });
    } else if (!verifyManifestSignature(m, pub)) {
      problem({ severity: 'error', code: 'bad_signature', key, model: where.model, message: `${key}: the signature does not verify with key ${m.key_id}; the manifest was altered or not signed by Sluice.` });
    }
    const sum = m.files.reduce((n, f) => n + f.rows, 0);
    if (sum !== m.total_rows) {
      problem({ severity: 'error', code: 'total_rows_mismatch', key, model: where.model, message: `${key}: total_rows is ${m.total_rows} but its files add up to ${sum}.` });
    }
    manifests.push({ key, model: where.model, sha256: sha256Hex(body), manifest: m });
  }

  if (manifests.length === 0 && !opts.allowEmpty) {
    problem({
      severity: 'error',
      code: 'no_manifests',
      message:
        `No manifest under s3://${bucket}/${prefix === '' ? '' : `${prefix}/`}${MANIFESTS_DIR}/ (${objects.size} objects under the prefix): ` +
        'check --bucket and --prefix (the destination\'s prefix, without the model); pass --allow-empty if nothing has been delivered yet.',
    });
  }

  const destinations = new Set(manifests.map((m) => m.manifest.destination_id));
  if (destinations.size > 1) {
    problem({ severity: 'error', code: 'mixed_destinations', message: `Manifests of several destinations share this prefix: ${[...destinations].join(', ')}.` });
  }

  // 2. The chain of each model.
  const models = [...new Set(manifests.map((m) => m.model))].sort();
  for (const model of models) checkChain(model, manifests.filter((m) => m.model === model), problem);

  // 3. Files: existence, size, SHA-256, rows.
  const listedBy = new Map<string, string>();
  const jobs: Array<{ file: Manifest['files'][number]; m: LoadedManifest }> = [];
  for (const m of manifests) {
    for (const file of m.manifest.files) {
      const first = listedBy.get(file.key);
      if (first) {
        problem({ severity: 'error', code: 'file_listed_twice', key: file.key, model: m.model, message: `${file.key} is listed by ${first} and again by ${m.key}: a replayed batch.` });
        continue;
      }
      listedBy.set(file.key, m.key);
      jobs.push({ file, m });
    }
  }
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-verify-'));
  const duck = await DuckDBInstance.create(':memory:', { threads: '1' });
  let rows = 0;
  let done = 0;
  try {
    const connections: DuckDBConnection[] = [];
    const workers = Math.max(1, Math.min(opts.concurrency ?? 3, jobs.length));
    let next = 0;
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const conn = await duck.connect();
        connections.push(conn);
        for (let i = next++; i < jobs.length; i = next++) {
          const { file, m } = jobs[i]!;
          const n = await checkFile(opts, conn, path.join(tmp, `f${w}`), file, m, objects, problem);
          rows += n;
          opts.onProgress?.(++done, jobs.length);
        }
      }),
    );
    for (const c of connections) c.closeSync();
  } finally {
    duck.closeSync();
    await fs.rm(tmp, { recursive: true, force: true });
  }

  // 4. Everything else under the prefix.
  for (const key of [...objects.keys()].sort()) {
    if (listedBy.has(key)) continue;
    const rel = relativeKey(prefix, key);
    if (rel === null || rel.startsWith(`${MANIFESTS_DIR}/`) || rel.startsWith('_sluice/')) continue;
    const data = parseDataKey(prefix, key);
    if (data) {
      problem({
        severity: 'info',
        code: 'orphan_file',
        key,
        model: data.model,
        message: `${key} is listed by no manifest (left by a failed or interrupted attempt of ${data.transferId}); consumers following manifests ignore it.`,
      });
    } else {
      problem({ severity: 'info', code: 'unknown_object', key, message: `${key} is not part of the bucket contract.` });
    }
  }

  return {
    ok: !problems.some((p) => p.severity === 'error'),
    manifests: manifests.length,
    files: jobs.length,
    rows,
    models,
    problems,
  };
}

/**
 * Listing the prefix failed: the bucket, the credentials, the region or the endpoint is wrong. One
 * line saying which, and what to check — never the SDK's stack.
 */
export function listError(err: unknown, bucket: string, prefix: string): SluiceError {
  const e = err as { name?: string; Code?: string; code?: string; $metadata?: { httpStatusCode?: number } } | null;
  const name = e?.name ?? e?.Code ?? e?.code ?? '';
  const status = e?.$metadata?.httpStatusCode;
  const where = `s3://${bucket}/${prefix}`;
  const make = (code: ErrorCode, message: string, hint: string): SluiceError =>
    new SluiceError({ code, message: `Cannot list ${where}: ${message}`, hint, actor: 'recipient', status: 400, cause: err });
  if (name === 'NoSuchBucket' || status === 404) {
    return make('verify_bucket_not_found', `bucket ${bucket} does not exist (at this endpoint).`, 'Check --bucket (the name only, no s3:// or prefix) and --endpoint.');
  }
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidClientTokenId', 'ExpiredToken', 'InvalidToken'].includes(name)) {
    return make('verify_credentials_rejected', `the store rejected the credentials (${name}).`, 'Check --access-key-id / --secret-access-key (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).');
  }
  if (name === 'AccessDenied' || status === 403) {
    return make('verify_access_denied', 'access denied.', `Give these credentials s3:ListBucket on ${bucket} and s3:GetObject on its objects (and kms:Decrypt if the bucket uses a KMS key).`);
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
    return make('verify_wrong_region', 'the bucket is in another region.', 'Pass the bucket\'s region with --region (or AWS_REGION).');
  }
  const net = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|getaddrinfo|socket hang up|TimeoutError/i;
  if (net.test(`${name} ${describeError(err)} ${String((err as { code?: unknown } | null)?.code ?? '')}`)) {
    return make('verify_endpoint_unreachable', `the endpoint could not be reached (${describeError(err)}).`, 'Check --endpoint (scheme, host and port) and your network.');
  }
  return make('verify_list_failed', `${name || 'error'}: ${describeError(err)}.`, 'Check --bucket, --prefix, --region, --endpoint and the credentials.');
}

function checkChain(model: string, list: LoadedManifest[], problem: (p: VerifyProblem) => void): void {
  const bySha = new Map<string, LoadedManifest>();
  const byTransfer = new Map<string, LoadedManifest>();
  for (const m of list) {
    const same = bySha.get(m.sha256);
    if (same) {
      problem({ severity: 'error', code: 'chain_replay', key: m.key, model, message: `${m.key} is a byte-for-byte copy of ${same.key}: a replayed manifest.` });
      continue;
    }
    bySha.set(m.sha256, m);
    const t = byTransfer.get(m.manifest.transfer_id);
    if (t) {
      problem({ severity: 'error', code: 'chain_replay', key: m.key, model, message: `${m.key} and ${t.key} are both manifests of transfer ${m.manifest.transfer_id}.` });
    }
    byTransfer.set(m.manifest.transfer_id, m);
  }
  const unique = [...bySha.values()];
  const children = new Map<string, LoadedManifest[]>();
  const firsts: LoadedManifest[] = [];
  let gaps = 0;
  for (const m of unique) {
    const prev = m.manifest.previous_manifest_sha256;
    if (prev === null) {
      firsts.push(m);
      continue;
    }
    const parent = bySha.get(prev);
    if (!parent) {
      gaps++;
      problem({
        severity: 'error',
        code: 'chain_gap',
        key: m.key,
        model,
        message: `${m.key} follows a manifest with SHA-256 ${prev}${m.manifest.previous_manifest_key ? ` (${m.manifest.previous_manifest_key})` : ''} that is not in the bucket, or was altered.`,
      });
      continue;
    }
    if (m.manifest.previous_manifest_key !== null && m.manifest.previous_manifest_key !== parent.key) {
      problem({ severity: 'error', code: 'chain_key_mismatch', key: m.key, model, message: `${m.key} names ${m.manifest.previous_manifest_key} as previous, but the manifest with that SHA-256 is at ${parent.key}.` });
    }
    children.set(prev, [...(children.get(prev) ?? []), m]);
  }
  if (firsts.length > 1) {
    problem({ severity: 'error', code: 'chain_fork', model, message: `Model ${model} has ${firsts.length} first manifests (no predecessor): ${firsts.map((m) => m.key).join(', ')}.` });
  }
  for (const [sha, kids] of children) {
    if (kids.length > 1) {
      problem({
        severity: 'error',
        code: 'chain_fork',
        model,
        key: bySha.get(sha)!.key,
        message: `${kids.length} manifests follow ${bySha.get(sha)!.key}: ${kids.map((k) => k.key).join(', ')}.`,
      });
    }
  }
  if (firsts.length === 0 && unique.length > 0 && gaps === 0) {
    problem({ severity: 'error', code: 'chain_cycle', model, message: `The manifests of ${model} have no first manifest: their chain is a cycle.` });
  }
}

async function checkFile(
  opts: VerifyOptions,
  conn: DuckDBConnection,
  tmpFile: string,
  file: Manifest['files'][number],
  m: LoadedManifest,
  objects: Map<string, number>,
  problem: (p: VerifyProblem) => void,
): Promise<number> {
  const model = m.model;
  const size = objects.get(file.key);
  if (size === undefined) {
    problem({ severity: 'error', code: 'missing_file', key: file.key, model, message: `${file.key}, listed by ${m.key}, is not in the bucket.` });
    return 0;
  }
  if (size !== file.bytes) {
    problem({ severity: 'error', code: 'size_mismatch', key: file.key, model, message: `${file.key} has ${size} bytes; ${m.key} lists ${file.bytes}.` });
  }
  try {
    const got = await download(opts.client, opts.bucket, file.key, tmpFile);
    if (got.sha256 !== file.sha256) {
      problem({ severity: 'error', code: 'checksum_mismatch', key: file.key, model, message: `${file.key} has SHA-256 ${got.sha256}; ${m.key} lists ${file.sha256}: the file was altered.` });
      return 0;
    }
    const r = await conn.runAndReadAll(countSql(tmpFile, m.manifest.format, m.manifest.compression));
    const n = Number(r.getRows()[0]?.[0] ?? -1);
    if (n !== file.rows) {
      problem({ severity: 'error', code: 'row_count_mismatch', key: file.key, model, message: `${file.key} has ${n} rows; ${m.key} lists ${file.rows}.` });
    }
    return n;
  } catch (err) {
    problem({ severity: 'error', code: 'file_unreadable', key: file.key, model, message: `${file.key} cannot be read: ${describeError(err)}.` });
    return 0;
  } finally {
    await fs.rm(tmpFile, { force: true });
  }
}
