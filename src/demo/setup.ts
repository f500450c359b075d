/**
 * The demo recipient ("Acme", tenant `acme`) and its destination: the local demo bucket, reached with
 * an access key over http on 127.0.0.1 — allowed for the demo only. Made through the same functions as
 * the API and the CLI, so the tenant, bucket and endpoint rules hold for the demo too. Idempotent: a
 * second start finds them (and points the destination at the bucket's port, should it have changed).
 */
import type { Pool } from '../control/db.js';
import type { SecretBox } from '../control/secrets.js';
import type { Config } from '../config.js';
import { createDestination, updateDestination } from '../control/destinations.js';
import type { SaveDeps } from '../control/destination-rules.js';
import { listDestinations, startSchedule, type DestinationView } from '../control/destination-store.js';
import { createRecipient, listRecipients, type TenantRules } from '../control/recipients.js';
import { createSetupLink } from '../control/setup-links.js';
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY, DEMO_SETUP_BUCKET, type DemoBucket } from './bucket.js';

export const DEMO_TENANT = 'acme';
export const DEMO_PREFIX = 'exports';

export interface DemoDestination {
  recipientId: string;
  destinationId: string;
  created: boolean;
}

/** What the demo needs to create recipients and destinations the way the API and the CLI do. */
export interface DemoDeps {
  pool: Pool;
  secrets: SecretBox;
  /** The demo's configuration: it allows the local bucket (http on 127.0.0.1). */
  config: Config;
  /** The demo's models: tenant values and model names are checked against them. */
  models: SaveDeps['models'] & TenantRules;
}

/**
 * Runs `fn` while holding the demo's lock: one demo setup at a time on a control store. A session
 * lock on a connection of its own, since the functions called inside open their own transactions.
 */
async function oneDemoAtATime<T>(pool: Pool, fn: () => Promise<T>): Promise<T> {
  const lock = await pool.connect();
  try {
    await lock.query("SELECT pg_advisory_lock(hashtext('sluice:demo-setup'))");
    try {
      return await fn();
    } finally {
      await lock.query("SELECT pg_advisory_unlock(hashtext('sluice:demo-setup'))");
    }
  } finally {
    lock.release();
  }
}

/** The recipient of `tenantId`, created (as `POST /v1/recipients` would) when missing. */
async function ensureRecipient(deps: DemoDeps, tenantId: string, name: string): Promise<string> {
  const found = (await listRecipients(deps.pool)).find((r) => r.tenantId === tenantId);
  return found ? found.id : (await createRecipient(deps.pool, { name, tenantId }, deps.models)).id;
}

/**
 * The recipient's destination in `bucket` (not disabled), pointed at the local bucket's endpoint: the
 * port is kept across starts, and when it did change, the change is an ordinary update (back to `new`
 * until a connection test passes).
 */
async function findDemoDestination(deps: DemoDeps, recipientId: string, bucket: string, endpoint: string): Promise<DestinationView | null> {
  const found = (await listDestinations(deps.pool, { recipientId })).find((d) => d.bucket === bucket && d.status !== 'disabled');
  if (!found || found.endpoint === endpoint) return found ?? null;
  return updateDestination(deps.pool, deps.secrets, deps, found.id, { endpoint });
}

export async function ensureDemoDestination(deps: DemoDeps, bucket: DemoBucket): Promise<DemoDestination> {
  return oneDemoAtATime(deps.pool, async () => {
    const recipientId = await ensureRecipient(deps, DEMO_TENANT, 'Acme Inc. (demo)');
    const found = await findDemoDestination(deps, recipientId, bucket.bucket, bucket.endpoint);
    if (found) return { recipientId, destinationId: found.id, created: false };
    // Not enabled yet (status `new`): the demo's connection test enables it, as for any destination.
    const created = await createDestination(deps.pool, deps.secrets, deps, {
      recipientId,
      name: 'Acme demo bucket',
      bucket: bucket.bucket,
      region: 'us-east-1',
      prefix: DEMO_PREFIX,
      auth: { accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY },
      endpoint: bucket.endpoint,
      // s3rver: path-style addressing, no conditional creates, no request checksums.
      forcePathStyle: true,
      conditionalWrites: false,
      requestChecksums: false,
      format: 'parquet',
      frequencyMinutes: 15,
    });
    return { recipientId, destinationId: created.id, created: true };
  });
}

/** After a passing connection test (which made the destination active): schedule from now on. */
export async function enableDemoSchedule(pool: Pool, destinationId: string): Promise<void> {
  await startSchedule(pool, destinationId);
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
export async function demoSetupLink(deps: DemoDeps, bucket: DemoBucket): Promise<DemoSetupLink> {
  const { pool, config } = deps;
  const { recipientId, destinationId } = await oneDemoAtATime(pool, async () => {
    const id = await ensureRecipient(deps, DEMO_SETUP_TENANT, 'Globex Corp. (demo)');
    const d = await findDemoDestination(deps, id, DEMO_SETUP_BUCKET, bucket.endpoint);
    return { recipientId: id, destinationId: d?.id ?? null };
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
