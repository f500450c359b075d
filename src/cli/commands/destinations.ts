/**
 * `sluice destinations …`: the same repository, schemas and messages as the API. Flags map onto the
 * API's fields; problems are reported with the flag names. The secret access key is read from stdin
 * (`--secret-access-key-stdin`) so it stays out of shell history and the process list.
 */
import type { Command } from 'commander';
import { createDestination, deleteDestination, disableDestination, updateDestination } from '../../control/destinations.js';
import { getDestination, listDestinations, type DestinationView } from '../../control/destination-store.js';
import type { ConnectionTestResult } from '../../destinations/s3/types.js';
import { SluiceError, validationError } from '../../core/errors.js';
import { given, printJson, printRecord, printTable, withCatalog, withRuntime } from '../output.js';

/** API field → CLI flag, for error messages. */
const FLAGS: Record<string, string> = {
  recipientId: '--recipient',
  name: '--name',
  bucket: '--bucket',
  region: '--region',
  prefix: '--prefix',
  auth: '--role-arn / --access-key-id',
  'auth.roleArn': '--role-arn',
  'auth.accessKeyId': '--access-key-id',
  'auth.secretAccessKey': '--secret-access-key-stdin',
  endpoint: '--endpoint',
  forcePathStyle: '--force-path-style',
  kmsKeyArn: '--kms-key-arn',
  conditionalWrites: '--no-conditional-writes',
  requestChecksums: '--no-request-checksums',
  format: '--format',
  compression: '--compression',
  models: '--models',
  frequencyMinutes: '--frequency',
};

/** Rewrites field names in a validation error into flag names; the messages stay the API's. */
export function withFlagNames<T>(promise: Promise<T>, flags: Record<string, string> = FLAGS, what = 'destination'): Promise<T> {
  return promise.catch((err: unknown) => {
    if (!(err instanceof SluiceError) || !err.details) throw err;
    const flag = (f: string): string | undefined => (Object.hasOwn(flags, f) ? flags[f] : undefined);
    const details = err.details.map((d) => ({ field: flag(d.field) ?? flag(d.field.replace(/\.\d+$/, '')) ?? d.field, message: d.message }));
    const summary = details.map((d) => `${d.field}: ${d.message}`).join('; ');
    throw new SluiceError({
      code: err.code,
      message: err.code === 'invalid_input' ? `Invalid ${what}. ${summary}` : err.message,
      actor: err.actor,
      status: err.status,
      details,
      ...(err.hint ? { hint: err.hint } : {}),
      ...(err.docs ? { docs: err.docs } : {}),
    });
  });
}

interface DestinationFlags {
  recipient?: string;
  name?: string;
  bucket?: string;
  region?: string;
  prefix?: string;
  roleArn?: string;
  accessKeyId?: string;
  secretAccessKeyStdin?: boolean;
  endpoint?: string;
  forcePathStyle?: boolean;
  kmsKeyArn?: string;
  conditionalWrites?: boolean;
  requestChecksums?: boolean;
  format?: string;
  compression?: string;
  models?: string;
  allModels?: boolean;
  frequency?: string;
  json?: boolean;
}

async function readSecretFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

function frequency(value: string | undefined): number | string | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'manual') return null;
  // Anything else goes through as given so the schema's message ("must be one of …") applies.
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** Builds the API body from flags: only what was given, so an update changes only that. */
async function bodyFrom(opts: DestinationFlags): Promise<Record<string, unknown>> {
  const secret = opts.secretAccessKeyStdin ? await readSecretFromStdin() : undefined;
  const auth =
    opts.roleArn !== undefined || opts.accessKeyId !== undefined || secret !== undefined
      ? given({ roleArn: opts.roleArn, accessKeyId: opts.accessKeyId, secretAccessKey: secret })
      : undefined;
  return given({
    recipientId: opts.recipient,
    name: opts.name,
    bucket: opts.bucket,
    region: opts.region,
    prefix: opts.prefix,
    auth,
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle,
    kmsKeyArn: opts.kmsKeyArn,
    // Commander sets --no-x flags to true by default; only a given --no-x (false) is a change.
    conditionalWrites: opts.conditionalWrites === false ? false : undefined,
    requestChecksums: opts.requestChecksums === false ? false : undefined,
    format: opts.format,
    compression: opts.compression,
    models: opts.allModels ? null : opts.models?.split(',').map((m) => m.trim()),
    frequencyMinutes: frequency(opts.frequency),
  });
}

function configFlags(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'display name (default: the bucket name)')
    .option('--bucket <bucket>', 'bucket name')
    .option('--region <region>', 'bucket region, e.g. eu-west-1')
    .option('--prefix <prefix>', 'key prefix inside the bucket, without leading or trailing slash')
    .option('--role-arn <arn>', 'IAM role Sluice assumes (recommended)')
    .option('--access-key-id <id>', 'access key id (with --secret-access-key-stdin)')
    .option('--secret-access-key-stdin', 'read the secret access key from the first line of stdin')
    .option('--endpoint <url>', 'S3-compatible endpoint (not for AWS)')
    .option('--force-path-style', 'address buckets by path (S3-compatible stores)')
    .option('--kms-key-arn <arn>', 'SSE-KMS key of the bucket')
    .option('--no-conditional-writes', 'do not send If-None-Match: * (stores that reject it)')
    .option('--no-request-checksums', 'do not send request checksums (stores that mishandle them)')
    .option('--format <format>', 'parquet, csv or jsonl')
    .option('--compression <compression>', 'snappy, zstd, gzip or none (per format)')
    .option('--models <names>', 'comma-separated models to deliver (default: all)')
    .option('--all-models', 'deliver every model')
    .option('--frequency <minutes>', '15, 60, 360, 720, 1440 or manual')
    .option('--json', 'print JSON');
}

