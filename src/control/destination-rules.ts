/**
 * A destination's settings and the rules they must satisfy before anything is stored: the S3 rules
 * of destinations/s3/rules.ts applied to a whole configuration (several depend on other fields: a
 * region or a role ARN is judged differently with a custom endpoint), where an endpoint's host
 * resolves to, and the models of sluice.yaml. Pure checks: nothing here reads or writes the control
 * store.
 */
import type { Config } from '../config.js';
import type { S3DestinationConfig } from '../destinations/s3/types.js';
import {
  checkAccessKeyId,
  checkEndpoint,
  checkKmsKeyArn,
  checkPlacement,
  checkRoleArn,
  checkSecretAccessKey,
  parseRoleArn,
} from '../destinations/s3/rules.js';
import type { EndpointPolicy, Resolver } from '../destinations/s3/network.js';
import { validationError, type FieldProblem } from '../core/errors.js';
import type { Compression, Format } from '../core/types.js';
import { COMPRESSIONS as FORMAT_COMPRESSIONS, DEFAULT_COMPRESSION } from '../formats/index.js';
import { DestinationConfigInput, type AuthInputType, type DestinationConfigInputType } from './destination-input.js';
import { parseInput } from './validation.js';

export function effectiveCompression(format: Format, compression: Compression | null): Compression {
  return compression ?? DEFAULT_COMPRESSION[format];
}

/** How Sluice authenticates to the bucket, secret included: the S3 code's own type. */
export type DestinationAuth = S3DestinationConfig['auth'];

/**
 * A destination's configuration after shape validation, with defaults applied: what the provider or
 * the recipient decides. The stored row (destination-store.ts) and the public view add what Sluice
 * decides (id, audience, account, status).
 */
export interface DestinationSettings {
  name: string;
  bucket: string;
  region: string;
  prefix: string;
  auth: DestinationAuth;
  endpoint: string | null;
  forcePathStyle: boolean;
  kmsKeyArn: string | null;
  conditionalWrites: boolean;
  requestChecksums: boolean;
  format: Format;
  /** null = the format's default (effectiveCompression). */
  compression: Compression | null;
  /** null = every model of sluice.yaml. */
  models: string[] | null;
  frequencyMinutes: number | null;
}

/** Settings whose auth is still the input's (not yet checked); null keeps the stored credentials. */
export type UncheckedSettings = Omit<DestinationSettings, 'auth'> & { auth: AuthInputType | null };

function authProblems(
  auth: AuthInputType,
  hasCustomEndpoint: boolean,
): { auth: DestinationAuth | null; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const hasRole = auth.roleArn !== undefined;
  const hasKey = auth.accessKeyId !== undefined || auth.secretAccessKey !== undefined;
  if (hasRole && hasKey) {
    problems.push({ field: 'auth', message: 'give either roleArn, or accessKeyId and secretAccessKey — not both' });
    return { auth: null, problems };
  }
  if (hasRole) {
    const m = checkRoleArn(auth.roleArn as string, hasCustomEndpoint);
    if (m) problems.push({ field: 'auth.roleArn', message: m });
    return { auth: m ? null : { kind: 'role', roleArn: auth.roleArn as string }, problems };
  }
  if (!hasKey) {
    problems.push({ field: 'auth', message: 'give either roleArn (recommended), or accessKeyId and secretAccessKey' });
    return { auth: null, problems };
  }
  if (auth.accessKeyId === undefined) problems.push({ field: 'auth.accessKeyId', message: 'is required with secretAccessKey' });
  else {
    const m = checkAccessKeyId(auth.accessKeyId);
    if (m) problems.push({ field: 'auth.accessKeyId', message: m });
  }
  if (auth.secretAccessKey === undefined) problems.push({ field: 'auth.secretAccessKey', message: 'is required with accessKeyId' });
  else {
    const m = checkSecretAccessKey(auth.secretAccessKey);
    if (m) problems.push({ field: 'auth.secretAccessKey', message: m });
  }
  if (problems.length > 0) return { auth: null, problems };
  return {
    auth: { kind: 'access_key', accessKeyId: auth.accessKeyId as string, secretAccessKey: auth.secretAccessKey as string },
    problems,
  };
}

/**
 * Every S3 rule over a whole configuration: one problem per field. `resolver` resolves endpoint hosts
 * (tests pass a fake resolver; production uses DNS).
 */
export async function checkDestinationRules(
  d: UncheckedSettings,
  policy: EndpointPolicy,
  resolver?: Resolver,
): Promise<{ problems: FieldProblem[]; auth: DestinationAuth | null }> {
  const problems: FieldProblem[] = [];
  const add = (field: string, message: string | null) => {
    if (message) problems.push({ field, message });
  };
  const custom = d.endpoint !== null;
  problems.push(...checkPlacement(d, custom));
  let auth: DestinationAuth | null = null;
  if (d.auth) {
    const checked = authProblems(d.auth, custom);
    problems.push(...checked.problems);
    auth = checked.auth;
  }
  if (d.kmsKeyArn !== null) add('kmsKeyArn', checkKmsKeyArn(d.kmsKeyArn));
  if (d.compression !== null && !FORMAT_COMPRESSIONS[d.format].includes(d.compression)) {
    add('compression', `must be one of ${FORMAT_COMPRESSIONS[d.format].join(', ')} for format ${d.format}`);
  }
  if (d.models && new Set(d.models).size !== d.models.length) add('models', 'must not name a model twice');
  if (d.endpoint !== null) {
    add('endpoint', await checkEndpoint(d.endpoint, policy, resolver));
  }
  return { problems, auth };
}

