/**
 * Every error leaves the API as `{ "error": { code, message, actor, hint?, docs?, details? } }`.
 * SluiceError maps directly; Fastify's own client errors (bad JSON, wrong content type, body too
 * large) get a stable code by status; anything else is a 500 `internal` whose message says nothing
 * about the cause — the cause goes to the log, with the request id to find it.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SluiceError } from '../core/errors.js';
import type { ErrorCode } from '../core/error-codes.js';
import type { Logger } from '../core/log.js';

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('Stable, machine-readable code, e.g. invalid_input, not_found, unauthorized, conflict'),
      message: z.string(),
      actor: z.enum(['recipient', 'provider', 'sluice']).describe('Who has to act'),
      hint: z.string().optional().describe('What to change'),
      docs: z.string().optional(),
      requestId: z.string().optional(),
      details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    }),
  })
  .describe('Error');

export type ErrorBodyType = z.output<typeof ErrorBody>;

const CLIENT_CODES: Record<number, ErrorCode> = {
  400: 'invalid_input',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
};

/** Maps any thrown value to a status and a safe body. */
export function errorResponse(err: unknown, requestId?: string): { status: number; body: ErrorBodyType } {
  const withId = (e: ErrorBodyType['error']) => ({ error: { ...e, ...(requestId ? { requestId } : {}) } });
  if (err instanceof SluiceError) {
    const json = err.toJSON() as ErrorBodyType['error'];
    return { status: err.status, body: withId(json) };
  }
  const fe = err as Partial<FastifyError>;
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    // Fastify's client-error messages describe the request (e.g. "Body is not valid JSON"), never server state.
    return {
      status,
      body: withId({ code: CLIENT_CODES[status] ?? 'bad_request', message: fe.message ?? 'Bad request.', actor: 'provider' }),
    };
  }
  return {
    status: 500,
    body: withId({
      code: 'internal',
      message: 'Sluice failed to handle this request.',
      actor: 'sluice',
      hint: 'Retry later; if it persists, the operator can find the cause in the logs by this request id.',
    }),
  };
}

export function errorHandler(log: Logger) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = errorResponse(err, req.id);
    if (status >= 500) {
      // The only place an unexpected error's details are kept: the server log, never the response.
      log.error({ err, reqId: req.id, method: req.method, url: req.routeOptions.url ?? req.url }, 'request failed');
    }
    return reply.code(status).type('application/json').send(body);
  };
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply) {
  return reply.code(404).send({
    error: {
      code: 'not_found',
      message: `No route ${req.method} ${req.url.split('?')[0]}.`,
      actor: 'provider',
      hint: 'The API is described at /openapi.json.',
      requestId: req.id,
    },
  });
}