function show(d: DestinationView, json?: boolean): void {
  if (json) return printJson(d);
  printRecord({ ...d });
}

const STATUS_MARK: Record<string, string> = { passed: 'ok  ', failed: 'FAIL', skipped: 'skip', warning: 'WARN' };

/** One block per step: status, code, who must act, what to change, where to read more. */
export function printConnectionTest(result: ConnectionTestResult): void {
  for (const s of result.steps) {
    const who = s.actor ? `  [${s.status === 'warning' ? `for the ${s.actor}` : `${s.actor} must act`}]` : '';
    process.stdout.write(`${STATUS_MARK[s.status] ?? s.status} ${s.step}${s.code ? `  ${s.code}` : ''}${who}\n`);
    process.stdout.write(`     ${s.message}\n`);
    if (s.docs) process.stdout.write(`     see ${s.docs}\n`);
  }
  process.stdout.write(result.passed ? 'connection test passed\n' : 'connection test FAILED\n');
}

export function registerDestinations(program: Command): void {
  const cmd = program.command('destinations').description('S3 destinations of recipients: create, list, show, update, disable, delete, test.');

  configFlags(cmd.command('create').description('Create a destination (status new until a connection test passes).'))
    .requiredOption('--recipient <id>', 'recipient the destination belongs to')
    .action(async (opts: DestinationFlags) => {
      const body = await bodyFrom(opts);
      const d = await withCatalog((rt, models) => withFlagNames(createDestination(rt.pool, rt.secrets, { config: rt.config, models }, body)));
      show(d, opts.json);
    });

  cmd
    .command('list')
    .description('List destinations.')
    .option('--recipient <id>', 'only this recipient\'s')
    .option('--json', 'print JSON')
    .action(async (opts: { recipient?: string; json?: boolean }) => {
      const ds = await withRuntime((rt) => listDestinations(rt.pool, opts.recipient ? { recipientId: opts.recipient } : {}));
      if (opts.json) return printJson(ds);
      printTable(
        ds.map((d) => ({ ...d, auth: d.auth.kind, where: `s3://${d.bucket}${d.prefix ? `/${d.prefix}` : ''}` })),
        ['id', 'recipientId', 'name', 'where', 'region', 'auth', 'status', 'frequencyMinutes'],
      );
    });

  cmd
    .command('show <id>')
    .description('Show one destination (never its secret).')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      show(await withRuntime((rt) => getDestination(rt.pool, id)), opts.json);
    });

  configFlags(cmd.command('update <id>').description('Change a destination; changing where or how it writes requires a new test.')).action(
    async (id: string, opts: DestinationFlags) => {
      const body = await bodyFrom(opts);
      const d = await withCatalog((rt, models) => withFlagNames(updateDestination(rt.pool, rt.secrets, { config: rt.config, models }, id, body)));
      show(d, opts.json);
    },
  );

  cmd
    .command('disable <id>')
    .description('Disable a destination.')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      show(await withRuntime((rt) => disableDestination(rt.pool, id)), opts.json);
    });

  cmd
    .command('delete <id>')
    .description("Delete a destination: its transfers stop, its history is kept, and its role or access key may then be used by another recipient's destination.")
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withRuntime((rt) => deleteDestination(rt.pool, id));
      if (opts.json) printJson({ id, deleted: true });
      else console.log(`destination ${id} deleted`);
    });

  cmd
    .command('test <id>')
    .description('Run the connection test on a worker (queued like the API does) and wait for it; exit code 0 only when every step passed.')
    .option('--no-wait', 'queue the test and print its id without waiting (see the result with GET /v1/destinations/<id>/tests/<test id>)')
    .option('--local', 'run the test in this process instead of on a worker (e.g. before any worker runs); recorded the same way')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean; wait: boolean; local?: boolean }) => {
      if (opts.local && !opts.wait) throw validationError([{ field: '--local', message: 'cannot be combined with --no-wait' }], 'options');
      const out = await withRuntime(async (rt) => {
        if (!opts.local) {
          const { awaitConnectionTest, requestConnectionTest, runError } = await import('../../jobs/connection-tests.js');
          const { loadJobSettings } = await import('../../jobs/settings.js');
          const { run } = await requestConnectionTest(rt.pool, id);
          if (!opts.wait) return { queued: run };
          const done = await awaitConnectionTest(rt.pool, run, {
            timeoutMs: rt.config.SLUICE_CONNECTION_TEST_WAIT_SECONDS * 1000,
            deadAfterMs: loadJobSettings().deadAfterMs,
          });
          if (done.status === 'error' || !done.result) throw runError(done);
          return { result: done.result };
        }
        // Loaded here: the S3 SDK and the identity sources are heavy, and only this path needs them.
        const { testSavedDestination } = await import('../../control/destination-tests.js');
        const { createIdentitySource } = await import('../../identity/index.js');
        const identity = await createIdentitySource(rt.config, { pool: rt.pool, secrets: rt.secrets, log: rt.log });
        try {
          return { result: (await testSavedDestination(rt.pool, rt.secrets, { config: rt.config, identity, log: rt.log }, id)).result };
        } finally {
          await identity.close?.();
        }
      });
      if (out.queued) {
        if (opts.json) printJson(out.queued);
        else console.log(`connection test ${out.queued.id} queued for ${id}`);
        return;
      }
      if (opts.json) printJson(out.result);
      else printConnectionTest(out.result);
      if (!out.result.passed) process.exitCode = 1;
    });
}
