/**
 * One error type for everything a user can act on. `code` is stable (API clients and docs key on it),
 * `actor` says who has to do something, `hint` says what, and `docs` points at its entry in
 * docs/errors.md. Messages must never contain secrets: build them from identifiers, not from
 * credentials. The codes themselves are listed in error-codes.ts.
 */
import type { ErrorCode } from './error-codes.js';

export type { ErrorCode } from './error-codes.js';

export type Actor = 'recipient' | 'provider' | 'sluice';

export interface SluiceErrorInit {
  code: ErrorCode;
  message: string;
  actor?: Actor;
  hint?: string;
  docs?: string;
  /** HTTP status used when the error reaches the API. */
  status?: number;
  /** Field-level problems, for validation errors. */
  details?: FieldProblem[];
  cause?: unknown;
}

export interface FieldProblem {
  field: string;
  message: string;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly actor: Actor;
  readonly hint: string | undefined;
  readonly docs: string | undefined;
  readonly status: number;
  readonly details: FieldProblem[] | undefined;

  constructor(init: SluiceErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'SluiceError';
    this.code = init.code;
    this.actor = init.actor ?? 'provider';
    this.hint = init.hint;
    this.docs = init.docs;
    this.status = init.status ?? 400;
    this.details = init.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      actor: this.actor,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.docs ? { docs: this.docs } : {}),
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export function validationError(problems: FieldProblem[], what = 'input'): SluiceError {
  const first = problems[0];
  const summary =
    problems.length === 1 && first
      ? `${first.field}: ${first.message}`
      : `${problems.length} problems: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`;
  return new SluiceError({
    code: 'invalid_input',
    message: `Invalid ${what}. ${summary}`,
    actor: 'provider',
    status: 400,
    details: problems,
  });
}

export function notFound(kind: string, id: string): SluiceError {
  return new SluiceError({
    code: 'not_found',
    message: `No ${kind} with id ${id}.`,
    hint: `List ${kind}s to find the right id.`,
    status: 404,
  });
}

/**
 * An error as the control store keeps it (a transfer's or a model's error, a destination's last
 * error, a connection test's error) and as the API shows it: no stack, no secrets.
 */
export interface ErrorRecord {
  code: ErrorCode;
  actor: Actor;
  message: string;
  hint?: string;
  /** When it happened, where the record does not sit on a row that says so. */
  at?: string;
}

/** A plain `{code, actor, message}` object, as transfer results carry per-model errors. */
export function isErrorRecord(err: unknown): err is ErrorRecord {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' && 'actor' in err;
}

/** An error record that says when it happened. */
export type DatedErrorRecord = ErrorRecord & { at: string };

/** Any thrown value as a record; what is not a SluiceError is Sluice's own (`internal`). */
export function errorRecord(err: unknown): ErrorRecord;
export function errorRecord(err: unknown, at: Date): DatedErrorRecord;
export function errorRecord(err: unknown, at?: Date): ErrorRecord {
  const when = at ? { at: at.toISOString() } : {};
  if (err instanceof SluiceError) {
    return { code: err.code, actor: err.actor, message: err.message, ...(err.hint ? { hint: err.hint } : {}), ...when };
  }
  if (isErrorRecord(err)) {
    return { code: err.code, actor: err.actor, message: err.message ?? err.code, ...(err.hint ? { hint: err.hint } : {}), ...when };
  }
  return { code: 'internal', actor: 'sluice', message: describeError(err), ...when };
}

/** Best-effort message of an unknown thrown value, for logs and wrapped errors. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
