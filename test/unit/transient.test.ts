import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES } from '../../src/core/error-codes.js';
import { SluiceError } from '../../src/core/errors.js';
import { isConnectionLoss, isTransientCode, networkFailure, TRANSIENT, transience } from '../../src/core/transient.js';
import { classifyError, isTransient } from '../../src/destinations/s3/errors.js';
import { classifyFailure } from '../../src/jobs/failures.js';

test('the transient table: each code with its kind, and nothing else transient', () => {
  assert.deepEqual(
    Object.entries(TRANSIENT).sort(([a], [b]) => a.localeCompare(b)),
    [
      ['clock_skew', 'outage'],
      ['endpoint_timeout', 'outage'],
      ['endpoint_unreachable', 'outage'],
      ['identity_unavailable', 'outage'],
      ['idp_unreachable', 'outage'],
      ['issuer_unreachable', 'outage'],
      ['signing_key_unpublished', 'outage'],
      ['source_unavailable', 'outage'],
      ['throttled', 'momentary'],
      ['transfer_already_running', 'concurrency'],
      ['transfer_interrupted', 'concurrency'],
      ['transient', 'momentary'],
      ['upload_stalled', 'outage'],
      ['worker_session_lost', 'concurrency'],
      ['write_conflict', 'momentary'],
    ],
  );
  for (const code of Object.keys(TRANSIENT)) assert.ok((ERROR_CODES as readonly string[]).includes(code), `${code} is an error code`);
  for (const code of ['access_denied_put', 'bucket_not_found', 'invalid_config', 'chain_moved', 'internal', 'toString', 'constructor']) {
    assert.equal(transience(code), undefined, code);
    assert.equal(isTransientCode(code), false, code);
  }
});

test('every retry decision reads the same table: the object writer, the job queue', () => {
  for (const code of ERROR_CODES) {
    const err = new SluiceError({ code, message: 'x', actor: 'provider' });
    assert.equal(isTransient(err), isTransientCode(code), `object writer: ${code}`);
    // A provider-side failure is retried by the queue exactly when the table says it is transient.
    assert.equal(classifyFailure(err) === 'retry', isTransientCode(code), `job queue: ${code}`);
  }
});

test('network error codes: unreachable, reset, timeout', () => {
  for (const c of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']) assert.equal(networkFailure(c), 'unreachable', c);
  for (const c of ['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET']) assert.equal(networkFailure(c), 'reset', c);
  assert.equal(networkFailure('ETIMEDOUT'), 'timeout');
  assert.equal(networkFailure('EACCES'), undefined);
  assert.equal(networkFailure(undefined), undefined);
  // The S3 classification follows it.
  const sock = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(classifyError(sock('ENOTFOUND'), { operation: 'put_object', endpoint: 'https://s3.example.test' }).code, 'endpoint_unreachable');
  assert.equal(classifyError(sock('ECONNRESET'), { operation: 'put_object' }).code, 'transient');
  assert.equal(classifyError(sock('ETIMEDOUT'), { operation: 'put_object' }).code, 'endpoint_timeout');
});

test('a lost PostgreSQL connection, and what is not one', () => {
  for (const code of ['57P01', '57P02', '57P03', '08006', '08001', 'ECONNRESET', 'ECONNREFUSED']) {
    assert.equal(isConnectionLoss(Object.assign(new Error('x'), { code })), true, code);
  }
  assert.equal(isConnectionLoss(new Error('Connection terminated unexpectedly')), true);
  assert.equal(isConnectionLoss(new Error('timeout exceeded when trying to connect')), true);
  assert.equal(isConnectionLoss(Object.assign(new Error('x'), { code: '57014' })), false, 'a statement timeout is the query, not the connection');
  assert.equal(isConnectionLoss(Object.assign(new Error('x'), { code: '42P01' })), false);
  assert.equal(isConnectionLoss(null), false);
});
