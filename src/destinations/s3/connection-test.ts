/**
 * The connection test (docs/trust.md): validate the configuration, assume the role with the
 * destination's audience, check that the probe audience — shaped exactly like another destination's —
 * is refused (the trust policy pins the audience), put a test object with If-None-Match, delete it (a
 * denied delete is only a warning: deliveries never delete). Each step reports a code, who must act,
 * one sentence on what to change and its entry in docs/errors.md; after a failed step the rest are skipped.
 *
 * Nothing else is ever called on the destination: no ListBucket, no GetObject, no HeadBucket.
 */
import crypto from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SluiceError, type FieldProblem } from '../../core/errors.js';
import { probeAudience } from '../../core/audience.js';
import type { IdentitySource } from '../../core/identity.js';
import type { Logger } from '../../core/log.js';
import { transience } from '../../core/transient.js';
import { createS3Client, ownerParams } from './client.js';
import { assumeRoleWithAudience, callerAccount, type AssumedRole } from './credentials.js';
import { classifyError, docsAnchor, type ErrorContext, type S3Operation } from './errors.js';
import {
  checkAccessKeyId,
  checkEndpoint,
  checkKmsKeyArn,
  checkPlacement,
  checkRoleArn,
  checkSecretAccessKey,
  parseRoleArn,
} from './rules.js';
import type { EndpointPolicy, NetworkGuard, Resolver } from './network.js';
import type { ConnectionTestResult, ConnectionTestStep, ConnectionTestStepName, S3DestinationConfig } from './types.js';

export type { ConnectionTestResult, ConnectionTestStep } from './types.js';

export interface ConnectionTestDeps {
  identity: IdentitySource;
  log: Logger;
  endpointPolicy: EndpointPolicy;
  /** Test hook: resolves endpoint hosts (system DNS otherwise), at validation and at every connection. */
  resolver?: Resolver;
  /** Connection and request timeout of each call (default 10 s). */
  timeoutMs?: number;
  /** Told the steps so far after each one, so a watcher (the setup page) can show them as they run. */
  onStep?: (steps: readonly ConnectionTestStep[]) => Promise<void>;
}

/** A step that did what the test needs but left something for the recipient to know (status `warning`). */
class StepWarning extends SluiceError {}

/** Where the test object goes: `<prefix>/_sluice/connection-test/<uuid>.txt`. */
export function connectionTestKey(prefix: string, id: string = crypto.randomUUID()): string {
  return `${prefix ? `${prefix}/` : ''}_sluice/connection-test/${id}.txt`;
}

/** Every configuration problem, one per field, with the rules the API and CLI use. */
export async function validateDestination(config: S3DestinationConfig, policy: EndpointPolicy, resolver?: Resolver): Promise<FieldProblem[]> {
  const problems: FieldProblem[] = [];
  const add = (field: string, message: string | null) => {
    if (message) problems.push({ field, message });
  };
  const custom = Boolean(config.endpoint);
  problems.push(...checkPlacement(config, custom));
  if (config.auth.kind === 'role') {
    add('roleArn', checkRoleArn(config.auth.roleArn, custom));
  } else {
    add('accessKeyId', checkAccessKeyId(config.auth.accessKeyId));
    add('secretAccessKey', checkSecretAccessKey(config.auth.secretAccessKey));
  }
  if (config.kmsKeyArn) add('kmsKeyArn', checkKmsKeyArn(config.kmsKeyArn));
  if (config.endpoint) {
    add('endpoint', await checkEndpoint(config.endpoint, policy, resolver));
  }
  return problems;
}

