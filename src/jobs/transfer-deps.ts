/**
 * What the transfer runner needs in a running Sluice, put together: models from sluice.yaml checked
 * against the source, the destination and the manifest signing key from the control store, Sluice's
 * identity for role destinations, and the S3 object writer. `sluice transfer` opens them once per
 * command; the job worker builds them once per process (jobs/pipeline-jobs.ts).
 */
import type { Pool } from '../control/db.js';
import type { SecretBox } from '../control/secrets.js';
import { controlStoreSigner } from '../control/signing-keys.js';
import { destinationLoader } from '../control/transfer-destination.js';
import type { IdentitySource } from '../core/identity.js';
import type { Logger } from '../core/log.js';
import { createObjectWriter } from '../destinations/s3/object-writer.js';
import { createIdentitySource } from '../identity/index.js';
import { openModels, sourceUrlOf } from '../models/index.js';
import { checkStoredTenantValues, tenantColumns } from '../models/tenant.js';
import { endpointPolicy } from '../control/destination-rules.js';
import type { NetworkGuard } from '../destinations/s3/network.js';
import type { Runtime } from '../runtime.js';
import { postgresTransferSource } from '../transfer/postgres-source.js';
import type { TransferDeps } from '../transfer/deps.js';
import { loadProgressIntervalMs } from './settings.js';
import type { TransferSource } from '../core/types.js';

/** The control-store half of TransferDeps, for a given source and identity. */
export function transferDeps(
  c: { pool: Pool; secrets: SecretBox; log: Logger; identity: IdentitySource; source: TransferSource; network: NetworkGuard },
): TransferDeps {
  return {
    pool: c.pool,
    log: c.log,
    source: c.source,
    signingKey: controlStoreSigner(c.pool, c.secrets),
    loadDestination: destinationLoader(c.pool, c.secrets),
    // The operator's network rules of now, checked on every connection the writer opens.
    objectWriter: (config) => createObjectWriter(config, { identity: c.identity, log: c.log, network: c.network }),
    progressIntervalMs: loadProgressIntervalMs(),
  };
}

export interface OpenedTransferDeps {
  deps: TransferDeps;
  close(): Promise<void>;
}

export async function openTransferDeps(rt: Runtime, over: Partial<TransferDeps> = {}): Promise<OpenedTransferDeps> {
  const { source, config } = await openModels(rt.config.SLUICE_CONFIG, sourceUrlOf(rt.config, rt.databaseUrl));
  try {
    // A model whose tenant column type cannot carry every recipient's stored value is refused here.
    await checkStoredTenantValues(rt.pool, source.pool, tenantColumns(config.models), `models file ${config.file}`);
    const identity = await createIdentitySource(rt.config, { pool: rt.pool, secrets: rt.secrets, log: rt.log });
    const transferSource = postgresTransferSource(source, config.models.map((m) => m.definition));
    const network = { policy: endpointPolicy(rt.config) };
    return {
      deps: { ...transferDeps({ pool: rt.pool, secrets: rt.secrets, log: rt.log, identity, source: transferSource, network }), ...over },
      async close() {
        await identity.close?.();
        await source.close();
      },
    };
  } catch (err) {
    await source.close();
    throw err;
  }
}
