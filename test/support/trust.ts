/**
 * For fixtures that insert destinations directly (tests of scheduling, transfers, crashes — not of the
 * connection test): records a passing connection test of the settings they have now, exactly as
 * recordConnectionTest does after a real test, so the delivery gate lets them deliver.
 */
import type { Queryable } from '../../src/control/db.js';
import { currentFingerprint } from '../../src/transfer/delivery-gate.js';
import { recordConnectionTest } from '../../src/control/destinations.js';

export async function markTested(db: Queryable, ids: readonly string[]): Promise<void> {
  for (const id of ids) await recordConnectionTest(db, id, { passed: true, fingerprint: await currentFingerprint(db, id) });
}
