/**
 * The recipient's hosted setup page and the link-scoped JSON calls it makes.
 *
 *   GET  /setup/:token          exchanges a setup link's token (once) for a session cookie, then 303 → /setup
 *   GET  /setup                 the setup form, or the destination's status page once it passed a test
 *   /setup/api/*                JSON calls of the page (session cookie; X-CSRF-Token on every POST/PATCH)
 *   /setup/assets/*             the page's script, style sheet and the provider's logo
 *
 * Templates are Eta (server-rendered, escaped by default); the page's script is a plain ES module
 * served from this folder, so nothing is built. Everything a session reaches is found through its
 * link: the link's recipient and the destination the link set up, nothing else.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import { Eta } from 'eta';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { FORMATS, FREQUENCIES } from '../../control/destination-input.js';
import { createDestination, updateDestination } from '../../control/destinations.js';
import { getDestination, setDestinationPaused, startSchedule, type DestinationView } from '../../control/destination-store.js';
import { validateDestinationConfig } from '../../control/destination-rules.js';
import {
  bindSetupLinkDestination,
  csrfMatches,
  exchangeSetupToken,
  findSetupSession,
  hashToken,
  isSetupToken,
  publicBaseUrl,
  queueFirstTransferOnce,
  takeSetupTestSlot,
  type SetupSession,
} from '../../control/setup-links.js';
import { destinationPolicies, partitionOf, type DestinationPolicies } from '../../destinations/s3/policies.js';
import {
  AWS_REGIONS,
  checkAccessKeyId,
  checkBucketName,
  checkPrefix,
  checkRegion,
  checkRoleArn,
  checkSecretAccessKey,
  parseRoleArn,
} from '../../destinations/s3/rules.js';
import { SluiceError, validationError, type FieldProblem } from '../../core/errors.js';
import { getConnectionTest, requestConnectionTest } from '../../jobs/connection-tests.js';
import { enqueueTransfer } from '../../jobs/enqueue.js';
import { modelRows } from '../../transfer/store/transfer-models.js';
import { listTransferRows } from '../../transfer/store/transfers.js';
import { ConnectionTestRun } from '../routes/connection-tests.js';
import { errorResponses } from '../schemas.js';
import type { ApiDeps, RoutePlugin } from '../types.js';
import { awsCliCommands } from './aws-cli.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SESSION_COOKIE = 'sluice_setup';
const tags = ['setup page'];
const security = [{ setupSession: [] as string[] }];

declare module 'fastify' {
  interface FastifyRequest {
    /** The setup page session that authenticated this request (on /setup/api routes). */
    setup?: SetupSession;
  }
}

const FREQUENCY_WORDS: Record<number, string> = { 15: 'every 15 minutes', 60: 'every hour', 360: 'every 6 hours', 720: 'every 12 hours', 1440: 'once a day' };
const REFUSALS: Record<string, { status: number; title: string; text: string }> = {
  unknown: { status: 404, title: 'This setup link is not valid', text: 'The link may have been copied incompletely.' },
  used: { status: 410, title: 'This setup link has already been used', text: 'A setup link opens one browser session only, and it was opened before.' },
  expired: { status: 410, title: 'This setup link has expired', text: 'Setup links work for a limited time.' },
  revoked: { status: 410, title: 'This setup link was revoked', text: 'The provider withdrew this link.' },
  recipient_disabled: { status: 410, title: 'This setup link is no longer valid', text: 'The account it was made for is disabled.' },
  no_session: { status: 401, title: 'Open the setup link you were sent', text: 'This page opens from the setup link in your invitation; your session has ended or never started here.' },
};

// ---- Schemas of the link-scoped JSON calls ----

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);

const PlacementInput = z.strictObject({
  bucket: text(63).optional(),
  region: text(32).optional(),
  prefix: text(1024).optional(),
  roleArn: text(2048).optional(),
  accessKeyId: text(128).optional(),
  secretAccessKey: text(128).optional(),
});

