/**
 * The models as sluice.yaml and the source say they are now, for requests that must be checked
 * against them (a recipient's tenant value, a destination's model names, a backfill's bounds). The
 * source is opened on first use, not at start: an API that never needs the models never connects.
 * The file is read again on every load, so an edited sluice.yaml counts from the next request on.
 */
import type { Config } from '../config.js';
import { SluiceError, describeError, type FieldProblem } from '../core/errors.js';
import { createPostgresSource, type PostgresSource } from '../sources/postgres/source.js';
import { loadModels, readModelsFile, type LoadedModel } from './load.js';
import { sourceUrlOf } from './index.js';
import { canonicalTenantValue, tenantColumns, type Canonical } from './tenant.js';

export interface ModelCatalog {
  /** Every model, checked against the source. Throws `models_unavailable` (503) when that cannot be done. */
  load(): Promise<LoadedModel[]>;
  /** The canonical tenant value for `value` under every model's tenant column (models/tenant.ts). */
  canonicalTenant(value: string): Promise<Canonical>;
  /** Whether `value` parses as a value of the model's cursor column type (a backfill bound). */
  parsesAsCursor(model: LoadedModel, value: string): Promise<boolean>;
  close(): Promise<void>;
}

function unavailable(err: unknown): SluiceError {
  return new SluiceError({
    code: 'models_unavailable',
    message: `Sluice cannot check this request against the models: ${err instanceof SluiceError ? err.message : describeError(err)}`,
    hint: 'The operator must fix sluice.yaml (SLUICE_CONFIG) or the source connection (SLUICE_SOURCE_URL); `sluice models` shows the problem.',
    actor: 'provider',
    status: 503,
    cause: err,
  });
}

export function modelCatalog(file: string, sourceUrl: string): ModelCatalog {
  let source: Promise<PostgresSource> | undefined;
  const open = (): Promise<PostgresSource> => {
    source ??= readModelsFile(file)
      .then(({ raw }) =>
        createPostgresSource(sourceUrl, {
          ...(raw.source?.max_concurrent_queries !== undefined ? { maxConcurrentQueries: raw.source.max_concurrent_queries } : {}),
          ...(raw.source?.statement_timeout !== undefined ? { statementTimeoutMs: raw.source.statement_timeout } : {}),
        }),
      )
      .catch((err: unknown) => {
        source = undefined;
        throw err;
      });
    return source;
  };
  const load = async (): Promise<LoadedModel[]> => {
    try {
      const s = await open();
      return (await loadModels(file, s.pool)).models;
    } catch (err) {
      throw unavailable(err);
    }
  };
  return {
    load,
    async canonicalTenant(value) {
      const models = await load();
      const s = await open();
      return canonicalTenantValue(s.pool, value, tenantColumns(models));
    },
    async parsesAsCursor(model, value) {
      const cursor = model.sourceColumns.find((c) => c.name === model.definition.cursor);
      if (!cursor) return false;
      const s = await open();
      try {
        await s.pool.query(`SELECT $1::${cursor.pgType}`, [value]);
        return true;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'string' && code.startsWith('22')) return false;
        throw unavailable(err);
      }
    },
    async close() {
      const s = await source?.catch(() => undefined);
      source = undefined;
      await s?.close();
    },
  };
}

/** The catalog of a running Sluice: SLUICE_CONFIG on SLUICE_SOURCE_URL (else the control store). */
export function catalogFromConfig(config: Pick<Config, 'SLUICE_CONFIG' | 'SLUICE_SOURCE_URL' | 'DATABASE_URL'>, fallbackUrl?: string): ModelCatalog {
  let url: string;
  try {
    url = sourceUrlOf(config, fallbackUrl);
  } catch (err) {
    // No source at all: every use says so, as a request-time error rather than a start failure.
    const fail = (): Promise<never> => Promise.reject(unavailable(err));
    return { load: fail, canonicalTenant: fail, parsesAsCursor: fail, close: async () => undefined };
  }
  return modelCatalog(config.SLUICE_CONFIG, url);
}

/** A transfer request as the API and the CLI take it. */
export interface TransferRequestShape {
  kind: 'INCREMENTAL' | 'FULL_REFRESH' | 'BACKFILL';
  models?: string[];
  from?: string;
  to?: string;
}

/**
 * Refuses, at request time, what would otherwise fail only when the transfer runs: a model name the
 * models file does not declare or the destination does not deliver (field `models.<i>`), and backfill
 * bounds that do not parse in the cursor column type of every model the backfill reads (`from`, `to`).
 */
export async function transferRequestProblems(
  catalog: Pick<ModelCatalog, 'load' | 'parsesAsCursor'>,
  destinationModels: string[] | null,
  req: TransferRequestShape,
): Promise<FieldProblem[]> {
  // Every model, read incrementally or in full: nothing to check, and no reason to need sluice.yaml here.
  if (req.models === undefined && req.kind !== 'BACKFILL') return [];
  const models = await catalog.load();
  const byName = new Map(models.map((m) => [m.definition.name, m]));
  const problems: FieldProblem[] = [];
  (req.models ?? []).forEach((name, i) => {
    if (!byName.has(name)) {
      problems.push({ field: `models.${i}`, message: `names no model of sluice.yaml; the models are ${[...byName.keys()].sort().join(', ')}` });
    } else if (destinationModels && !destinationModels.includes(name)) {
      problems.push({ field: `models.${i}`, message: `is not delivered by this destination; it delivers ${destinationModels.join(', ')}` });
    }
  });
  if (req.kind === 'BACKFILL' && problems.length === 0) {
    const names = req.models ?? destinationModels ?? [...byName.keys()];
    for (const [field, value] of [['from', req.from], ['to', req.to]] as const) {
      if (value === undefined) continue;
      for (const name of names) {
        const model = byName.get(name);
        if (!model || (await catalog.parsesAsCursor(model, value))) continue;
        const cursor = model.sourceColumns.find((c) => c.name === model.definition.cursor);
        problems.push({
          field,
          message: `is not a value of model ${name}'s cursor column "${model.definition.cursor}" (${cursor?.pgType ?? 'unknown type'}); give it as that type prints it, e.g. 2026-01-31T00:00:00Z for a timestamp`,
        });
        break;
      }
    }
  }
  return problems;
}
