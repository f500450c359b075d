/**
 * Hard-delete tracking of a model (`deletes: track` in sluice.yaml):
 *
 *   GET  /v1/models/:name/delete-tracking   the SQL that installs it, and whether it is installed
 *   POST /v1/models/:name/delete-tracking   runs that SQL on the source (one transaction) and returns it
 *
 * The models file and the source are opened per request, as the CLI does: the API itself does not
 * otherwise read the source.
 */
import { z } from 'zod';
import { applyDeleteTracking, planDeleteTracking, type DeleteTrackingPlan } from '../../models/deletes.js';
import { openModels, sourceUrlOf } from '../../models/index.js';
import { bearer, errorResponses } from '../schemas.js';
import { access } from '../access.js';
import type { RoutePlugin } from '../types.js';

const tags = ['models'];
const Params = z.strictObject({ name: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a model name: lowercase letters, digits and underscores') });
const Plan = z
  .object({
    model: z.string(),
    relation: z.string().describe('the table the trigger is on'),
    readerRole: z.string().describe('the role Sluice reads as; granted reading and pruning the records'),
    installed: z.boolean(),
    sql: z.string().describe('what installing runs, in one transaction; safe to run again'),
  })
  .describe('DeleteTracking');

export const modelRoutes: RoutePlugin = {
  name: 'models',
  register(app, { config }) {
    const withPlan = async <T>(name: string, fn: (plan: DeleteTrackingPlan, run: (p: DeleteTrackingPlan) => Promise<void>) => Promise<T>): Promise<T> => {
      const { source, config: models } = await openModels(config.SLUICE_CONFIG, sourceUrlOf(config));
      try {
        return await fn(await planDeleteTracking(models, source.pool, name), (p) => applyDeleteTracking(p, source.pool));
      } finally {
        await source.close();
      }
    };
    app.get(
      '/v1/models/:name/delete-tracking',
      {
        config: { access: access.operator(false) },
        schema: {
          tags,
          security: bearer,
          summary: 'Show the SQL that installs hard-delete tracking for a model with `deletes: track`, and whether it is installed',
          params: Params,
          response: { 200: Plan, ...errorResponses },
        },
      },
      async (req) => withPlan(req.params.name, async (plan) => plan),
    );
    app.post(
      '/v1/models/:name/delete-tracking',
      {
        config: { access: access.operator(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Install hard-delete tracking (the SQL of the GET) on the source; returns the SQL that ran',
          params: Params,
          response: { 200: Plan, ...errorResponses },
        },
      },
      async (req) =>
        withPlan(req.params.name, async (plan, run) => {
          await run(plan);
          return { ...plan, installed: true };
        }),
    );
  },
};