export function endpointPolicy(config: Pick<Config, 'SLUICE_ALLOW_HTTP_ENDPOINTS' | 'SLUICE_ENDPOINT_ALLOWLIST'>): EndpointPolicy {
  return { allowHttp: config.SLUICE_ALLOW_HTTP_ENDPOINTS, allowlist: config.SLUICE_ENDPOINT_ALLOWLIST };
}


export function accountIdOf(auth: DestinationAuth): string | null {
  return auth.kind === 'role' ? (parseRoleArn(auth.roleArn)?.accountId ?? null) : null;
}

export interface ValidateDeps {
  config: Pick<Config, 'SLUICE_ALLOW_HTTP_ENDPOINTS' | 'SLUICE_ENDPOINT_ALLOWLIST'>;
  /** Endpoint host resolver; DNS by default. */
  resolver?: Resolver;
}

function settingsFrom(input: DestinationConfigInputType): UncheckedSettings & { auth: AuthInputType } {
  return {
    name: input.name ?? input.bucket,
    bucket: input.bucket,
    region: input.region,
    prefix: input.prefix ?? '',
    auth: input.auth,
    endpoint: input.endpoint ?? null,
    forcePathStyle: input.forcePathStyle ?? false,
    kmsKeyArn: input.kmsKeyArn ?? null,
    conditionalWrites: input.conditionalWrites ?? true,
    requestChecksums: input.requestChecksums ?? true,
    format: input.format ?? 'parquet',
    compression: input.compression ?? null,
    models: input.models ?? null,
    frequencyMinutes: input.frequencyMinutes ?? null,
  };
}

/**
 * Validates a complete configuration exactly as `createDestination` does and returns it normalised
 * (used for the connection test of an unsaved configuration). Throws `invalid_input`.
 */
export async function validateDestinationConfig(
  input: unknown,
  deps: ValidateDeps,
): Promise<DestinationSettings> {
  return checkedSettings(parseInput(DestinationConfigInput, input, 'destination'), deps);
}

/** What a saved destination is also checked against: the models of sluice.yaml (models/catalog.ts). */
export interface SaveDeps extends ValidateDeps {
  models: { load(): Promise<Array<{ definition: { name: string } }>> };
}

/** Problems of model names the models file does not declare (field `models.<i>`, as the schema names it). */
export async function unknownModels(names: string[] | null | undefined, deps: SaveDeps): Promise<FieldProblem[]> {
  if (!names) return [];
  const known = new Set((await deps.models.load()).map((m) => m.definition.name));
  return names.flatMap((n, i) =>
    known.has(n) ? [] : [{ field: `models.${i}`, message: `names no model of sluice.yaml; the models are ${[...known].sort().join(', ')}` }],
  );
}

/** Input already parsed by shape → settings with every S3 rule applied. Throws `invalid_input`. */
export async function checkedSettings(parsed: DestinationConfigInputType, deps: ValidateDeps): Promise<DestinationSettings> {
  const settings = settingsFrom(parsed);
  const { problems, auth } = await checkDestinationRules(settings, endpointPolicy(deps.config), deps.resolver);
  if (problems.length > 0 || !auth) throw validationError(problems, 'destination');
  return { ...settings, auth };
}

/** Where and how the S3 code writes: the settings it needs (secret included), nothing else. */
export type S3Settings = Pick<
  DestinationSettings,
  'bucket' | 'region' | 'prefix' | 'auth' | 'endpoint' | 'forcePathStyle' | 'kmsKeyArn' | 'conditionalWrites' | 'requestChecksums'
>;

/** The S3 code's configuration of a destination: the one way settings become an S3DestinationConfig. */
export function s3Config(
  who: Pick<S3DestinationConfig, 'id' | 'recipientId' | 'audience'>,
  accountId: string | null,
  settings: S3Settings,
): S3DestinationConfig {
  return {
    ...who,
    bucket: settings.bucket,
    region: settings.region,
    prefix: settings.prefix,
    auth: settings.auth,
    // '' (an account-less store such as Ceph RGW) is as good as unknown for ExpectedBucketOwner.
    ...(accountId ? { accountId } : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.kmsKeyArn ? { kmsKeyArn: settings.kmsKeyArn } : {}),
    conditionalWrites: settings.conditionalWrites,
    requestChecksums: settings.requestChecksums,
  };
}

/** The S3 configuration of an unsaved destination, for a connection test (placeholder id, real audience). */
export function unsavedS3Config(settings: DestinationSettings, audience: string): S3DestinationConfig {
  return s3Config({ id: 'dst_unsaved', recipientId: 'rcp_unsaved', audience }, accountIdOf(settings.auth), settings);
}
