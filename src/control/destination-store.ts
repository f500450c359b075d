/**
 * The `destinations` table: the only module that writes it (test/unit/table-owners.test.ts checks
 * that). Everything else — the API, the CLI, the setup page, the demo, the worker, the scheduler —
 * calls these functions, so each status transition is written once.
 *
 * Kept here:
 * - the secret access key is stored only as SecretBox ciphertext bound to `secretContext(id)`, and
 *   leaves this module only inside `loadS3Config` (for the code that talks to S3). Views show
 *   `secretAccessKey: "set"` and never read the ciphertext;
 * - the status moves: `new` on creation and whenever where or how Sluice writes changes; `active`
 *   when a connection test passes; `needs_attention` when the recipient must act; `disabled` for
 *   good (disabled or deleted). Whether a destination may deliver is decided by delivery-gate.ts alone.
 */
import type { S3DestinationConfig } from '../destinations/s3/types.js';
import { roleIdentity } from '../destinations/s3/rules.js';
import { notFound, type ErrorRecord } from '../core/errors.js';
import type { Compression, Format } from '../core/types.js';
import type { PoolClient, Queryable } from './db.js';
import { deliverableSql } from './delivery-gate.js';
import { accountIdOf, effectiveCompression, s3Config, type DestinationAuth, type DestinationSettings } from './destination-rules.js';
import type { SecretBox } from './secrets.js';

export const DESTINATION_STATUSES = ['new', 'active', 'needs_attention', 'disabled'] as const;
export type DestinationStatus = (typeof DESTINATION_STATUSES)[number];

