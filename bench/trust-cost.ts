/**
 * `npm run bench:trust`: what "no session outlives a trust decision" costs per scheduling cycle.
 *
 * Every transfer of a role destination assumes the role afresh: one locally minted token and one
 * AssumeRoleWithWebIdentity (test/aws/trust.test.ts counts exactly one per transfer on Ceph RGW). So a
 * cycle in which N destinations are due makes N STS calls. This measures, for N (default 10,000):
 * the scheduling statement with the delivery gate inside it (how many it queues, how long it takes),
 * and minting N tokens with Sluice's own OIDC issuer (RS256), the part of each STS call paid locally.
 *
 *   npm run bench:trust [-- --destinations 10000]
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { loadConfig } from '../src/config.js';
import { SecretBox } from '../src/control/secrets.js';
import { newAudience } from '../src/core/audience.js';
import { createOidcIdentity } from '../src/identity/oidc/index.js';
import { prepareQueue } from '../src/jobs/queue.js';
import { scheduleDue } from '../src/jobs/scheduler.js';
import { silentLogger } from '../src/core/log.js';
import { deliverableSql } from '../src/control/delivery-gate.js';
import { freshDatabase } from '../test/support/db.js';
import { insertDestinations } from '../test/support/jobs-fixtures.js';

const i = process.argv.indexOf('--destinations');
const N = i >= 0 ? Number(process.argv[i + 1]) : 10_000;
process.env.SLUICE_TEST_DATABASE_URL ??= process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const db = await freshDatabase({ prefix: 'sluice_bench_trust' });
try {
  for (let done = 0; done < N; done += 1000) await insertDestinations(db.pool, Math.min(1000, N - done));
  await prepareQueue(db.pool, silentLogger);
  // The gate's own share: its predicate over every destination, against the same scan without it.
  const timed = async (sql: string): Promise<number> => {
    const start = performance.now();
    await db.pool.query(sql);
    return performance.now() - start;
  };
  const scanMs = await timed(`SELECT count(*) FROM destinations d WHERE d.enabled AND d.status = 'active'`);
  const gateMs = await timed(`SELECT count(*) FROM destinations d WHERE d.enabled AND ${deliverableSql('d')}`);
  const t0 = performance.now();
  const scheduled = await scheduleDue(db.pool);
  const scheduleMs = performance.now() - t0;

  const identity = await createOidcIdentity(loadConfig({ SLUICE_IDENTITY: 'oidc', SLUICE_PUBLIC_URL: 'https://sluice.example.com' }), {
    pool: db.pool,
    secrets: new SecretBox(crypto.randomBytes(32)),
    log: silentLogger,
  });
  const audiences = Array.from({ length: N }, () => newAudience());
  const t1 = performance.now();
  for (const a of audiences) await identity.token(a);
  const mintMs = performance.now() - t1;

  console.log(
    JSON.stringify(
      {
        date: new Date().toISOString(),
        cores: os.cpus().length,
        loadAverage: os.loadavg().map((l) => Math.round(l * 10) / 10),
        destinations: N,
        scheduled: scheduled.enqueued,
        stsCallsPerCycle: scheduled.enqueued,
        scheduleCycleMs: Math.round(scheduleMs),
        scanWithoutGateMs: Math.round(scanMs),
        scanWithGateMs: Math.round(gateMs),
        mintTokensMs: Math.round(mintMs),
        mintPerTokenMs: Math.round((mintMs / N) * 100) / 100,
      },
      null,
      2,
    ),
  );
} finally {
  await db.drop();
}
