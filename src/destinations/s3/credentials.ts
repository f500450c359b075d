/**
 * AWS credentials for one destination. Role auth: AssumeRoleWithWebIdentity (an unsigned STS call)
 * with an ID token freshly minted for the destination's audience on every call — never a token
 * captured once, which would expire (the SDK's fromWebToken does that) — cached until about five
 * minutes before the session expires, within one provider. Each transfer and each connection test
 * makes its own provider (see transferClient), so no session is shared across destinations or
 * transfers. Access-key auth: the static pair.
 *
 * Logged: the assumed-role ARN and the token's subject. Never logged: tokens, keys, session tokens.
 */
import { AssumeRoleWithWebIdentityCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { IdentityProblem, IdentitySource } from '../../core/identity.js';
import type { Logger } from '../../core/log.js';
import { SluiceError, describeError } from '../../core/errors.js';
import { classifyError, docsAnchor } from './errors.js';
import { guardedRequestHandler, type NetworkGuard } from './network.js';
import type { S3DestinationConfig } from './types.js';

/** Refresh this long before the session expires (the SDK's own margin is the same 5 minutes). */
export const REFRESH_MARGIN_MS = 5 * 60_000;

/** What the SDK's credential providers return (structurally the SDK's AwsCredentialIdentity). */
export interface AwsCredentialIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export type AwsCredentialIdentityProvider = () => Promise<AwsCredentialIdentity>;

export interface CredentialDeps {
  identity: IdentitySource;
  log: Logger;
  /** STS is reached under the same network rules as S3 (RGW serves it on the destination's endpoint). */
  network: NetworkGuard;
  /** Connection and request timeout of STS calls. */
  timeoutMs?: number;
  /** Session length asked of STS; the role's MaxSessionDuration caps it (default 1 h). */
  durationSeconds?: number;
  now?: () => number;
}

export interface AssumedRole {
  credentials: AwsCredentialIdentity & { expiration: Date };
  assumedRoleArn?: string;
  subject?: string;
}

/** RoleSessionName: 2–64 characters of [\w+=,.@-]; it shows in the recipient's CloudTrail. */
export function roleSessionName(destinationId: string, suffix = ''): string {
  const clean = `sluice-${destinationId}`.replace(/[^\w+=,.@-]/g, '-');
  const tail = suffix ? `-${suffix.replace(/[^\w+=,.@-]/g, '-')}` : '';
  return (clean.slice(0, 64 - tail.length) + tail).padEnd(2, '-');
}

function stsClient(config: S3DestinationConfig, timeoutMs: number, network: NetworkGuard): STSClient {
  return new STSClient({
    region: config.region,
    // Ceph RGW serves STS on the same endpoint as S3; AWS uses the regional STS endpoint.
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    maxAttempts: 2,
    requestHandler: guardedRequestHandler(network, { connectionTimeout: timeoutMs, requestTimeout: timeoutMs }),
  });
}

/**
 * Assumes the destination's role with a token for `audience`. The connection test calls it with the
 * destination's audience, and with a random other one for the negative probe.
 */
export async function assumeRoleWithAudience(
  config: S3DestinationConfig,
  audience: string,
  deps: CredentialDeps & { sessionSuffix?: string },
): Promise<AssumedRole> {
  if (config.auth.kind !== 'role') throw new Error('assumeRoleWithAudience needs a destination with role auth');
  const ctx = { operation: 'assume_role' as const, region: config.region, ...(config.endpoint ? { endpoint: config.endpoint } : {}) };
  let token: string;
  try {
    token = await deps.identity.token(audience);
  } catch (err) {
    throw classifyIdentityError(err);
  }
  const client = stsClient(config, deps.timeoutMs ?? 10_000, deps.network);
  try {
    const out = await client.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: config.auth.roleArn,
        RoleSessionName: roleSessionName(config.id, deps.sessionSuffix),
        WebIdentityToken: token,
        DurationSeconds: deps.durationSeconds ?? 3600,
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw Object.assign(new Error('STS returned no credentials'), { name: 'InvalidResponse', $metadata: { httpStatusCode: 502 } });
    }
    return {
      credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration },
      ...(out.AssumedRoleUser?.Arn ? { assumedRoleArn: out.AssumedRoleUser.Arn } : {}),
      ...(out.SubjectFromWebIdentityToken ? { subject: out.SubjectFromWebIdentityToken } : {}),
    };
  } catch (err) {
    const classified = classifyError(err, ctx);
    if (deps.sessionSuffix === 'probe' || !RECIPIENT_REFUSALS.has(classified.code)) throw classified;
    throw await blame(classified, err, config, deps);
  } finally {
    client.destroy();
  }
}

/** STS refusals that read as the recipient's setup — unless Sluice's own side is at fault. */
const RECIPIENT_REFUSALS: ReadonlySet<string> = new Set(['role_not_assumable', 'oidc_provider_missing']);

/** Beyond this difference from STS's clock, Sluice's fresh tokens look expired or not yet valid. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Decides who must act on an STS refusal. Sluice checks what it can of its own side first — its clock
 * against STS's (the refusal's Date header), and its identity's selfCheck (for its own issuer: the
 * discovery document and JWKS reachable at the public URL, the signing key published). A fault there is
 * the provider's (retried by the job queue); only after those pass is the refusal the recipient's, and
 * the message then names the two places a recipient can look: the identity provider and the trust policy.
 */
