/**
 * Who may use what across recipients, checked when a destination is created or changed:
 * - a role (by account and role name) or an access key id used by one recipient's destination is
 *   refused for any other recipient's;
 * - a bucket and prefix belong to one recipient: another recipient's overlapping prefix on the same
 *   store is refused;
 * - a destination is created only for an existing, enabled recipient.
 * Each check runs inside the caller's transaction under an advisory lock, so two concurrent creates
 * cannot both pass; deleting a destination frees what it held. Reads only: the writes are
 * destination-store.ts's.
 */
import ipaddr from 'ipaddr.js';
import { SluiceError, validationError } from '../core/errors.js';
import { roleIdentity } from '../destinations/s3/rules.js';
import type { PoolClient } from './db.js';
import type { DestinationAuth, DestinationSettings } from './destination-rules.js';


/**
 * Refuses credentials that a (not deleted) destination of another recipient uses: a role, compared by
 * identity (account and role name, see roleIdentity: partition, path and case do not make another
 * role), or an access key id. The advisory lock (on that identity, released at commit) serialises
 * concurrent creates/updates naming the same credentials.
 */
export async function claimCredentials(tx: PoolClient, auth: DestinationAuth, recipientId: string, exceptDestinationId?: string): Promise<void> {
  const identity = auth.kind === 'role' ? roleIdentity(auth.roleArn) : auth.accessKeyId;
  if (identity === null) {
    // checkRoleArn refused it already; kept so a malformed ARN can never skip the rule.
    throw validationError([{ field: 'auth.roleArn', message: 'is not a well-formed IAM role ARN' }], 'destination');
  }
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`sluice:${auth.kind}:${identity}`]);
  const { rows } = await tx.query<{ id: string }>(
    `SELECT id
       FROM destinations
      WHERE ${auth.kind === 'role' ? 'role_identity' : 'access_key_id'} = $1
        AND recipient_id <> $2
        AND id <> coalesce($3, '')
        AND deleted_at IS NULL
      LIMIT 1`,
    [identity, recipientId, exceptDestinationId ?? null],
  );
  if (rows.length === 0) return;
  const what = auth.kind === 'role' ? `The role ${auth.roleArn}` : `The access key ${auth.accessKeyId}`;
  throw new SluiceError({
    code: auth.kind === 'role' ? 'role_arn_in_use' : 'access_key_in_use',
    message:
      auth.kind === 'role'
        ? `${what} is already used by another recipient's destination (roles are compared by account and role name: another partition or path names the same role).`
        : `${what} is already used by another recipient's destination.`,
    hint:
      auth.kind === 'role'
        ? "Each recipient must give its own role. If this recipient really owns the role, delete the other destination first (DELETE /v1/destinations/<id>, or `sluice destinations delete <id>`), then try again."
        : "Each recipient must give its own access key. If this recipient really owns the key, delete the other destination first (DELETE /v1/destinations/<id>, or `sluice destinations delete <id>`), then try again.",
    actor: 'recipient',
    status: 409,
    details: [{ field: auth.kind === 'role' ? 'auth.roleArn' : 'auth.accessKeyId', message: 'is already used by another recipient' }],
  });
}

/**
 * The store a destination writes to, for "one bucket + prefix, one recipient": the same store must
 * get the same value however its endpoint is spelled, or a second spelling would bypass the rule.
 * AWS (no endpoint, or any `*.amazonaws.com[.cn]` endpoint: regional, FIPS, dual-stack — bucket
 * names are global there); else the host without a trailing dot, an IPv4-mapped IPv6 address as
 * its IPv4 address, every loopback host (`localhost`, `127.0.0.0/8`, `::1`) as one, plus the port
 * when it is not the scheme's default. The scheme is left out: http and https to one host are one
 * store. Names and addresses are not resolved (a name and its address stay two spellings).
 */
export function storeOf(endpoint: string | null): string {
  if (!endpoint) return 'aws';
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return endpoint.toLowerCase();
  }
  let host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (host === 'amazonaws.com' || host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn')) return 'aws';
  if (ipaddr.isValid(host)) {
    const ip = ipaddr.process(host);
    host = ip.range() === 'loopback' ? 'loopback' : ip.kind() === 'ipv6' ? `[${ip.toString()}]` : ip.toString();
  } else if (host === 'localhost' || host.endsWith('.localhost')) {
    host = 'loopback';
  }
  return url.port ? `${host}:${url.port}` : host;
}

/** Whether two key prefixes share keys: equal, one empty, or one a folder of the other (`a` and `a/b`; not `a` and `ab`). */
export function prefixesOverlap(a: string, b: string): boolean {
  return a === b || a === '' || b === '' || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/**
 * Refuses a bucket + prefix that overlaps one of another recipient's destinations on the same store:
 * one recipient would receive files next to (or read the manifests of) another's. The advisory lock
 * on the bucket serialises concurrent creates and updates naming it.
 */
export async function claimBucketPrefix(
  tx: PoolClient,
  place: Pick<DestinationSettings, 'bucket' | 'prefix' | 'endpoint'>,
  recipientId: string,
  exceptDestinationId?: string,
): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('sluice:bucket:' || $1, 0))`, [place.bucket]);
  const { rows } = await tx.query<{ id: string; prefix: string; endpoint: string | null }>(
    `SELECT id, prefix, endpoint FROM destinations
      WHERE bucket = $1 AND recipient_id <> $2 AND id <> coalesce($3, '')
      ORDER BY created_at, id`,
    [place.bucket, recipientId, exceptDestinationId ?? null],
  );
  const store = storeOf(place.endpoint);
  const clash = rows.find((r) => storeOf(r.endpoint) === store && prefixesOverlap(r.prefix, place.prefix));
  if (!clash) return;
  const shown = (p: string) => (p === '' ? 'the whole bucket' : `prefix "${p}"`);
  throw new SluiceError({
    code: 'bucket_prefix_in_use',
    message: `Bucket ${place.bucket} with ${shown(place.prefix)} overlaps ${shown(clash.prefix)} of destination ${clash.id}, which belongs to another recipient.`,
    hint: "A bucket and prefix belong to one recipient. Give this recipient its own bucket, or a prefix that is neither inside nor around the other recipient's.",
    actor: 'provider',
    status: 409,
    details: [{ field: 'prefix', message: "overlaps another recipient's destination in the same bucket" }],
  });
}

export async function lockRecipient(tx: PoolClient, recipientId: string): Promise<void> {
  // FOR SHARE: concurrent destination creates proceed; a tenant id change (FOR UPDATE) waits.
  const { rows } = await tx.query<{ disabled: boolean }>(
    'SELECT disabled_at IS NOT NULL AS disabled FROM recipients WHERE id = $1 FOR SHARE',
    [recipientId],
  );
  const r = rows[0];
  if (!r) {
    throw new SluiceError({
      code: 'not_found',
      message: `No recipient with id ${recipientId}.`,
      hint: 'Create the recipient first, or list recipients to find the right id.',
      status: 404,
      details: [{ field: 'recipientId', message: 'names no recipient' }],
    });
  }
  if (r.disabled) {
    throw new SluiceError({
      code: 'recipient_disabled',
      message: `Recipient ${recipientId} is disabled; it cannot get new destinations.`,
      status: 409,
    });
  }
}