const ConnectInput = z.strictObject({
  bucket: text(63),
  region: text(32),
  prefix: text(1024).optional(),
  authMethod: z.enum(['role', 'access_key']),
  roleArn: text(2048).optional(),
  accessKeyId: text(128).optional(),
  secretAccessKey: text(128).optional().describe('Write-only; omit to keep the one already stored for this destination'),
  format: z.enum(FORMATS).optional(),
  frequencyMinutes: z.literal(FREQUENCIES).nullable().optional(),
});

const PoliciesInput = z.strictObject({
  bucket: text(63),
  prefix: text(1024).optional(),
  accountId: z.string().regex(/^\d{12}$/, 'must be the 12-digit AWS account id').optional(),
});

const SettingsInput = z
  .strictObject({ format: z.enum(FORMATS).optional(), frequencyMinutes: z.literal(FREQUENCIES).nullable().optional() })
  .refine((v) => v.format !== undefined || v.frequencyMinutes !== undefined, { message: 'give format or frequencyMinutes' });

const Problems = z.object({ problems: z.array(z.object({ field: z.string(), message: z.string() })) }).describe('FieldProblems');

const PoliciesOut = z
  .object({
    permissionsPolicy: z.unknown(),
    trustPolicy: z.unknown(),
    oidcProvider: z.object({ url: z.string(), clientIds: z.array(z.string()) }).optional(),
    notes: z.array(z.string()),
    awsCli: z.string().describe('The same steps as AWS CLI commands'),
  })
  .describe('SetupPolicies');

const SetupDestination = z
  .object({
    id: z.string(),
    bucket: z.string(),
    region: z.string(),
    prefix: z.string(),
    authMethod: z.enum(['role', 'access_key']),
    roleArn: z.string().nullable(),
    accessKeyId: z.string().nullable(),
    format: z.enum(FORMATS),
    frequencyMinutes: z.number().int().nullable(),
    enabled: z.boolean(),
    status: z.enum(['new', 'active', 'needs_attention', 'disabled']),
    lastTestAt: z.string().nullable(),
    lastTestPassed: z.boolean().nullable(),
  })
  .describe('SetupDestination');

const StatusOut = z
  .object({
    destination: SetupDestination,
    nextRunAt: z.string().nullable(),
    location: z.string().describe('s3://bucket/prefix/ where files land'),
    transfers: z.array(
      z.object({
        id: z.string(),
        status: z.string(),
        requestedAt: z.string(),
        finishedAt: z.string().nullable(),
        rows: z.number().int(),
        files: z.number().int(),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
      }),
    ),
    verify: z.object({ publicKeyUrl: z.string(), command: z.string() }),
  })
  .describe('SetupStatus');

const TestOut = z.object({ destinationId: z.string(), test: ConnectionTestRun, firstTransferId: z.string().nullable() }).describe('SetupTest');

// ---- Helpers ----

function setupDestination(d: DestinationView): z.output<typeof SetupDestination> {
  return {
    id: d.id,
    bucket: d.bucket,
    region: d.region,
    prefix: d.prefix,
    authMethod: d.auth.kind,
    roleArn: d.auth.kind === 'role' ? d.auth.roleArn : null,
    accessKeyId: d.auth.kind === 'access_key' ? d.auth.accessKeyId : null,
    format: d.format,
    frequencyMinutes: d.frequencyMinutes,
    enabled: d.enabled,
    status: d.status,
    lastTestAt: d.lastTestAt,
    lastTestPassed: d.lastTestPassed,
  };
}

function noSession(): SluiceError {
  return new SluiceError({
    code: 'setup_session_missing',
    actor: 'recipient',
    status: 401,
    message: 'No setup session: open the setup link you were sent.',
    hint: 'If the link was already used or has expired, ask the provider for a new one.',
  });
}

function csrfFailed(): SluiceError {
  return new SluiceError({
    code: 'csrf_failed',
    actor: 'recipient',
    status: 403,
    message: 'This request did not come from the setup page (missing or wrong CSRF token).',
    hint: 'Reload the setup page and try again.',
  });
}

function noDestination(): SluiceError {
  return new SluiceError({
    code: 'setup_not_saved',
    actor: 'recipient',
    status: 409,
    message: 'No destination has been saved through this setup link yet.',
    hint: 'Fill in the form and run Test connection first.',
  });
}