async function blame(refusal: SluiceError, raw: unknown, config: S3DestinationConfig, deps: CredentialDeps): Promise<SluiceError> {
  const now = (deps.now ?? Date.now)();
  const date = (raw as { $response?: { headers?: Record<string, string | undefined> } } | null)?.$response?.headers?.date;
  const stsTime = date ? Date.parse(date) : NaN;
  if (Number.isFinite(stsTime) && Math.abs(stsTime - now) > MAX_CLOCK_SKEW_MS) {
    return new SluiceError({
      code: 'clock_skew',
      actor: 'provider',
      message: `STS refused Sluice's token, and the clock of the machine running Sluice is ${Math.round(Math.abs(stsTime - now) / 60_000)} minutes off STS's: Sluice's fresh tokens look expired or not yet valid.`,
      hint: 'Synchronise the clock (NTP) on the machines running Sluice; transfers retry by themselves.',
      docs: docsAnchor('clock_skew'),
      status: 502,
      cause: refusal,
    });
  }
  let problem: IdentityProblem | null = null;
  try {
    problem = (await deps.identity.selfCheck?.()) ?? null;
  } catch (err) {
    problem = { code: 'issuer_unreachable', message: `Sluice could not check its own identity: ${describeError(err)}.`, hint: "Check Sluice's identity configuration and its control store; transfers retry by themselves." };
  }
  if (problem) {
    deps.log.warn({ destinationId: config.id, code: problem.code }, "STS refused the token and Sluice's own issuer check failed: blaming the provider, not the recipient");
    return new SluiceError({ code: problem.code, actor: 'provider', message: problem.message, hint: problem.hint, docs: docsAnchor(problem.code), status: 502, cause: refusal });
  }
  if (refusal.code !== 'role_not_assumable') return refusal;
  const identity = await deps.identity.describe().catch(() => undefined);
  const roleArn = config.auth.kind === 'role' ? config.auth.roleArn : '';
  const idp =
    identity?.requiresOidcProvider === false
      ? `the identity provider ${identity.issuer} (built into IAM: nothing to create, but the trust policy must name it as its Federated principal)`
      : `the IAM OIDC identity provider for ${identity?.issuer ?? "Sluice's issuer"} in the role's account (it must exist and list ${config.audience} as a client id)`;
  return new SluiceError({
    code: 'role_not_assumable',
    actor: 'recipient',
    message: `STS refused to let Sluice assume ${roleArn} for this destination; Sluice's own side checked out (issuer reachable, signing key published, clock in sync).`,
    hint: `Look in two places: ${idp}, and the role's trust policy, which must be the one Sluice generated for this destination (Sluice's identity as sub and ${config.audience} as audience). Also check the role ARN.`,
    docs: docsAnchor('role_not_assumable'),
    status: 403,
    cause: refusal,
  });
}

/** The identity source could not mint a token (metadata server down, issuer keys missing, ...). */
function classifyIdentityError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  return new SluiceError({
    code: 'identity_unavailable',
    actor: 'provider',
    message: `Sluice could not get an identity token: ${describeError(err)}`,
    hint: "Check Sluice's identity configuration (SLUICE_IDENTITY) and that its token source is reachable.",
    docs: docsAnchor('identity_unavailable'),
    status: 502,
    cause: err,
  });
}

/**
 * The credential provider the destination's S3 client uses. Concurrent callers share one STS call;
 * a failed call is not cached.
 */
export function createCredentialProvider(config: S3DestinationConfig, deps: CredentialDeps): AwsCredentialIdentityProvider {
  const auth = config.auth;
  if (auth.kind === 'access_key') {
    const creds: AwsCredentialIdentity = { accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey };
    return async () => creds;
  }
  const now = deps.now ?? Date.now;
  let cached: AssumedRole | undefined;
  let inflight: Promise<AssumedRole> | undefined;
  return async () => {
    if (cached && cached.credentials.expiration.getTime() - now() > REFRESH_MARGIN_MS) return cached.credentials;
    inflight ??= assumeRoleWithAudience(config, config.audience, deps)
      .then((assumed) => {
        cached = assumed;
        deps.log.info(
          { destinationId: config.id, assumedRoleArn: assumed.assumedRoleArn, subject: assumed.subject, expiresAt: assumed.credentials.expiration.toISOString() },
          'assumed recipient role',
        );
        return assumed;
      })
      .finally(() => {
        inflight = undefined;
      });
    return (await inflight).credentials;
  };
}

/**
 * The account that owns an access key (sts:GetCallerIdentity needs no permission), for
 * ExpectedBucketOwner. Only meaningful on AWS; returns undefined when it cannot be learned.
 */
export async function callerAccount(config: S3DestinationConfig, deps: CredentialDeps): Promise<string | undefined> {
  if (config.auth.kind !== 'access_key' || config.endpoint) return undefined;
  const client = new STSClient({
    region: config.region,
    credentials: { accessKeyId: config.auth.accessKeyId, secretAccessKey: config.auth.secretAccessKey },
    maxAttempts: 2,
    requestHandler: guardedRequestHandler(deps.network, { connectionTimeout: deps.timeoutMs ?? 10_000, requestTimeout: deps.timeoutMs ?? 10_000 }),
  });
  try {
    const out = await client.send(new GetCallerIdentityCommand({}));
    return out.Account && /^\d{12}$/.test(out.Account) ? out.Account : undefined;
  } catch (err) {
    const e = classifyError(err, { operation: 'caller_identity', region: config.region });
    deps.log.warn({ destinationId: config.id, code: e.code }, 'could not learn the account of the access key; ExpectedBucketOwner is not sent');
    return undefined;
  } finally {
    client.destroy();
  }
}
