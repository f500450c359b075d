/**
 * Every error leaves the API as `{ "error": { code, message, actor, hint?, docs?, details? } }`.
 * SluiceError maps directly; Fastify's own client errors (bad JSON, wrong content type, body too
 * large) get a stable code by status; anything else is a 500 `internal` whose message says nothing
 * about the cause — the cause goes to the log, with the request id to find it.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'headers_too_large',
};

/** The path of a request URL, without its query string (which is never logged). */
export function pathOf(url: string): string {
  return url.split('?')[0] ?? '';
}

/** What Node's HTTP parser refused, as a status and a sentence. */
function parserFailure(code: string | undefined): { status: number; message: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, message: 'The request line and headers are too large (the limit is 16 KiB); a long URL counts too.' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT') return { status: 408, message: 'The request did not arrive in time.' };
  return { status: 400, message: 'The request is not valid HTTP.' };
}

/**
 * Answers what Node's HTTP parser refuses (oversized headers or URL, malformed requests) in the
 * documented error shape, then closes the connection; Fastify's default writes its own shape.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const { status, message } = parserFailure(err.code);
  const body = JSON.stringify({
    error: { code: status === 400 ? 'bad_request' : (CLIENT_CODES[status] ?? 'bad_request'), message, actor: 'provider', hint: 'Send a smaller, well-formed request; ids go in the path, filters in short query parameters.' },
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

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
    // Fastify's client-error messages describe the request (e.g. "Body is not valid JSON"), never
    // server state; those that quote the URL are replaced, so no path or query is echoed back.
    const message = fe.code === 'FST_ERR_BAD_URL'
      ? 'The URL is not valid: a percent-encoded sequence is not UTF-8.'
      : fe.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? 'A path segment is longer than any id (at most 100 characters).'
        : (fe.message ?? 'Bad request.');
    return {
      status,
      body: withId({
        code: CLIENT_CODES[status] ?? 'bad_request',
        message,
        actor: 'provider',
        hint: status === 415 ? 'Send JSON with Content-Type: application/json.' : 'Correct the request; the API is described at /openapi.json.',
      }),
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
      log.error({ err, reqId: req.id, method: req.method, path: req.routeOptions.url ?? pathOf(req.url) }, 'request failed');
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
