/** graphile-worker's log lines, into Sluice's log. */
import { Logger as GraphileLogger } from 'graphile-worker';
import type { Logger } from '../core/log.js';

/** graphile-worker's logger interface, forwarding to ours (its debug chatter stays at debug). */
export function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger((_scope) => (level, message, meta) => {
    const fields = { component: 'queue', ...(meta && typeof meta === 'object' ? pickSafe(meta as Record<string, unknown>) : {}) };
    if (level === 'error') log.error(fields, message);
    else if (level === 'warning') log.warn(fields, message);
    else if (level === 'info') log.info(fields, message);
    else log.debug(fields, message);
  });
}

// graphile-worker's meta objects can hold whole jobs or pools; keep only plain, small values.
function pickSafe(meta: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
    else if (v instanceof Error) out[k] = v.message;
  }
  return out;
}
