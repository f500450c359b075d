/** Schema pieces shared by routes: error responses and path parameters. */
import { z } from 'zod';
import { ErrorBody } from './errors.js';

/** Added to every route's `response` so the OpenAPI document shows the error shape. */
export const errorResponses = { '4xx': ErrorBody, '5xx': ErrorBody } as const;

export const IdParams = z.strictObject({ id: z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters') });

/** The security requirement of /v1 routes, for the OpenAPI document. */
export const bearer = [{ apiKey: [] as string[] }];
