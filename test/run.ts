/**
 * `npm test` / `npm run test:aws`: provides a PostgreSQL server (DATABASE_URL, or an embedded one in
 * .tmp/test-postgres) and runs the suite's files with Node's test runner. Each test file makes its own
 * database on that server (test/support/db.ts) and starts its own S3 server, so files run in parallel.
 *
 *   npm test                       unit + integration
 *   npm test -- test/unit/x.test.ts   only the files named
 *   npm run test:aws               the AWS-compatibility suite against Ceph RGW (test/aws)
 *   npm run test:browser           the setup page in headless Chromium (test/browser; Debian's chromium)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { installRgw, startRgw, type RgwCluster } from '../scripts/rgw/cluster.js';
import { freePort, startEmbeddedPostgres } from '../src/control/embedded.js';
import { createLogger } from '../src/core/log.js';
import { RGW_ENV } from './support/rgw.js';

const args = process.argv.slice(2);
const suiteIdx = args.indexOf('--suite');
const suite = suiteIdx >= 0 ? args[suiteIdx + 1] : 'default';
const named = args.filter((a, i) => a.endsWith('.ts') && !(suiteIdx >= 0 && i === suiteIdx + 1));

async function listTests(dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    const entries = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
    for (const e of entries) if (e.endsWith('.test.ts')) out.push(path.join(dir, e));
  }
  return out.sort();
}

const SUITES: Record<string, string[]> = { aws: ['test/aws'], browser: ['test/browser'] };
const files = named.length > 0 ? named : await listTests(SUITES[suite ?? ''] ?? ['test/unit', 'test/integration']);
if (files.length === 0) {
  console.error(`no test files found for suite ${suite}`);
  process.exit(1);
}

const log = createLogger({ level: 'warn', format: 'json', destination: process.stderr });
let serverUrl = process.env.DATABASE_URL;
let stop: (() => Promise<void>) | undefined;
if (!serverUrl) {
  const cluster = await startEmbeddedPostgres(path.resolve('.tmp'), log, { name: 'test-postgres', port: await freePort() });
  serverUrl = cluster.url;
  stop = cluster.stop;
}

// The AWS SDK's notice that its 2027 releases need Node 22 would repeat in every test file on Node 20
// (`sluice start` turns it off the same way; the README says it once).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// The AWS suite shares one Ceph RGW cluster (installed when missing) across its files.
let rgw: RgwCluster | undefined;
const rgwEnv: Record<string, string> = {};
if (suite === 'aws') {
  try {
    await installRgw((line) => console.error(`rgw: ${line}`));
    rgw = await startRgw({ parent: path.resolve('.tmp'), log: (line) => console.error(`rgw: ${line}`) });
  } catch (err) {
    console.error(`rgw: could not start Ceph RGW: ${(err as Error).message}`);
    await stop?.();
    process.exit(1);
  }
  Object.assign(rgwEnv, {
    [RGW_ENV.endpoint]: rgw.endpoint,
    [RGW_ENV.plainEndpoint]: rgw.plainEndpoint,
    [RGW_ENV.accessKeyId]: rgw.accessKeyId,
    [RGW_ENV.secretAccessKey]: rgw.secretAccessKey,
    [RGW_ENV.adminUser]: rgw.adminUser,
  });
}
const cleanup = async () => {
  await rgw?.stop();
  await stop?.();
};

// The test files run on this same Node (process.execPath): say which, since CI runs the suites on several.
console.error(`# Node ${process.version}`);
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
  {
    stdio: 'inherit',
    env: { ...process.env, ...rgwEnv, SLUICE_TEST_DATABASE_URL: serverUrl, SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? 'warn' },
  },
);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    child.kill(sig);
  });
}
const code: number = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
await cleanup();
process.exit(code);
