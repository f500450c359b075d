/** Prefixed random identifiers (`rcp_…`, `dst_…`, `trf_…`, `ctt_…`, `lnk_…`): readable in logs, unguessable, URL-safe. */
import crypto from 'node:crypto';

export type IdPrefix = 'rcp' | 'dst' | 'trf' | 'key' | 'sk' | 'ctt' | 'lnk';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${crypto.randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
}
