import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { S3_ERROR_CODES, classifyError, isTransient, type ErrorContext } from '../../src/destinations/s3/errors.js';
import { SluiceError } from '../../src/core/errors.js';

/** Errors shaped as the SDK throws them: `name` is the service's error code, status in $metadata. */
function service(name: string, status: number, message = '', extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const e = Object.assign(new Error(message), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, ...extra });
  Object.defineProperty(e, '$response', { value: { statusCode: status, headers }, enumerable: false });
  return e;
}

function network(code: string, name = 'Error') {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:9`), { code, name });
}

const put: ErrorContext = { operation: 'put_object', bucket: 'acme', region: 'us-east-1' };
const del: ErrorContext = { operation: 'delete_object', bucket: 'acme', region: 'us-east-1' };
const assume: ErrorContext = { operation: 'assume_role', region: 'us-east-1' };

function code(err: unknown, ctx: ErrorContext): string {
  return classifyError(err, ctx).code;
}

describe('S3 error classification', () => {
  it('names the expected region on a 301 PermanentRedirect and on AuthorizationHeaderMalformed', () => {
    const redirect = classifyError(service('PermanentRedirect', 301, 'The bucket you are attempting to access must be addressed using the specified endpoint.', {}, { 'x-amz-bucket-region': 'eu-central-1' }), put);
    assert.equal(redirect.code, 'wrong_region');
    assert.equal(redirect.actor, 'recipient');
    assert.match(redirect.message, /eu-central-1/);
    assert.match(redirect.hint ?? '', /eu-central-1/);
    assert.equal(redirect.docs, 'docs/errors.md#ct-wrong_region');
    const malformed = classifyError(service('AuthorizationHeaderMalformed', 400, "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-south-1'", { Region: 'ap-south-1' }), put);
    assert.equal(malformed.code, 'wrong_region');
    assert.match(malformed.hint ?? '', /ap-south-1/);
  });

  it('separates access denied on put, on delete, and by KMS', () => {
    assert.equal(code(service('AccessDenied', 403, 'Access Denied'), put), 'access_denied_put');
    assert.equal(code(service('AccessDenied', 403, 'Access Denied'), del), 'access_denied_delete');
    assert.equal(code(service('AccessDenied', 403, 'User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: kms:GenerateDataKey on this resource'), put), 'kms_denied');
    assert.equal(code(service('KMS.DisabledException', 400, 'key disabled'), put), 'kms_denied');
    assert.equal(code(service('AccessDenied', 403, 'Access Denied'), { operation: 'abort_multipart' }), 'access_denied_abort');
  });

  it('recognises missing buckets, skewed clocks, bad keys, existing objects and unsupported features', () => {
    assert.equal(code(service('NoSuchBucket', 404, 'The specified bucket does not exist'), put), 'bucket_not_found');
    assert.equal(code(service('RequestTimeTooSkewed', 403, 'The difference between the request time and the current time is too large.'), put), 'clock_skew');
    assert.equal(code(service('InvalidAccessKeyId', 403, 'nope'), put), 'invalid_credentials');
    assert.equal(code(service('SignatureDoesNotMatch', 403, 'nope'), put), 'invalid_credentials');
    assert.equal(code(service('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold'), put), 'object_exists');
    assert.equal(code(service('NotImplemented', 501, 'A header you provided implies functionality that is not implemented'), put), 'conditional_writes_unsupported');
  });

  it('marks throttling, 5xx, resets and timeouts as transient, and nothing a recipient must fix', () => {
    for (const [err, expected] of [
      [service('SlowDown', 503, 'Please reduce your request rate.'), 'throttled'],
      [service('InternalError', 500, 'We encountered an internal error.'), 'transient'],
      [service('BadGateway', 502), 'transient'],
      [service('RequestTimeout', 400, 'Your socket connection to the server was not read from or written to within the timeout period.'), 'transient'],
      [service('ConditionalRequestConflict', 409), 'write_conflict'],
      [network('ECONNRESET', 'TimeoutError'), 'transient'],
      [network('EPIPE'), 'transient'],
      [Object.assign(new Error('socket did not establish a connection'), { name: 'TimeoutError' }), 'endpoint_timeout'],
      [network('ETIMEDOUT', 'TimeoutError'), 'endpoint_timeout'],
      [network('ECONNREFUSED'), 'endpoint_unreachable'],
      [network('ENOTFOUND'), 'endpoint_unreachable'],
    ] as const) {
      assert.equal(code(err, { ...put, endpoint: 'https://s3.example.com' }), expected);
      assert.equal(isTransient(err), true, expected);
    }
    for (const err of [service('AccessDenied', 403), service('NoSuchBucket', 404), service('PreconditionFailed', 412), network('CERT_HAS_EXPIRED')]) {
      assert.equal(isTransient(err), false, err.name);
    }
    assert.equal(code(network('DEPTH_ZERO_SELF_SIGNED_CERT'), put), 'endpoint_tls');
  });

  it('reports a cancelled request as aborted, not as a failure to retry', () => {
    const err = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    assert.equal(code(err, put), 'aborted');
    assert.equal(isTransient(err), false);
  });

  it('passes SluiceErrors through unchanged', () => {
    const e = new SluiceError({ code: 'invalid_config', message: 'x' });
    assert.equal(classifyError(e, put), e);
  });
});

describe('STS error classification', () => {
  it('tells a trust-policy mismatch from token problems', () => {
    assert.equal(code(service('AccessDenied', 403, 'Not authorized to perform sts:AssumeRoleWithWebIdentity'), assume), 'role_not_assumable');
    // Ceph RGW: every rejection is a 403 in S3's error shape, which the STS client cannot name.
    assert.equal(code(service('Unknown', 403, 'UnknownError'), assume), 'role_not_assumable');
    assert.equal(code(service('ExpiredTokenException', 400, 'Token expired: current date/time 1 must be before the expiration date/time 0'), assume), 'expired_token');
    assert.equal(code(service('InvalidIdentityToken', 400, 'Incorrect token audience'), assume), 'invalid_token');
    assert.equal(code(service('IDPRejectedClaim', 403, 'rejected'), assume), 'invalid_token');
    // The STS client names errors after its model's shapes.
    assert.equal(code(service('InvalidIdentityTokenException', 400, 'Incorrect token audience'), assume), 'invalid_token');
    assert.equal(code(service('IDPRejectedClaimException', 403, 'rejected'), assume), 'invalid_token');
    assert.equal(code(service('IDPCommunicationErrorException', 400, 'timeout'), assume), 'idp_unreachable');
    assert.equal(code(service('RegionDisabledException', 403, 'STS is not activated'), assume), 'sts_region_disabled');
    assert.equal(code(service('InvalidIdentityToken', 400, 'No OpenIDConnect provider found in your account for https://sluice.example.com'), assume), 'oidc_provider_missing');
  });

  it('sees an unreachable issuer as idp_unreachable, which is transient', () => {
    const a = service('InvalidIdentityToken', 400, "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements");
    const b = service('IDPCommunicationError', 400, 'timeout');
    assert.equal(code(a, assume), 'idp_unreachable');
    assert.equal(code(b, assume), 'idp_unreachable');
    assert.equal(isTransient(b, assume), true);
    const c = classifyError(a, assume);
    assert.equal(c.actor, 'provider');
  });

  it('covers disabled regions, throttling, bad parameters and clock skew', () => {
    assert.equal(code(service('RegionDisabledException', 403, 'STS is not activated'), assume), 'sts_region_disabled');
    assert.equal(code(service('Throttling', 400, 'Rate exceeded'), assume), 'throttled');
    assert.equal(code(service('ValidationError', 400, 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'), assume), 'invalid_config');
    assert.equal(code(service('InvalidClientTokenId', 403, 'The security token included in the request is invalid.'), { operation: 'caller_identity' }), 'invalid_credentials');
    assert.equal(code(service('SignatureDoesNotMatch', 403, 'Signature expired: 20260101T000000Z is now earlier than ... (skew)'), { operation: 'caller_identity' }), 'invalid_credentials');
    assert.equal(code(network('ECONNREFUSED'), assume), 'endpoint_unreachable');
  });

  it('never puts secrets in messages', () => {
    const e = classifyError(service('InvalidIdentityToken', 400, 'bad token'), assume);
    assert.doesNotMatch(JSON.stringify(e), /eyJ/);
  });
});

describe('error documentation', () => {
  it('has an entry in docs/errors.md for every code', () => {
    const readme = fs.readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const c of S3_ERROR_CODES) assert.ok(readme.includes(`<a id="ct-${c}"></a>`), `docs/errors.md lacks #ct-${c}`);
  });
});
