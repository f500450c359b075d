/**
 * `sluice verify`: the recipient checks its own bucket with its own read credentials (List + Get) and
 * Sluice's published public keys. Needs no control store. Exit code 0 only when no error was found.
 */
import fs from 'node:fs/promises';
import { S3Client } from '@aws-sdk/client-s3';
import type { Command } from 'commander';
import { describeError, SluiceError, validationError, type FieldProblem } from '../../core/errors.js';
import { parsePublicKeys, verifyBucket, type VerifyReport } from '../../verify/bucket.js';
import { printJson } from '../output.js';

export interface VerifyCliOptions {
  bucket?: string;
  prefix?: string;
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  publicKey?: string;
  pathStyle?: boolean;
  json?: boolean;
  allowEmpty?: boolean;
}

/** The public route that serves the signing public keys without an API key (a JWK set, like a JWKS). */
export const PUBLIC_KEYS_PATH = '/.well-known/sluice-manifest-keys.json';

async function readPublicKeys(source: string): Promise<string> {
  const fail = (why: string, hint = `Give a file, or the URL https://<your Sluice>${PUBLIC_KEYS_PATH} (public, no API key needed).`): SluiceError =>
    new SluiceError({ code: 'public_key_unreadable', message: `Cannot read the public keys from ${source}: ${why}.`, hint, actor: 'recipient' });
  if (/^https?:\/\//.test(source)) {
    let res: Response;
    try {
      res = await fetch(source, { signal: AbortSignal.timeout(15_000) });
    } catch (err) {
      throw fail(describeError((err as { cause?: unknown }).cause ?? err));
    }
    if (res.status === 401 || res.status === 403) {
      throw fail(`HTTP ${res.status}; that route needs an operator key`, `Use the public route instead: ${new URL(PUBLIC_KEYS_PATH, source).toString()}`);
    }
    if (!res.ok) throw fail(`HTTP ${res.status}`);
    return await res.text();
  }
  try {
    return await fs.readFile(source, 'utf8');
  } catch (err) {
    throw fail(describeError(err));
  }
}

/** Runs the verification; returns the report and the exit code (0 = no error). */
export async function runVerify(opts: VerifyCliOptions, env: NodeJS.ProcessEnv = process.env): Promise<{ report: VerifyReport; exitCode: number }> {
  const accessKeyId = opts.accessKeyId ?? env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = opts.secretAccessKey ?? env.AWS_SECRET_ACCESS_KEY;
  const problems: FieldProblem[] = [];
  if (!opts.bucket) problems.push({ field: '--bucket', message: 'required: the bucket Sluice delivers to' });
  if (!opts.publicKey) problems.push({ field: '--public-key', message: `required: a file, or the URL of your Sluice's ${PUBLIC_KEYS_PATH}` });
  if (!accessKeyId || !secretAccessKey) {
    problems.push({ field: '--access-key-id/--secret-access-key', message: 'required (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY): read credentials of the bucket' });
  }
  const prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
  if (problems.length > 0) throw validationError(problems, 'options');
  let keys;
  try {
    keys = parsePublicKeys(await readPublicKeys(opts.publicKey!));
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw validationError([{ field: '--public-key', message: describeError(err) }], 'public key');
  }
  const client = new S3Client({
    region: opts.region ?? env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey!, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) },
    ...(opts.endpoint
      ? {
          endpoint: opts.endpoint,
          forcePathStyle: opts.pathStyle ?? true,
          // S3-compatible stores differ in checksum support; integrity is checked here with SHA-256 anyway.
          requestChecksumCalculation: 'WHEN_REQUIRED' as const,
          responseChecksumValidation: 'WHEN_REQUIRED' as const,
        }
      : {}),
  });
  try {
    const report = await verifyBucket({ client, bucket: opts.bucket!, prefix, publicKeys: keys, allowEmpty: opts.allowEmpty === true });
    return { report, exitCode: report.ok ? 0 : 1 };
  } finally {
    client.destroy();
  }
}

export function reportLines(r: VerifyReport): string[] {
  const lines = r.problems.map((p) => `${p.severity === 'error' ? 'ERROR' : 'info '} ${p.code}${p.model ? ` [${p.model}]` : ''}: ${p.message}`);
  const errors = r.problems.filter((p) => p.severity === 'error').length;
  const orphans = r.problems.filter((p) => p.code === 'orphan_file').length;
  lines.push(
    `${r.ok ? 'OK' : 'FAILED'}: ${r.manifests} manifests, ${r.files} files, ${r.rows} rows checked over ${r.models.length} models` +
      `; ${errors} errors${orphans ? `, ${orphans} orphan files (information)` : ''}`,
  );
  return lines;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('Check a delivered bucket with your own read access: manifest signatures, the chain of each model, every file\'s size, SHA-256 and row count.')
    .option('--bucket <name>', 'the bucket Sluice delivers to')
    .option('--prefix <prefix>', 'the destination\'s prefix', '')
    .option('--endpoint <url>', 'S3-compatible endpoint (default: AWS)')
    .option('--region <region>', 'bucket region (default AWS_REGION or us-east-1)')
    .option('--access-key-id <id>', 'read credentials (default AWS_ACCESS_KEY_ID)')
    .option('--secret-access-key <secret>', 'read credentials (default AWS_SECRET_ACCESS_KEY)')
    .option('--no-path-style', 'virtual-hosted-style requests with --endpoint')
    .option('--public-key <file|url>', `Sluice's public keys: https://<sluice>${PUBLIC_KEYS_PATH} (public), or a file with a JWK set, one JWK or a PEM`)
    .option('--allow-empty', 'succeed when the prefix holds no manifest yet (otherwise that is an error)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: VerifyCliOptions) => {
      const { report, exitCode } = await runVerify(opts);
      if (opts.json) printJson(report);
      else for (const line of reportLines(report)) console.log(line);
      process.exitCode = exitCode;
    });
}
