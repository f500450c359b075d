/**
 * The commit-safe watermark against the classic incremental traps (docs/change-detection.md): a
 * transaction open longer than any lookback, ties at the boundary committed later with lower ids,
 * many concurrent writers while transfers run back to back, and the fallbacks where the method
 * cannot be used. Writers set their cursor from the transaction's clock (`DEFAULT now()`,
 * `updated_at = now()`): the contract the method relies on.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createLogger } from '../../src/core/log.js';
import { createPostgresSource } from '../../src/sources/postgres/source.js';
import { postgresTransferSource } from '../../src/transfer/postgres-source.js';
import { runTransfer } from '../../src/transfer/run.js';
import { deliveredRows, manifestsOf, settle, tableModel, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';

let fx: TransferFixture;

before(async () => {
  fx = await transferFixture(['open', 'ties', 'random', 'fallback', 'quiet']);
  await fx.sql.query(`
    CREATE TABLE items (id bigserial PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), v integer NOT NULL DEFAULT 0);
    CREATE INDEX ON items (tenant_id, updated_at, id);
    -- Whole seconds: ties between transactions are the rule, not the exception.
    CREATE TABLE coarse (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz(0) NOT NULL DEFAULT now(), v integer NOT NULL DEFAULT 0);
    CREATE TABLE counted (id bigint PRIMARY KEY, tenant_id text NOT NULL, version bigint NOT NULL);
  `);
});
after(async () => {
  await fx.close();
});

/** A JSON logger whose lines the test can read. */
function capturedLog(): { log: ReturnType<typeof createLogger>; lines(): Array<Record<string, unknown>> } {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  return {
    log: createLogger({ level: 'info', format: 'json', destination: out }),
    lines: () => chunks.join('').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('a transaction open longer than any lookback: held back, then delivered once; the lag is recorded and warned about', async () => {
  const safe = tableModel('items', 'items', { lookback: 1 });
  const lookback = tableModel('items_lookback', 'items', { lookback: 1, watermark: 'lookback' });
  const dst = await fx.addDestination({ tenantId: 'open', bucket: 'open' });
  const source = createPostgresSource(fx.sourceDb.url, { maxConcurrentQueries: 2, lagWarningSeconds: 2 });
  const captured = capturedLog();
  const deps = { ...fx.deps([safe, lookback]), source: postgresTransferSource(source, [safe, lookback]), log: captured.log };
  try {
    await fx.sql.query(`INSERT INTO items (tenant_id, v) VALUES ('open', 1)`);
    await settle();
    await runTransfer(deps, { destinationId: dst });

    // A slow writer takes its cursor (now()) and keeps its transaction open…
    const slow = await fx.sql.connect();
    await slow.query('BEGIN');
    await slow.query(`INSERT INTO items (tenant_id, v) VALUES ('open', 42)`);
    const pid = (await slow.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    // …while others commit newer rows and transfers run, for well over the lookback.
    const held: number[] = [];
    for (let i = 0; i < 3; i++) {
      await fx.sql.query(`INSERT INTO items (tenant_id, v) VALUES ('open', 100 + $1::int)`, [i]);
      await sleep(1100);
      const r = await runTransfer(deps, { destinationId: dst });
      assert.equal(r.status, 'succeeded');
      const m = r.models.find((x) => x.model === 'items')!;
      assert.equal(m.watermark!.method, 'commit_safe');
      assert.equal(m.watermark!.heldBy!.pid, pid, 'the record names the transaction holding the watermark');
      held.push(m.watermark!.lagSeconds!);
    }
    assert.ok(held[2]! > held[0]!, `the lag grows while the transaction stays open: ${held.join(', ')}`);
    assert.ok(held[2]! >= 3, `lag ${held[2]}`);
    const rec = await fx.control.pool.query(
      `SELECT watermark_method, watermark_lag_seconds, watermark_held_by FROM transfer_models m JOIN transfers t ON t.id = m.transfer_id
        WHERE t.destination_id = $1 AND m.model = 'items' ORDER BY t.requested_at DESC LIMIT 1`,
      [dst],
    );
    assert.equal(rec.rows[0].watermark_method, 'commit_safe');
    assert.ok(rec.rows[0].watermark_lag_seconds >= 3);
    assert.equal(rec.rows[0].watermark_held_by.pid, pid);
    const warned = captured.lines().filter((l) => l.level === 40 && l.model === 'items' && typeof l.lagSeconds === 'number');
    assert.ok(warned.length >= 1, 'a lag past the threshold is logged as a warning');

    // The rows committed meanwhile wait: nothing at or after the open transaction's start was sent.
    const before = (await deliveredRows(fx.s3, 'open', '', 'items')).map((r) => Number(r.v));
    assert.deepEqual(before, [1]);

    await slow.query('COMMIT');
    slow.release();
    await settle();
    await runTransfer(deps, { destinationId: dst });

    const got = (await deliveredRows(fx.s3, 'open', '', 'items')).map((r) => Number(r.v)).sort((a, b) => a - b);
    assert.deepEqual(got, [1, 42, 100, 101, 102], 'every row once, the late one included');
    const lost = (await deliveredRows(fx.s3, 'open', '', 'items_lookback')).map((r) => Number(r.v));
    assert.ok(!lost.includes(42), 'the lookback method loses the row of a transaction open longer than the lookback');
    assert.equal((await fx.verify('open')).ok, true);
  } finally {
    await source.close();
  }
});

test('ties at the boundary: a row committed later with a lower id and the same cursor is delivered, exactly once', async () => {
  const safe = tableModel('coarse', 'coarse');
  const lookback = tableModel('coarse_lookback', 'coarse', { watermark: 'lookback', lookback: 0 });
  const dst = await fx.addDestination({ tenantId: 'ties', bucket: 'ties' });
  const deps = fx.deps([safe, lookback]);

  // Two transactions in the same second: the one holding the lower id commits last.
  let late: pg.PoolClient | undefined;
  for (let attempt = 0; attempt < 10 && !late; attempt++) {
    const c = await fx.sql.connect();
    await c.query('BEGIN');
    const a = await c.query<{ t: string }>(`INSERT INTO coarse (id, tenant_id) VALUES ($1, 'ties') RETURNING updated_at::text AS t`, [10 * attempt + 1]);
    const b = await fx.sql.query<{ t: string }>(`INSERT INTO coarse (id, tenant_id) VALUES ($1, 'ties') RETURNING updated_at::text AS t`, [10 * attempt + 2]);
    if (a.rows[0]!.t === b.rows[0]!.t) {
      late = c;
    } else {
      await c.query('ROLLBACK');
      c.release();
      await fx.sql.query('DELETE FROM coarse WHERE id = $1', [10 * attempt + 2]);
    }
  }
  assert.ok(late, 'two transactions wrote the same cursor');
  await sleep(1100);
  const during = await runTransfer(deps, { destinationId: dst });
  assert.equal(during.status, 'succeeded');
  await late.query('COMMIT');
  late.release();
  await settle();
  await runTransfer(deps, { destinationId: dst });
  await runTransfer(deps, { destinationId: dst });

  const ids = (await deliveredRows(fx.s3, 'ties', '', 'coarse')).map((r) => Number(r.id)).sort((a, b) => a - b);
  const expected = (await fx.sql.query<{ id: string }>(`SELECT id FROM coarse WHERE tenant_id = 'ties' ORDER BY id`)).rows.map((r) => Number(r.id));
  assert.deepEqual(ids, expected, 'both rows of the tie, once each');
  const lost = (await deliveredRows(fx.s3, 'ties', '', 'coarse_lookback')).map((r) => Number(r.id));
  assert.ok(lost.length < expected.length, 'with a zero lookback the later commit with the lower id is lost');
});

test('random writers, some holding transactions open, while transfers run back to back: every final row delivered, no version twice', async () => {
  const model = tableModel('items', 'items');
  const dst = await fx.addDestination({ tenantId: 'busy', bucket: 'random' });
  const deps = fx.deps([model]);
  const began = Date.now();
  await fx.sql.query(`INSERT INTO items (tenant_id) SELECT CASE WHEN g % 4 = 0 THEN 'other' ELSE 'busy' END FROM generate_series(1, 3000) g`);
  const maxId = async (): Promise<number> => Number((await fx.sql.query<{ m: string }>('SELECT max(id) AS m FROM items')).rows[0]!.m);

  let stop = false;
  let commits = 0;
  let rolledBack = 0;
  const writer = async (seed: number): Promise<void> => {
    const client = new pg.Client({ connectionString: fx.sourceDb.url, application_name: `writer-${seed}` });
    await client.connect();
    try {
      for (let i = 0; !stop; i++) {
        await client.query('BEGIN');
        const ops = 1 + crypto.randomInt(5);
        const top = await maxId();
        // Sorted ids: writers never deadlock on each other's rows.
        const ids = Array.from({ length: ops }, () => 1 + crypto.randomInt(top)).sort((a, b) => a - b);
        for (const id of ids) {
          if (crypto.randomInt(3) === 0) {
            await client.query(`INSERT INTO items (tenant_id) SELECT CASE WHEN random() < 0.75 THEN 'busy' ELSE 'other' END FROM generate_series(1, 1 + (random() * 20)::int)`);
          } else {
            await client.query('UPDATE items SET updated_at = now(), v = v + 1 WHERE id = $1', [id]);
          }
        }
        // Most transactions are short; some stay open for seconds (the long ones hold the watermark back).
        const hold = crypto.randomInt(20) === 0 ? 1500 + crypto.randomInt(1500) : crypto.randomInt(60);
        await sleep(hold);
        if (crypto.randomInt(15) === 0) {
          await client.query('ROLLBACK');
          rolledBack++;
        } else {
          await client.query('COMMIT');
          commits++;
        }
      }
    } finally {
      await client.end();
    }
  };
  const writers = Array.from({ length: 6 }, (_, i) => writer(i));
  const statuses: string[] = [];
  const methods = new Set<string>();
  // At least 36 transfers, and as many more as it takes for the writers to commit enough (a fast,
  // idle machine runs 36 transfers in a few seconds).
  for (let n = 0; (n < 36 || commits < 120) && n < 400; n++) {
    const r = await runTransfer(deps, { destinationId: dst });
    statuses.push(r.status);
    for (const m of r.models) if (m.watermark) methods.add(m.watermark.method);
  }
  stop = true;
  await Promise.all(writers);
  // Rows at or above the last bound wait for the next transfer: one more after the writers stopped.
  await settle();
  statuses.push((await runTransfer(deps, { destinationId: dst })).status);
  assert.deepEqual(new Set(statuses), new Set(['succeeded']));
  assert.deepEqual([...methods], ['commit_safe']);

  const delivered = await deliveredRows(fx.s3, 'random', '', 'items');
  const version = (r: Record<string, unknown>): string => `${Number(r.id)}@${String(r.updated_at)}#${Number(r.v)}`;
  const seen = new Map<string, number>();
  for (const r of delivered) seen.set(version(r), (seen.get(version(r)) ?? 0) + 1);
  const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  assert.deepEqual(twice, [], `${twice.length} row versions appear in two committed manifests`);

  const source = await fx.sql.query<{ id: string; updated_at: string; v: number }>(
    `SELECT id, to_json(updated_at) #>> '{}' AS updated_at, v FROM items WHERE tenant_id = 'busy'`,
  );
  const missing = source.rows.filter((r) => !seen.has(version(r)));
  assert.deepEqual(missing.map(version), [], `${missing.length} of ${source.rows.length} final rows never delivered`);
  assert.ok(delivered.every((r) => r.tenant_id === 'busy'));
  assert.ok(source.rows.length >= 2500, `${source.rows.length} rows of the tenant`);
  assert.ok(commits >= 100, `writers committed ${commits} transactions during the transfers`);
  const manifests = await manifestsOf(fx.s3, 'random', '', 'items');
  // Consecutive windows meet exactly: each starts, included, where the previous one ended, excluded.
  for (let i = 1; i < manifests.length; i++) {
    assert.deepEqual(manifests[i]!.manifest.window.from, manifests[i - 1]!.manifest.window.to);
    assert.equal(manifests[i]!.manifest.window.bounds, '[)');
  }
  const report = await fx.verify('random');
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  const seconds = (Date.now() - began) / 1000;
  console.log(
    `# ${commits} writer commits (${rolledBack} rolled back) during 37 transfers; ${delivered.length} rows delivered in ${manifests.length} manifests for ${source.rows.length} current rows; ${seconds.toFixed(1)} s`,
  );
});

test('where the method cannot be used, the lookback is used and the record, the logs and the result say why', async () => {
  const dst = await fx.addDestination({ tenantId: 'fb', bucket: 'fallback' });
  await fx.sql.query(`INSERT INTO items (tenant_id) VALUES ('fb'); INSERT INTO counted VALUES (1, 'fb', 1)`);

  // A role that cannot see other roles' sessions (no pg_read_all_stats).
  const role = `sluice_wm_${crypto.randomBytes(4).toString('hex')}`;
  const password = crypto.randomBytes(12).toString('hex');
  await fx.sql.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'; GRANT SELECT ON items, counted TO ${role}`);
  const url = new URL(fx.sourceDb.url);
  url.username = role;
  url.password = password;
  const limited = createPostgresSource(url.toString(), { maxConcurrentQueries: 1 });
  const captured = capturedLog();
  try {
    const items = tableModel('items', 'items', { lookback: 60 });
    const counted = { ...tableModel('counted', 'counted', { lookback: 0 }), cursor: 'version' };
    const forced = tableModel('forced', 'items', { watermark: 'lookback', lookback: 60 });
    const all = [items, counted, forced];
    const r = await runTransfer({ ...fx.deps(all), source: postgresTransferSource(limited, all), log: captured.log }, { destinationId: dst });
    assert.equal(r.status, 'succeeded', JSON.stringify(r.models.map((m) => m.error)));
    const why = Object.fromEntries(r.models.map((m) => [m.model, [m.watermark!.method, m.watermark!.fallback]]));
    assert.deepEqual(why, {
      items: ['lookback', 'cannot_see_sessions'],
      counted: ['lookback', 'cursor_type'],
      forced: ['lookback', 'configured'],
    });
    const rec = await fx.control.pool.query('SELECT model, watermark_method, watermark_fallback FROM transfer_models WHERE transfer_id = $1 ORDER BY model', [r.id]);
    assert.deepEqual(rec.rows.map((x) => [x.model, x.watermark_method, x.watermark_fallback]), [
      ['counted', 'lookback', 'cursor_type'],
      ['forced', 'lookback', 'configured'],
      ['items', 'lookback', 'cannot_see_sessions'],
    ]);
    const logged = captured.lines().filter((l) => l.watermark === 'lookback');
    assert.equal(logged.find((l) => l.model === 'items')?.level, 40, 'a source that refuses the method is a warning');
    assert.equal(logged.find((l) => l.model === 'forced')?.level, 30, 'a configured lookback is information');
    // The lookback's manifests say so: (from, to] on (cursor, key).
    const [m] = await manifestsOf(fx.s3, 'fallback', '', 'items');
    assert.equal(m!.manifest.window.bounds, '(]');
    assert.deepEqual(m!.manifest.window.to!.primaryKey.length, 1);
  } finally {
    await limited.close();
    await fx.sql.query(`REVOKE ALL ON items, counted FROM ${role}; DROP ROLE ${role}`);
  }

  // The same destination back on a role that sees every session: the next window starts where the
  // lookback watermark says (lookback before it), then the method is commit-safe again.
  await settle();
  const items = tableModel('items', 'items', { lookback: 60 });
  const back = await runTransfer(fx.deps([items]), { destinationId: dst, models: ['items'] });
  assert.equal(back.models[0]!.watermark!.method, 'commit_safe');
  const ids = (await deliveredRows(fx.s3, 'fallback', '', 'items')).map((r) => Number(r.id));
  assert.equal(new Set(ids).size, 1, 'the one row of the tenant, possibly twice across the switch, never lost');
});

test('a quiet model: transfer after transfer with nothing new writes no object', async () => {
  const dst = await fx.addDestination({ tenantId: 'quiet', bucket: 'quiet' });
  await fx.sql.query(`INSERT INTO items (tenant_id) VALUES ('quiet'), ('quiet')`);
  await settle();
  const deps = fx.deps([tableModel('items', 'items')]);
  await runTransfer(deps, { destinationId: dst });
  const before = await fx.s3.list('quiet');
  for (let i = 0; i < 3; i++) {
    const r = await runTransfer(deps, { destinationId: dst });
    assert.equal(r.models[0]!.watermark!.method, 'commit_safe');
    assert.equal(r.models[0]!.files, 0);
  }
  assert.deepEqual(await fx.s3.list('quiet'), before);
  assert.equal((await deliveredRows(fx.s3, 'quiet', '', 'items')).length, 2);
});
