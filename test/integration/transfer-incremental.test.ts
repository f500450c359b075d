/**
 * Incremental correctness with concurrent writers. Writers set `updated_at = now()` (their
 * transaction's start) and commit later, so rows appear *behind* a high end already read. With the
 * lookback method (forced here, or the fallback) the lookback is what brings them in with the next
 * transfer; the default commit-safe watermark never reads past them (transfer-watermark.test.ts).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { runTransfer } from '../../src/transfer/run.js';
import { deliveredRows, manifestsOf, tableModel, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';

let fx: TransferFixture;

before(async () => {
  fx = await transferFixture(['late', 'writers']);
  await fx.sql.query(`
    CREATE TABLE items (id bigserial PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), v integer NOT NULL DEFAULT 0);
    CREATE INDEX ON items (tenant_id, updated_at, id);
  `);
});
after(async () => {
  await fx.close();
});

const key = (r: Record<string, unknown>): string => `${Number(r.id)}@${String(r.updated_at)}`;

async function sourceVersions(tenant: string): Promise<string[]> {
  const r = await fx.sql.query<{ id: string; updated_at: string }>(
    `SELECT id, to_json(updated_at) #>> '{}' AS updated_at FROM items WHERE tenant_id = $1`,
    [tenant],
  );
  return r.rows.map(key);
}

test('a row committed after the snapshot with a cursor below the high end arrives with the next transfer (lookback), and would be lost without', async () => {
  const withLookback = tableModel('items', 'items', { lookback: 5, watermark: 'lookback' });
  const without = tableModel('items_no_lookback', 'items', { lookback: 0, watermark: 'lookback' });
  const dst = await fx.addDestination({ tenantId: 'late', bucket: 'late' });
  const deps = fx.deps([withLookback, without]);
  await fx.sql.query(`INSERT INTO items (tenant_id) VALUES ('late')`);
  await runTransfer(deps, { destinationId: dst });

  // A slow writer takes its cursor now…
  const slow = await fx.sql.connect();
  await slow.query('BEGIN');
  await slow.query(`INSERT INTO items (tenant_id, v) VALUES ('late', 42)`);
  await sleep(20);
  // …a fast one commits a later cursor, and a transfer reads up to it.
  await fx.sql.query(`INSERT INTO items (tenant_id, v) VALUES ('late', 7)`);
  const during = await runTransfer(deps, { destinationId: dst });
  assert.equal(during.status, 'succeeded');
  // The slow writer commits: its cursor is below the committed watermark.
  await slow.query('COMMIT');
  slow.release();
  await runTransfer(deps, { destinationId: dst });

  const got = (await deliveredRows(fx.s3, 'late', '', 'items')).map((r) => Number(r.v));
  assert.ok(got.includes(42), 'the late row arrived with the lookback');
  const lost = (await deliveredRows(fx.s3, 'late', '', 'items_no_lookback')).map((r) => Number(r.v));
  assert.ok(!lost.includes(42), 'without a lookback the late row is skipped: the lookback is what saves it');
  assert.equal((await fx.verify('late')).ok, true);
  // Every window bound, from the high end of a read or from lookback arithmetic, has one text form.
  const bounds = (await manifestsOf(fx.s3, 'late', '', 'items')).flatMap((m) => [m.manifest.window.from, m.manifest.window.to]);
  assert.ok(bounds.filter((b) => b !== null).length >= 4);
  for (const b of bounds) if (b) assert.match(b.cursor, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d*[1-9])?\+00$/);
});

test('lookback method: inserts and updates while 20 consecutive transfers run: every (pk, cursor) of the source is delivered', async () => {
  const model = tableModel('items', 'items', { lookback: 3, watermark: 'lookback' });
  const dst = await fx.addDestination({ tenantId: 'busy', bucket: 'writers' });
  const deps = fx.deps([model]);
  await fx.sql.query(`INSERT INTO items (tenant_id) SELECT CASE WHEN g % 2 = 0 THEN 'busy' ELSE 'other' END FROM generate_series(1, 200) g`);

  let stop = false;
  let commits = 0;
  const writer = async (seed: number): Promise<void> => {
    const client = await fx.sql.connect();
    try {
      for (let i = 0; !stop; i++) {
        await client.query('BEGIN');
        if ((i + seed) % 3 === 0) {
          await client.query(`INSERT INTO items (tenant_id) VALUES (CASE WHEN random() < 0.7 THEN 'busy' ELSE 'other' END)`);
        } else {
          await client.query(
            `UPDATE items SET updated_at = now(), v = v + 1 WHERE id = (SELECT id FROM items ORDER BY random() LIMIT 1)`,
          );
        }
        // Work between taking the cursor (now() = transaction start) and committing.
        await sleep(Math.floor(Math.random() * 150));
        await client.query('COMMIT');
        commits++;
      }
    } finally {
      client.release();
    }
  };
  const writers = [writer(0), writer(1), writer(2)];
  const statuses: string[] = [];
  for (let n = 0; n < 20; n++) {
    statuses.push((await runTransfer(deps, { destinationId: dst })).status);
  }
  stop = true;
  await Promise.all(writers);
  // "In this transfer or the next": one more transfer after the writers stopped.
  statuses.push((await runTransfer(deps, { destinationId: dst })).status);
  assert.deepEqual(new Set(statuses), new Set(['succeeded']));

  const delivered = await deliveredRows(fx.s3, 'writers', '', 'items');
  const deliveredSet = new Set(delivered.map(key));
  const expected = await sourceVersions('busy');
  const missing = expected.filter((k) => !deliveredSet.has(k));
  assert.deepEqual(missing, [], `${missing.length} of ${expected.length} source versions never delivered`);
  assert.ok(delivered.every((r) => r.tenant_id === 'busy'));
  assert.ok(commits > 20, `writers committed ${commits} transactions during the transfers`);
  const report = await fx.verify('writers');
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  console.log(`# ${commits} writer commits during 20 transfers; ${delivered.length} rows delivered for ${expected.length} current versions`);
});
