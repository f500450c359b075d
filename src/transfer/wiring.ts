/**
 * The runner's dependencies for a running Sluice: models from sluice.yaml validated against the source,
 * the destination loaded from the control store, Sluice's identity for role destinations, and the S3
 * object writer. Used by `sluice transfer` and by the job worker.
 */
import { loadS3Config } from '../control/destinations.js';
import { createObjectWriter } from '../destinations/s3/object-writer.js';
import { createIdentitySource } from '../identity/index.js';
import { openModels, sourceUrlOf } from '../models/index.js';
import type { Runtime } from '../runtime.js';
import { destinationLoader } from './destination.js';
import { postgresTransferSource } from './postgres-source.js';
import type { TransferDeps } from './run.js';

export interface OpenedTransferDeps {
  deps: TransferDeps;
  close(): Promise<void>;
}

export async function openTransferDeps(rt: Runtime, over: Partial<TransferDeps> = {}): Promise<OpenedTransferDeps> {
  const { source, config } = await openModels(rt.config.SLUICE_CONFIG, sourceUrlOf(rt.config, rt.databaseUrl));
  try {
    const identity = await createIdentitySource(rt.config, { pool: rt.pool, secrets: rt.secrets, log: rt.log });
    return {
      deps: {
        pool: rt.pool,
        secrets: rt.secrets,
        log: rt.log,
        source: postgresTransferSource(source, config.models.map((m) => m.definition)),
        loadDestination: destinationLoader(rt.pool, rt.secrets, loadS3Config),
        objectWriter: (c) => createObjectWriter(c, { identity, log: rt.log }),
        ...over,
      },
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
