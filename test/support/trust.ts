/**
 * For fixtures that insert destinations directly (tests of scheduling, transfers, crashes — not of the
 * connection test): records a passing connection test of the settings they have now, as
 * recordConnectionTest does after a real test (status active, the tested fingerprint stored), in one
 * statement so that thousands of fixtures stay cheap.
 */
import type { Queryable } from '../../src/control/db.js';

export async function markTested(db: Queryable, ids: readonly string[]): Promise<void> {
  await db.query(
    `UPDATE destinations d
        SET last_test_at = now(), last_test_passed = true, tested_fingerprint = trust_fingerprint(d),
            last_error = NULL, status = 'active', enabled = true
      WHERE d.id = ANY($1::text[])`,
    [ids],
  );
}
