/** Connection tests: of a saved destination (recorded) and of a configuration before it is saved. */
import { z } from 'zod';
import { testSavedDestination, testUnsavedDestination } from '../../control/destination-tests.js';
import { DestinationConfigInput } from '../../control/destinations.js';
import { IdParams, bearer, errorResponses } from '../schemas.js';
import type { RoutePlugin } from '../types.js';
import { Destination } from './destinations.js';

export const ConnectionTestResult = z
  .object({
    passed: z.boolean().describe('True only when no step failed'),
    steps: z.array(
      z.object({
        step: z.enum(['validate_config', 'assume_role', 'audience_probe', 'put_object', 'delete_object']),
        status: z.enum(['passed', 'failed', 'skipped']),
        code: z.string().optional().describe('Stable error code when failed'),
        actor: z.enum(['recipient', 'provider', 'sluice']).optional().describe('Who must act'),
        message: z.string().describe('What happened and, when failed, what to change'),
        docs: z.string().optional().describe('README anchor'),
        durationMs: z.number(),
      }),
    ),
    accountId: z.string().optional(),
    assumedRoleArn: z.string().optional(),
  })
  .describe('ConnectionTestResult');

const tags = ['connection tests'];

export const connectionTestRoutes: RoutePlugin = {
  name: 'connection-tests',
  register(app, { pool, secrets, config, identity, log }) {
    const deps = { config, identity, log };
    app.post(
      '/v1/destinations/:id/test',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Run the connection test; a pass makes the destination active',
          params: IdParams,
          response: { 200: ConnectionTestResult.extend({ destination: Destination }), ...errorResponses },
        },
      },
      async (req) => {
        const { result, destination } = await testSavedDestination(pool, secrets, deps, req.params.id);
        return { ...result, destination };
      },
    );
    app.post(
      '/v1/destinations/test',
      {
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
