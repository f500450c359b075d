/**
 * Setup links: a capability the provider hands a recipient so that the recipient connects its own
 * bucket on the hosted setup page. The token is `sls_` + 32 random bytes (256 bits); only its SHA-256
 * is stored, so it is shown once, at creation. A link is bound to one recipient (and, once the page
 * saved one, to one destination), expires (default 7 days, at most 30) and can be revoked.
 *
 * Opening the link exchanges the token, once, for a browser session (cookie value stored as a hash,
 * with a CSRF token); a second exchange of the same token is refused as "used". A session lives as
 * long as its link: revoking or expiring the link ends it.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config.js';
import {
  checkBucketName,
  checkEndpoint,
  checkPrefix,
  checkRegion,
} from '../destinations/s3/rules.js';
import { SluiceError, notFound, validationError, type FieldProblem } from '../core/errors.js';
import { newAudience } from '../core/audience.js';
import { newId } from '../core/ids.js';
import type { Queryable } from './db.js';
import { FORMATS, FREQUENCIES } from './destination-input.js';
import { endpointPolicy, type ValidateDeps } from './destination-rules.js';
import { getDestination } from './destination-store.js';
import { parseInput } from './validation.js';

export const AUTH_METHODS = ['role', 'access_key'] as const;
export const DESTINATION_TYPES = ['s3'] as const;
export const DEFAULT_EXPIRY_DAYS = 7;
export const MAX_EXPIRY_DAYS = 30;

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);

export const SetupLinkCreateInput = z.strictObject({
  expiresInDays: z
    .number()
    .gt(0, 'must be more than 0')
    .max(MAX_EXPIRY_DAYS, `must be at most ${MAX_EXPIRY_DAYS}`)
    .optional()
    .describe(`Days until the link expires (default ${DEFAULT_EXPIRY_DAYS}, at most ${MAX_EXPIRY_DAYS}; fractions allowed)`),
  destinationId: text(100).optional().describe("Open the status page of this existing destination of the recipient (to fix or review it)"),
  prefill: z
    .strictObject({
      bucket: text(63).optional(),
      region: text(32).optional(),
      prefix: text(1024).optional(),
      format: z.enum(FORMATS).optional(),
      frequencyMinutes: z.literal(FREQUENCIES).nullable().optional(),
    })
    .optional()
    .describe('Fields filled in for the recipient, who can still change them'),
  allowed: z
    .strictObject({
      destinationTypes: z.array(z.enum(DESTINATION_TYPES)).min(1, 'must list at least one').optional(),
      authMethods: z.array(z.enum(AUTH_METHODS)).min(1, 'must list at least one').optional(),
      formats: z.array(z.enum(FORMATS)).min(1, 'must list at least one').optional(),
      frequencies: z.array(z.literal(FREQUENCIES)).min(1, 'must list at least one').optional(),
    })
    .optional()
    .describe('What the recipient may choose (default: everything)'),
  store: z
    .strictObject({
      endpoint: text(2048).optional(),
      forcePathStyle: z.boolean().optional(),
      conditionalWrites: z.boolean().optional(),
      requestChecksums: z.boolean().optional(),
    })
    .optional()
    .describe('An S3-compatible store the provider fixes for this link (the recipient cannot change it); omit for AWS S3'),
  returnUrl: text(2048).optional().describe("Where the page's last step sends the recipient back (https, or http on loopback)"),
});
export type SetupLinkCreate = z.output<typeof SetupLinkCreateInput>;

export interface SetupLinkAllowed {
  destinationTypes: Array<(typeof DESTINATION_TYPES)[number]>;
  authMethods: Array<(typeof AUTH_METHODS)[number]>;
  formats: Array<(typeof FORMATS)[number]>;
  frequencies: number[];
}

export interface SetupLinkPrefill {
  bucket?: string;
  region?: string;
  prefix?: string;
  format?: (typeof FORMATS)[number];
  frequencyMinutes?: number | null;
}

export interface SetupLinkStore {
  endpoint?: string;
  forcePathStyle?: boolean;
  conditionalWrites?: boolean;
  requestChecksums?: boolean;
}

export type SetupLinkStatus = 'active' | 'used' | 'expired' | 'revoked';

export interface SetupLinkView {
  id: string;
  recipientId: string;
  destinationId: string | null;
  status: SetupLinkStatus;
  prefill: SetupLinkPrefill;
  allowed: SetupLinkAllowed;
  store: SetupLinkStore;
  returnUrl: string | null;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  revokedAt: string | null;
}

interface LinkRow {
  id: string;
  recipient_id: string;
  destination_id: string | null;
  audience: string | null;
  prefill: SetupLinkPrefill;
  allowed: Partial<SetupLinkAllowed>;
  store: SetupLinkStore;
  return_url: string | null;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  first_transfer_id: string | null;
}

/** The link as the page's code sees it (the audience is not secret, but only the page needs it). */
export interface SetupLink extends SetupLinkView {
  /** For the destination the page will create; null when the link names an existing destination. */
  audience: string | null;
  firstTransferId: string | null;
}

