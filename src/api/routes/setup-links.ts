/** /v1/recipients/:id/setup-links: links the provider hands a recipient to its hosted setup page. */
import { z } from 'zod';
import { AUTH_METHODS, DESTINATION_TYPES, SetupLinkCreateInput, createSetupLink, listSetupLinks, revokeSetupLink } from '../../control/setup-links.js';
import { FORMATS } from '../../control/destination-input.js';
import { IdParams, bearer, errorResponses } from '../schemas.js';
import { access } from '../access.js';
import type { RoutePlugin } from '../types.js';

export const SetupLink = z
  .object({
    id: z.string().describe('lnk_…'),
    recipientId: z.string(),
    destinationId: z.string().nullable().describe('The destination the page set up (or was created for)'),
    status: z.enum(['active', 'used', 'expired', 'revoked']).describe('used: opened once, its browser session goes on until the link expires'),
    prefill: z.object({
      bucket: z.string().optional(),
      region: z.string().optional(),
      prefix: z.string().optional(),
      format: z.enum(FORMATS).optional(),
      frequencyMinutes: z.number().int().nullable().optional(),
    }),
    allowed: z.object({
      destinationTypes: z.array(z.enum(DESTINATION_TYPES)),
      authMethods: z.array(z.enum(AUTH_METHODS)),
      formats: z.array(z.enum(FORMATS)),
      frequencies: z.array(z.number().int()),
    }),
    store: z.object({
      endpoint: z.string().optional(),
      forcePathStyle: z.boolean().optional(),
      conditionalWrites: z.boolean().optional(),
      requestChecksums: z.boolean().optional(),
    }),
    returnUrl: z.string().nullable(),
    createdAt: z.string(),
    expiresAt: z.string(),
    usedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .describe('SetupLink');

const LinkParams = z.strictObject({
  id: IdParams.shape.id,
  linkId: z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
});

const tags = ['setup links'];

export const setupLinkRoutes: RoutePlugin = {
  name: 'setup-links',
  register(app, { pool, config }) {
    app.post(
      '/v1/recipients/:id/setup-links',
      {
        config: { access: access.recipient(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Create a setup link for the recipient: the URL of its hosted setup page (shown once)',
          description:
            'The answer holds `url` (on SLUICE_PUBLIC_URL) and `token`, which are shown only now: Sluice keeps a hash. ' +
            'The recipient opens the URL, connects its bucket and runs the connection test; the link is bound to this recipient.',
          params: IdParams,
          body: SetupLinkCreateInput.optional(),
          response: { 201: SetupLink.extend({ url: z.string(), token: z.string().describe('sls_…; shown once') }), ...errorResponses },
        },
      },
      async (req, reply) => reply.code(201).send(await createSetupLink(pool, { config }, req.params.id, req.body ?? {}, req.apiKey?.id)),
    );
    app.get(
      '/v1/recipients/:id/setup-links',
      {
        config: { access: access.recipient(false) },
        schema: {
          tags,
          security: bearer,
          summary: "The recipient's setup links, newest first (never their tokens)",
          params: IdParams,
          response: { 200: z.object({ links: z.array(SetupLink) }), ...errorResponses },
        },
      },
      async (req) => ({ links: await listSetupLinks(pool, req.params.id) }),
    );
    app.delete(
      '/v1/recipients/:id/setup-links/:linkId',
      {
        config: { access: access.recipient(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Revoke a setup link: its page and open sessions stop working at once (idempotent)',
          params: LinkParams,
          response: { 200: SetupLink, ...errorResponses },
        },
      },
      async (req) => revokeSetupLink(pool, req.params.id, req.params.linkId),
    );
  },
};
