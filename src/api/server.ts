/**
 * The HTTP API: Fastify with zod schemas (request validation, response serialisation and the OpenAPI
 * document at /openapi.json all come from the same schemas). Routes are plugins listed in
 * routes/index.ts. Requests are logged by method, path and status — never headers or bodies, which
 * carry API keys and secret access keys.
 */
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { problemsFromZod } from '../control/validation.js';
import { validationError } from '../core/errors.js';
import { accessHook, requireAccessDeclaration } from './access.js';
import { authHook } from './auth.js';
import { clientErrorHandler, errorHandler, errorResponse, notFoundHandler, pathOf } from './errors.js';
import { queryKeyHook } from './auth.js';
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

/**
 * Request log lines with the path only: a query string may carry what must not be logged (a key sent
 * where it does not belong is refused, but only after the line is written).
 */
class PathOnlyLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.info({ method: request.method, path: pathOf(request.url) }, 'incoming request');
  }
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const fields = { res: { statusCode: reply.statusCode }, path: pathOf(request.url), responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...fields, err: error }, 'request errored');
    else reply.log.info(fields, 'request completed');
  }
}

/** C0 control characters and DEL: never part of an id, a query value, or a name. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Strings PostgreSQL cannot store (U+0000 anywhere) or that no id or query value contains (any
 * control character in the path or query string), found before any schema or database sees them.
 */
function hostileStrings(value: unknown, httpPart: string, at: string[] = []): Array<{ field: string; message: string }> {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return [{ field: at.join('.') || '(value)', message: 'must not contain the NUL character (U+0000)' }];
    if (httpPart !== 'body' && CONTROL.test(value)) return [{ field: at.join('.') || '(value)', message: 'must not contain control characters' }];
    return [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => hostileStrings(v, httpPart, [...at, String(i)]));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(k.includes('\u0000') || CONTROL.test(k) ? [{ field: [...at, k.replace(CONTROL, '?')].join('.'), message: 'is not a valid field name' }] : []),
      ...hostileStrings(v, httpPart, [...at, k]),
    ]);
  }
  return [];
}

export async function buildServer(deps: ApiDeps, opts: BuildOptions = {}): Promise<ApiApp> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance's logger type the plain one.
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new PathOnlyLogController(),
    requestIdHeader: false,
    bodyLimit: 256 * 1024,
    // Errors Fastify raises before a route runs (bad percent-encoding, an over-long path id) and those
    // of the HTTP parser (oversized headers or URL) answer in the documented error shape too.
    frameworkErrors: (err, req, reply) => {
      const { status, body } = errorResponse(err, req.id);
      // The generic reply type of this hook cannot know the route; the body is the documented error shape.
      void (reply as unknown as FastifyReply).code(status).type('application/json').send(body);
    },
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();

  // Our own validator compiler (instead of the provider's) so that a bad request becomes the same
  // `invalid_input` SluiceError, with one message per field, that the CLI prints.
  app.setValidatorCompiler(({ schema, httpPart }) => (data) => {
    const hostile = hostileStrings(data, httpPart ?? 'body');
    if (hostile.length > 0) return { error: validationError(hostile, PART_NAMES[httpPart ?? ''] ?? 'request') };
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

  // First: a key in the query string is refused before anything else looks at the request.
  app.addHook('onRequest', queryKeyHook);
  app.addHook('onRequest', authHook(deps.pool));
  // After validation, so the rule reads parsed ids; one place for every route's scope check.
  app.addHook('preHandler', accessHook(deps.pool));
  app.addHook('onRoute', requireAccessDeclaration);

  for (const plugin of opts.routes ?? routes) {
    await app.register(async (scope) => {
      await plugin.register(scope as unknown as ApiApp, deps);
    });
  }

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
