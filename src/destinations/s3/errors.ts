/**
 * Turns whatever STS, S3 or the network threw into a SluiceError with a stable `code`, who must act,
 * one sentence on what to change, and the docs/errors.md entry that explains it. The connection test, the
 * object writer and the job queue's retry decision all key on these codes; which of them are
 * transient is core/transient.ts's table.
 *
 * Messages are built from identifiers (bucket, region, operation), never from credentials or tokens.
 */
import type { ErrorCode } from '../../core/error-codes.js';
import { SluiceError, type Actor } from '../../core/errors.js';
import { isTransientCode, networkFailure } from '../../core/transient.js';
import { REFUSED_CODE } from './network.js';

/** Where each code is explained (docs/errors.md, "Connection test outcomes"). */
export function docsAnchor(code: ErrorCode): string {
  return `docs/errors.md#ct-${code}`;
}

/** What Sluice was doing when the error happened; it decides e.g. put vs delete for AccessDenied. */
export type S3Operation =
  | 'assume_role'
  | 'audience_probe'
  | 'caller_identity'
  | 'put_object'
  | 'multipart'
  | 'abort_multipart'
  | 'delete_object';

export interface ErrorContext {
  operation: S3Operation;
  bucket?: string;
  region?: string;
  endpoint?: string;
  key?: string;
  /** How Sluice authenticates: hints speak of the role's policy or of the access key's user. */
  auth?: 'role' | 'access_key';
}

/** Whose policy grants Sluice its permissions, in a hint. */
function grantee(ctx: ErrorContext): string {
  return ctx.auth === 'access_key' ? "the policy of the IAM user that owns the access key" : "the role's permissions policy";
}

/** Every code this destination can report; each has an entry in docs/errors.md (`#ct-<code>`). */
export const S3_ERROR_CODES = [
  'invalid_config', 'bucket_not_found', 'wrong_region', 'access_denied_put', 'access_denied_delete', 'access_denied_abort',
  'kms_denied', 'role_not_assumable', 'audience_not_pinned', 'invalid_token', 'oidc_provider_missing', 'expired_token',
  'idp_unreachable', 'identity_unavailable', 'sts_region_disabled', 'invalid_credentials', 'clock_skew',
  'endpoint_unreachable', 'endpoint_refused', 'endpoint_timeout', 'endpoint_tls', 'object_exists', 'write_conflict',
  'conditional_writes_unsupported', 'throttled', 'transient', 'upload_lost', 'object_too_large', 'aborted', 'request_rejected',
  'probe_audience_unregistered', 'test_object_left_behind', 'issuer_unreachable', 'signing_key_unpublished',
  'endpoint_unreachable', 'endpoint_timeout', 'endpoint_tls', 'object_exists', 'write_conflict',
  'conditional_writes_unsupported', 'throttled', 'transient', 'upload_stalled', 'upload_lost', 'object_too_large', 'aborted', 'request_rejected',
] as const satisfies readonly ErrorCode[];

interface Outcome {
  code: ErrorCode;
  actor: Actor;
  message: string;
  hint: string;
  status?: number;
}

function make(o: Outcome, cause: unknown): SluiceError {
  return new SluiceError({
    code: o.code,
    actor: o.actor,
    message: o.message,
    hint: o.hint,
    docs: docsAnchor(o.code),
    status: o.status ?? 502,
    cause,
  });
}

/** The shape the SDK gives service and network errors; read defensively, everything is optional. */
interface RawError {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  Region?: string;
  Endpoint?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
  cause?: unknown;
}

const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/;
const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestThrottled', 'TooManyRequestsException', 'RequestLimitExceeded', 'BandwidthLimitExceeded', 'RequestThrottledException']);
const SERVER_TRANSIENT = new Set(['InternalError', 'ServiceUnavailable', 'RequestTimeout', 'RequestTimeoutException', 'InternalFailure', 'OperationAborted']);
const STS_OPERATIONS: ReadonlySet<S3Operation> = new Set(['assume_role', 'audience_probe', 'caller_identity']);

function asRaw(err: unknown): RawError {
  return typeof err === 'object' && err !== null ? (err as RawError) : { message: String(err) };
}

