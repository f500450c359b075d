/**
 * The multipart part-size schedule: parts grow (×2 every 1,000 parts) so that S3's 10,000 parts
 * reach past its 5 TiB object limit, while most objects, which are small, use small parts.
 */
import { SluiceError } from '../../core/errors.js';

export const MIB = 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * MIB;
export const MAX_PARTS = 10_000;
export const MAX_PART_SIZE = 5 * 1024 * MIB;
/** Part size doubles after every this many parts. */
export const PARTS_PER_SIZE_STEP = 1_000;

/**
 * Size of part `partNumber` (1-based) when the first parts are `base` bytes. With the default 8 MiB
 * the 10,000 parts add up to ~8 TiB, above S3's 5 TiB object limit.
 */
export function partSizeFor(partNumber: number, base = DEFAULT_PART_SIZE): number {
  const step = Math.floor((partNumber - 1) / PARTS_PER_SIZE_STEP);
  return Math.min(MAX_PART_SIZE, base * 2 ** step);
}

/** Largest object that `MAX_PARTS` parts of the growing schedule can hold. */
export function maxObjectSize(base = DEFAULT_PART_SIZE): number {
  let total = 0;
  for (let step = 0; step * PARTS_PER_SIZE_STEP < MAX_PARTS; step++) total += PARTS_PER_SIZE_STEP * partSizeFor(step * PARTS_PER_SIZE_STEP + 1, base);
  return total;
}

/** The error for a body that would need more than MAX_PARTS parts. */
export function tooLarge(key: string, bytes: number): SluiceError {
  return new SluiceError({
    code: 'object_too_large',
    actor: 'sluice',
    message: `The object ${key} exceeds what ${MAX_PARTS} parts can hold (${bytes} bytes so far).`,
    hint: 'Lower the file rotation size of the transfer.',
    status: 500,
  });
}
