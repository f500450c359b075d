/**
 * The delivery gate: the one place that decides whether a destination may receive rows.
 *
 * A destination delivers only while
 *   - it exists, is not deleted or disabled, and its recipient is not disabled;
 *   - its latest connection test passed;
 *   - nothing that test covered (bucket, region, prefix, endpoint, path style, KMS key, audience, auth,
 *     conditional writes, request checksums) changed since: the test stored `trust_fingerprint()` of
 *     the configuration it tested (migrations 006, 013), and the gate compares it with the fingerprint
 *     of the configuration now;
 *   - no transfer since then failed for a reason the recipient must fix (status `needs_attention`).
 *
 * Every path asks this module: the scheduler (deliverableSql inside the store's advanceDueDestinations), the API trigger
 * and the job queue (checkDelivery before enqueuing), the worker before it starts a job, and the
 * transfer runner through its destination loader (transfer-destination.ts, which reads this verdict and
 * the settings in one snapshot), before it creates its first object (so `sluice transfer` and any future caller are covered too). Other callers (the
 * recipient setup page) ask checkDelivery(db, id) for the same verdict. A refusal never writes anything and names the test to run.
 * The trust model as a whole: docs/trust.md.
 */
import type { Queryable } from '../core/pg.js';
import { SluiceError, type Actor } from '../core/errors.js';

/** Codes of a refused delivery (docs/errors.md, "Connection test outcomes"). */
export const DELIVERY_REFUSALS = [
  'not_found',
  'destination_disabled',
  'connection_test_required',
  'connection_test_failed',
  'connection_test_outdated',
  'destination_needs_attention',
] as const;
export type DeliveryRefusal = (typeof DELIVERY_REFUSALS)[number];

export type DeliveryVerdict =
  | { allowed: true; destinationId: string; fingerprint: string }
  | { allowed: false; destinationId: string; code: DeliveryRefusal; actor: Actor; message: string; hint: string };

/**
 * The gate as a SQL predicate over `destinations <alias>`, for statements that pick many
 * destinations at once (the scheduler's, in destination-store.ts). Must say exactly what checkDelivery says.
 */
export function deliverableSql(alias: string): string {
  return `(${alias}.deleted_at IS NULL AND ${alias}.status = 'active' AND ${alias}.last_test_passed IS TRUE
    AND ${alias}.tested_fingerprint = trust_fingerprint(${alias})
    AND EXISTS (SELECT 1 FROM recipients gate_r WHERE gate_r.id = ${alias}.recipient_id AND gate_r.disabled_at IS NULL))`;
}

/** How to run the connection test of `id`, for hints (the CLI command and the API call both exist). */
export function connectionTestCommand(id: string): string {
  return `\`sluice destinations test ${id}\` or POST /v1/destinations/${id}/test`;
}

interface GateRow {
  status: string;
  deleted: boolean;
  recipient_disabled: boolean;
  last_test_passed: boolean | null;
  tested_fingerprint: string | null;
  fingerprint: string;
  last_error: { code?: string; actor?: Actor } | null;
}