function statusOf(e: RawError): number | undefined {
  return e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
}

function header(e: RawError, name: string): string | undefined {
  const headers = e.$response?.headers;
  if (!headers) return undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** Node network errors sometimes arrive wrapped (fetch-style `cause`); look one level down. */
function networkCode(e: RawError): string | undefined {
  if (typeof e.code === 'string' && !e.$metadata?.httpStatusCode) return e.code;
  const inner = e.cause ? asRaw(e.cause) : undefined;
  return typeof inner?.code === 'string' ? inner.code : undefined;
}

function where(ctx: ErrorContext): string {
  return ctx.endpoint ? ctx.endpoint : ctx.region ? `S3 in ${ctx.region}` : 'S3';
}

function bucketName(ctx: ErrorContext): string {
  return ctx.bucket ? `bucket "${ctx.bucket}"` : 'the bucket';
}

/** The region S3 says the bucket is in, from a 301's header or an AuthorizationHeaderMalformed body. */
export function expectedRegionOf(err: unknown): string | undefined {
  const e = asRaw(err);
  const fromHeader = header(e, 'x-amz-bucket-region');
  if (fromHeader) return fromHeader;
  if (typeof e.Region === 'string' && e.Region) return e.Region;
  const m = /expecting '([a-z0-9-]+)'/.exec(e.message ?? '');
  return m?.[1];
}

export function classifyError(err: unknown, ctx: ErrorContext): SluiceError {
  if (err instanceof SluiceError) return err;
  const e = asRaw(err);
  const name = e.name ?? e.Code ?? '';
  const status = statusOf(e);
  const net = networkCode(e);
  const isSts = STS_OPERATIONS.has(ctx.operation);

  if (name === 'AbortError' || net === 'ABORT_ERR') {
    return make({ code: 'aborted', actor: 'sluice', message: `The ${ctx.operation} request was cancelled.`, hint: 'Nothing to do: the work was stopped on purpose.', status: 499 }, err);
  }

  // Network-level failures first: they carry no HTTP status.
  if (status === undefined) {
    if (net === REFUSED_CODE) {
      return make({
        code: 'endpoint_refused',
        actor: 'provider',
        message: `${e.message ?? 'Sluice refused to connect.'}`,
        hint: 'Nothing was sent. If the endpoint is right, the operator can allow its address (SLUICE_ENDPOINT_ALLOWLIST, SLUICE_ALLOW_HTTP_ENDPOINTS); otherwise the recipient must correct the endpoint.',
        status: 502,
      }, err);
    }
    if (networkFailure(net) === 'unreachable') {
      return make({
        code: 'endpoint_unreachable',
        actor: ctx.endpoint ? 'recipient' : 'provider',
        message: `Could not connect to ${where(ctx)} (${net}).`,
        // Refused / unknown host / no route: the endpoint may be wrong or down (recipient), or the path
        // to it blocked (provider). Transfers retry it; only a failure on every attempt parks them.
        hint: ctx.endpoint
          ? 'Check the endpoint URL, its DNS name and that the server runs (recipient), and that the network from Sluice reaches it — firewall, proxy, DNS (provider). Transfers retry this before asking for attention.'
          : 'Check the network path from Sluice to AWS — DNS, firewall, proxy (provider). Transfers retry this before asking for attention.',
      }, err);
    }
    if (net && TLS_CODES.test(net)) {
      return make({
        code: 'endpoint_tls',
        actor: 'recipient',
        message: `The TLS certificate of ${where(ctx)} was refused (${net}).`,
        hint: 'Serve a certificate that is valid for the endpoint host name and signed by a public CA.',
      }, err);
    }
    if (networkFailure(net) === 'reset') {
      return make({ code: 'transient', actor: 'sluice', message: `The connection to ${where(ctx)} was reset (${net}).`, hint: 'Sluice retries this; if it persists, check the network path to the endpoint.' }, err);
    }
    // The client's inactivity timer (client.ts, stallTimeoutMs): the connection moved no bytes.
    const idleMs = name === 'TimeoutError' ? /timed out after (\d+) ms of inactivity/.exec(e.message ?? '')?.[1] : undefined;
    if (idleMs !== undefined) {
      return make({
        code: 'upload_stalled',
        actor: ctx.endpoint ? 'recipient' : 'provider',
        message: `The connection to ${where(ctx)} moved no bytes for ${Math.round(Number(idleMs) / 1000)} s${ctx.key ? ` while writing ${ctx.key}` : ''}; the request was abandoned.`,
        hint: 'Sluice retries it. If it repeats, check the network path to the endpoint; on a link that is slow but working, raise SLUICE_UPLOAD_STALL_SECONDS.',
      }, err);
    }
    if (name === 'TimeoutError' || networkFailure(net) === 'timeout') {
      return make({
        code: 'endpoint_timeout',
        actor: ctx.endpoint ? 'recipient' : 'provider',
        message: `${where(ctx)} did not answer in time.`,
        hint: 'Check that the endpoint runs and is not overloaded (recipient), and that the network from Sluice reaches it (provider). Transfers retry this before asking for attention.',
      }, err);
    }
  }

  // STS (AssumeRoleWithWebIdentity, GetCallerIdentity).
  if (isSts) return classifySts(e, name, status, ctx, err);

  // S3.
  const msg = e.message ?? '';
  if (name === 'NoSuchBucket') {
    return make({ code: 'bucket_not_found', actor: 'recipient', message: `The ${bucketName(ctx)} does not exist${ctx.region ? ` in ${ctx.region}` : ''}.`, hint: 'Check the bucket name (it is case-sensitive) or create the bucket.', status: 404 }, err);
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || name === 'IllegalLocationConstraintException' || status === 301 || status === 307 || name === 'TemporaryRedirect') {
    const expected = expectedRegionOf(err);
    return make({
      code: 'wrong_region',
      actor: 'recipient',
      message: expected
        ? `The ${bucketName(ctx)} is in region ${expected}, not ${ctx.region ?? 'the configured region'}.`
        : `The ${bucketName(ctx)} is not in region ${ctx.region ?? 'the configured region'}.`,
      hint: expected ? `Set the destination's region to ${expected}.` : "Set the destination's region to the one shown for the bucket in the S3 console.",
    }, err);
  }
  if (name === 'RequestTimeTooSkewed') {
    return make({ code: 'clock_skew', actor: 'provider', message: 'S3 refused the request because the clock of the machine running Sluice is off by more than 15 minutes.', hint: 'Synchronise the clock (NTP) on the machines running Sluice.' }, err);
  }
  if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'InvalidToken') {
    return make({ code: 'invalid_credentials', actor: 'recipient', message: `S3 did not accept the credentials (${name}).`, hint: 'Check the access key id and secret access key, or create a new key pair for the IAM user.' }, err);
  }
  if (name === 'ExpiredToken' || name === 'TokenRefreshRequired') {
    return make({ code: 'expired_token', actor: 'sluice', message: 'S3 refused expired session credentials.', hint: 'Sluice refreshes credentials before they expire; if this repeats, check the clock of the machines running Sluice.' }, err);
  }
  if (name === 'AccessDenied' || name === 'AllAccessDisabled' || status === 403 || /^KMS\./.test(name)) {
    if (/kms/i.test(msg) || /^KMS\./.test(name)) {
      return make({
        code: 'kms_denied',
        actor: 'recipient',
        message: `Writing to ${bucketName(ctx)} needs its KMS key, and ${ctx.auth === 'access_key' ? "the access key's user" : 'the role'} may not use it.`,
        hint: `Allow kms:GenerateDataKey and kms:Decrypt on the bucket's KMS key, in ${grantee(ctx)} and in the key policy (or give the destination that key ARN to get the statement).`,
        status: 403,
      }, err);
    }
    if (ctx.operation === 'delete_object') {
      return make({ code: 'access_denied_delete', actor: 'recipient', message: `Access denied deleting an object in ${bucketName(ctx)}.`, hint: `Allow s3:DeleteObject on arn:aws:s3:::${ctx.bucket ?? 'BUCKET'}/* in ${grantee(ctx)} (only the connection test deletes, its own test object; deliveries never need it).`, status: 403 }, err);
    }
    if (ctx.operation === 'abort_multipart') {
      return make({ code: 'access_denied_abort', actor: 'recipient', message: `Access denied aborting an incomplete upload in ${bucketName(ctx)}.`, hint: 'Add a lifecycle rule with AbortIncompleteMultipartUpload to the bucket so abandoned parts are removed.', status: 403 }, err);
    }
    return make({
      code: 'access_denied_put',
      actor: 'recipient',
      message: `Access denied writing to ${bucketName(ctx)}.`,
      hint:
        ctx.auth === 'access_key'
          ? `Allow s3:PutObject on arn:aws:s3:::${ctx.bucket ?? 'BUCKET'}/* in ${grantee(ctx)}, and check that no bucket policy denies it and that the bucket belongs to the account of that user.`
          : `Allow s3:PutObject on arn:aws:s3:::${ctx.bucket ?? 'BUCKET'}/* in ${grantee(ctx)}, and check that no bucket policy denies it and that the bucket belongs to the account in the role ARN.`,
      status: 403,
    }, err);
  }
  if (name === 'PreconditionFailed' || status === 412) {
    return make({ code: 'object_exists', actor: 'sluice', message: `An object already exists at ${ctx.key ? `"${ctx.key}"` : 'the key'}; Sluice never overwrites.`, hint: 'Nothing was changed. A retry writes under a new key.', status: 409 }, err);
  }
  if (name === 'ConditionalRequestConflict' || status === 409) {
    return make({ code: 'write_conflict', actor: 'sluice', message: 'A concurrent write to the same key was in progress.', hint: 'Sluice retries this.', status: 409 }, err);
  }
  if (name === 'NotImplemented' || status === 501) {
    return make({ code: 'conditional_writes_unsupported', actor: 'provider', message: `${where(ctx)} does not implement a request feature Sluice sent (conditional writes or checksums).`, hint: "Turn off conditional writes (and request checksums) for this destination's endpoint.", status: 502 }, err);
  }
  if (THROTTLING.has(name) || status === 503 || status === 429) {
    return make({ code: 'throttled', actor: 'sluice', message: `${where(ctx)} asked Sluice to slow down (${name || status}).`, hint: 'Sluice backs off and retries; reduce concurrency if it persists.', status: 503 }, err);
  }
  if (SERVER_TRANSIENT.has(name) || (status !== undefined && status >= 500)) {
    return make({ code: 'transient', actor: 'sluice', message: `${where(ctx)} had a temporary failure (${name || status}).`, hint: 'Sluice retries this; if it persists, check the store\'s status.', status: 502 }, err);
  }
  if (name === 'InvalidBucketName' || name === 'InvalidArgument' || name === 'KeyTooLongError') {
    return make({ code: 'invalid_config', actor: 'recipient', message: `S3 refused the request: ${msg || name}.`, hint: 'Check the bucket name and prefix of the destination.', status: 400 }, err);
  }
  if (name === 'NoSuchUpload') {
    return make({ code: 'upload_lost', actor: 'sluice', message: 'The multipart upload disappeared before it completed (a lifecycle rule may have removed it).', hint: 'Sluice writes the file again under a new key.' }, err);
  }
  return make({
    code: 'request_rejected',
    actor: 'sluice',
    message: `${where(ctx)} refused ${ctx.operation}${status ? ` with HTTP ${status}` : ''}${name ? ` (${name})` : ''}.`,
    hint: 'See the Sluice log for the full response; report it if it repeats.',
  }, err);
}

