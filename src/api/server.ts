/**
 * The HTTP API: Fastify with zod schemas (request validation, response serialisation and the OpenAPI
 * document at /openapi.json all come from the same schemas). Routes are plugins listed in
 * routes/index.ts. Requests are logged by method, path and status — never headers or bodies, which
 * carry API keys and secret access keys.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { problemsFromZod } from '../control/validation.js';
import { validationError } from '../core/errors.js';
import { authHook } from './auth.js';
import { errorHandler, notFoundHandler } from './errors.js';
import { routes } from './routes/index.js';
import type { ApiApp, ApiDeps, RoutePlugin } from './types.js';

export type { ApiApp, ApiDeps } from './types.js';

const PART_NAMES: Record<string, string> = {
  body: 'request body',
  params: 'path parameters',
  querystring: 'query string',
  headers: 'headers',
};

export interface BuildOptions {
  /** Route plugins to register (default: all of routes/index.ts); `sluice worker` serves only health and metrics. */
  routes?: RoutePlugin[];
}

export async function buildServer(deps: ApiDeps, opts: BuildOptions = {}): Promise<ApiApp> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance's logger type the plain one.
    loggerInstance: deps.log as FastifyBaseLogger,
    // Pino's default request serializer logs method, url, host and remote address only.
    requestIdHeader: false,
    bodyLimit: 256 * 1024,
  }).withTypeProvider<ZodTypeProvider>();

  // Our own validator compiler (instead of the provider's) so that a bad request becomes the same
  // `invalid_input` SluiceError, with one message per field, that the CLI prints.
  app.setValidatorCompiler(({ schema, httpPart }) => (data) => {
    const result = (schema as z.ZodType).safeParse(data);
    if (result.success) return { value: result.data };
    return { error: validationError(problemsFromZod(result.error.issues), PART_NAMES[httpPart ?? ''] ?? 'request') };
  });
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler(deps.log));
  app.setNotFoundHandler(notFoundHandler);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Sluice API',
        version: '1',
        description: 'Operator API of Sluice: recipients, destinations, trust policies, connection tests and setup links; and the link-scoped calls of the recipient\'s setup page (/setup/api).',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An operator key from `sluice apikeys create`.' },
          setupSession: {
            type: 'apiKey',
            in: 'cookie',
            name: 'sluice_setup',
            description:
              'The setup page session a setup link was exchanged for (GET /setup/{token}). State-changing calls also need the header X-CSRF-Token with the token of the page (its csrf-token meta tag).',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
  });

  app.addHook('onRequest', authHook(deps.pool));

  for (const plugin of opts.routes ?? routes) {
    await app.register(async (scope) => {
      await plugin.register(scope as unknown as ApiApp, deps);
    });
  }

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
