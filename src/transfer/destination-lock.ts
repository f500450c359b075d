/**
 * The per-destination lock: at most one transfer of a destination runs at a time, whoever started it
 * (`sluice transfer`, a worker's job, the API's trigger, the setup page — all end in runTransfer).
 *
 * A session advisory lock (DESTINATION_LOCK_NAMESPACE, hashtext(destination id)) on one control-store
 * connection held for the whole run: it vanishes with the connection, so a killed process never
 * leaves one behind, and `pg_locks` tells anyone whether a transfer marked running still has a live
 * process (store/transfers.ts, closeOrphanedTransfers).
 *
 * The worker takes it before it waits for a source slot (jobs/locks.ts) and hands it to runTransfer;
 * any other caller lets runTransfer take it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from '../core/errors.js';
import type { PoolClient } from '../core/pg.js';

/** First key of the lock; the second is hashtext(destination id). */
export const DESTINATION_LOCK_NAMESPACE = 0x511cf;

/** A destination lock held on `client` (a connection kept for the whole run). */
export interface DestinationLock {
  destinationId: string;
  client: PoolClient;
}

/**
 * Tries to take the lock of `destinationId` on `client`, polling for up to `waitMs`: a predecessor
 * killed a moment ago holds it until PostgreSQL notices its connection is gone (usually milliseconds,
 * longer under load). Null when it stays taken.
 */
export async function tryLockDestination(client: PoolClient, destinationId: string, waitMs = 0): Promise<DestinationLock | null> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [DESTINATION_LOCK_NAMESPACE, destinationId]);
    if (r.rows[0]?.ok) return { destinationId, client };
    if (Date.now() >= deadline) return null;
    await sleep(100);
  }
}

export async function unlockDestination(lock: DestinationLock): Promise<void> {
  await lock.client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [DESTINATION_LOCK_NAMESPACE, lock.destinationId]);
}

/** The refusal of a second transfer of a destination while one runs. */
export function alreadyRunning(destinationId: string): SluiceError {
  return new SluiceError({
    code: 'transfer_already_running',
    message: `A transfer of destination ${destinationId} is already running.`,
    hint: 'Wait for it to finish; at most one transfer runs per destination at a time.',
    actor: 'provider',
    status: 409,
  });
}