function classifySts(e: RawError, rawName: string, status: number | undefined, ctx: ErrorContext, err: unknown): SluiceError {
  const msg = e.message ?? '';
  // The STS client names its errors after the model's shapes (InvalidIdentityTokenException); the wire
  // codes (InvalidIdentityToken) come without the suffix. Compare the codes.
  const name = rawName.replace(/Exception$/, '');
  if (name === 'IDPCommunicationError' || (name === 'InvalidIdentityToken' && /retrieve verification key/i.test(msg))) {
    return make({
      code: 'idp_unreachable',
      actor: 'provider',
      message: "AWS could not fetch Sluice's OpenID configuration or signing keys.",
      hint: "Make Sluice's issuer URL (/.well-known/openid-configuration and its JWKS) publicly reachable over HTTPS and answering within 5 seconds.",
    }, err);
  }
  if (name === 'ExpiredToken') {
    return make({ code: 'expired_token', actor: 'provider', message: "STS refused Sluice's identity token as expired.", hint: 'Synchronise the clock (NTP) of the machines running Sluice; tokens are minted fresh for every call.', status: 400 }, err);
  }
  if (name === 'InvalidIdentityToken' && /no openidconnect provider/i.test(msg)) {
    return make({ code: 'oidc_provider_missing', actor: 'recipient', message: "The role's account has no IAM OIDC identity provider for Sluice's issuer.", hint: "Create the IAM OIDC identity provider with the issuer URL and the destination's audience and probe audience as client ids (`sluice policy <destination>` shows them), in the role's account; the role's trust policy must name that provider.", status: 400 }, err);
  }
  if (name === 'InvalidIdentityToken' || name === 'IDPRejectedClaim') {
    return make({ code: 'invalid_token', actor: 'provider', message: `STS did not accept Sluice's identity token (${name}).`, hint: "Check Sluice's identity configuration; for an OIDC issuer, the audience must be a client id of the IAM OIDC provider.", status: 400 }, err);
  }
  if (name === 'RegionDisabled') {
    return make({ code: 'sts_region_disabled', actor: 'recipient', message: `STS is deactivated in ${ctx.region ?? 'this region'} for the role's account.`, hint: 'Activate STS for this region in the IAM console (Account settings).', status: 403 }, err);
  }
  if (name === 'InvalidClientTokenId' || name === 'SignatureDoesNotMatch') {
    return make({ code: 'invalid_credentials', actor: 'recipient', message: `AWS did not accept the access key (${name}).`, hint: 'Check the access key id and secret access key, or create a new key pair for the IAM user.', status: 403 }, err);
  }
  if (name === 'RequestTimeTooSkewed' || /skew/i.test(msg)) {
    return make({ code: 'clock_skew', actor: 'provider', message: 'STS refused the request because the clock of the machine running Sluice is off.', hint: 'Synchronise the clock (NTP) on the machines running Sluice.' }, err);
  }
  if (THROTTLING.has(name) || status === 429) {
    return make({ code: 'throttled', actor: 'sluice', message: 'STS asked Sluice to slow down.', hint: 'Sluice backs off and retries.', status: 503 }, err);
  }
  if (status !== undefined && status >= 500) {
    return make({ code: 'transient', actor: 'sluice', message: `STS had a temporary failure (${name || status}).`, hint: 'Sluice retries this.', status: 502 }, err);
  }
  if (name === 'ValidationError' || name === 'MalformedPolicyDocument' || name === 'PackedPolicyTooLarge') {
    return make({ code: 'invalid_config', actor: 'provider', message: `STS refused the request parameters: ${msg || name}.`, hint: "Check the role ARN and the role's maximum session duration.", status: 400 }, err);
  }
  // AccessDenied on AssumeRoleWithWebIdentity: the token is fine but the trust policy does not match.
  // Ceph RGW answers every rejection as a 403 in S3's error shape (the SDK reports it as Unknown).
  if (name === 'AccessDenied' || status === 403 || (status !== undefined && status >= 400)) {
    return make({
      code: 'role_not_assumable',
      actor: 'recipient',
      message: "The role's trust policy does not let Sluice assume it for this destination.",
      hint: "Check the role ARN, and paste the trust policy Sluice generated for this destination (it names Sluice's identity and this destination's audience).",
      status: 403,
    }, err);
  }
  return make({ code: 'request_rejected', actor: 'sluice', message: `STS call failed${name ? ` (${name})` : ''}.`, hint: 'See the Sluice log for details; report it if it repeats.' }, err);
}

/** True when retrying the same request later may succeed (core/transient.ts: throttling, 5xx, resets, timeouts, outages). */
export function isTransient(err: unknown, ctx: ErrorContext = { operation: 'put_object' }): boolean {
  const classified = err instanceof SluiceError ? err : classifyError(err, ctx);
  return isTransientCode(classified.code);
}
