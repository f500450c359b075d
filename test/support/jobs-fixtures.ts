/**
 * Recipients and destinations inserted directly, for the jobs tests (which exercise scheduling and
 * queueing, not destination validation).
 */
import type { Queryable } from '../../src/control/db.js';
import type { DestinationView } from '../../src/control/destination-store.js';
import type { RecipientView } from '../../src/control/recipients.js';
import { newId } from '../../src/core/ids.js';
import type { TransferJob } from '../../src/jobs/queue.js';
import type { ModelResult, TransferResult } from '../../src/transfer/result.js';
import { markTested } from './trust.js';

/** A destination's ids and its recipient's tenant: what the jobs tests look at. */
export type FixtureDestination = Pick<DestinationView, 'id' | 'recipientId'> & Pick<RecipientView, 'tenantId'>;

export async function insertDestinations(
  db: Queryable,
  n: number,
  opts: { frequencyMinutes?: number | null; enabled?: boolean; status?: string; bucket?: string; endpoint?: string } = {},
): Promise<FixtureDestination[]> {
  const out: FixtureDestination[] = [];
  for (let i = 0; i < n; i++) out.push({ id: newId('dst'), recipientId: newId('rcp'), tenantId: `tenant_${newId('rcp')}` });
  await db.query(
    `INSERT INTO recipients (id, name, tenant_id) SELECT r, 'Recipient ' || r, t FROM unnest($1::text[], $2::text[]) AS x(r, t)`,
    [out.map((d) => d.recipientId), out.map((d) => d.tenantId)],
  );
  await db.query(
    `INSERT INTO destinations (id, recipient_id, name, audience, bucket, region, auth_kind, access_key_id, secret_access_key,
                               endpoint, force_path_style, frequency_minutes, enabled, status)
     SELECT d, r, 'bucket of ' || r, 'aud-' || d, $3, 'us-east-1', 'access_key', 'AKIDTEST', '\\x00'::bytea,
            $4, true, $5, $6, $7
       FROM unnest($1::text[], $2::text[]) AS x(d, r)`,
    [
      out.map((d) => d.id),
      out.map((d) => d.recipientId),
      opts.bucket ?? 'test-bucket',
      opts.endpoint ?? 'http://127.0.0.1:1',
      opts.frequencyMinutes === undefined ? 15 : opts.frequencyMinutes,
      opts.enabled ?? true,
      opts.status ?? 'active',
    ],
  );
  // An 'active' fixture is one whose connection test passed (the delivery gate checks it).
  if ((opts.status ?? 'active') === 'active') {
    await markTested(db, out.map((d) => d.id));
    if (opts.enabled === false) await db.query('UPDATE destinations SET enabled = false WHERE id = ANY($1)', [out.map((d) => d.id)]);
  }
  return out;
}

/** A runner's result for a job, for workers run with a stand-in runner: `models` may give only what matters. */
export function transferResult(job: TransferJob, status: TransferResult['status'], models: Array<Partial<ModelResult> & { model: string }> = []): TransferResult {
  return {
    id: job.transferId,
    destinationId: job.destinationId,
    kind: job.kind,
    status,
    startedAt: new Date(),
    models: models.map((m) => ({
      status: 'succeeded',
      rows: 0,
      bytes: 0,
      files: 0,
      manifestKey: null,
      window: { from: null, to: null },
      watermark: null,
      durationMs: 0,
      error: null,
      ...m,
    })),
    warnings: [],
  };
}
