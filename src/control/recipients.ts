/**
 * Recipients: the provider's customers. A recipient's tenant id is the value of every model's tenant
 * column that belongs to it, so it may change only while the recipient has no destination — once data
 * can have been delivered under it, changing it would silently send another tenant's rows to the same
 * bucket (409 `tenant_id_locked`). Disabling a recipient disables all its destinations.
 *
 * The tenant id is stored in its canonical form, decided by models/tenant.ts against every model's
 * tenant column type (`007` for an integer column is stored as `7`), and is unique in that form: two
 * spellings of one tenant cannot belong to two recipients.
 */
import { z } from 'zod';
import { SluiceError, notFound, validationError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { withTransaction, type Pool, type Queryable } from './db.js';
import { disableRecipientDestinations } from './destination-store.js';
import { requestCancelOfRecipient } from '../transfer/store/transfers.js';
import { CONTROL_MESSAGE, parseInput, withoutControlCharacters } from './validation.js';

/** Decides a tenant value's canonical form (models/catalog.ts binds it to the models and the source). */
export interface TenantRules {
  canonicalTenant(value: string): Promise<{ ok: true; value: string } | { ok: false; message: string }>;
}

async function canonical(tenants: TenantRules, value: string, what: string): Promise<string> {
  const c = await tenants.canonicalTenant(value);
  if (!c.ok) throw validationError([{ field: 'tenantId', message: c.message }], what);
  return c.value;
}

export interface RecipientView {
  id: string;
  name: string;
  tenantId: string;
  disabled: boolean;
  disabledAt: string | null;
  destinationCount: number;
  createdAt: string;
  updatedAt: string;
}

interface RecipientRow {
  id: string;
  name: string;
  tenant_id: string;
  disabled_at: Date | null;
  destination_count: number;
  created_at: Date;
  updated_at: Date;
}

const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .refine(withoutControlCharacters, CONTROL_MESSAGE);
const tenantId = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  // Compared byte for byte with the tenant column: surrounding spaces or control characters are mistakes.
  .refine((v) => v.trim() === v, 'must not start or end with spaces')
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  .refine((v) => !/[\x00-\x1f\x7f]/.test(v), 'must not contain control characters');

export const RecipientCreateInput = z.strictObject({ name, tenantId });
export const RecipientUpdateInput = z
  .strictObject({ name: name.optional(), tenantId: tenantId.optional() })
  .refine((v) => v.name !== undefined || v.tenantId !== undefined, { message: 'give at least one of name, tenantId' });

export type RecipientCreate = z.output<typeof RecipientCreateInput>;
export type RecipientUpdate = z.output<typeof RecipientUpdateInput>;

const SELECT = `
  SELECT r.id, r.name, r.tenant_id, r.disabled_at, r.created_at, r.updated_at,
         (SELECT count(*)::int FROM destinations d WHERE d.recipient_id = r.id) AS destination_count
    FROM recipients r`;

function view(row: RecipientRow): RecipientView {
  return {
    id: row.id,
    name: row.name,
    tenantId: row.tenant_id,
    disabled: row.disabled_at !== null,
    disabledAt: row.disabled_at?.toISOString() ?? null,
    destinationCount: row.destination_count,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function tenantTaken(tenant: string, given: string): SluiceError {
  const spelled = tenant === given ? '' : ` (the canonical form of "${given}" in the models' tenant column types)`;
  return new SluiceError({
    code: 'tenant_id_taken',
    message: `Another recipient already has tenant id "${tenant}"${spelled}.`,
    hint: 'Each tenant belongs to exactly one recipient, however its id is spelled; list recipients to find it.',
    status: 409,
    details: [{ field: 'tenantId', message: 'belongs to another recipient' }],
  });
}

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e.code === '23505' && e.constraint === constraint;
}

export async function createRecipient(db: Queryable, input: unknown, tenants: TenantRules): Promise<RecipientView> {
  const data = parseInput(RecipientCreateInput, input, 'recipient');
  const tenant = await canonical(tenants, data.tenantId, 'recipient');
  const id = newId('rcp');
  try {
    await db.query('INSERT INTO recipients (id, name, tenant_id) VALUES ($1, $2, $3)', [id, data.name, tenant]);
  } catch (err) {
    if (isUniqueViolation(err, 'recipients_tenant_id_key')) throw tenantTaken(tenant, data.tenantId);
    throw err;
  }
  return getRecipient(db, id);
}

export async function listRecipients(db: Queryable, opts: { includeDisabled?: boolean } = {}): Promise<RecipientView[]> {
  const where = opts.includeDisabled === false ? 'WHERE r.disabled_at IS NULL' : '';
  const { rows } = await db.query<RecipientRow>(`${SELECT} ${where} ORDER BY r.created_at, r.id`);
  return rows.map(view);
}

export async function getRecipient(db: Queryable, id: string): Promise<RecipientView> {
  const { rows } = await db.query<RecipientRow>(`${SELECT} WHERE r.id = $1`, [id]);
  const row = rows[0];
  if (!row) throw notFound('recipient', id);
  return view(row);
}

export async function updateRecipient(pool: Pool, id: string, input: unknown, tenants: TenantRules): Promise<RecipientView> {
  const parsed = parseInput(RecipientUpdateInput, input, 'recipient update');
  const patch = parsed.tenantId === undefined ? parsed : { ...parsed, tenantId: await canonical(tenants, parsed.tenantId, 'recipient update') };
  return withTransaction(pool, async (tx) => {
    // FOR UPDATE: a destination created concurrently takes the same row lock (createDestination),
    // so "no destinations yet" stays true until this transaction commits.
    const { rows } = await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM recipients WHERE id = $1 FOR UPDATE', [id]);
    const current = rows[0];
    if (!current) throw notFound('recipient', id);
    if (patch.tenantId !== undefined && patch.tenantId !== current.tenant_id) {
      const { rows: dests } = await tx.query('SELECT 1 FROM destinations WHERE recipient_id = $1 LIMIT 1', [id]);
      if (dests.length > 0) {
        throw new SluiceError({
          code: 'tenant_id_locked',
          message: `The tenant id of recipient ${id} cannot change: it already has destinations.`,
          hint: 'Rows may already have been delivered under the current tenant id. Create a new recipient for the other tenant.',
          status: 409,
        });
      }
    }
    try {
      await tx.query(
        `UPDATE recipients
            SET name = coalesce($2, name),
                tenant_id = coalesce($3, tenant_id),
                updated_at = now()
          WHERE id = $1`,
        [id, patch.name ?? null, patch.tenantId ?? null],
      );
    } catch (err) {
      if (isUniqueViolation(err, 'recipients_tenant_id_key')) throw tenantTaken(patch.tenantId ?? '', parsed.tenantId ?? '');
      throw err;
    }
    return getRecipient(tx, id);
  });
}

/** Disables the recipient and every destination it has; idempotent. */
export async function disableRecipient(pool: Pool, id: string): Promise<RecipientView> {
  return withTransaction(pool, async (tx) => {
    const { rowCount } = await tx.query(
      'UPDATE recipients SET disabled_at = coalesce(disabled_at, now()), updated_at = now() WHERE id = $1',
      [id],
    );
    if (rowCount === 0) throw notFound('recipient', id);
    await disableRecipientDestinations(tx, id);
    await requestCancelOfRecipient(tx, id);
    return getRecipient(tx, id);
  });
}
