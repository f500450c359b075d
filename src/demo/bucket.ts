/**
 * The demo recipient's bucket: s3rver (an S3-compatible server) on a free loopback port, storing its
 * objects under `<dataDir>/s3`, so delivered files can be opened straight from disk.
 *
 * s3rver is a development dependency: `npm install` brings it, a production install does not need it.
 */
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type S3rverClass from 's3rver';
import { keptPort } from '../control/ports.js';
import { SluiceError } from '../core/errors.js';

export const DEMO_BUCKET = 'sluice-demo';
/** The bucket the second demo recipient connects on the setup page. */
export const DEMO_SETUP_BUCKET = 'sluice-demo-globex';
/**
 * The demo destination's access key (stored encrypted like any other). s3rver accepts only key ids
 * registered in its account registry, so the demo registers this pair when it starts the server.
 */
export const DEMO_ACCESS_KEY_ID = 'AKIASLUICEDEMO000001';
export const DEMO_SECRET_ACCESS_KEY = 'SluiceDemoLocalBucketOnlyNotASecret00000';

/**
 * One key pair per demo tenant: an access key belongs to one recipient (a second recipient giving
 * the same key is refused, docs/trust.md), so the walkthrough's and the setup page's recipients each
 * get their own. Acme's is the demo destination's.
 */
export const DEMO_KEYS = {
  acme: { accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY },
  globex: { accessKeyId: 'AKIASLUICEDEMO000002', secretAccessKey: 'SluiceDemoLocalBucketOnlyNotASecret00002' },
  initech: { accessKeyId: 'AKIASLUICEDEMO000003', secretAccessKey: 'SluiceDemoLocalBucketOnlyNotASecret00003' },
} as const satisfies Record<string, { accessKeyId: string; secretAccessKey: string }>;

export interface DemoBucket {
  endpoint: string;
  bucket: string;
  /** Folder holding the bucket's objects (s3rver stores `<dir>/<bucket>/<key>._S3rver_object`). */
  directory: string;
  close(): Promise<void>;
}

/**
 * Starts the demo bucket on `opts.port` (default: the port kept in the data folder, chosen on the first
 * start, or SLUICE_DEMO_S3_PORT), so that destinations made on the demo keep working across restarts.
 */
export async function startDemoBucket(dataDir: string, opts: { port?: number } = {}): Promise<DemoBucket> {
  let S3rver: typeof S3rverClass;
  try {
    S3rver = (await import('s3rver')).default;
  } catch (err) {
    throw new SluiceError({
      code: 'demo_bucket_unavailable',
      message: 'The demo needs the s3rver package (a development dependency), which is not installed.',
      hint: 'Run `npm install` (not `npm install --omit=dev`), or set SLUICE_SOURCE_URL and configure a real destination.',
      cause: err,
    });
  }
  registerDemoKey();
  const directory = path.join(dataDir, 's3');
  await fs.mkdir(directory, { recursive: true });
  const server = new S3rver({
    port: opts.port ?? (await demoBucketPort(dataDir)),
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: DEMO_BUCKET }, { name: DEMO_SETUP_BUCKET }],
  });
  const addr = await server.run();
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    bucket: DEMO_BUCKET,
    directory,
    close: () => server.close(),
  };
}

export function demoBucketPort(dataDir: string): Promise<number> {
  return keptPort(dataDir, 's3', 'SLUICE_DEMO_S3_PORT');
}

/** Delivered objects on disk, as bucket keys (s3rver adds suffixes and metadata files we skip). */
export async function listDemoObjects(bucket: DemoBucket, prefix = ''): Promise<Array<{ key: string; file: string }>> {
  const root = path.join(bucket.directory, bucket.bucket);
  const entries = (await fs.readdir(root, { recursive: true }).catch(() => [] as string[])) as string[];
  return entries
    .filter((e) => e.endsWith('._S3rver_object'))
    .map((e) => ({ key: e.slice(0, -'._S3rver_object'.length).split(path.sep).join('/'), file: path.join(root, e) }))
    .filter((o) => o.key.startsWith(prefix))
    .sort((a, b) => a.key.localeCompare(b.key));
}

function registerDemoKey(): void {
  const require = createRequire(import.meta.url);
  // s3rver keeps its accounts in a module-level registry (its own model; there is no option for it).
  const mod = require('s3rver/lib/models/account.js') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };
  for (const key of Object.values(DEMO_KEYS)) mod.DUMMY_ACCOUNT.createKeyPair(key.accessKeyId, key.secretAccessKey);
}
