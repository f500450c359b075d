/** /v1/destinations: S3 buckets of recipients. Secrets go in, never come out. */
import { z } from 'zod';
import { COMPRESSIONS, DestinationCreateInput, DestinationUpdateInput, FORMATS } from '../../control/destination-input.js';
import { createDestination, deleteDestination, disableDestination, updateDestination } from '../../control/destinations.js';
import { DESTINATION_STATUSES, getDestination, listDestinations } from '../../control/destination-store.js';
import { IdParams, bearer, errorResponses } from '../schemas.js';
import { access } from '../access.js';
import type { RoutePlugin } from '../types.js';

export const Destination = z
  .object({
    id: z.string(),
    recipientId: z.string(),
    name: z.string(),
    audience: z.string().describe('Server-generated, immutable: the `aud` of tokens for this destination'),
    bucket: z.string(),
    region: z.string(),
    prefix: z.string(),
    auth: z.union([
      z.object({ kind: z.literal('role'), roleArn: z.string() }),
      z.object({
        kind: z.literal('access_key'),
        accessKeyId: z.string(),
        secretAccessKey: z.literal('set').describe('The secret is stored encrypted and never returned'),
      }),
    ]),
    accountId: z.string().nullable().describe('From the role ARN; sent as ExpectedBucketOwner'),
    endpoint: z.string().nullable(),
    forcePathStyle: z.boolean(),
    kmsKeyArn: z.string().nullable(),
    conditionalWrites: z.boolean(),
    requestChecksums: z.boolean(),
    format: z.enum(FORMATS),
    compression: z.enum(COMPRESSIONS),
    models: z.array(z.string()).nullable(),
    frequencyMinutes: z.number().int().nullable(),
    enabled: z.boolean(),
    status: z.enum(DESTINATION_STATUSES),
    lastTestAt: z.string().nullable(),
    lastTestPassed: z.boolean().nullable(),
    lastError: z.unknown(),
    disabledAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .describe('Destination');

const tags = ['destinations'];

export const destinationRoutes: RoutePlugin = {
  name: 'destinations',
  register(app, { pool, secrets, config, models }) {
    const deps = { config, models };
    app.post(
      '/v1/destinations',
      {
        config: { access: access.bodyRecipient(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Create a destination (status new until a connection test passes)',
          body: DestinationCreateInput,
          response: { 201: Destination, ...errorResponses },
        },
      },
      async (req, reply) => reply.code(201).send(await createDestination(pool, secrets, deps, req.body)),
    );
    app.get(
      '/v1/destinations',
      {
        config: { access: access.list('recipientId') },
        schema: {
          tags,
          security: bearer,
          summary: 'List destinations, optionally of one recipient',
          querystring: z.strictObject({ recipientId: z.string().max(100, 'must be at most 100 characters').optional() }),
          response: { 200: z.object({ destinations: z.array(Destination) }), ...errorResponses },
        },
      },
      async (req) => ({ destinations: await listDestinations(pool, { ...(req.query.recipientId ? { recipientId: req.query.recipientId } : {}) }) }),
    );
    app.get(
      '/v1/destinations/:id',
      { config: { access: access.destination(false) },
        schema: { tags, security: bearer, summary: 'Show a destination', params: IdParams, response: { 200: Destination, ...errorResponses } } },
      async (req) => getDestination(pool, req.params.id),
    );
    app.patch(
      '/v1/destinations/:id',
      {
        config: { access: access.destination(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Update a destination (where/how it writes → status new, test again; the audience never changes)',
          params: IdParams,
          body: DestinationUpdateInput,
          response: { 200: Destination, ...errorResponses },
        },
      },
      async (req) => updateDestination(pool, secrets, deps, req.params.id, req.body),
    );
    app.post(
      '/v1/destinations/:id/disable',
      {
        config: { access: access.destination(true) },
        schema: { tags, security: bearer, summary: 'Disable a destination', params: IdParams, response: { 200: Destination, ...errorResponses } },
      },
      async (req) => disableDestination(pool, req.params.id),
    );
    app.delete(
      '/v1/destinations/:id',
      {
        config: { access: access.destination(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Delete a destination (its transfers stop; its role or access key may then be given to another recipient)',
          description:
            'Nothing more is delivered to it: queued and running transfers are cancelled. Its transfer history is kept. ' +
            'Its role (or access key) is no longer counted as used, so a recipient can move it to a new destination.',
          params: IdParams,
          response: { 204: z.null().describe('Deleted'), ...errorResponses },
        },
      },
      async (req, reply) => {
        await deleteDestination(pool, req.params.id);
        return reply.code(204).send(null);
      },
    );
  },
};
