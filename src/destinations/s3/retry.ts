/**
 * Retries one S3 request with exponential backoff and full jitter while its failure is transient
 * (throttling, 5xx, resets, timeouts). The SDK cannot retry streaming bodies, so callers send Buffers
 * and retry here, per request or per part; anything else fails on the first attempt.
 */
import type { SluiceError } from '../../core/errors.js';
import { classifyError, isTransient, type ErrorContext } from './errors.js';

export interface RetryOptions {
  /** Attempts in total, first one included (default 6). */
  attempts?: number;
  /** Backoff base for 5xx, resets and timeouts (default 200 ms). */
  baseDelayMs?: number;
  /** Backoff base when the store asked to slow down (default 1 s). */
  throttleBaseDelayMs?: number;
  /** Cap of one delay (default 20 s). */
  maxDelayMs?: number;
  /** Source of randomness in [0, 1), for tests. */
  random?: () => number;
}

export type RetryListener = (err: SluiceError, attempt: number, delayMs: number) => void;

/** Full jitter: a uniformly random delay between 0 and min(cap, base × 2^retry). */
export function backoffDelay(retry: number, base: number, cap: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(cap, base * 2 ** retry));
}

export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  ctx: ErrorContext,
  opts: RetryOptions = {},
  signal?: AbortSignal,
  onRetry?: RetryListener,
): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 6);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (raw) {
      const err = classifyError(signal?.aborted ? Object.assign(new Error('aborted'), { name: 'AbortError' }) : raw, ctx);
      if (attempt >= attempts || !isTransient(err) || signal?.aborted) throw err;
      const base = err.code === 'throttled' ? (opts.throttleBaseDelayMs ?? 1000) : (opts.baseDelayMs ?? 200);
      const delay = backoffDelay(attempt - 1, base, opts.maxDelayMs ?? 20_000, opts.random);
      onRetry?.(err, attempt, delay);
      await sleep(delay, signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
