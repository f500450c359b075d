/**
 * Locks held for the length of a transfer, on one dedicated control-store connection (session
 * advisory locks: they vanish with the connection, so a killed worker never leaves one behind).
 *
 * - The destination lock (transfer/destination-lock.ts, the one every transfer takes) makes "one
 *   transfer per destination at a time" hold: a transfer triggered while another runs waits for it,
 *   and if a worker was presumed dead and its job handed to another while the first is in fact still
 *   running, the second does not start. Taken here, before the wait for a source slot, and handed to
 *   the runner, so that a busy destination does not hold a slot.
 * - Source slots cap the transfers running against one source database across all workers: slot
 *   n of source s is the advisory lock (hash(s), n).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, PoolClient } from '../control/db.js';
import { tryLockDestination, type DestinationLock } from '../transfer/destination-lock.js';

export interface TransferLocks {
  destination: DestinationLock;
  release(): Promise<void>;
}

export class LockUnavailable extends Error {
  constructor(readonly what: 'destination' | 'source') {
    super(what === 'destination' ? 'another transfer of this destination is still running' : 'source busy');
  }
}

/**
 * Takes the destination lock (fails at once if held) and then waits for a source slot (polling;
 * aborts with the signal).
 */
export async function acquireTransferLocks(
  pool: Pool,
  opts: { destinationId: string; sourceKey: string; maxPerSource: number; signal?: AbortSignal; pollMs?: number },
): Promise<TransferLocks> {
  const client = await pool.connect();
  let ok = false;
  try {
    const destination = await tryLockDestination(client, opts.destinationId);
    if (!destination) throw new LockUnavailable('destination');
    for (;;) {
      opts.signal?.throwIfAborted();
      if (await takeSourceSlot(client, opts.sourceKey, opts.maxPerSource)) break;
      await sleep(opts.pollMs ?? 1000, undefined, { signal: opts.signal });
    }
    ok = true;
    return {
      destination,
      async release() {
        try {
          await client.query('SELECT pg_advisory_unlock_all()');
        } finally {
          client.release();
        }
      },
    };
  } finally {
    if (!ok) {
      await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
      client.release();
    }
  }
}

async function takeSourceSlot(client: PoolClient, sourceKey: string, slots: number): Promise<boolean> {
  for (let n = 0; n < slots; n++) {
    const r = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('sluice:source:' || $1), $2) AS ok", [sourceKey, n]);
    if (r.rows[0]?.ok) return true;
  }
  return false;
}
