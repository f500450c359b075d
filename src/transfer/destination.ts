/**
 * What a transfer needs to know about its destination: where to write (the S3 configuration, secrets
 * decrypted), whose rows (the recipient's tenant id), how to encode, and which models.
 */
import type { Pool } from '../core/pg.js';
import type { SecretBox } from '../control/secrets.js';
import type { S3DestinationConfig } from '../destinations/s3/types.js';
import { notFound, SluiceError } from '../core/errors.js';
import { DEFAULT_COMPRESSION } from '../formats/index.js';
import type { Compression, Format } from '../core/types.js';

export interface TransferDestination {
  s3: S3DestinationConfig;
  tenantId: string;
  format: Format;
  compression: Compression;
  /** null = every configured model. */
  models: string[] | null;
}

export type LoadS3Config = (pool: Pool, secrets: SecretBox, destinationId: string) => Promise<S3DestinationConfig>;

/** Reads the destination and its recipient; the S3 part comes from `loadS3Config` (control/destinations.ts). */
export function destinationLoader(pool: Pool, secrets: SecretBox, loadS3Config: LoadS3Config) {
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
        hint: 'Enable the destination and its recipient again to resume deliveries.',
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