/** Per-field rule checks of what the recipient typed so far (the rules the API applies on save). */
export function placementProblems(input: z.output<typeof PlacementInput>, customEndpoint: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const add = (field: string, m: string | null) => {
    if (m) problems.push({ field, message: m });
  };
  if (input.bucket !== undefined) add('bucket', checkBucketName(input.bucket));
  if (input.region !== undefined) add('region', checkRegion(input.region, customEndpoint));
  if (input.prefix !== undefined) add('prefix', checkPrefix(input.prefix));
  if (input.roleArn !== undefined) add('auth.roleArn', checkRoleArn(input.roleArn, customEndpoint));
  if (input.accessKeyId !== undefined) add('auth.accessKeyId', checkAccessKeyId(input.accessKeyId));
  if (input.secretAccessKey !== undefined) add('auth.secretAccessKey', checkSecretAccessKey(input.secretAccessKey));
  return problems;
}

function loadAsset(name: string): Buffer {
  return fs.readFileSync(path.join(HERE, 'assets', name));
}

export const setupPageRoutes: RoutePlugin = {
  name: 'setup-page',
  async register(app, deps: ApiDeps) {
    const { pool, secrets, config, identity } = deps;
    const eta = new Eta({ views: path.join(HERE, 'views'), cache: true, autoEscape: true });
    const base = publicBaseUrl(config);
    const assets: Record<string, { body: Buffer; type: string }> = {
      'setup.js': { body: loadAsset('setup.js'), type: 'text/javascript; charset=utf-8' },
      'setup.css': { body: loadAsset('setup.css'), type: 'text/css; charset=utf-8' },
    };
    if (config.SLUICE_PROVIDER_LOGO_FILE) {
      const ext = path.extname(config.SLUICE_PROVIDER_LOGO_FILE).toLowerCase();
      const type = { '.png': 'image/png', '.svg': 'image/svg+xml', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg' }[ext];
      if (!type) throw validationError([{ field: 'SLUICE_PROVIDER_LOGO_FILE', message: 'must be a .png, .svg, .jpg or .jpeg file' }], 'environment');
      assets.logo = { body: fs.readFileSync(config.SLUICE_PROVIDER_LOGO_FILE), type };
    }

    await app.register(cookie);
    await app.register(helmet, {
      global: true,
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'none'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'"],
          connectSrc: ["'self'"],
          formAction: ["'self'"],
          baseUri: ["'none'"],
          frameAncestors: config.SLUICE_SETUP_FRAME_ANCESTORS.split(/\s+/).filter(Boolean),
        },
      },
      // frame-ancestors decides who may embed the page; X-Frame-Options cannot express a list.
      frameguard: false,
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginEmbedderPolicy: false,
      hsts: base.startsWith('https://'),
    });
    app.addHook('onSend', async (_req, reply) => {
      reply.header('cache-control', 'no-store');
    });

    const secureCookie = (req: FastifyRequest) => base.startsWith('https://') || req.protocol === 'https';

    async function sessionOf(req: FastifyRequest): Promise<SetupSession | null> {
      const sid = req.cookies[SESSION_COOKIE];
      return sid ? findSetupSession(pool, sid) : null;
    }

    /** Session and, for state-changing calls, CSRF (token header, and a same-origin Origin when sent). */
    async function requireSession(req: FastifyRequest): Promise<void> {
      const s = await sessionOf(req);
      if (!s) throw noSession();
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        const header = req.headers['x-csrf-token'];
        if (!csrfMatches(s.csrfToken, typeof header === 'string' ? header : undefined)) throw csrfFailed();
        const origin = req.headers.origin;
        if (origin !== undefined && origin !== base && origin !== `${req.protocol}://${req.headers.host ?? ''}`) throw csrfFailed();
      }
      req.setup = s;
    }

    const providerView = { name: config.SLUICE_PROVIDER_NAME, logo: assets.logo ? '/setup/assets/logo' : null };

    function refusal(reply: FastifyReply, reason: string) {
      const r = REFUSALS[reason] ?? REFUSALS.unknown!;
      return reply
        .code(r.status)
        .type('text/html; charset=utf-8')
        .send(eta.render('refused', { provider: providerView, title: r.title, text: r.text }));
    }

    async function policiesFor(s: SetupSession, input: z.output<typeof PoliciesInput>): Promise<z.output<typeof PoliciesOut>> {
      const dest = s.link.destinationId ? await getDestination(pool, s.link.destinationId) : null;
      const audience = dest?.audience ?? s.link.audience;
      const fromArn = dest?.auth.kind === 'role' ? parseRoleArn(dest.auth.roleArn)?.accountId : undefined;
      // An S3-compatible store's IAM (Ceph RGW) has no accounts: its ARNs carry an empty account id.
      const accountless = Boolean(s.link.store.endpoint ?? dest?.endpoint);
      const accountId = input.accountId ?? fromArn ?? (accountless ? '' : undefined);
      const region = dest?.region ?? s.link.prefill.region ?? 'us-east-1';
      const policies: DestinationPolicies = destinationPolicies({
        bucket: input.bucket,
        prefix: input.prefix ?? '',
        audience: audience ?? null,
        ...(accountId !== undefined ? { accountId } : {}),
        identity: await identity.describe(),
        partition: partitionOf(region),
      });
      return { ...policies, awsCli: awsCliCommands({ policies, bucket: input.bucket, ...(accountId ? { accountId } : {}) }) };
    }

    // ---- Pages ----

    app.get('/setup/assets/:name', { schema: { hide: true } }, async (req, reply) => {
      const a = assets[(req.params as { name: string }).name];
      if (!a) return reply.code(404).type('text/plain').send('not found');
      return reply.type(a.type).send(a.body);
    });

    // The token is in this route's path: its requests are not logged at all (logLevel silent).
    app.get('/setup/:token', { schema: { hide: true }, logLevel: 'silent' }, async (req, reply) => {
      const token = (req.params as { token: string }).token;
      if (!isSetupToken(token)) return refusal(reply, 'unknown');
      // The same browser opening its own link again goes back to its session.
      const current = await sessionOf(req);
      if (current) {
        const { rows } = await pool.query<{ id: string }>('SELECT id FROM setup_links WHERE token_hash = $1', [hashToken(token)]);
        if (rows[0]?.id === current.link.id) return reply.code(303).header('location', '/setup').send();
      }
      const out = await exchangeSetupToken(pool, token);
      if (!out.ok) return refusal(reply, out.reason);
      reply.setCookie(SESSION_COOKIE, out.sessionId, {
        path: '/setup',
        httpOnly: true,
        sameSite: 'strict',
        secure: secureCookie(req),
        expires: out.expiresAt,
      });
      return reply.code(303).header('location', '/setup').send();
    });

    app.get('/setup', { schema: { hide: true } }, async (req, reply) => {
      const s = await sessionOf(req);
      if (!s) return refusal(reply, 'no_session');
      const link = s.link;
      const recipient = await pool.query<{ name: string }>('SELECT name FROM recipients WHERE id = $1', [link.recipientId]);
      const dest = link.destinationId ? await getDestination(pool, link.destinationId) : null;
      const trusted = await identity.describe();
      const common = {
        provider: providerView,
        recipientName: recipient.rows[0]?.name ?? '',
        csrfToken: s.csrfToken,
        returnUrl: link.returnUrl,
        frequencyWords: FREQUENCY_WORDS,
        allowed: link.allowed,
      };
      reply.type('text/html; charset=utf-8');
      if (dest && dest.lastTestPassed && dest.status !== 'new') {
        return eta.render('status', { ...common, status: await statusOf(dest) });
      }
      const custom = Boolean(link.store.endpoint ?? dest?.endpoint);
      const prefill = {
        bucket: dest?.bucket ?? link.prefill.bucket ?? '',
        region: dest?.region ?? link.prefill.region ?? '',
        prefix: dest?.prefix ?? link.prefill.prefix ?? '',
        format: dest?.format ?? link.prefill.format ?? link.allowed.formats[0],
        frequencyMinutes: dest
          ? dest.frequencyMinutes
          : link.prefill.frequencyMinutes !== undefined
            ? link.prefill.frequencyMinutes
            : link.allowed.frequencies.includes(1440)
              ? 1440
              : (link.allowed.frequencies[0] ?? null),
        authMethod: dest?.auth.kind ?? link.allowed.authMethods[0],
        roleArn: dest?.auth.kind === 'role' ? dest.auth.roleArn : '',
        accessKeyId: dest?.auth.kind === 'access_key' ? dest.auth.accessKeyId : '',
        secretStored: dest?.auth.kind === 'access_key',
      };
      return eta.render('setup', {
        ...common,
        prefill,
        custom,
        endpoint: link.store.endpoint ?? dest?.endpoint ?? null,
        regions: [...AWS_REGIONS],
        oidc: trusted.requiresOidcProvider,
        identityKind: trusted.kind,
        lastError: dest && dest.lastTestPassed === false ? dest.lastError : null,
      });
    });

    async function statusOf(d: DestinationView): Promise<z.output<typeof StatusOut>> {
      const next = await pool.query<{ next_run_at: Date | null }>('SELECT next_run_at FROM destinations WHERE id = $1', [d.id]);
      const rows = await listTransferRows(pool, { destinationId: d.id, limit: 10 });
      const transfers = [];
      for (const t of rows) {
        const models = await modelRows(pool, t.id);
        transfers.push({
          id: t.id,
          status: t.status,
          requestedAt: t.requested_at.toISOString(),
          finishedAt: t.finished_at?.toISOString() ?? null,
          rows: models.reduce((n, m) => n + Number(m.rows), 0),
          files: models.reduce((n, m) => n + m.files, 0),
          error: t.error ? { code: t.error.code, message: t.error.message } : null,
        });
      }
      const location = `s3://${d.bucket}/${d.prefix ? `${d.prefix}/` : ''}`;
      const publicKeyUrl = `${base}/.well-known/sluice-manifest-keys.json`;
      const verify = [
        'sluice verify',
        `--bucket ${d.bucket}`,
        ...(d.prefix ? [`--prefix ${d.prefix}`] : []),
        ...(d.endpoint ? [`--endpoint ${d.endpoint}`, ...(d.forcePathStyle ? ['--path-style'] : [])] : [`--region ${d.region}`]),
        `--public-key ${publicKeyUrl}`,
      ].join(' ');
      return {
        destination: setupDestination(d),
        // null while paused or manual; also before the scheduler's first pass (then due at once).
        nextRunAt: d.enabled && d.frequencyMinutes !== null ? (next.rows[0]?.next_run_at?.toISOString() ?? null) : null,
        location,
        transfers,
        verify: { publicKeyUrl, command: `${verify}   # with read credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY` },
      };
    }

    // ---- Link-scoped JSON calls ----

    const api = { tags, security };

    app.post(
      '/setup/api/validate',
      {
        preHandler: requireSession,
        schema: {
          ...api,
          summary: 'Check fields as they are typed, with the rules a save applies (nothing is stored)',
          body: PlacementInput,
          response: { 200: Problems, ...errorResponses },
        },
      },
      async (req) => ({ problems: placementProblems(req.body, Boolean(req.setup!.link.store.endpoint)) }),
    );

    app.post(
      '/setup/api/policies',
      {
        preHandler: requireSession,
        schema: {
          ...api,
          summary: "The permissions and trust policies for this link's destination, filled in, with AWS CLI commands",
          body: PoliciesInput,
          response: { 200: PoliciesOut, ...errorResponses },
        },
      },
      async (req) => {
        const problems = placementProblems({ bucket: req.body.bucket, prefix: req.body.prefix ?? '' }, false);
        if (problems.length > 0) throw validationError(problems, 'policy request');
        return policiesFor(req.setup!, req.body);
      },
    );

    app.post(
      '/setup/api/connect',
      {
        preHandler: requireSession,
        schema: {
          ...api,
          summary: "Save the recipient's settings and queue the real connection test on a worker",
          description:
            "Validates like POST /v1/destinations, saves the link's destination (status new until a test passes) and queues a " +
            'connection test (rate-limited per link: SLUICE_SETUP_TESTS_PER_HOUR). Follow the test with GET /setup/api/tests/{testId}; ' +
            'a pass enables the destination and queues its first transfer.',
          body: ConnectInput,
          response: { 202: TestOut, ...errorResponses },
        },
      },
      async (req, reply) => {
        const link = req.setup!.link;
        const b = req.body;
        const problems: FieldProblem[] = [];
        if (!link.allowed.authMethods.includes(b.authMethod)) problems.push({ field: 'authMethod', message: `must be one of ${link.allowed.authMethods.join(', ')}` });
        if (b.format !== undefined && !link.allowed.formats.includes(b.format)) problems.push({ field: 'format', message: `must be one of ${link.allowed.formats.join(', ')}` });
        if (b.frequencyMinutes !== undefined && b.frequencyMinutes !== null && !link.allowed.frequencies.includes(b.frequencyMinutes)) {
          problems.push({ field: 'frequencyMinutes', message: `must be one of ${link.allowed.frequencies.join(', ')}` });
        }
        const existing = link.destinationId ? await getDestination(pool, link.destinationId) : null;
        if (existing?.status === 'disabled') {
          throw new SluiceError({ code: 'destination_disabled', status: 409, actor: 'provider', message: 'The provider disabled this destination.', hint: 'Ask the provider.' });
        }
        // The secret is write-only: an empty one keeps the stored secret of the same access key.
        const keepSecret =
          b.authMethod === 'access_key' && !b.secretAccessKey && existing?.auth.kind === 'access_key' && existing.auth.accessKeyId === b.accessKeyId;
        const auth =
          b.authMethod === 'role'
            ? { roleArn: b.roleArn ?? '' }
            : keepSecret
              ? undefined
              : { accessKeyId: b.accessKeyId ?? '', secretAccessKey: b.secretAccessKey ?? '' };
        const store = link.store;
        const config = {
          bucket: b.bucket,
          region: b.region,
          prefix: b.prefix ?? '',
          ...(store.endpoint ? { endpoint: store.endpoint } : {}),
          ...(store.forcePathStyle !== undefined ? { forcePathStyle: store.forcePathStyle } : {}),
          ...(store.conditionalWrites !== undefined ? { conditionalWrites: store.conditionalWrites } : {}),
          ...(store.requestChecksums !== undefined ? { requestChecksums: store.requestChecksums } : {}),
          ...(b.format ? { format: b.format } : {}),
          ...(b.frequencyMinutes !== undefined ? { frequencyMinutes: b.frequencyMinutes } : {}),
        };
        // Every rule of a save, before anything is stored or a test slot is taken.
        try {
          // A kept secret is not re-checked (it was when stored): a well-formed stand-in fills the auth
          // slot and any auth problem is dropped below, so only the other fields are judged.
          await validateDestinationConfig({ ...config, auth: auth ?? { roleArn: 'arn:aws:iam::000000000000:role/kept' } }, { config: deps.config });
        } catch (err) {
          if (err instanceof SluiceError && err.details) problems.push(...err.details.filter((d) => !(keepSecret && d.field.startsWith('auth'))));
          else throw err;
        }
        if (problems.length > 0) {
          const e = validationError(problems, 'destination');
          throw new SluiceError({ code: e.code, status: e.status, message: e.message, actor: 'recipient', details: problems });
        }
        await takeSetupTestSlot(pool, link.id, deps.config.SLUICE_SETUP_TESTS_PER_HOUR);
        let destinationId = existing?.id;
        if (!existing) {
          const created = await createDestination(
            pool,
            secrets,
            { config: deps.config, models: deps.models },
            { recipientId: link.recipientId, name: `${b.bucket}${b.prefix ? `/${b.prefix}` : ''}`, ...config, auth },
            link.audience ? { audience: link.audience } : {},
          );
          await bindSetupLinkDestination(pool, link.id, created.id);
          destinationId = created.id;
        } else {
          await updateDestination(pool, secrets, { config: deps.config, models: deps.models }, existing.id, { ...config, ...(auth ? { auth } : {}) });
        }
        const { run } = await requestConnectionTest(pool, destinationId as string);
        return reply.code(202).send({ destinationId: destinationId as string, test: run, firstTransferId: link.firstTransferId || null });
      },
    );

    app.get(
      '/setup/api/tests/:testId',
      {
        preHandler: requireSession,
        schema: {
          ...api,
          summary: 'One connection test of this link\'s destination: queued, running, then each step with what to change',
          description: 'When the first test passes, the destination is enabled and its first transfer is queued (once).',
          params: z.strictObject({ testId: text(100) }),
          response: { 200: TestOut, ...errorResponses },
        },
      },
      async (req) => {
        const link = req.setup!.link;
        if (!link.destinationId) throw noDestination();
        const test = await getConnectionTest(pool, link.destinationId, req.params.testId);
        let firstTransferId = link.firstTransferId || null;
        if (test.status === 'passed' && !firstTransferId) {
          const destinationId = link.destinationId;
          firstTransferId = await queueFirstTransferOnce(pool, link.id, async () => {
            const queued = await enqueueTransfer(pool, { destinationId, trigger: 'setup' });
            // The first transfer delivers everything so far: the schedule starts one period after it.
            await startSchedule(pool, destinationId);
            return queued.transferId;
          });
        }
        return { destinationId: link.destinationId, test, firstTransferId };
      },
    );

    app.get(
      '/setup/api/status',
      {
        preHandler: requireSession,
        schema: { ...api, summary: 'The destination: last transfers, next run, where files land, how to verify', response: { 200: StatusOut, ...errorResponses } },
      },
      async (req) => {
        const link = req.setup!.link;
        if (!link.destinationId) throw noDestination();
        return statusOf(await getDestination(pool, link.destinationId));
      },
    );

    app.post(
      '/setup/api/test',
      {
        preHandler: requireSession,
        schema: { ...api, summary: 'Run the connection test again (rate-limited per link)', response: { 202: TestOut, ...errorResponses } },
      },
      async (req, reply) => {
        const link = req.setup!.link;
        if (!link.destinationId) throw noDestination();
        await takeSetupTestSlot(pool, link.id, deps.config.SLUICE_SETUP_TESTS_PER_HOUR);
        const { run } = await requestConnectionTest(pool, link.destinationId);
        return reply.code(202).send({ destinationId: link.destinationId, test: run, firstTransferId: link.firstTransferId || null });
      },
    );

    for (const action of ['pause', 'resume'] as const) {
      app.post(
        `/setup/api/${action}`,
        {
          preHandler: requireSession,
          schema: {
            ...api,
            summary: action === 'pause' ? 'Pause delivery (no scheduled transfers until resumed)' : 'Resume delivery (needs a passed connection test)',
            response: { 200: StatusOut, ...errorResponses },
          },
        },
        async (req) => {
          const link = req.setup!.link;
          if (!link.destinationId) throw noDestination();
          if (!(await setDestinationPaused(pool, link.destinationId, action === 'pause'))) {
            throw new SluiceError({
              code: 'setup_cannot_resume',
              actor: 'recipient',
              status: 409,
              message: action === 'pause' ? 'This destination is disabled by the provider.' : 'Delivery can resume only after a passing connection test.',
              hint: action === 'pause' ? 'Ask the provider.' : 'Run the connection test again; fix what it reports.',
            });
          }
          return statusOf(await getDestination(pool, link.destinationId));
        },
      );
    }

    app.patch(
      '/setup/api/settings',
      {
        preHandler: requireSession,
        schema: {
          ...api,
          summary: 'Change the format or the frequency, within what the provider allows',
          body: SettingsInput,
          response: { 200: StatusOut, ...errorResponses },
        },
      },
      async (req) => {
        const link = req.setup!.link;
        if (!link.destinationId) throw noDestination();
        const problems: FieldProblem[] = [];
        if (req.body.format !== undefined && !link.allowed.formats.includes(req.body.format)) problems.push({ field: 'format', message: `must be one of ${link.allowed.formats.join(', ')}` });
        const f = req.body.frequencyMinutes;
        if (f !== undefined && f !== null && !link.allowed.frequencies.includes(f)) problems.push({ field: 'frequencyMinutes', message: `must be one of ${link.allowed.frequencies.join(', ')}` });
        if (problems.length > 0) throw validationError(problems, 'settings');
        const d = await updateDestination(pool, secrets, { config: deps.config, models: deps.models }, link.destinationId, {
          ...(req.body.format !== undefined ? { format: req.body.format } : {}),
          ...(f !== undefined ? { frequencyMinutes: f } : {}),
        });
        return statusOf(d);
      },
    );
  },
};
