/**
 * The trust and permissions policies a recipient pastes into IAM, for a saved destination (audience
 * and account filled in) or for a bucket before any destination exists (placeholders, with notes).
 */
import { z } from 'zod';
import { destinationPolicies, partitionOf, type DestinationPolicies } from '../destinations/s3/policies.js';
import { checkBucketName, checkKmsKeyArn, checkPrefix, parseRoleArn } from '../destinations/s3/rules.js';
import { validationError, type FieldProblem } from '../core/errors.js';
import type { IdentitySource } from '../core/identity.js';
import type { Queryable } from './db.js';
import { getDestination } from './destination-store.js';
import { parseInput } from './validation.js';

export const BucketPoliciesInput = z.strictObject({
  bucket: z.string().max(63, 'must be at most 63 characters'),
  prefix: z.string().max(1024, 'must be at most 1024 characters').optional(),
  kmsKeyArn: z.string().max(2048, 'must be at most 2048 characters').optional(),
});

export async function policiesForDestination(db: Queryable, identity: IdentitySource, id: string): Promise<DestinationPolicies> {
  const d = await getDestination(db, id);
  // Role destinations know their account (possibly '' for account-less stores); access keys do not.
  const accountId = d.auth.kind === 'role' ? parseRoleArn(d.auth.roleArn)?.accountId : undefined;
  return destinationPolicies({
    bucket: d.bucket,
    prefix: d.prefix,
    ...(d.kmsKeyArn ? { kmsKeyArn: d.kmsKeyArn } : {}),
    audience: d.audience,
    ...(accountId !== undefined ? { accountId } : {}),
    identity: await identity.describe(),
    partition: partitionOf(d.region),
  });
}

export async function policiesForBucket(identity: IdentitySource, input: unknown): Promise<DestinationPolicies> {
  const data = parseInput(BucketPoliciesInput, input, 'policy request');
  const problems: FieldProblem[] = [];
  const add = (field: string, message: string | null) => {
    if (message) problems.push({ field, message });
  };
  add('bucket', checkBucketName(data.bucket));
  add('prefix', checkPrefix(data.prefix ?? ''));
  if (data.kmsKeyArn !== undefined) add('kmsKeyArn', checkKmsKeyArn(data.kmsKeyArn));
  if (problems.length > 0) throw validationError(problems, 'policy request');
  return destinationPolicies({
    bucket: data.bucket,
    prefix: data.prefix ?? '',
    ...(data.kmsKeyArn ? { kmsKeyArn: data.kmsKeyArn } : {}),
    audience: null,
    identity: await identity.describe(),
    // The key's partition is the bucket's (arn:aws-cn:kms:… → aws-cn).
    ...(data.kmsKeyArn ? { partition: data.kmsKeyArn.split(':')[1] ?? 'aws' } : {}),
  });
}
