import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { acquireTransferLocks, LockUnavailable } from '../../src/jobs/locks.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';

describe('transfer locks', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase({ migrate: false });
  });
  after(async () => db.drop());

  it('refuse a second transfer of a destination at once', async () => {
    const first = await acquireTransferLocks(db.pool, { destinationId: 'dst_a', sourceKey: 's', maxPerSource: 4 });
    await assert.rejects(
      acquireTransferLocks(db.pool, { destinationId: 'dst_a', sourceKey: 's', maxPerSource: 4 }),
      (e: unknown) => e instanceof LockUnavailable && e.what === 'destination',
    );
    await first.release();
    const again = await acquireTransferLocks(db.pool, { destinationId: 'dst_a', sourceKey: 's', maxPerSource: 4 });
    await again.release();
  });

  it('cap the transfers running against one source; the next waits for a free slot', async () => {
    const opts = (d: string) => ({ destinationId: d, sourceKey: 'src', maxPerSource: 2, pollMs: 20 });
    const a = await acquireTransferLocks(db.pool, opts('dst_1'));
    const b = await acquireTransferLocks(db.pool, opts('dst_2'));
    let third = false;
    const c = acquireTransferLocks(db.pool, opts('dst_3')).then((l) => {
      third = true;
      return l;
    });
    await sleep(150);
    assert.equal(third, false, 'a third transfer waits while two run');
    const other = await acquireTransferLocks(db.pool, { ...opts('dst_4'), sourceKey: 'another-source' });
    await other.release();
    await a.release();
    const cl = await c;
    assert.equal(third, true);
    // Waiting stops with the job's abort signal (shutdown or cancel).
    const abort = new AbortController();
    const d = acquireTransferLocks(db.pool, { ...opts('dst_5'), signal: abort.signal });
    abort.abort();
    await assert.rejects(d);
    await Promise.all([b.release(), cl.release()]);
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
    assert.equal(rows[0].n, 0, 'every lock released');
  });
});
