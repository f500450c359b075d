/**
 * The S3 destination as the rest of Sluice sees it. Everything S3-specific (credentials, clients,
 * retries, error classification) stays behind these types.
 */
import type { Readable } from 'node:stream';

/** A destination as stored in the control store, secrets already decrypted for use (never serialised). */
export interface S3DestinationConfig {
  id: string;
  recipientId: string;
  audience: string;
  bucket: string;
  region: string;
  /** '' or a prefix without leading/trailing slash. */
  prefix: string;
  auth:
    | { kind: 'role'; roleArn: string }
    | { kind: 'access_key'; accessKeyId: string; secretAccessKey: string };
  /** Account that must own the bucket (ExpectedBucketOwner); undefined when unknown. */
  accountId?: string;
  endpoint?: string;
  forcePathStyle: boolean;
  kmsKeyArn?: string;
  /** Send `If-None-Match: *` on creates (off for stores that reject it). */
  conditionalWrites: boolean;
  /** Request checksums (on for AWS; some S3-compatible stores mishandle them). */
  requestChecksums: boolean;
}

export interface WrittenObject {
  key: string;
  /** Bytes of the object as stored. */
  bytes: number;
  /** Lowercase hex SHA-256 of the object's bytes, computed while streaming. */
  sha256: string;
  etag?: string;
}

export interface WriteOptions {
  contentType?: string;
  signal?: AbortSignal;
}

/** Writes objects as creates: never overwrites, never reads, never lists. */
export interface ObjectWriter {
  /** Streams `body` (unknown length) into `key` with bounded memory. Nothing is visible at `key` unless this resolves. */
  write(key: string, body: Readable | AsyncIterable<Uint8Array>, opts?: WriteOptions): Promise<WrittenObject>;
  /** Releases the writer's client and its credentials (the transfer has ended). */
  close?(): void;
}

export type ConnectionTestStepName = 'validate_config' | 'assume_role' | 'audience_probe' | 'put_object' | 'delete_object';

/** One step of the connection test (docs/errors.md, "Connection test outcomes"), as the API and CLI show it. */
export interface ConnectionTestStep {
  step: ConnectionTestStepName;
  /** `warning`: the step did what delivery needs, with something left for the recipient to know. */
  status: 'passed' | 'failed' | 'skipped' | 'warning';
  /** Stable code when failed or warning (explained at docs/errors.md#ct-<code>). */
  code?: string;
  /** Who must act when failed. */
  actor?: 'recipient' | 'provider' | 'sluice';
  /** What happened, and when failed, what to change. */
  message: string;
  docs?: string;
  durationMs: number;
}

export interface ConnectionTestResult {
  passed: boolean;
  steps: ConnectionTestStep[];
  /** The account that owns the bucket, when the test learned it (role ARN, or sts:GetCallerIdentity for access keys). */
  accountId?: string;
  /** The assumed-role ARN (role auth), for the operator's records. */
  assumedRoleArn?: string;
}
