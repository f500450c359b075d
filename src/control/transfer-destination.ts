/**
 * A destination as a transfer needs it (transfer/destination.ts): the destination and its recipient,
 * read from the control store with the S3 secret decrypted. Refuses a disabled destination or
 * recipient.
 */
import { notFound, SluiceError } from '../core/errors.js';
import type { Compression, Format } from '../core/types.js';
import { DEFAULT_COMPRESSION } from '../formats/index.js';
import type { TransferDestination } from '../transfer/destination.js';
import type { Pool } from './db.js';
import { loadS3Config } from './destinations.js';
import type { SecretBox } from './secrets.js';

export function destinationLoader(pool: Pool, secrets: SecretBox) {
  return async (destinationId: string): Promise<TransferDestination> => {
    const r = await pool.query<{
      tenant_id: string;
      format: Format;
      compression: Compression | null;
      models: string[] | null;
      status: string;
      recipient_disabled: boolean;
    }>(
      `SELECT r.tenant_id, d.format, d.compression, d.models, d.status, r.disabled_at IS NOT NULL AS recipient_disabled
       FROM destinations d JOIN recipients r ON r.id = d.recipient_id WHERE d.id = $1`,
      [destinationId],
    );
    const row = r.rows[0];
    if (!row) throw notFound('destination', destinationId);
    if (row.status === 'disabled' || row.recipient_disabled) {
      throw new SluiceError({
        code: 'destination_disabled',
        message: `Destination ${destinationId} (or its recipient) is disabled; nothing is delivered to it.`,
        hint: 'Disabling is final: to deliver again, create a new destination (for a recipient that is not disabled) and test it.',
        actor: 'provider',
        status: 409,
      });
    }
    return {
      s3: await loadS3Config(pool, secrets, destinationId),
      tenantId: row.tenant_id,
      format: row.format,
      compression: row.compression ?? DEFAULT_COMPRESSION[row.format],
      models: row.models,
    };
  };
}
