/**
 * Process configuration from the environment, validated once at start. Every variable is documented
 * in docs/operations.md ("Configuration"); an invalid value stops the process with one line per problem.
 */
import path from 'node:path';
import { z } from 'zod';
import { validationError } from './core/errors.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const csv = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

const EnvSchema = z.object({
  SLUICE_DATA_DIR: z.string().default('.sluice'),
  DATABASE_URL: z.string().url().optional(),
  SLUICE_SOURCE_URL: z.string().url().optional(),
  SLUICE_CONFIG: z.string().default('sluice.yaml'),
  SLUICE_SECRET_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/=_-]{43,88}$/, 'must be 32 bytes, base64 or hex encoded')
    .optional(),
  SLUICE_HOST: z.string().default('127.0.0.1'),
  SLUICE_PORT: z.coerce.number().int().min(0).max(65535).default(7070),
  /**
   * Port of `sluice worker`'s /metrics, /healthz and /readyz listener (on SLUICE_HOST); unset = no
   * listener, so that several workers can share a host. `--metrics-port` overrides it.
   */
  SLUICE_WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** How long a connection test request waits for the queued test's result before answering an error. */
  SLUICE_CONNECTION_TEST_WAIT_SECONDS: z.coerce.number().min(0.1).max(600).default(60),
  /** Public base URL of this Sluice (the OIDC issuer when SLUICE_IDENTITY=oidc). */
  SLUICE_PUBLIC_URL: z.string().url().optional(),
  SLUICE_IDENTITY: z.enum(['oidc', 'google', 'token-file']).default('oidc'),
  SLUICE_GOOGLE_SERVICE_ACCOUNT_KEY_FILE: z.string().optional(),
  SLUICE_GOOGLE_METADATA_HOST: z.string().default('metadata.google.internal'),
  SLUICE_TOKEN_FILE: z.string().optional(),
  SLUICE_TOKEN_FILE_SUBJECT: z.string().optional(),
  SLUICE_TOKEN_FILE_ISSUER: z.string().optional(),
  /** oidc identity: the `sub` of every token Sluice signs (stable for this installation). */
  SLUICE_OIDC_SUBJECT: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 printable characters without spaces').default('sluice'),
  /** oidc identity: lifetime of a minted token. */
  SLUICE_OIDC_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(600),
  /** oidc identity: Cache-Control max-age of the discovery document and JWKS. */
  SLUICE_OIDC_JWKS_MAX_AGE_SECONDS: z.coerce.number().int().min(0).max(86400).default(300),
  /** oidc identity: how long a new key is published before it signs (at least the JWKS max-age). */
  SLUICE_OIDC_PUBLISH_LEAD_SECONDS: z.coerce.number().int().min(0).max(30 * 86400).default(900),
  /** oidc identity: accept an http:// SLUICE_PUBLIC_URL that is not loopback (AWS will not accept it). */
  SLUICE_OIDC_ALLOW_HTTP: bool.default(false),
  /** google identity: the service account's numeric unique id, when it cannot be learnt. */
  SLUICE_GOOGLE_SUBJECT: z.string().regex(/^\d{1,64}$/, 'must be the numeric unique id of the service account').optional(),
  /** google identity: service account to mint tokens for with the IAM Credentials API (default: the key file's). */
  SLUICE_GOOGLE_SERVICE_ACCOUNT_EMAIL: z.string().email().optional(),
  /** google identity: base URL of the IAM Credentials API. */
  SLUICE_GOOGLE_IAM_CREDENTIALS_URL: z.string().url().default('https://iamcredentials.googleapis.com'),
  /** Allow http:// endpoints for S3-compatible stores (never for AWS). */
  SLUICE_ALLOW_HTTP_ENDPOINTS: bool.default(false),
  /** Hosts or CIDRs that endpoints may resolve to although they are loopback/private. */
  SLUICE_ENDPOINT_ALLOWLIST: csv.default([]),
  /** Setup page: the provider's name at the top of the page, and an optional logo (a local PNG, SVG or JPEG file). */
  SLUICE_PROVIDER_NAME: z.string().trim().min(1).max(100).default('Sluice'),
  SLUICE_PROVIDER_LOGO_FILE: z.string().optional(),
  /** Setup page: CSP frame-ancestors — who may embed the page ('none' by default; e.g. "'self' https://app.example.com"). */
  SLUICE_SETUP_FRAME_ANCESTORS: z
    .string()
    .regex(/^[\w\s'.:/*-]+$/, "must be a CSP source list such as 'none' or 'self' https://app.example.com")
    .default("'none'"),
  /** Setup page: connection tests one setup link may request per hour. */
  SLUICE_SETUP_TESTS_PER_HOUR: z.coerce.number().int().min(1).max(1000).default(20),
  SLUICE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  SLUICE_LOG_FORMAT: z.enum(['json', 'pretty', 'auto']).default('auto'),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config extends Env {
  /** Absolute data folder. */
  dataDir: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw validationError(
      parsed.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })),
      'environment',
    );
  }
  return { ...parsed.data, dataDir: path.resolve(parsed.data.SLUICE_DATA_DIR) };
}
