/**
 * Connection tests of a saved destination (result recorded: a pass makes it active) and of an
 * unsaved configuration (validated exactly like a create; nothing stored).
 */
import { runConnectionTest, type ConnectionTestDeps, type ConnectionTestResult } from '../destinations/s3/connection-test.js';
import { newAudience } from '../core/audience.js';
import type { IdentitySource } from '../core/identity.js';
import { currentFingerprint } from './delivery-gate.js';
import type { Logger } from '../core/log.js';
import { withSnapshot, type Pool } from './db.js';
import { endpointPolicy, unsavedS3Config, validateDestinationConfig, type ValidateDeps } from './destination-rules.js';
import { loadS3Config, recordConnectionTest, type DestinationView } from './destination-store.js';
import type { SecretBox } from './secrets.js';

export interface ConnectionTestRunDeps extends ValidateDeps {
  identity: IdentitySource;
  log: Logger;
  /** Per-call timeout of the test's requests (the S3 code's default otherwise). */
  timeoutMs?: number;
  /** The steps so far, after each step (see ConnectionTestDeps.onStep). */
  onStep?: ConnectionTestDeps['onStep'];
}

export async function testSavedDestination(
  db: Pool,
  secrets: SecretBox,
  deps: ConnectionTestRunDeps,
  id: string,
): Promise<{ result: ConnectionTestResult; destination: DestinationView }> {
  // The fingerprint of exactly what is tested: read with the settings in one snapshot. A change
  // committed later leaves the destination's fingerprint different from this one, and the gate asks
  // for another test (two reads around the load could both see settings changed and changed back).
  const { config, fingerprint } = await withSnapshot(db, async (tx) => ({
    fingerprint: await currentFingerprint(tx, id),
    config: await loadS3Config(tx, secrets, id),
  }));
  const result = await runConnectionTest(config, {
    identity: deps.identity,
    log: deps.log,
    endpointPolicy: endpointPolicy(deps.config),
    ...(deps.timeoutMs ? { timeoutMs: deps.timeoutMs } : {}),
    ...(deps.onStep ? { onStep: deps.onStep } : {}),
  });
  const failed = result.steps.find((s) => s.status === 'failed');
  const destination = await recordConnectionTest(db, id, {
    passed: result.passed,
    fingerprint,
    ...(failed ? { error: { step: failed.step, code: failed.code, actor: failed.actor, message: failed.message, docs: failed.docs } } : {}),
    ...(result.accountId ? { accountId: result.accountId } : {}),
  });
  return { result, destination };
}

/**
 * Tests a configuration before it is saved. Its audience is a fresh one: a role whose trust policy
 * pins an audience can only pass once the destination exists (test the saved destination then).
 */
export async function testUnsavedDestination(deps: ConnectionTestRunDeps, input: unknown): Promise<ConnectionTestResult> {
  const settings = await validateDestinationConfig(input, deps);
  return runConnectionTest(unsavedS3Config(settings, newAudience()), {
    identity: deps.identity,
    log: deps.log,
    endpointPolicy: endpointPolicy(deps.config),
    ...(deps.timeoutMs ? { timeoutMs: deps.timeoutMs } : {}),
  });
}
