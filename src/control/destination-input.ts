/**
 * What a client may send to create, change or test a destination: shapes only (types, required
 * fields, enums, lengths). The S3 rules over a whole configuration run afterwards, in
 * destination-rules.ts, and produce the same `{field, message}` problems for the API and the CLI.
 *
 * Input cannot name the audience (Sluice generates it) or the account id (taken from the role ARN).
 */
import { z } from 'zod';
import { ALL_COMPRESSIONS, FORMATS } from '../formats/index.js';
import { CONTROL_MESSAGE, withoutControlCharacters } from './validation.js';

export const FREQUENCIES = [15, 60, 360, 720, 1440] as const;
// The format table is formats/index.ts's: what the encoders write is what a destination may ask for.
export { ALL_COMPRESSIONS as COMPRESSIONS, FORMATS } from '../formats/index.js';

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);

export const AuthInput = z
  .strictObject({
    roleArn: text(2048).optional(),
    accessKeyId: text(128).optional(),
    secretAccessKey: text(128).optional(),
  })
  .describe('Either { roleArn } (recommended) or { accessKeyId, secretAccessKey }');

const modelName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a model name: lowercase letters, digits and underscores, starting with a letter');

/** Everything that describes a destination except whom it belongs to. */
const configFields = {
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').refine(withoutControlCharacters, CONTROL_MESSAGE).optional(),
  bucket: text(63),
  region: text(32),
  prefix: text(1024).optional(),
  auth: AuthInput,
  endpoint: text(2048).nullable().optional(),
  forcePathStyle: z.boolean().optional(),
  kmsKeyArn: text(2048).nullable().optional(),
  conditionalWrites: z.boolean().optional(),
  requestChecksums: z.boolean().optional(),
  format: z.enum(FORMATS).optional(),
  compression: z.enum(ALL_COMPRESSIONS).nullable().optional(),
  models: z.array(modelName).min(1, 'must list at least one model, or be null for every model').nullable().optional(),
  frequencyMinutes: z
    .literal(FREQUENCIES)
    .nullable()
    .optional()
    .describe('Minutes between scheduled transfers; null = manual only'),
};

/** A configuration to test before it is saved (recipientId may be given, and is then ignored). */
const recipientId = text(100).refine(withoutControlCharacters, CONTROL_MESSAGE);

export const DestinationConfigInput = z.strictObject({ ...configFields, recipientId: recipientId.optional() });

export const DestinationCreateInput = z.strictObject({ recipientId, ...configFields });

export const DestinationUpdateInput = z
  .strictObject({
    name: configFields.name,
    bucket: configFields.bucket.optional(),
    region: configFields.region.optional(),
    prefix: configFields.prefix,
    auth: AuthInput.optional(),
    endpoint: configFields.endpoint,
    forcePathStyle: configFields.forcePathStyle,
    kmsKeyArn: configFields.kmsKeyArn,
    conditionalWrites: configFields.conditionalWrites,
    requestChecksums: configFields.requestChecksums,
    format: configFields.format,
    compression: configFields.compression,
    models: configFields.models,
    frequencyMinutes: configFields.frequencyMinutes,
  })
  .refine((v) => Object.keys(v).length > 0, { message: 'give at least one field to change' });

export type DestinationConfigInputType = z.output<typeof DestinationConfigInput>;
export type DestinationCreate = z.output<typeof DestinationCreateInput>;
export type DestinationUpdate = z.output<typeof DestinationUpdateInput>;
export type AuthInputType = z.output<typeof AuthInput>;
