/**
 * The bucket contract (v1): where every object of a transfer goes.
 *
 *   <prefix>/<model>/dt=<YYYY-MM-DD>/part-<NNNNN>_<YYYYMMDDHHMMSS>_<transfer_id>.<ext>
 *   <prefix>/_manifests/<model>/dt=<YYYY-MM-DD>/manifest_<transfer_id>.json
 *
 * `dt` and the timestamp are the transfer's start (UTC). With an empty prefix keys start with the
 * model (never with a slash). Parsing is the inverse, used by `sluice verify`.
 */

export const MANIFESTS_DIR = '_manifests';
export const MAX_PARTS = 100_000;

export interface DataKeyParts {
  prefix: string;
  model: string;
  startedAt: Date;
  transferId: string;
  /** 0-based file index within the model's output of the transfer. */
  index: number;
  /** Without the leading dot, e.g. `parquet`, `csv.gz`, `jsonl.zst`. */
  extension: string;
}

function join(prefix: string, rest: string): string {
  return prefix === '' ? rest : `${prefix}/${rest}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** `YYYY-MM-DD` of an instant, in UTC. */
export function dtOf(d: Date): string {
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
}

/** `YYYYMMDDHHMMSS` of an instant, in UTC. */
export function stampOf(d: Date): string {
  return (
    `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}` +
    `${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}`
  );
}

export function dataKey(p: DataKeyParts): string {
  if (!Number.isInteger(p.index) || p.index < 0 || p.index >= MAX_PARTS) {
    throw new Error(`file index ${p.index} is outside 0..${MAX_PARTS - 1}`);
  }
  const file = `part-${pad(p.index, 5)}_${stampOf(p.startedAt)}_${p.transferId}.${p.extension}`;
  return join(p.prefix, `${p.model}/dt=${dtOf(p.startedAt)}/${file}`);
}

export function manifestKey(p: { prefix: string; model: string; startedAt: Date; transferId: string }): string {
  return join(p.prefix, `${MANIFESTS_DIR}/${p.model}/dt=${dtOf(p.startedAt)}/manifest_${p.transferId}.json`);
}

/** Strips `<prefix>/` from a key; null when the key is not under the prefix. */
export function relativeKey(prefix: string, key: string): string | null {
  if (prefix === '') return key;
  return key.startsWith(`${prefix}/`) ? key.slice(prefix.length + 1) : null;
}

const DATA_RE = /^([a-z][a-z0-9_]*)\/dt=(\d{4}-\d{2}-\d{2})\/part-(\d{5})_(\d{14})_(trf_[A-Za-z0-9]+)\.([a-z0-9.]+)$/;
const MANIFEST_RE = /^_manifests\/([a-z][a-z0-9_]*)\/dt=(\d{4}-\d{2}-\d{2})\/manifest_(trf_[A-Za-z0-9]+)\.json$/;

export interface ParsedDataKey {
  model: string;
  dt: string;
  index: number;
  stamp: string;
  transferId: string;
  extension: string;
}

export function parseDataKey(prefix: string, key: string): ParsedDataKey | null {
  const rel = relativeKey(prefix, key);
  const m = rel === null ? null : DATA_RE.exec(rel);
  if (!m) return null;
  return { model: m[1]!, dt: m[2]!, index: Number(m[3]), stamp: m[4]!, transferId: m[5]!, extension: m[6]! };
}

export function parseManifestKey(prefix: string, key: string): { model: string; dt: string; transferId: string } | null {
  const rel = relativeKey(prefix, key);
  const m = rel === null ? null : MANIFEST_RE.exec(rel);
  if (!m) return null;
  return { model: m[1]!, dt: m[2]!, transferId: m[3]! };
}
