/**
 * Validation rules for an S3 destination's fields. Each rule returns `null` when the value is fine and
 * otherwise one sentence that says what is wrong and what a valid value looks like. The API, the CLI
 * and the connection test's first step all use these, so a bad value gets the same message everywhere.
 */
import net from 'node:net';
import type { FieldProblem } from '../../core/errors.js';
import { decideAddress, decideScheme, systemResolver, type EndpointPolicy, type Resolver } from './network.js';

/** Known AWS region codes (commercial, GovCloud and China partitions). */
export const AWS_REGIONS: ReadonlySet<string> = new Set([
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
  'af-south-1',
  'ap-east-1', 'ap-east-2', 'ap-south-1', 'ap-south-2',
  'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7',
  'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3',
  'ca-central-1', 'ca-west-1',
  'eu-central-1', 'eu-central-2', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-south-1', 'eu-south-2', 'eu-north-1',
  'il-central-1', 'me-south-1', 'me-central-1', 'mx-central-1', 'sa-east-1',
  'us-gov-east-1', 'us-gov-west-1', 'cn-north-1', 'cn-northwest-1',
]);

export function checkBucketName(name: string): string | null {
  if (name.length < 3 || name.length > 63) return `must be 3 to 63 characters long (it has ${name.length})`;
  if (!/^[a-z0-9.-]+$/.test(name)) return 'may contain only lowercase letters, digits, dots (.) and hyphens (-)';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'must begin and end with a lowercase letter or digit';
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'must not be formatted as an IP address';
  for (const prefix of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(prefix)) return `must not start with the reserved prefix "${prefix}"`;
  }
  for (const suffix of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(suffix)) return `must not end with the reserved suffix "${suffix}"`;
  }
  return null;
}

/** With a custom endpoint any well-formed region name is accepted (stores use "us-east-1", "auto", …). */
export function checkRegion(region: string, hasCustomEndpoint: boolean): string | null {
  if (hasCustomEndpoint) {
    return /^[a-z0-9][a-z0-9-]{0,31}$/.test(region) ? null : 'must be a region name such as us-east-1';
  }
  if (AWS_REGIONS.has(region)) return null;
  return `"${region}" is not an AWS region code; use the code shown in the S3 console, such as us-east-1 or eu-west-1`;
}

export interface RoleArn {
  partition: string;
  /** 12-digit account id; empty for S3-compatible stores such as Ceph RGW that have no accounts. */
  accountId: string;
  path: string;
  roleName: string;
}

export function parseRoleArn(arn: string): RoleArn | null {
  const m = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}|):role\/((?:[\x21-\x7e]+\/)*)([\w+=,.@-]{1,64})$/.exec(arn);
  if (!m) return null;
  return { partition: m[1] ?? 'aws', accountId: m[2] ?? '', path: m[3] ?? '', roleName: m[4] ?? '' };
}

/**
 * The role as IAM identifies it, for "one role, one recipient": `<account id>:<role name>`, the name
 * lower-cased. The partition and the path do not make a different role here: role names are unique
 * in an account whatever their path and case, and a store such as Ceph RGW resolves
 * `arn:aws-cn:iam:::role/x/name` to the same role as `arn:aws:iam:::role/name`. Null for a malformed ARN.
 */
export function roleIdentity(arn: string): string | null {
  const parsed = parseRoleArn(arn);
  return parsed ? `${parsed.accountId}:${parsed.roleName.toLowerCase()}` : null;
}

export function checkRoleArn(arn: string, hasCustomEndpoint: boolean): string | null {
  if (arn.length < 20 || arn.length > 2048) return 'must be 20 to 2048 characters long';
  const parsed = parseRoleArn(arn);
  if (!parsed) {
    return 'must look like arn:aws:iam::123456789012:role/transfer-role (copy the ARN from the role page in the IAM console)';
  }
  if (!parsed.accountId && !hasCustomEndpoint) return 'must contain the 12-digit AWS account id after "iam::"';
  return null;
}