function allowedOf(a: Partial<SetupLinkAllowed>): SetupLinkAllowed {
  return {
    destinationTypes: a.destinationTypes ?? [...DESTINATION_TYPES],
    authMethods: a.authMethods ?? [...AUTH_METHODS],
    formats: a.formats ?? [...FORMATS],
    frequencies: a.frequencies ?? [...FREQUENCIES],
  };
}

function statusOf(r: LinkRow, now = new Date()): SetupLinkStatus {
  if (r.revoked_at) return 'revoked';
  if (r.expires_at <= now) return 'expired';
  if (r.used_at) return 'used';
  return 'active';
}

function link(r: LinkRow): SetupLink {
  return {
    id: r.id,
    recipientId: r.recipient_id,
    destinationId: r.destination_id,
    status: statusOf(r),
    prefill: r.prefill,
    allowed: allowedOf(r.allowed),
    store: r.store,
    returnUrl: r.return_url,
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    usedAt: r.used_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
    audience: r.audience,
    firstTransferId: r.first_transfer_id,
  };
}

export function linkView(l: SetupLink): SetupLinkView {
  const { audience: _audience, firstTransferId: _first, ...view } = l;
  return view;
}

export function hashToken(token: string): Buffer {
  return crypto.createHash('sha256').update(token, 'utf8').digest();
}

/** Shape of a setup token: checked before any database work, so junk never reaches a query. */
export const isSetupToken = (v: string): boolean => /^sls_[A-Za-z0-9_-]{43}$/.test(v);

