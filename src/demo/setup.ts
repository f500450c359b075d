/**
 * The demo recipient ("Acme", tenant `acme`) and its destination: the local demo bucket, reached with
 * an access key over http on 127.0.0.1 — allowed for the demo only. Idempotent: a second start finds
 * them and only points the destination at the bucket's new port.
 */
import type { Pool } from '../control/db.js';
import { withTransaction } from '../control/db.js';
import type { SecretBox } from '../control/secrets.js';
import type { Config } from '../config.js';
import { createSetupLink } from '../control/setup-links.js';
import { newAudience } from '../core/audience.js';
import { newId } from '../core/ids.js';
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY, DEMO_SETUP_BUCKET, type DemoBucket } from './bucket.js';

export const DEMO_TENANT = 'acme';
export const DEMO_PREFIX = 'exports';

export interface DemoDestination {
  recipientId: string;
  destinationId: string;
  created: boolean;
}

export async function ensureDemoDestination(pool: Pool, secrets: SecretBox, bucket: DemoBucket): Promise<DemoDestination> {
  return withTransaction(pool, async (client) => {
    // One demo at a time: serialise concurrent starts on the same control store.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('sluice:demo-setup'))");
    const existing = await client.query<{ recipient_id: string; destination_id: string | null }>(
      `SELECT r.id AS recipient_id, d.id AS destination_id
         FROM recipients r LEFT JOIN destinations d ON d.recipient_id = r.id AND d.bucket = $2
        WHERE r.tenant_id = $1
        ORDER BY d.created_at NULLS LAST LIMIT 1`,
      [DEMO_TENANT, bucket.bucket],
    );
    let recipientId = existing.rows[0]?.recipient_id;
    if (!recipientId) {
      recipientId = newId('rcp');
      await client.query('INSERT INTO recipients (id, name, tenant_id) VALUES ($1, $2, $3)', [recipientId, 'Acme Inc. (demo)', DEMO_TENANT]);
    }
    const found = existing.rows[0]?.destination_id;
    if (found) {
      await client.query('UPDATE destinations SET endpoint = $2, updated_at = now() WHERE id = $1', [found, bucket.endpoint]);
      return { recipientId, destinationId: found, created: false };
    }
    const destinationId = newId('dst');
    const secret = secrets.encrypt(DEMO_SECRET_ACCESS_KEY, `destination:${destinationId}:secret_access_key`);
    // Not enabled yet: the demo enables the schedule once the connection test has passed.
    await client.query(
      `INSERT INTO destinations (id, recipient_id, name, audience, bucket, region, prefix, auth_kind, access_key_id,
                                 secret_access_key, endpoint, force_path_style, conditional_writes, request_checksums,
                                 format, frequency_minutes, enabled, status)
       VALUES ($1, $2, 'Acme demo bucket', $3, $4, 'us-east-1', $5, 'access_key', $6, $7, $8, true, false, false,
               'parquet', 15, false, 'new')`,
      [destinationId, recipientId, newAudience(), bucket.bucket, DEMO_PREFIX, DEMO_ACCESS_KEY_ID, secret, bucket.endpoint],
    );
    return { recipientId, destinationId, created: true };
  });
}

/** After a passing connection test: schedule every 15 minutes from now on. */
export async function enableDemoSchedule(pool: Pool, destinationId: string): Promise<void> {
  await pool.query(
    `UPDATE destinations SET enabled = true, status = CASE WHEN status = 'new' THEN 'active' ELSE status END,
                             next_run_at = coalesce(next_run_at, now() + interval '15 minutes'), updated_at = now()
      WHERE id = $1`,
    [destinationId],
  );
}

/** The second demo recipient, who connects its bucket itself on the setup page. */
export const DEMO_SETUP_TENANT = 'globex';

export interface DemoSetupLink {
  recipientId: string;
  url: string;
  /** The destination set up through an earlier link, if any (then the link opens its status page). */
  destinationId: string | null;
}

/**
 * Ensures the second demo recipient ("Globex", tenant `globex`) and makes a fresh setup link for it:
 * links open one browser session each, so every start prints a new one. Its page is fixed on the local
 * bucket (an S3-compatible store on 127.0.0.1), with access keys as the only way in (s3rver has no IAM).
 */
export async function demoSetupLink(pool: Pool, config: Config, bucket: DemoBucket): Promise<DemoSetupLink> {
  const { recipientId, destinationId } = await withTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('sluice:demo-setup'))");
    const found = await client.query<{ id: string }>('SELECT id FROM recipients WHERE tenant_id = $1', [DEMO_SETUP_TENANT]);
    let id = found.rows[0]?.id;
    if (!id) {
      id = newId('rcp');
      await client.query('INSERT INTO recipients (id, name, tenant_id) VALUES ($1, $2, $3)', [id, 'Globex Corp. (demo)', DEMO_SETUP_TENANT]);
    }
    // The bucket's port changes at every start: point the destination set up earlier at it.
    const d = await client.query<{ id: string }>(
      `UPDATE destinations SET endpoint = $2, updated_at = now()
        WHERE recipient_id = $1 AND bucket = $3 AND status <> 'disabled' RETURNING id`,
      [id, bucket.endpoint, DEMO_SETUP_BUCKET],
    );
    return { recipientId: id, destinationId: d.rows[0]?.id ?? null };
  });
  const link = await createSetupLink(pool, { config }, recipientId, {
    expiresInDays: 1,
    ...(destinationId ? { destinationId } : {}),
    prefill: { bucket: DEMO_SETUP_BUCKET, region: 'us-east-1', prefix: DEMO_PREFIX, frequencyMinutes: 15 },
    allowed: { authMethods: ['access_key'] },
    store: { endpoint: bucket.endpoint, forcePathStyle: true, conditionalWrites: false, requestChecksums: false },
  });
  return { recipientId, url: link.url, destinationId };
}
