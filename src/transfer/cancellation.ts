/**
 * The one way a running transfer learns it must stop: one AbortSignal per transfer, aborted by
 * - a cancel (API, `sluice transfers cancel`, a deleted destination): `transfers.cancel_requested`,
 *   seen by one poll per process and control store, every second, over all its running transfers;
 * - whatever the caller's own signal stands for (a worker's shutdown or lost session, a Ctrl-C).
 * Every stage of the run (source read, encoder, object writer) gets this signal and nothing else.
 */
import { SluiceError } from '../core/errors.js';
import type { Pool } from '../core/pg.js';
import { cancelRequestedAmong } from './store/transfers.js';

export const CANCEL_POLL_MS = 1000;

export interface Cancellation {
  signal: AbortSignal;
  /** The transfer's run is over: stop watching it. */
  stop(): void;
}

interface Watched {
  controller: AbortController;
  /** Callers watching this transfer (the worker's job and the runner share one signal). */
  refs: number;
}

interface Poller {
  watched: Map<string, Watched>;
  timer: NodeJS.Timeout | undefined;
  polling: boolean;
}

const pollers = new WeakMap<Pool, Poller>();

/** True when `signal` was aborted by a cancel request (not by the caller's signal). */
export function isCancelRequest(reason: unknown): boolean {
  return reason instanceof SluiceError && reason.code === 'cancelled';
}

/**
 * The stop signal of a transfer: its cancel request, or any of `parents`. Watching a transfer already
 * watched in this process joins the same source (the worker starts watching at the job's start, the
 * runner joins it), so there is one per transfer.
 *
 * Relayed by listeners rather than AbortSignal.any: Node 20 may collect a signal made by
 * AbortSignal.any that only another such signal refers to, and then a nested abort never arrives.
 */
export function watchCancellation(pool: Pool, transferId: string, parents: Array<AbortSignal | undefined> = []): Cancellation {
  let p = pollers.get(pool);
  if (!p) {
    p = { watched: new Map(), timer: undefined, polling: false };
    pollers.set(pool, p);
  }
  const poller = p;
  let w = poller.watched.get(transferId);
  if (!w) {
    w = { controller: new AbortController(), refs: 0 };
    poller.watched.set(transferId, w);
  }
  w.refs++;
  const watched = w;
  if (!poller.timer) {
    poller.timer = setInterval(() => void poll(pool, poller), CANCEL_POLL_MS);
    poller.timer.unref();
  }
  const mine = new AbortController();
  const sources = [watched.controller.signal, ...parents.filter((s): s is AbortSignal => s !== undefined)];
  const relays = sources.map((source) => {
    const relay = (): void => mine.abort(source.reason);
    if (source.aborted) relay();
    else source.addEventListener('abort', relay, { once: true });
    return () => source.removeEventListener('abort', relay);
  });
  let stopped = false;
  return {
    signal: mine.signal,
    stop() {
      if (stopped) return;
      stopped = true;
      for (const remove of relays) remove();
      if (--watched.refs === 0 && poller.watched.get(transferId) === watched) poller.watched.delete(transferId);
      if (poller.watched.size === 0 && poller.timer) {
        clearInterval(poller.timer);
        poller.timer = undefined;
      }
    },
  };
}

async function poll(pool: Pool, p: Poller): Promise<void> {
  // A slow control store must not pile up queries: the next tick waits for this one.
  if (p.polling || p.watched.size === 0) return;
  p.polling = true;
  try {
    for (const id of await cancelRequestedAmong(pool, [...p.watched.keys()])) {
      p.watched.get(id)?.controller.abort(new SluiceError({ code: 'cancelled', message: 'Transfer cancelled.', actor: 'provider' }));
    }
  } catch {
    // The control store is unreachable for a moment: the next tick asks again; the run itself will
    // fail on its own queries if it stays away.
  } finally {
    p.polling = false;
  }
}
