import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES, isErrorCode } from '../../src/core/error-codes.js';
import { errorRecord, SluiceError } from '../../src/core/errors.js';

test('an error code outside the union does not compile (npm run typecheck checks this file)', () => {
  // @ts-expect-error 'internal_error' is not a code: the internal code is spelled `internal`.
  const e = new SluiceError({ code: 'internal_error', message: 'x' });
  assert.equal(e.code, 'internal_error', 'at run time the constructor does not check; the compiler does');
  assert.equal(isErrorCode('internal_error'), false);
  assert.equal(isErrorCode('internal'), true);
});

test('the code list has no duplicates and is in order (one code per line merges cleanly)', () => {
  assert.deepEqual([...ERROR_CODES].sort(), [...ERROR_CODES]);
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
});

test('anything thrown that is not a SluiceError is recorded as `internal`, with no stack', () => {
  const r = errorRecord(new TypeError('boom'));
  assert.deepEqual(r, { code: 'internal', actor: 'sluice', message: 'boom' });
  const dated = errorRecord(new SluiceError({ code: 'throttled', message: 'slow down', actor: 'sluice', hint: 'wait' }), new Date(0));
  assert.deepEqual(dated, { code: 'throttled', actor: 'sluice', message: 'slow down', hint: 'wait', at: '1970-01-01T00:00:00.000Z' });
});
