/**
 * One S3 request of the object writer, retried on transient failures (the SDK does not retry
 * streaming bodies; every body here is a Buffer, so a retry resends it whole), with the context its
 * errors are classified and explained with.
 */
import { SluiceError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ErrorContext, S3Operation } from './errors.js';
import { withRetry, type RetryOptions } from './retry.js';
import type { S3DestinationConfig } from './types.js';

export interface RequestSender {
  /** What an error of `operation` on `key` is explained with. */
  context(operation: S3Operation, key: string): ErrorContext;
  /** Runs `request`, retried on transient failures, each retry logged. */
  send<T>(operation: S3Operation, key: string, signal: AbortSignal | undefined, request: () => Promise<T>): Promise<T>;
}

export function requestSender(config: S3DestinationConfig, log: Logger, retry: RetryOptions | undefined): RequestSender {
  function context(operation: S3Operation, key: string): ErrorContext {
    return { operation, bucket: config.bucket, region: config.region, key, auth: config.auth.kind, ...(config.endpoint ? { endpoint: config.endpoint } : {}) };
  }

  async function send<T>(operation: S3Operation, key: string, signal: AbortSignal | undefined, request: () => Promise<T>): Promise<T> {
    let retried = false;
    try {
      return await withRetry(() => request(), context(operation, key), retry, signal, (err, attempt, delayMs) => {
        retried = true;
        log.warn({ key, operation, code: err.code, attempt, delayMs }, 'retrying S3 request');
      });
    } catch (err) {
      if (retried && err instanceof SluiceError && err.code === 'object_exists') throw mayBeOwnObject(err);
      throw err;
    }
  }

  return { context, send };
}

/**
 * A create whose answer was lost may have succeeded; its retry then meets its own object. Sluice may
 * not read the bucket to tell, so it says so: the caller writes the data again under a new key.
 */
function mayBeOwnObject(err: SluiceError): SluiceError {
  return new SluiceError({
    code: err.code,
    actor: err.actor,
    message: `${err.message} An earlier attempt of this same write failed without an answer and may have created it.`,
    ...(err.hint ? { hint: err.hint } : {}),
    ...(err.docs ? { docs: err.docs } : {}),
    status: err.status,
    cause: err,
  });
}
