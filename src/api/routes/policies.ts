/** Trust and permissions policies for recipients to paste into IAM. */
import { z } from 'zod';
import { BucketPoliciesInput, policiesForBucket, policiesForDestination } from '../../control/destination-policies.js';
import { IdParams, bearer, errorResponses } from '../schemas.js';
import { access } from '../access.js';
import type { RoutePlugin } from '../types.js';

const PolicyDocument = z.object({
  Version: z.literal('2012-10-17'),
  Statement: z.array(
    z.object({
      Effect: z.literal('Allow'),
      Action: z.array(z.string()),
      Principal: z.object({ Federated: z.string() }).optional(),
      Resource: z.union([z.string(), z.array(z.string())]).optional(),
      Condition: z.object({ StringEquals: z.record(z.string(), z.string()) }).optional(),
    }),
  ),
});

export const Policies = z
  .object({
    trustPolicy: PolicyDocument.describe("The role's trust policy: Sluice's identity and this destination's audience"),
    permissionsPolicy: PolicyDocument.describe('s3:PutObject and s3:DeleteObject on the bucket (or prefix), KMS when set'),
    oidcProvider: z
      .object({ url: z.string(), clientIds: z.array(z.string()) })
      .optional()
      .describe('The IAM OIDC identity provider to register (Sluice as its own issuer only)'),
    notes: z.array(z.string()),
  })
  .describe('Policies');

const tags = ['policies'];

export const policyRoutes: RoutePlugin = {
  name: 'policies',
  register(app, { pool, identity }) {
    app.get(
      '/v1/destinations/:id/policies',
      {
        config: { access: access.destination(false) },
        schema: {
          tags,
          security: bearer,
          summary: "The destination's trust and permissions policies, audience filled in",
          params: IdParams,
          response: { 200: Policies, ...errorResponses },
        },
      },
      async (req) => policiesForDestination(pool, identity, req.params.id),
    );
    app.post(
      '/v1/policies',
      {
        config: { access: access.none(false) },
        schema: {
          tags,
          security: bearer,
          summary: 'Policies for a bucket before a destination exists (the audience is a placeholder)',
          body: BucketPoliciesInput,
          response: { 200: Policies, ...errorResponses },
        },
      },
      async (req) => policiesForBucket(identity, req.body),
    );
  },
};
