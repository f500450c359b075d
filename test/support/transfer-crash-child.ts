/**
 * Child process of the crash tests: runs one transfer and SIGKILLs itself at one step of the commit
 * protocol (SLUICE_CRASH_AT), through the runner's step hook. Only this script installs that hook.
 */
import { createPool } from '../../src/control/db.js';
import { SecretBox } from '../../src/control/secrets.js';
import { controlStoreSigner } from '../../src/control/signing-keys.js';
import { destinationLoader } from '../../src/control/transfer-destination.js';
import { createObjectWriter } from '../../src/destinations/s3/object-writer.js';
import { silentLogger } from '../../src/core/log.js';
import { createPostgresSource } from '../../src/sources/postgres/source.js';
import { postgresTransferSource } from '../../src/transfer/postgres-source.js';
import { type CommitStep } from '../../src/transfer/deps.js';
import { runTransfer } from '../../src/transfer/run.js';
import type { ModelDefinition } from '../../src/core/types.js';
import { noIdentity } from './transfer-fixture.js';
import { localNetwork } from './s3.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const crashAt = env('SLUICE_CRASH_AT') as CommitStep;
const crashModel = env('SLUICE_CRASH_MODEL');
const models = JSON.parse(env('SLUICE_CRASH_MODELS')) as ModelDefinition[];
const pool = createPool(env('SLUICE_CRASH_CONTROL_URL'), { max: 3 });
const secrets = new SecretBox(Buffer.from(env('SLUICE_CRASH_SECRET_KEY'), 'base64'));
const source = createPostgresSource(env('SLUICE_CRASH_SOURCE_URL'));

await runTransfer(
  {
    pool,
    signingKey: controlStoreSigner(pool, secrets),
    log: silentLogger,
    source: postgresTransferSource(source, models),
    loadDestination: destinationLoader(pool, secrets),
    objectWriter: (config) => createObjectWriter(config, { identity: noIdentity, log: silentLogger, network: localNetwork }),
    fileLimits: { maxRowsPerFile: 25, maxBytesPerFile: 1024 * 1024 },
    step(step, at) {
      if (step === crashAt && at.model === crashModel) {
        process.stdout.write(`killing at ${step} ${at.key ?? ''}\n`);
        process.kill(process.pid, 'SIGKILL');
      }
    },
  },
  { destinationId: env('SLUICE_CRASH_DESTINATION') },
);
// Reaching this line means the step never came: the test fails on exit code 3.
process.exit(3);
