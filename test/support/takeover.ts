/**
 * Measures takeover after SIGKILL, for the takeover test and `npm run bench:takeover`: two worker
 * processes (the real queue and worker loop; the transfer runner only waits, JOBS_TEST_MODE=record)
 * share a control store. Each round queues a transfer, SIGKILLs whichever worker runs it, and times
 * how long until the other worker runs it again; a new worker then replaces the killed one.
 *
 * The heartbeat bound stays at its default (60 s): what is measured is the session check.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { insertDestinations } from './jobs-fixtures.js';
import { recordingStore, workerIdOf, type Proc } from './jobs-processes.js';
import { until } from './wait.js';

export interface TakeoverRun {
  /** Seconds from SIGKILL to the other worker running the transfer, one per round. */
  seconds: number[];
}

export async function measureTakeovers(rounds: number, opts: { env?: NodeJS.ProcessEnv; onRound?: (i: number, s: number) => void } = {}): Promise<TakeoverRun> {
  const store = await recordingStore({ prefix: 'sluice_takeover' });
  const db = store.db;
  try {
    const dsts = await insertDestinations(db.pool, rounds, { frequencyMinutes: null });
    const env: NodeJS.ProcessEnv = {
      // A transfer runs 3 s: long enough to be killed in, short enough to be done before the next round.
      JOBS_TEST_RUN_MS: '3000',
      SLUICE_WORKER_CONCURRENCY: '4',
      ...opts.env,
    };
    const start = async (): Promise<{ p: Proc; id: string }> => {
      const p = store.worker(env);
      return { p, id: await workerIdOf(p) };
    };
    let workers = await Promise.all([start(), start()]);
    const holder = async (transferId: string): Promise<string | undefined> => {
      const { rows } = await db.pool.query<{ locked_by: string | null }>(
        `SELECT locked_by FROM graphile_worker._private_jobs WHERE payload->>'transferId' = $1`,
        [transferId],
      );
      return rows[0]?.locked_by ?? undefined;
    };
    const seconds: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const { transferId } = await enqueueTransfer(db.pool, { destinationId: dsts[i]!.id });
      const held = await until('a worker to run the transfer', () => holder(transferId), 30_000);
      const victim = workers.find((w) => w.id === held)!;
      const survivor = workers.find((w) => w.id !== held)!;
      // Somewhere in the first second of the run.
      await sleep(Math.floor(Math.random() * 1000));
      victim.p.child.kill('SIGKILL');
      const killedAt = performance.now();
      await until('the other worker to run the transfer', async () => (await holder(transferId)) === survivor.id, 120_000);
      const s = (performance.now() - killedAt) / 1000;
      seconds.push(s);
      opts.onRound?.(i, s);
      await victim.p.exited;
      workers = [survivor, await start()];
    }
    return { seconds };
  } finally {
    await store.close();
  }
}

export function summarise(seconds: number[]): { median: number; worst: number; n: number } {
  const sorted = [...seconds].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, worst: sorted[sorted.length - 1]!, n: sorted.length };
}
