/** /v1/recipients: the provider's customers. */
import { z } from 'zod';
import {
  RecipientCreateInput,
  RecipientUpdateInput,
  createRecipient,
  disableRecipient,
  getRecipient,
  listRecipients,
  updateRecipient,
} from '../../control/recipients.js';
import { IdParams, bearer, errorResponses } from '../schemas.js';
import { access } from '../access.js';
import type { RoutePlugin } from '../types.js';

export const Recipient = z
  .object({
    id: z.string(),
    name: z.string(),
    tenantId: z.string(),
    disabled: z.boolean(),
    disabledAt: z.string().nullable(),
    destinationCount: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .describe('Recipient');

const tags = ['recipients'];

export const recipientRoutes: RoutePlugin = {
  name: 'recipients',
  register(app, { pool, models }) {
    app.post(
      '/v1/recipients',
      {
        config: { access: access.operator(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Create a recipient',
          body: RecipientCreateInput,
          response: { 201: Recipient, ...errorResponses },
        },
      },
      async (req, reply) => reply.code(201).send(await createRecipient(pool, req.body, models)),
    );
    app.get(
      '/v1/recipients',
      {
        config: { access: access.operator(false) },
        schema: {
          tags,
          security: bearer,
          summary: 'List recipients',
          response: { 200: z.object({ recipients: z.array(Recipient) }), ...errorResponses },
        },
      },
      async () => ({ recipients: await listRecipients(pool) }),
    );
    app.get(
      '/v1/recipients/:id',
      { config: { access: access.recipient(false) },
        schema: { tags, security: bearer, summary: 'Show a recipient', params: IdParams, response: { 200: Recipient, ...errorResponses } } },
      async (req) => getRecipient(pool, req.params.id),
    );
    app.patch(
      '/v1/recipients/:id',
      {
        config: { access: access.operator(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Update a recipient (the tenant id only while it has no destinations)',
          params: IdParams,
          body: RecipientUpdateInput,
          response: { 200: Recipient, ...errorResponses },
        },
      },
      async (req) => updateRecipient(pool, req.params.id, req.body, models),
    );
    app.post(
      '/v1/recipients/:id/disable',
      {
        config: { access: access.operator(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Disable a recipient and all its destinations',
          params: IdParams,
          response: { 200: Recipient, ...errorResponses },
        },
      },
      async (req) => disableRecipient(pool, req.params.id),
    );
  },
};