/** A row of `destinations` as stored (the columns this module reads; migrations 001–011). */
export interface DestinationRow {
  id: string;
  recipient_id: string;
  name: string;
  audience: string;
  bucket: string;
  region: string;
  prefix: string;
  auth_kind: DestinationAuth['kind'];
  role_arn: string | null;
  account_id: string | null;
  access_key_id: string | null;
  secret_access_key: Buffer | null;
  endpoint: string | null;
  force_path_style: boolean;
  kms_key_arn: string | null;
  conditional_writes: boolean;
  request_checksums: boolean;
  format: Format;
  compression: Compression | null;
  models: string[] | null;
  frequency_minutes: number | null;
  enabled: boolean;
  status: DestinationStatus;
  last_error: unknown;
  last_test_at: Date | null;
  last_test_passed: boolean | null;
  disabled_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** The auth as shown: an access key's secret only as "set". */
export type PublicAuth =
  | Extract<DestinationAuth, { kind: 'role' }>
  | (Omit<Extract<DestinationAuth, { kind: 'access_key' }>, 'secretAccessKey'> & { secretAccessKey: 'set' });

/**
 * What the API, the CLI and the setup page show: the settings (secret hidden, compression resolved)
 * and what Sluice decided (id, audience, account, status, test results).
 */
export interface DestinationView extends Omit<DestinationSettings, 'auth' | 'compression'> {
  id: string;
  recipientId: string;
  audience: string;
  auth: PublicAuth;
  accountId: string | null;
  compression: Compression;
  enabled: boolean;
  status: DestinationStatus;
  lastTestAt: string | null;
  lastTestPassed: boolean | null;
  lastError: unknown;
  disabledAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export function secretContext(destinationId: string): string {
  return `destination:${destinationId}:secret_access_key`;
}

/** Columns read for views: the secret's ciphertext is deliberately not among them. */
const VIEW_COLUMNS = `id, recipient_id, name, audience, bucket, region, prefix, auth_kind, role_arn, account_id,
  access_key_id, (secret_access_key IS NOT NULL) AS has_secret, endpoint, force_path_style, kms_key_arn,
  conditional_writes, request_checksums, format, compression, models, frequency_minutes, enabled, status,
  last_error, last_test_at, last_test_passed, disabled_at, created_at, updated_at`;

type ViewRow = Omit<DestinationRow, 'secret_access_key'>;

function toView(row: ViewRow): DestinationView {
  return {
    id: row.id,
    recipientId: row.recipient_id,
    name: row.name,
    audience: row.audience,
    bucket: row.bucket,
    region: row.region,
    prefix: row.prefix,
    auth:
      row.auth_kind === 'role'
        ? { kind: 'role', roleArn: row.role_arn as string }
        : { kind: 'access_key', accessKeyId: row.access_key_id as string, secretAccessKey: 'set' },
    accountId: row.account_id,
    endpoint: row.endpoint,
    forcePathStyle: row.force_path_style,
    kmsKeyArn: row.kms_key_arn,
    conditionalWrites: row.conditional_writes,
    requestChecksums: row.request_checksums,
    format: row.format,
    compression: effectiveCompression(row.format, row.compression),
    models: row.models,
    frequencyMinutes: row.frequency_minutes,
    enabled: row.enabled,
    status: row.status,
    lastTestAt: row.last_test_at?.toISOString() ?? null,
    lastTestPassed: row.last_test_passed,
    lastError: row.last_error ?? null,
    disabledAt: row.disabled_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

export async function listDestinations(db: Queryable, opts: { recipientId?: string } = {}): Promise<DestinationView[]> {
  const { rows } = await db.query<ViewRow>(
    `SELECT ${VIEW_COLUMNS}
       FROM destinations
      WHERE ($1::text IS NULL OR recipient_id = $1) AND deleted_at IS NULL
      ORDER BY created_at, id`,
    [opts.recipientId ?? null],
  );
  return rows.map(toView);
}

export async function getDestination(db: Queryable, id: string): Promise<DestinationView> {
  const { rows } = await db.query<ViewRow>(`SELECT ${VIEW_COLUMNS} FROM destinations WHERE id = $1 AND deleted_at IS NULL`, [id]);
  const row = rows[0];
  if (!row) throw notFound('destination', id);
  return toView(row);
}

/**
 * The destination, row-locked until the transaction ends (an update's read-modify-write), with the
 * compression as stored (null = the format's default, which a format change must not freeze).
 */
export async function lockDestination(tx: PoolClient, id: string): Promise<{ current: DestinationView; storedCompression: Compression | null }> {
  const { rows } = await tx.query<ViewRow>(`SELECT ${VIEW_COLUMNS} FROM destinations WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, [id]);
  const row = rows[0];
  if (!row) throw notFound('destination', id);
  return { current: toView(row), storedCompression: row.compression };
}

/**
 * The configuration the S3 code needs, with the secret access key decrypted. For the transfer and
 * the connection test only: never serialise the result.
 */
export async function loadS3Config(db: Queryable, secrets: SecretBox, destinationId: string): Promise<S3DestinationConfig> {
  const { rows } = await db.query<DestinationRow>('SELECT * FROM destinations WHERE id = $1 AND deleted_at IS NULL', [destinationId]);
  const row = rows[0];
  if (!row) throw notFound('destination', destinationId);
  const auth: DestinationAuth =
    row.auth_kind === 'role'
      ? { kind: 'role', roleArn: row.role_arn as string }
      : {
          kind: 'access_key',
          accessKeyId: row.access_key_id as string,
          secretAccessKey: secrets.decryptString(row.secret_access_key as Buffer, secretContext(row.id)),
        };
  return s3Config({ id: row.id, recipientId: row.recipient_id, audience: row.audience }, row.account_id, {
    bucket: row.bucket,
    region: row.region,
    prefix: row.prefix,
    auth,
    endpoint: row.endpoint,
    forcePathStyle: row.force_path_style,
    kmsKeyArn: row.kms_key_arn,
    conditionalWrites: row.conditional_writes,
    requestChecksums: row.request_checksums,
  });
}

// ---------------------------------------------------------------------------------------------
// Settings (create, change): status `new` until a connection test passes

/** The credential columns of an auth: ARN, its identity and account, or the key id and its ciphertext. */
function authColumns(secrets: SecretBox, id: string, auth: DestinationAuth) {
  return {
    kind: auth.kind,
    roleArn: auth.kind === 'role' ? auth.roleArn : null,
    roleIdentity: auth.kind === 'role' ? roleIdentity(auth.roleArn) : null,
    accountId: accountIdOf(auth),
    accessKeyId: auth.kind === 'access_key' ? auth.accessKeyId : null,
    secret: auth.kind === 'access_key' ? secrets.encrypt(auth.secretAccessKey, secretContext(id)) : null,
  };
}

/** Stores a new destination (status `new`, not enabled: the schema's defaults). */
export async function insertDestination(
  tx: Queryable,
  secrets: SecretBox,
  d: { id: string; recipientId: string; audience: string; settings: DestinationSettings },
): Promise<void> {
  const s = d.settings;
  const a = authColumns(secrets, d.id, s.auth);
  await tx.query(
    `INSERT INTO destinations (
       id, recipient_id, name, audience, bucket, region, prefix,
       auth_kind, role_arn, account_id, access_key_id, secret_access_key,
       endpoint, force_path_style, kms_key_arn, conditional_writes, request_checksums,
       format, compression, models, frequency_minutes, role_identity)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
    [
      d.id, d.recipientId, s.name, d.audience, s.bucket, s.region, s.prefix,
      a.kind, a.roleArn, a.accountId, a.accessKeyId, a.secret,
      s.endpoint, s.forcePathStyle, s.kmsKeyArn, s.conditionalWrites, s.requestChecksums,
      s.format, s.compression, s.models, s.frequencyMinutes, a.roleIdentity,
    ],
  );
}

/**
 * Stores changed settings. `auth` null keeps the stored credentials. `retest`: where or how Sluice
 * writes changed, so the destination goes back to `new` (not enabled, no passing test) until a
 * connection test passes again.
 */
export async function updateDestinationSettings(
  tx: Queryable,
  secrets: SecretBox,
  id: string,
  s: Omit<DestinationSettings, 'auth'> & { auth: DestinationAuth | null },
  retest: boolean,
): Promise<void> {
  const a = s.auth ? authColumns(secrets, id, s.auth) : null;
  await tx.query(
    `UPDATE destinations
        SET name = $2, bucket = $3, region = $4, prefix = $5,
            auth_kind = coalesce($6, auth_kind),
            role_arn = CASE WHEN $6::text IS NULL THEN role_arn ELSE $7 END,
            role_identity = CASE WHEN $6::text IS NULL THEN role_identity ELSE $21 END,
            account_id = CASE WHEN $6::text IS NULL THEN account_id ELSE $8 END,
            access_key_id = CASE WHEN $6::text IS NULL THEN access_key_id ELSE $9 END,
            secret_access_key = CASE WHEN $6::text IS NULL THEN secret_access_key ELSE $10 END,
            endpoint = $11, force_path_style = $12, kms_key_arn = $13,
            conditional_writes = $14, request_checksums = $15,
            format = $16, compression = $17, models = $18, frequency_minutes = $19,
            status = CASE WHEN $20 THEN 'new' ELSE status END,
            enabled = CASE WHEN $20 THEN false ELSE enabled END,
            last_test_passed = CASE WHEN $20 THEN NULL ELSE last_test_passed END,
            updated_at = now()
      WHERE id = $1`,
    [
      id, s.name, s.bucket, s.region, s.prefix,
      a?.kind ?? null, a?.roleArn ?? null, a?.accountId ?? null, a?.accessKeyId ?? null, a?.secret ?? null,
      s.endpoint, s.forcePathStyle, s.kmsKeyArn, s.conditionalWrites, s.requestChecksums,
      s.format, s.compression, s.models, s.frequencyMinutes, retest, a?.roleIdentity ?? null,
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// Status transitions

/**
 * Records a connection test. Passing moves `new`/`needs_attention` to `active` and stores the
 * fingerprint of the tested configuration (the delivery gate compares it with the current one);
 * failing clears it, and moves `active` to `needs_attention` only when the recipient must act (a
 * fault of Sluice or the provider does not park the destination, though the gate still holds
 * deliveries until a test passes); a disabled destination stays disabled.
 */
export async function recordConnectionTest(
  db: Queryable,
  id: string,
  result: { passed: boolean; fingerprint: string | null; error?: { actor?: string } & Record<string, unknown>; accountId?: string },
): Promise<DestinationView> {
  const { rowCount } = await db.query(
    `UPDATE destinations
        SET last_test_at = now(),
            last_test_passed = $2,
            tested_fingerprint = CASE WHEN $2 THEN $5 ELSE NULL END,
            last_error = CASE WHEN $2 THEN NULL ELSE $3::jsonb END,
            status = CASE
                       WHEN status = 'disabled' THEN status
                       WHEN $2 THEN 'active'
                       WHEN status = 'active' AND $6 THEN 'needs_attention'
                       ELSE status
                     END,
            enabled = CASE WHEN status = 'disabled' THEN false ELSE $2 END,
            -- An access key's account, learnt by the test, becomes ExpectedBucketOwner from now on.
            account_id = coalesce(account_id, $4),
            updated_at = now()
      WHERE id = $1 AND deleted_at IS NULL`,
    [
      id,
      result.passed,
      result.passed ? null : JSON.stringify(result.error ?? null),
      result.accountId ?? null,
      result.fingerprint,
      (result.error?.actor ?? 'recipient') === 'recipient',
    ],
  );
  if (rowCount === 0) throw notFound('destination', id);
  return getDestination(db, id);
}

/**
 * A transfer failed for a reason the recipient must fix: `needs_attention` (the gate holds deliveries
 * until a connection test passes) with the error. A disabled destination stays disabled.
 */
export async function markNeedsAttention(db: Queryable, id: string, error: ErrorRecord): Promise<void> {
  await db.query(
    `UPDATE destinations SET status = 'needs_attention', last_error = $2, updated_at = now()
      WHERE id = $1 AND status <> 'disabled'`,
    [id, error],
  );
}

/** A transfer failed for a reason that does not park the destination: the error is shown, nothing else changes. */
export async function recordTransferFailure(db: Queryable, id: string, error: ErrorRecord): Promise<void> {
  await db.query('UPDATE destinations SET last_error = $2, updated_at = now() WHERE id = $1', [id, error]);
}

/**
 * Pauses (no scheduled transfers) or resumes a destination. Resuming needs an active destination with
 * a passed test; pausing anything but a disabled one. Returns false when the destination does not qualify.
 */
export async function setDestinationPaused(db: Queryable, id: string, paused: boolean): Promise<boolean> {
  const { rowCount } = await db.query(
    paused
      ? `UPDATE destinations SET enabled = false, updated_at = now() WHERE id = $1 AND status <> 'disabled'`
      : `UPDATE destinations SET enabled = true, updated_at = now() WHERE id = $1 AND status = 'active' AND last_test_passed`,
    [id],
  );
  return (rowCount ?? 0) > 0;
}

/** Disables a destination for good: no more transfers or tests change it. Idempotent; false when it does not exist. */
export async function markDisabled(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE destinations
        SET status = 'disabled', enabled = false, disabled_at = coalesce(disabled_at, now()), updated_at = now()
      WHERE id = $1 AND deleted_at IS NULL`,
    [id],
  );
  return (rowCount ?? 0) > 0;
}

/** Disables every destination of a recipient (the recipient was disabled). */
export async function disableRecipientDestinations(db: Queryable, recipientId: string): Promise<void> {
  await db.query(
    `UPDATE destinations
        SET status = 'disabled', enabled = false, disabled_at = coalesce(disabled_at, now()), updated_at = now()
      WHERE recipient_id = $1`,
    [recipientId],
  );
}

/**
 * Marks a destination deleted: gone from views, schedules and credential claims (its role and key are
 * free again; its bucket prefix is not, as its files are still there), its tested fingerprint cleared. False when it does not exist or is deleted already.
 */
export async function markDeleted(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE destinations
        SET deleted_at = now(), status = 'disabled', enabled = false, disabled_at = coalesce(disabled_at, now()),
            tested_fingerprint = NULL, updated_at = now()
      WHERE id = $1 AND deleted_at IS NULL`,
    [id],
  );
  return (rowCount ?? 0) > 0;
}

// ---------------------------------------------------------------------------------------------
// Schedule

/** Starts the schedule one period from now, unless it runs already (after a first transfer). */
export async function startSchedule(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE destinations SET next_run_at = coalesce(next_run_at, now() + frequency_minutes * interval '1 minute') WHERE id = $1`,
    [id],
  );
}

/**
 * Takes up to `limit` destinations that are due and may deliver (deliverableSql: the rule the API, the
 * worker and the runner apply one destination at a time), locks them for the caller's transaction (SKIP LOCKED: concurrent
 * schedulers take other ones) and moves their next run one period on. Returns their ids.
 */
export async function advanceDueDestinations(
  tx: PoolClient,
  opts: { minuteMs: number; limit: number },
): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `WITH due AS (
       SELECT d.id
         FROM destinations d
        WHERE d.enabled AND d.frequency_minutes IS NOT NULL AND ${deliverableSql('d')}
          AND (d.next_run_at IS NULL OR d.next_run_at <= now())
        ORDER BY d.next_run_at NULLS FIRST
        LIMIT $2
        FOR UPDATE SKIP LOCKED
     )
     UPDATE destinations d
        SET next_run_at = now() + d.frequency_minutes * $1::float8 * interval '1 millisecond'
       FROM due
      WHERE d.id = due.id
     RETURNING d.id`,
    [opts.minuteMs, opts.limit],
  );
  return rows.map((r) => r.id);
}