export async function runConnectionTest(config: S3DestinationConfig, deps: ConnectionTestDeps): Promise<ConnectionTestResult> {
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const network: NetworkGuard = { policy: deps.endpointPolicy, ...(deps.resolver ? { resolver: deps.resolver } : {}) };
  const log = deps.log.child({ destinationId: config.id, connectionTest: true });
  const steps: ConnectionTestStep[] = [];
  const result: ConnectionTestResult = { passed: false, steps };
  let failed: ConnectionTestStepName | undefined;

  const ctx = (operation: S3Operation, key?: string) => ({
    operation,
    bucket: config.bucket,
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(key ? { key } : {}),
    auth: config.auth.kind,
  });

  async function reported(): Promise<void> {
    // Progress is a courtesy to whoever watches: failing to record it must not fail the test.
    await deps.onStep?.([...steps]).catch((err: unknown) => log.warn({ err }, 'could not record connection test progress'));
  }

  /** Runs one step unless an earlier one failed; a thrown error becomes the step's failure. */
  async function step(name: ConnectionTestStepName, operation: S3Operation, run: () => Promise<string>): Promise<void> {
    if (failed) {
      steps.push({ step: name, status: 'skipped', message: `Skipped because the ${failed.replace('_', ' ')} step failed.`, durationMs: 0 });
      return reported();
    }
    const started = performance.now();
    try {
      const message = await run();
      steps.push({ step: name, status: 'passed', message, durationMs: Math.round(performance.now() - started) });
    } catch (err) {
      if (err instanceof StepWarning) {
        steps.push({
          step: name,
          status: 'warning',
          code: err.code,
          actor: err.actor,
          message: err.hint ? `${err.message} ${err.hint}` : err.message,
          ...(err.docs ? { docs: err.docs } : {}),
          durationMs: Math.round(performance.now() - started),
        });
        log.info({ step: name, code: err.code }, 'connection test step passed with a warning');
        return;
      }
      const e = err instanceof SluiceError ? err : classifyError(err, ctx(operation));
      failed = name;
      steps.push({
        step: name,
        status: 'failed',
        code: e.code,
        actor: e.actor,
        message: e.hint ? `${e.message} ${e.hint}` : e.message,
        ...(e.docs ? { docs: e.docs } : {}),
        durationMs: Math.round(performance.now() - started),
      });
      log.info({ step: name, code: e.code, actor: e.actor }, 'connection test step failed');
    }
    await reported();
  }
  function skip(name: ConnectionTestStepName, message: string): void {
    steps.push({ step: name, status: 'skipped', message, durationMs: 0 });
  }

  await step('validate_config', 'put_object', async () => {
    const problems = await validateDestination(config, deps.endpointPolicy, deps.resolver);
    if (problems.length > 0) {
      const onlyEndpoint = problems.every((p) => p.field === 'endpoint');
      throw new SluiceError({
        code: 'invalid_config',
        actor: onlyEndpoint ? 'provider' : 'recipient',
        message: `The destination's configuration is invalid: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}.`,
        docs: docsAnchor('invalid_config'),
        details: problems,
      });
    }
    return 'Bucket, region, prefix, credentials and endpoint are well-formed.';
  });

  let assumed: AssumedRole | undefined;
  if (config.auth.kind === 'role') {
    const roleArn = config.auth.roleArn;
    await step('assume_role', 'assume_role', async () => {
      assumed = await assumeRoleWithAudience(config, config.audience, { identity: deps.identity, log, timeoutMs, network });
      if (assumed.assumedRoleArn) result.assumedRoleArn = assumed.assumedRoleArn;
      log.info({ assumedRoleArn: assumed.assumedRoleArn, subject: assumed.subject }, 'connection test assumed the role');
      return `Assumed ${assumed.assumedRoleArn ?? roleArn} with this destination's audience.`;
    });
    await step('audience_probe', 'audience_probe', async () => {
      // A token shaped exactly like another destination's (probeAudience explains why that shape): a
      // trust policy that would admit a sibling destination admits it too.
      const other = probeAudience(config.audience);
      try {
        await assumeRoleWithAudience(config, other, { identity: deps.identity, log, timeoutMs, network, sessionSuffix: 'probe' });
      } catch (err) {
        const e = err instanceof SluiceError ? err : classifyError(err, ctx('audience_probe'));
        // Only the trust policy's refusal proves the pin. AWS refuses an audience that is not a client
        // id of the OIDC provider before it reads the trust policy (InvalidIdentityToken): that
        // refusal says nothing about the policy, so the recipient must register the probe audience.
        if (e.code === 'role_not_assumable') {
          return "A token shaped like another destination's was refused: the trust policy pins this destination's audience.";
        }
        if (e.code === 'invalid_token' && deps.identity.kind !== 'google') {
          throw new SluiceError({
            code: 'probe_audience_unregistered',
            actor: 'recipient',
            message: `The identity provider refused the probe audience ${other} before the trust policy was read, so the test cannot tell whether the trust policy pins this destination's audience.`,
            hint: `Add ${other} as a client id (audience) of the IAM OIDC identity provider for Sluice's issuer, next to ${config.audience}; the trust policy must still accept only ${config.audience}.`,
            docs: docsAnchor('probe_audience_unregistered'),
          });
        }
        throw e;
      }
      throw new SluiceError({
        code: 'audience_not_pinned',
        actor: 'recipient',
        message:
          "The role also accepted a token for another audience of the same form as this destination's, so its trust policy does not pin this destination's audience (a wildcard such as sluice-*, a ForAnyValue set, or a sub-only or missing condition): another recipient's destination could use the role.",
        hint: `Replace the role's trust policy with the one Sluice generated for this destination: StringEquals on the audience ${config.audience} exactly.`,
        docs: docsAnchor('audience_not_pinned'),
      });
    });
    const account = parseRoleArn(roleArn)?.accountId;
    if (config.accountId === undefined && account) result.accountId = account;
  } else {
    skip('assume_role', 'Skipped: this destination uses an access key, so there is no role to assume.');
    skip('audience_probe', 'Skipped: an access key carries no audience to pin; use a key made for this destination only.');
  }

  let client: S3Client | undefined;
  const key = connectionTestKey(config.prefix);
  try {
    if (!failed) {
      let effective = config;
      if (config.accountId === undefined && config.auth.kind === 'access_key') {
        const learned = await callerAccount(config, { identity: deps.identity, log, timeoutMs, network });
        if (learned) {
          result.accountId = learned;
          effective = { ...config, accountId: learned };
        }
      } else if (config.accountId === undefined && result.accountId) {
        effective = { ...config, accountId: result.accountId };
      }
      const creds = assumed?.credentials;
      const auth = config.auth;
      client = createS3Client(effective, {
        credentials: async () =>
          creds ?? (auth.kind === 'access_key' ? { accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey } : Promise.reject(new Error('no credentials'))),
        network,
        connectionTimeoutMs: timeoutMs,
        requestTimeoutMs: timeoutMs,
      });
      const owner = ownerParams(effective);
      const s3 = client;
      await step('put_object', 'put_object', async () => {
        const body = Buffer.from(`Sluice connection test for destination ${config.id} at ${new Date().toISOString()}. Sluice deletes this object right away; it is safe to delete.\n`);
        const put = (): Promise<unknown> =>
          s3.send(
            new PutObjectCommand({
              Bucket: config.bucket,
              Key: key,
              Body: body,
              ContentType: 'text/plain; charset=utf-8',
              ...owner,
              ...(config.conditionalWrites ? { IfNoneMatch: '*' } : {}),
            }),
          );
        await retryPassing(put, ctx('put_object', key), (err, retried) => retried && err.code === 'object_exists');
        return `Wrote ${key}${config.conditionalWrites ? ' as a conditional create (If-None-Match: *)' : ''}.`;
      });
      await step('delete_object', 'delete_object', async () => {
        try {
          await retryPassing(() => s3.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: key, ...owner })), ctx('delete_object', key));
        } catch (err) {
          // Deliveries only ever create objects: DeleteObject serves this test's clean-up and nothing
          // else, and the README lets the recipient drop it after the first pass. Its absence is a
          // warning that names what was left behind, never a failure that stops deliveries.
          const e = err instanceof SluiceError ? err : classifyError(err, ctx('delete_object', key));
          if (e.code !== 'access_denied_delete') throw e;
          throw new StepWarning({
            code: 'test_object_left_behind',
            actor: 'recipient',
            message:
              `The test object ${key} was left behind: deleting it was denied (s3:DeleteObject is not allowed${config.auth.kind === 'role' ? " by the role's policy" : ' for this access key'}). ` +
              'Deliveries need only s3:PutObject, so the test passed.',
            hint: `Delete ${key} yourself, or allow s3:DeleteObject on it before the next test so Sluice can remove its test objects.`,
            docs: docsAnchor('test_object_left_behind'),
          });
        }
        return `Deleted ${key}. s3:DeleteObject may now be removed from ${config.auth.kind === 'role' ? "the role's policy" : "the access key's policy"}; Sluice only creates objects.`;
      });
    } else {
      await step('put_object', 'put_object', async () => '');
      await step('delete_object', 'delete_object', async () => '');
    }
  } finally {
    client?.destroy();
  }

  result.passed = steps.every((s) => s.status !== 'failed') && !failed;
  log.info({ passed: result.passed, codes: steps.filter((s) => s.code).map((s) => s.code) }, 'connection test finished');
  return result;
}

/** Attempts of a put or delete that met a passing failure (a 5xx, a reset, throttling), and the pauses between. */
const PASSING_RETRY_DELAYS_MS = [200, 600];

/**
 * Runs `fn`, again after a short pause when the store answered with a passing failure: one 500 must not
 * fail a connection test (and make a recipient chase a problem that is not theirs), while a test that
 * fails for good should still answer within seconds, so only `momentary` failures (core/transient.ts)
 * are retried, never timeouts or unreachable endpoints. `accept` may turn a retry's error into success: a conditional create whose first attempt
 * landed without an answer meets its own object (the key is new for every test).
 */
async function retryPassing(
  fn: () => Promise<unknown>,
  context: ErrorContext,
  accept: (err: SluiceError, retried: boolean) => boolean = () => false,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fn();
      return;
    } catch (raw) {
      const err = classifyError(raw, context);
      if (accept(err, attempt > 0)) return;
      const pause = PASSING_RETRY_DELAYS_MS[attempt];
      if (pause === undefined || transience(err.code) !== 'momentary') throw err;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}
