/** What every route plugin receives, and the shape of a plugin in the registration list. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from '../config.js';
import type { Pool } from '../control/db.js';
import type { SecretBox } from '../control/secrets.js';
import type { IdentitySource } from '../core/identity.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../metrics.js';
import type { ModelCatalog } from '../models/catalog.js';

export interface ApiDeps {
  pool: Pool;
  secrets: SecretBox;
  log: Logger;
  config: Config;
  identity: IdentitySource;
  /** sluice.yaml on the source: tenant values, model names and backfill bounds are checked against it. */
  models: ModelCatalog;
  /** Shared with a worker in the same process (`sluice start`); a lone API creates its own. */
  metrics?: Metrics;
}

export type ApiApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

export interface RoutePlugin {
  /** Shown in logs and as the OpenAPI tag of the plugin's routes. */
  name: string;
  register(app: ApiApp, deps: ApiDeps): Promise<void> | void;
}
