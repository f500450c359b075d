/**
 * The process runtime every command shares: validated configuration, logger, control-store pool (on
 * DATABASE_URL or on the embedded PostgreSQL) and the secret box. Opening it applies migrations.
 */
import { loadConfig, type Config } from './config.js';
import { createPool, ensureDatabase, type Pool } from './control/db.js';
import { startEmbeddedPostgres, type EmbeddedCluster } from './control/embedded.js';
import { migrate } from './control/migrate.js';
import { loadSecretBox, type SecretBox } from './control/secrets.js';
import { createLogger, type Logger } from './core/log.js';

export interface Runtime {
  config: Config;
  log: Logger;
  pool: Pool;
  secrets: SecretBox;
  /** Connection string of the control store (for the job queue, which opens its own pool). */
  databaseUrl: string;
  embedded?: EmbeddedCluster;
  close(): Promise<void>;
}

export interface OpenRuntimeOptions {
  config?: Config;
  log?: Logger;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  /**
   * A long-running service (`start`, `serve`, `worker`): takes over an embedded PostgreSQL that a
   * one-off command started, so that the command's exit does not stop it.
   */
  service?: boolean;
}

export async function openRuntime(opts: OpenRuntimeOptions = {}): Promise<Runtime> {
  const config = opts.config ?? loadConfig();
  const log = opts.log ?? createLogger({ level: config.SLUICE_LOG_LEVEL, format: config.SLUICE_LOG_FORMAT });
  let embedded: EmbeddedCluster | undefined;
  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(config.dataDir, log, { kind: opts.service ? 'service' : 'command' });
    databaseUrl = await ensureDatabase(embedded.url, 'sluice', log);
  }
  const pool = createPool(databaseUrl);
  try {
    if (opts.migrate !== false) await migrate(pool, log);
    const secrets = await loadSecretBox({ secretKey: config.SLUICE_SECRET_KEY, dataDir: config.dataDir, log });
    return {
      config,
      log,
      pool,
      secrets,
      databaseUrl,
      ...(embedded ? { embedded } : {}),
      async close() {
        await pool.end();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw err;
  }
}