/** The public base URL links are built on: SLUICE_PUBLIC_URL, else this process's listen address. */
export function publicBaseUrl(config: Pick<Config, 'SLUICE_PUBLIC_URL' | 'SLUICE_HOST' | 'SLUICE_PORT'>): string {
  if (config.SLUICE_PUBLIC_URL) return config.SLUICE_PUBLIC_URL.replace(/\/+$/, '');
  const host = config.SLUICE_HOST === '0.0.0.0' || config.SLUICE_HOST === '::' ? '127.0.0.1' : config.SLUICE_HOST;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.SLUICE_PORT}`;
}

function checkReturnUrl(v: string): string | null {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return 'must be an absolute URL such as https://app.example.com/settings/exports';
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return 'must use https:// (http only on localhost)';
  if (url.username || url.password) return 'must not contain credentials';
  return null;
}

/** Creates a link; the returned token and URL exist nowhere else afterwards. */
export async function createSetupLink(
  db: Queryable,
  deps: ValidateDeps & { config: ValidateDeps['config'] & Pick<Config, 'SLUICE_PUBLIC_URL' | 'SLUICE_HOST' | 'SLUICE_PORT'> },
  recipientId: string,
  input: unknown,
  createdBy?: string,
): Promise<SetupLinkView & { token: string; url: string }> {
  const data = parseInput(SetupLinkCreateInput, input ?? {}, 'setup link');
  const problems: FieldProblem[] = [];
  const add = (field: string, message: string | null) => {
    if (message) problems.push({ field, message });
  };
  const custom = data.store?.endpoint !== undefined;
  if (data.prefill?.bucket !== undefined) add('prefill.bucket', checkBucketName(data.prefill.bucket));
  if (data.prefill?.region !== undefined) add('prefill.region', checkRegion(data.prefill.region, custom));
  if (data.prefill?.prefix !== undefined) add('prefill.prefix', checkPrefix(data.prefill.prefix));
  if (data.store?.endpoint !== undefined) add('store.endpoint', await checkEndpoint(data.store.endpoint, endpointPolicy(deps.config), deps.resolver));
  if (data.returnUrl !== undefined) add('returnUrl', checkReturnUrl(data.returnUrl));
  const allowed = allowedOf(data.allowed ?? {});
  if (data.prefill?.format && !allowed.formats.includes(data.prefill.format)) add('prefill.format', 'must be one of allowed.formats');
  const freq = data.prefill?.frequencyMinutes;
  if (freq !== undefined && freq !== null && !allowed.frequencies.includes(freq)) add('prefill.frequencyMinutes', 'must be one of allowed.frequencies');
  if (problems.length > 0) throw validationError(problems, 'setup link');

  const recipient = await db.query<{ disabled: boolean }>('SELECT disabled_at IS NOT NULL AS disabled FROM recipients WHERE id = $1', [recipientId]);
  if (!recipient.rows[0]) throw notFound('recipient', recipientId);
  if (recipient.rows[0].disabled) {
    throw new SluiceError({ code: 'recipient_disabled', message: `Recipient ${recipientId} is disabled; it cannot get setup links.`, status: 409 });
  }
  if (data.destinationId !== undefined) {
    const d = await getDestination(db, data.destinationId).catch(() => null);
    if (!d || d.recipientId !== recipientId) {
      throw validationError([{ field: 'destinationId', message: 'names no destination of this recipient' }], 'setup link');
    }
  }

  const token = `sls_${crypto.randomBytes(32).toString('base64url')}`;
  const days = data.expiresInDays ?? DEFAULT_EXPIRY_DAYS;
  const { rows } = await db.query<LinkRow>(
    `INSERT INTO setup_links (id, recipient_id, token_hash, destination_id, audience, prefill, allowed, store, return_url, created_by, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + $11::float8 * interval '1 day')
     RETURNING *`,
    [
      newId('lnk'),
      recipientId,
      hashToken(token),
      data.destinationId ?? null,
      data.destinationId !== undefined ? null : newAudience(),
      JSON.stringify(data.prefill ?? {}),
      JSON.stringify(data.allowed ?? {}),
      JSON.stringify(data.store ?? {}),
      data.returnUrl ?? null,
      createdBy ?? null,
      days,
    ],
  );
  const created = link(rows[0] as LinkRow);
  return { ...linkView(created), token, url: `${publicBaseUrl(deps.config)}/setup/${token}` };
}

export async function listSetupLinks(db: Queryable, recipientId: string): Promise<SetupLinkView[]> {
  const r = await db.query('SELECT 1 FROM recipients WHERE id = $1', [recipientId]);
  if (r.rowCount === 0) throw notFound('recipient', recipientId);
  const { rows } = await db.query<LinkRow>('SELECT * FROM setup_links WHERE recipient_id = $1 ORDER BY created_at DESC, id', [recipientId]);
  return rows.map((row) => linkView(link(row)));
}

/** Revokes a link (idempotent): its page and every session it opened stop working at once. */
export async function revokeSetupLink(db: Queryable, recipientId: string | null, linkId: string): Promise<SetupLinkView> {
  // The API names the recipient (a link id under another recipient is "not found"); the CLI need not.
  const { rows } = await db.query<LinkRow>(
    `UPDATE setup_links SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND ($2::text IS NULL OR recipient_id = $2) RETURNING *`,
    [linkId, recipientId],
  );
  if (!rows[0]) throw notFound('setup link', linkId);
  await db.query('DELETE FROM setup_sessions WHERE link_id = $1', [linkId]);
  return linkView(link(rows[0]));
}

export async function getSetupLink(db: Queryable, linkId: string): Promise<SetupLink> {
  const { rows } = await db.query<LinkRow>('SELECT * FROM setup_links WHERE id = $1', [linkId]);
  if (!rows[0]) throw notFound('setup link', linkId);
  return link(rows[0]);
}

// ---- Sessions ----

export type ExchangeOutcome =
  | { ok: true; linkId: string; sessionId: string; expiresAt: Date }
  | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'revoked' | 'recipient_disabled' };

/** Exchanges a token for a session, once. The session id is returned here and stored only as a hash. */
export async function exchangeSetupToken(db: Queryable, token: string): Promise<ExchangeOutcome> {
  if (!isSetupToken(token)) return { ok: false, reason: 'unknown' };
  const hash = hashToken(token);
  const { rows } = await db.query<{ id: string; expires_at: Date }>(
    `UPDATE setup_links l SET used_at = now()
      WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
        AND EXISTS (SELECT 1 FROM recipients r WHERE r.id = l.recipient_id AND r.disabled_at IS NULL)
      RETURNING id, expires_at`,
    [hash],
  );
  const row = rows[0];
  if (!row) {
    const found = await db.query<LinkRow & { disabled: boolean }>(
      `SELECT l.*, r.disabled_at IS NOT NULL AS disabled FROM setup_links l JOIN recipients r ON r.id = l.recipient_id WHERE token_hash = $1`,
      [hash],
    );
    const l = found.rows[0];
    if (!l) return { ok: false, reason: 'unknown' };
    if (l.disabled && !l.revoked_at) return { ok: false, reason: 'recipient_disabled' };
    const status = statusOf(l);
    return { ok: false, reason: status === 'active' ? 'unknown' : status };
  }
  const sessionId = crypto.randomBytes(32).toString('base64url');
  await db.query(`INSERT INTO setup_sessions (id_hash, link_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)`, [
    hashToken(sessionId),
    row.id,
    crypto.randomBytes(32).toString('base64url'),
    row.expires_at,
  ]);
  return { ok: true, linkId: row.id, sessionId, expiresAt: row.expires_at };
}

export interface SetupSession {
  link: SetupLink;
  csrfToken: string;
}

/** The live session for a cookie value, or null (unknown, expired, revoked, recipient disabled). */
export async function findSetupSession(db: Queryable, sessionId: string): Promise<SetupSession | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(sessionId)) return null;
  const { rows } = await db.query<{ link_id: string; csrf_token: string }>(
    `SELECT s.link_id, s.csrf_token
       FROM setup_sessions s
       JOIN setup_links l ON l.id = s.link_id
       JOIN recipients r ON r.id = l.recipient_id
      WHERE s.id_hash = $1 AND s.expires_at > now() AND l.revoked_at IS NULL AND l.expires_at > now() AND r.disabled_at IS NULL`,
    [hashToken(sessionId)],
  );
  const row = rows[0];
  if (!row) return null;
  return { link: await getSetupLink(db, row.link_id), csrfToken: row.csrf_token };
}

export function csrfMatches(expected: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** Binds the link to the destination its page created (once). */
export async function bindSetupLinkDestination(db: Queryable, linkId: string, destinationId: string): Promise<void> {
  await db.query('UPDATE setup_links SET destination_id = $2 WHERE id = $1 AND destination_id IS NULL', [linkId, destinationId]);
}

/**
 * Counts one connection test against the link's hourly budget; throws 429 `setup_test_rate_limited`
 * when it is spent. One statement, so concurrent clicks cannot both take the last slot.
 */
export async function takeSetupTestSlot(db: Queryable, linkId: string, perHour: number): Promise<void> {
  const { rows } = await db.query<{ ok: boolean; retry_seconds: number }>(
    `UPDATE setup_links
        SET test_window_start = CASE WHEN test_window_start IS NULL OR test_window_start <= now() - interval '1 hour' THEN now() ELSE test_window_start END,
            tests_in_window = CASE WHEN test_window_start IS NULL OR test_window_start <= now() - interval '1 hour' THEN 1 ELSE tests_in_window + 1 END
      WHERE id = $1
      RETURNING tests_in_window <= $2 AS ok,
                ceil(extract(epoch FROM test_window_start + interval '1 hour' - now()))::int AS retry_seconds`,
    [linkId, perHour],
  );
  const r = rows[0];
  if (r && !r.ok) {
    throw new SluiceError({
      code: 'setup_test_rate_limited',
      actor: 'recipient',
      status: 429,
      message: `This setup link has run ${perHour} connection tests in the last hour, the most it may.`,
      hint: `Check the settings and the policies, then try again in ${Math.max(1, Math.ceil(r.retry_seconds / 60))} minutes.`,
    });
  }
}

/**
 * Queues the first transfer after the first pass, once per link however many requests see the pass
 * at the same moment: the link's row is claimed first, then the transfer queued and recorded.
 */
export async function queueFirstTransferOnce(
  db: Queryable,
  linkId: string,
  enqueue: () => Promise<string>,
): Promise<string | null> {
  const { rowCount } = await db.query(`UPDATE setup_links SET first_transfer_id = '' WHERE id = $1 AND first_transfer_id IS NULL`, [linkId]);
  if (!rowCount) return null;
  try {
    const transferId = await enqueue();
    await db.query('UPDATE setup_links SET first_transfer_id = $2 WHERE id = $1', [linkId, transferId]);
    return transferId;
  } catch (err) {
    await db.query(`UPDATE setup_links SET first_transfer_id = NULL WHERE id = $1 AND first_transfer_id = ''`, [linkId]);
    throw err;
  }
}
