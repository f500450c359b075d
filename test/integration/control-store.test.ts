import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { migrate } from '../../src/control/migrate.js';
import { silentLogger } from '../../src/core/log.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';

describe('control store migrations', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase();
  });
  after(async () => db.drop());

  it('are applied once, also when several processes migrate at the same time', async () => {
    const again = await Promise.all([migrate(db.pool, silentLogger), migrate(db.pool, silentLogger)]);
    assert.deepEqual(again, [[], []]);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM sluice.migrations');
    assert.ok(rows[0].n >= 1);
  });
});
