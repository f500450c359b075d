/**
 * A destination as a transfer needs it (transfer/destination.ts): the destination and its recipient,
 * read from the control store with the S3 secret decrypted. Refuses whatever the delivery gate
 * refuses (delivery-gate.ts: untested, failed or outdated test, needs attention, disabled, deleted):
 * the runner loads its destination before it writes anything.
 */
import { notFound } from '../core/errors.js';
import type { Compression, Format } from '../core/types.js';
import type { TransferDestination } from '../transfer/destination.js';
import { withSnapshot, type Pool } from './db.js';
import { assertMayDeliver } from './delivery-gate.js';
import { effectiveCompression } from './destination-rules.js';
import { loadS3Config } from './destination-store.js';
import type { SecretBox } from './secrets.js';

export function destinationLoader(pool: Pool, secrets: SecretBox) {
  return async (destinationId: string): Promise<TransferDestination> => {
    // The gate's verdict and the configuration loaded come from one snapshot: a change committed
    // between two separate reads would be loaded after the gate approved the settings it replaced.
    return withSnapshot(pool, async (tx) => {
      await assertMayDeliver(tx, destinationId);
      const r = await tx.query<{ tenant_id: string; format: Format; compression: Compression | null; models: string[] | null }>(
        `SELECT r.tenant_id, d.format, d.compression, d.models
         FROM destinations d JOIN recipients r ON r.id = d.recipient_id WHERE d.id = $1`,
        [destinationId],
      );
      const row = r.rows[0];
      if (!row) throw notFound('destination', destinationId);
      return {
        s3: await loadS3Config(tx, secrets, destinationId),
        tenantId: row.tenant_id,
        format: row.format,
        compression: effectiveCompression(row.format, row.compression),
        models: row.models,
      };
    });
  };
}
