/**
 * Connection tests: of a saved destination (a `connection_test` job on the queue, run by a worker and
 * recorded) and of a configuration before it is saved (run here, in the API process).
 */
import { z } from 'zod';
import { testUnsavedDestination } from '../../control/destination-tests.js';
import { DestinationConfigInput } from '../../control/destination-input.js';
import { getDestination } from '../../control/destination-store.js';
import {
  awaitConnectionTest,
  getConnectionTest,
  listConnectionTests,
  requestConnectionTest,
  runError,
  type AwaitOptions,
} from '../../jobs/connection-tests.js';
import { loadJobSettings } from '../../jobs/settings.js';
import { IdParams, bearer, errorResponses } from '../schemas.js';
import { access } from '../access.js';
import type { RoutePlugin } from '../types.js';
import { Destination } from './destinations.js';

export const ConnectionTestResult = z
  .object({
    passed: z.boolean().describe('True only when no step failed'),
    steps: z.array(
      z.object({
        step: z.enum(['validate_config', 'assume_role', 'audience_probe', 'put_object', 'delete_object']),
        status: z.enum(['passed', 'failed', 'skipped', 'warning']).describe('warning: the step did what delivery needs and left something for the recipient to know (e.g. test_object_left_behind)'),
        code: z.string().optional().describe('Stable code when failed or warning'),
        actor: z.enum(['recipient', 'provider', 'sluice']).optional().describe('Who must act'),
        message: z.string().describe('What happened and, when failed, what to change'),
        docs: z.string().optional().describe('Where the code is explained (docs/errors.md#ct-<code>)'),
        durationMs: z.number(),
      }),
    ),
    accountId: z.string().optional(),
    assumedRoleArn: z.string().optional(),
  })
  .describe('ConnectionTestResult');

const time = z.string().describe('ISO 8601');

export const ConnectionTestRun = z
  .object({
    id: z.string().describe('ctt_…'),
    destinationId: z.string(),
    status: z
      .enum(['queued', 'running', 'passed', 'failed', 'error'])
      .describe('queued → running → passed | failed; error: the test could not run (see `error`)'),
    requestedAt: time,
    startedAt: time.nullable(),
    finishedAt: time.nullable(),
    result: ConnectionTestResult.nullable().describe('The steps: those done so far while running (passed is false until the end), all once passed or failed'),
    error: z
      .object({ code: z.string(), message: z.string(), actor: z.string(), hint: z.string().optional(), at: z.string() })
      .nullable()
      .describe('Why the test could not run (status error)'),
  })
  .describe('ConnectionTestRun');

const TestParams = z.strictObject({
  id: IdParams.shape.id,
  testId: z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
});

const TestQuery = z.strictObject({
  wait: z
    .enum(['true', 'false'])
    .default('true')
    .describe('false: answer 202 with the queued test at once instead of waiting for its result'),
  waitSeconds: z.coerce
    .number()
    .min(0.1, 'must be at least 0.1')
    .max(600, 'must be at most 600')
    .optional()
    .describe('How long to wait for the result (default SLUICE_CONNECTION_TEST_WAIT_SECONDS, 60)'),
});

const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1, 'must be at least 1').max(50, 'must be at most 50').default(20),
});

const tags = ['connection tests'];

export const connectionTestRoutes: RoutePlugin = {
  name: 'connection-tests',
  register(app, { pool, config, identity, log }) {
    const deps = { config, identity, log };
    const wait: AwaitOptions = {
      timeoutMs: config.SLUICE_CONNECTION_TEST_WAIT_SECONDS * 1000,
      deadAfterMs: loadJobSettings().deadAfterMs,
    };
    app.post(
      '/v1/destinations/:id/test',
      {
        config: { access: access.destination(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Run the connection test on a worker; a pass makes the destination active',
          description:
            'Queues a connection test job (a request while one is queued joins it) and waits for its result, up to ' +
            '`waitSeconds` (default SLUICE_CONNECTION_TEST_WAIT_SECONDS, 60 s): 200 with the steps. No worker took it in time: 503 `no_worker` or ' +
            '`workers_busy`; still running: 504 `connection_test_timeout` (the test is not cancelled). With `wait=false`: ' +
            '202 with the queued test; follow `Location` (GET /v1/destinations/{id}/tests/{testId}) for its result.',
          params: IdParams,
          querystring: TestQuery,
          response: {
            200: ConnectionTestResult.extend({ testId: z.string(), destination: Destination }),
            202: ConnectionTestRun,
            ...errorResponses,
          },
        },
      },
      async (req, reply) => {
        const { run } = await requestConnectionTest(pool, req.params.id);
        if (req.query.wait === 'false') {
          return reply.code(202).header('location', `/v1/destinations/${run.destinationId}/tests/${run.id}`).send(run);
        }
        const done = await awaitConnectionTest(pool, run, {
          ...wait,
          ...(req.query.waitSeconds !== undefined ? { timeoutMs: req.query.waitSeconds * 1000 } : {}),
        });
        if (done.status === 'error' || !done.result) throw runError(done);
        return reply.code(200).send({ ...done.result, testId: done.id, destination: await getDestination(pool, done.destinationId) });
      },
    );
    app.get(
      '/v1/destinations/:id/tests/:testId',
      {
        config: { access: access.destination(false) },
        schema: {
          tags,
          security: bearer,
          summary: 'Show one connection test: its status and, once finished, its steps',
          params: TestParams,
          response: { 200: ConnectionTestRun, ...errorResponses },
        },
      },
      async (req) => getConnectionTest(pool, req.params.id, req.params.testId),
    );
    app.get(
      '/v1/destinations/:id/tests',
      {
        config: { access: access.destination(false) },
        schema: {
          tags,
          security: bearer,
          summary: "The destination's recent connection tests, newest first (the last 50 are kept)",
          params: IdParams,
          querystring: ListQuery,
          response: { 200: z.object({ tests: z.array(ConnectionTestRun) }), ...errorResponses },
        },
      },
      async (req) => ({ tests: await listConnectionTests(pool, req.params.id, req.query.limit) }),
    );
    // Stays in the API process: the configuration carries the secret access key, which must never be
    // put in a job payload (the queue's table is readable to anyone with the control store).
    app.post(
      '/v1/destinations/test',
      {
        config: { access: access.bodyRecipient(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Test a configuration before saving it (validated like a create; nothing is stored)',
          body: DestinationConfigInput,
          response: { 200: ConnectionTestResult, ...errorResponses },
        },
      },
      async (req) => testUnsavedDestination(deps, req.body),
    );
  },
};