/** Whether `destinationId` may deliver now, and if not, why and who must act. Reads one row. */
export async function checkDelivery(db: Queryable, destinationId: string): Promise<DeliveryVerdict> {
  const { rows } = await db.query<GateRow>(
    `SELECT d.status, d.deleted_at IS NOT NULL AS deleted, r.disabled_at IS NOT NULL AS recipient_disabled,
            d.last_test_passed, d.tested_fingerprint, trust_fingerprint(d) AS fingerprint, d.last_error
       FROM destinations d JOIN recipients r ON r.id = d.recipient_id
      WHERE d.id = $1`,
    [destinationId],
  );
  const row = rows[0];
  const test = connectionTestCommand(destinationId);
  const refuse = (code: DeliveryRefusal, actor: Actor, message: string, hint: string): DeliveryVerdict => ({
    allowed: false,
    destinationId,
    code,
    actor,
    message,
    hint,
  });
  if (!row || row.deleted) {
    return refuse('not_found', 'provider', `No destination with id ${destinationId}.`, 'List destinations to find the right id.');
  }
  if (row.status === 'disabled' || row.recipient_disabled) {
    return refuse(
      'destination_disabled',
      'provider',
      `Destination ${destinationId} (or its recipient) is disabled; nothing is delivered to it.`,
      'Disabling is final: to deliver again, create a new destination (for a recipient that is not disabled) and test it.',
    );
  }
  if (row.last_test_passed === null) {
    return refuse(
      'connection_test_required',
      'provider',
      `Destination ${destinationId} has not passed a connection test since it was created or its bucket, prefix, region, endpoint or credentials changed; nothing is delivered until one passes.`,
      `Run its connection test: ${test}.`,
    );
  }
  if (row.last_test_passed === false) {
    const last = row.last_error?.code ? ` (${row.last_error.code})` : '';
    return refuse(
      'connection_test_failed',
      row.last_error?.actor ?? 'recipient',
      `Destination ${destinationId}'s latest connection test failed${last}; nothing is delivered until one passes.`,
      `Fix what the test reported (see the destination's last error), then run its connection test again: ${test}.`,
    );
  }
  if (row.tested_fingerprint === null || row.tested_fingerprint !== row.fingerprint) {
    return refuse(
      'connection_test_outdated',
      'provider',
      `Destination ${destinationId}'s bucket, prefix, region, endpoint or credentials changed after its connection test passed; the new settings are untested.`,
      `Run its connection test again: ${test}.`,
    );
  }
  if (row.status === 'needs_attention') {
    const last = row.last_error?.code ? ` (${row.last_error.code})` : '';
    return refuse(
      'destination_needs_attention',
      'recipient',
      `Destination ${destinationId} needs attention: a transfer failed${last} for a reason the recipient must fix.`,
      `See the destination's last error, fix it, then run its connection test: ${test}. Transfers resume once it passes.`,
    );
  }
  if (row.status !== 'active') {
    return refuse('connection_test_required', 'provider', `Destination ${destinationId} is ${row.status}; nothing is delivered until a connection test passes.`, `Run its connection test: ${test}.`);
  }
  return { allowed: true, destinationId, fingerprint: row.fingerprint };
}

/** The refusal as an error (HTTP 409 for the API; the CLI prints code, actor and hint). */
export function refusalError(verdict: Extract<DeliveryVerdict, { allowed: false }>): SluiceError {
  return new SluiceError({
    code: verdict.code,
    actor: verdict.actor,
    message: verdict.message,
    hint: verdict.hint,
    ...(verdict.code === 'not_found' ? {} : { docs: `docs/errors.md#ct-${verdict.code}` }),
    status: verdict.code === 'not_found' ? 404 : 409,
  });
}

/** Throws the refusal unless `destinationId` may deliver now. */
export async function assertMayDeliver(db: Queryable, destinationId: string): Promise<void> {
  const verdict = await checkDelivery(db, destinationId);
  if (!verdict.allowed) throw refusalError(verdict);
}

/** True for an error the gate raised: nothing was written, and the destination's state says why already. */
export function isDeliveryRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (DELIVERY_REFUSALS as readonly string[]).includes(code);
}

/**
 * The fingerprint of the configuration a connection test is about to test. The test reads it in the
 * same snapshot as the configuration (destination-tests.ts), so a later change leaves the current
 * fingerprint different from the recorded one and the gate asks for another test.
 */
export async function currentFingerprint(db: Queryable, destinationId: string): Promise<string | null> {
  const { rows } = await db.query<{ fingerprint: string }>('SELECT trust_fingerprint(d) AS fingerprint FROM destinations d WHERE d.id = $1', [destinationId]);
  return rows[0]?.fingerprint ?? null;
}
