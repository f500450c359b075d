/** Worker and transfer settings from the environment: defaults, and one clear error for a bad value. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SluiceError } from '../../src/core/errors.js';
import { loadJobSettings, loadProgressIntervalMs } from '../../src/jobs/settings.js';

test('progress is recorded every 2 s by default, as often as SLUICE_PROGRESS_SECONDS says otherwise', () => {
  assert.equal(loadProgressIntervalMs({}), 2000);
  assert.equal(loadProgressIntervalMs({ SLUICE_PROGRESS_SECONDS: '0.5' }), 500);
  assert.throws(
    () => loadProgressIntervalMs({ SLUICE_PROGRESS_SECONDS: '0' }),
    (err: unknown) => err instanceof SluiceError && /SLUICE_PROGRESS_SECONDS: Too small/.test(err.message),
  );
});

test('a heartbeat slower than half the dead-after bound is refused', () => {
  assert.equal(loadJobSettings({}).shutdownGraceMs, 30_000);
  assert.throws(() => loadJobSettings({ SLUICE_WORKER_HEARTBEAT_SECONDS: '40', SLUICE_WORKER_DEAD_AFTER_SECONDS: '60' }), /half/);
});
