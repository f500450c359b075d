import type { Command } from 'commander';
import { validationError } from '../../core/errors.js';
import { printJson, withRuntime } from '../output.js';

export function registerPolicy(program: Command): void {
  program
    .command('policy [destination-id]')
    .description('Print the trust and permissions policies (JSON) for a destination, or for a bucket before it exists.')
    .option('--bucket <bucket>', 'bucket name (without a destination id)')
    .option('--prefix <prefix>', 'key prefix inside the bucket')
    .option('--kms-key-arn <arn>', 'SSE-KMS key of the bucket')
    .action(async (id: string | undefined, opts: { bucket?: string; prefix?: string; kmsKeyArn?: string }) => {
      if (id && (opts.bucket || opts.prefix || opts.kmsKeyArn)) {
        throw validationError([{ field: '--bucket', message: 'give either a destination id or --bucket, not both' }], 'arguments');
      }
      if (!id && !opts.bucket) {
        throw validationError([{ field: '--bucket', message: 'is required without a destination id' }], 'arguments');
      }
      // Loaded here: the identity sources are heavy, and only this command needs them.
      const { policiesForBucket, policiesForDestination } = await import('../../control/destination-policies.js');
      const { createIdentitySource } = await import('../../identity/index.js');
      const policies = await withRuntime(async (rt) => {
        const identity = await createIdentitySource(rt.config, { pool: rt.pool, secrets: rt.secrets, log: rt.log });
        try {
          if (id) return await policiesForDestination(rt.pool, identity, id);
          return await policiesForBucket(identity, {
            bucket: opts.bucket,
            ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
            ...(opts.kmsKeyArn !== undefined ? { kmsKeyArn: opts.kmsKeyArn } : {}),
          });
        } finally {
          await identity.close?.();
        }
      });
      printJson(policies);
    });
}