export function checkKmsKeyArn(arn: string): string | null {
  return /^arn:(aws|aws-cn|aws-us-gov):kms:[a-z0-9-]+:\d{12}:(key\/[0-9a-f-]{36}|key\/mrk-[0-9a-f]{32}|alias\/[\w/+=,.@-]+)$/.test(arn)
    ? null
    : 'must be a KMS key ARN such as arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
}

export function checkAccessKeyId(id: string): string | null {
  return /^[A-Z0-9]{16,128}$/.test(id) ? null : 'must be an access key id such as AKIAIOSFODNN7EXAMPLE (16 to 128 uppercase letters and digits)';
}

export function checkSecretAccessKey(secret: string): string | null {
  // Never echo the value: the message must not leak any part of a secret.
  return secret.length >= 16 && secret.length <= 128 && !/\s/.test(secret)
    ? null
    : 'must be the 40-character secret access key shown once when the key was created (16 to 128 characters, no spaces)';
}

/**
 * Object key prefix: no leading or trailing slash, no empty, "." or ".." segments, only characters
 * that S3 documents as safe, and short enough to leave room for the bucket contract's keys.
 */
export function checkPrefix(prefix: string): string | null {
  if (prefix === '') return null;
  if (Buffer.byteLength(prefix) > 512) return 'must be at most 512 bytes long';
  if (prefix.startsWith('/') || prefix.endsWith('/')) return 'must not start or end with "/" (write data/exports, not /data/exports/)';
  if (!/^[A-Za-z0-9!_.*'()/=-]+$/.test(prefix)) {
    return "may contain only letters, digits, '/' and the characters ! - _ . * ' ( ) =";
  }
  const segments = prefix.split('/');
  if (segments.some((s) => s === '')) return 'must not contain "//"';
  if (segments.some((s) => s === '.' || s === '..')) return 'must not contain "." or ".." segments';
  if (segments[0] === '_sluice' || segments[0] === '_manifests') return `must not start with "${segments[0]}", which Sluice reserves`;
  return null;
}

export type { EndpointPolicy } from './network.js';

/** Syntax-only endpoint checks (no DNS); see `checkEndpointAddress` for where it points. */
export function checkEndpointUrl(endpoint: string, policy: EndpointPolicy): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'must be an absolute URL such as https://s3.example.com';
  }
  const scheme = decideScheme(url.protocol, policy);
  if (scheme) return scheme;
  if (url.username || url.password) return 'must not contain credentials; give them as an access key pair instead';
  if (url.search || url.hash) return 'must not contain a query string or fragment';
  if (url.pathname !== '/' && url.pathname !== '') return 'must not contain a path; give the bucket and prefix separately';
  return null;
}

/**
 * Refuses endpoints whose host is, or resolves to, an address the network rules refuse (loopback,
 * private, link-local, reserved, … — see network.ts), unless allow-listed. The same rules are applied
 * again on every connection, on the address actually dialled: this check gives the operator an early,
 * clear answer when a destination is saved or tested.
 */
export async function checkEndpointAddress(endpoint: string, policy: EndpointPolicy, resolver: Resolver = systemResolver): Promise<string | null> {
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = net.isIP(host) ? [host] : (await resolver(host)).map((a) => a.address);
  } catch {
    return `host ${host} does not resolve; check the spelling`;
  }
  if (addresses.length === 0) return `host ${host} does not resolve; check the spelling`;
  for (const address of addresses) {
    const d = decideAddress(address, policy, net.isIP(host) ? undefined : host);
    if (!d.allowed) return d.message;
  }
  return null;
}

/** Bucket, region and prefix of a destination: one problem per field, in that order. */
export function checkPlacement(d: { bucket: string; region: string; prefix: string }, hasCustomEndpoint: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const add = (field: string, message: string | null): void => {
    if (message) problems.push({ field, message });
  };
  add('bucket', checkBucketName(d.bucket));
  add('region', checkRegion(d.region, hasCustomEndpoint));
  add('prefix', checkPrefix(d.prefix));
  return problems;
}

/** An endpoint's syntax, then (only when that is fine) where it resolves to. */
export async function checkEndpoint(endpoint: string, policy: EndpointPolicy, resolver?: Resolver): Promise<string | null> {
  return checkEndpointUrl(endpoint, policy) ?? (await checkEndpointAddress(endpoint, policy, resolver));
}
