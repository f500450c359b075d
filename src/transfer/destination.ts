/**
 * What a transfer needs to know about its destination: where to write (the S3 configuration, secrets
 * decrypted), whose rows (the recipient's tenant id), how to encode, and which models. The control
 * store reads it (control/transfer-destination.ts); the runner only receives it.
 */
import type { S3DestinationConfig } from '../destinations/s3/types.js';
import type { Compression, Format } from '../core/types.js';

export interface TransferDestination {
  s3: S3DestinationConfig;
  tenantId: string;
  format: Format;
  compression: Compression;
  /** null = every configured model. */
  models: string[] | null;
}
