/**
 * The shape of sluice.yaml, checked before anything touches the source database. Keys are snake_case
 * as written by people; the loader turns them into ModelDefinition.
 *
 *   source:                          # optional: protects the provider's database
 *     max_concurrent_queries: 4      # reads running at once against the source
 *     statement_timeout: 1h          # per statement; 0 = none
 *   models:
 *     - name: orders                 # lowercase, used in object keys
 *       table: public.orders         # or  sql: SELECT … (exactly one of them)
 *       columns: [id, account_id, total, updated_at]   # optional, default all
 *       primary_key: [id]            # optional for tables with a primary-key constraint
 *       cursor: updated_at           # last-modified column: integer, numeric, date or timestamp
 *       tenant: account_id           # the recipient's tenant_id is matched against it
 *       soft_delete: deleted_at      # optional: set (or true) → _sluice_deleted = true
 *       lookback: 5m                 # optional: the fallback's re-read (docs/change-detection.md)
 *       watermark: commit_safe       # default; `lookback` forces the lookback method
 *       deletes: track               # optional: deliver hard deletes as tombstones (a trigger Sluice installs)
 */
import { z } from 'zod';

const NAME = /^[a-z][a-z0-9_]{0,62}$/;

const stringList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

/** "90s", "5m", "2h", "1d" → seconds; a bare number is taken as is (units of the cursor). */
export const lookbackValue = z.union(
  [
  z.number().nonnegative(),
  z
    .string()
    .regex(/^\d+(\.\d+)?\s*(s|m|h|d)$/, 'must be a duration like 30s, 5m, 2h or 1d, or a number')
    .transform((v) => {
      const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(v)!;
      const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
      return { seconds: Number(m[1]) * unit };
    }),
  ],
  { error: 'must be a duration like 30s, 5m, 2h or 1d, or a number' },
);

export const durationMs = z.union(
  [
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+\s*(ms|s|m|h)$/, 'must be a duration like 500ms, 30s, 15m or 1h, or milliseconds')
    .transform((v) => {
      const m = /^(\d+)\s*(ms|s|m|h)$/.exec(v)!;
      return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    }),
  ],
  { error: 'must be a duration like 500ms, 30s, 15m or 1h, or milliseconds' },
);

export const ModelSchema = z
  .object({
    name: z.string().regex(NAME, 'must be lowercase letters, digits and underscores, starting with a letter (it is used in object keys)'),
    table: z.string().min(1).optional(),
    sql: z.string().min(1).optional(),
    columns: z.array(z.string().min(1)).min(1).optional(),
    primary_key: stringList.optional(),
    cursor: z.string().min(1),
    tenant: z.string().min(1),
    soft_delete: z.string().min(1).optional(),
    lookback: lookbackValue.optional(),
    watermark: z.enum(['commit_safe', 'lookback'], { error: 'must be commit_safe (the default) or lookback' }).optional(),
    deletes: z.enum(['track', 'ignore'], { error: 'must be track or ignore (the default: hard deletes are not delivered)' }).optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if ((m.table === undefined) === (m.sql === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['table'], message: 'give exactly one of `table` or `sql`' });
    }
  });

export const ModelsFileSchema = z
  .object({
    source: z
      .object({
        max_concurrent_queries: z.number().int().min(1).max(64).optional(),
        statement_timeout: durationMs.optional(),
        // An open transaction holding the commit-safe watermark back longer than this is logged as a warning.
        watermark_lag_warning: durationMs.optional(),
      })
      .strict()
      .optional(),
    models: z.array(ModelSchema).min(1, 'declare at least one model'),
  })
  .strict();

export type ModelsFile = z.infer<typeof ModelsFileSchema>;
export type ModelEntry = z.infer<typeof ModelSchema>;
