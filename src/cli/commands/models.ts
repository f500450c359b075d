import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { applyDeleteTracking, planDeleteTracking } from '../../models/deletes.js';
import { openModels, sourceUrlOf, type LoadedModel } from '../../models/index.js';

function describeModel(m: LoadedModel): Record<string, unknown> {
  const d = m.definition;
  return {
    name: d.name,
    ...('table' in d.source ? { table: d.source.table } : { sql: d.source.sql }),
    primaryKey: d.primaryKey,
    cursor: d.cursor,
    tenant: d.tenant,
    ...(d.softDelete ? { softDelete: d.softDelete } : {}),
    lookback: d.lookback,
    watermark: d.watermark ?? 'commit_safe',
    deletes: d.deletes ?? 'ignore',
    columns: m.columns.map((c) => ({ name: c.name, pgType: c.pgType, logicalType: c.logicalType })),
  };
}

export function registerModels(program: Command): void {
  const models = program
    .command('models')
    .description('List the models of sluice.yaml (SLUICE_CONFIG), checked against the source, with their columns and logical types.')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const { source, config: models } = await openModels(config.SLUICE_CONFIG, sourceUrlOf(config));
      await source.close();
      const out = models.models.map(describeModel);
      if (opts.json) {
        console.log(JSON.stringify({ file: models.file, models: out }, null, 2));
        return;
      }
      for (const m of models.models) {
        const d = m.definition;
        const from = 'table' in d.source ? `table ${d.source.table}` : 'SQL query';
        console.log(`${d.name}  (${from}; key ${d.primaryKey.join(', ')}; cursor ${d.cursor}; tenant ${d.tenant}${d.softDelete ? `; soft delete ${d.softDelete}` : ''}${d.watermark === 'lookback' ? '; lookback method' : ''}${d.lookback ? `; lookback ${d.lookback}` : ''}${d.deletes === 'track' ? '; hard deletes tracked' : ''})`);
        const width = Math.max(...m.columns.map((c) => c.name.length));
        for (const c of m.columns) console.log(`  ${c.name.padEnd(width)}  ${c.logicalType.padEnd(18)} ${c.pgType}`);
      }
    });
  models
    .command('track-deletes <model>')
    .description('Show the SQL that installs hard-delete tracking for a model with `deletes: track` (a trigger and a table in the source schema sluice_source); with --apply, run it.')
    .option('--apply', 'run the SQL (in one transaction) after showing it')
    .option('--url <postgres-url>', 'run it as another role, e.g. the table owner (default: the source Sluice reads)')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { apply?: boolean; url?: string; json?: boolean }) => {
      const config = loadConfig();
      const { source, config: loaded } = await openModels(config.SLUICE_CONFIG, sourceUrlOf(config));
      try {
        const plan = await planDeleteTracking(loaded, source.pool, name);
        if (opts.apply) await applyDeleteTracking(plan, opts.url ?? source.pool);
        if (opts.json) {
          console.log(JSON.stringify({ ...plan, applied: Boolean(opts.apply), ...(opts.apply ? { installed: true } : {}) }, null, 2));
          return;
        }
        console.log(`-- Delete tracking for model ${plan.model} on ${plan.relation} (${plan.installed ? 'installed' : 'not installed'} before this command)`);
        console.log(plan.sql);
        console.log(opts.apply ? `-- Applied: deletes from ${plan.relation} are recorded from now on.` : '-- Not applied. Review it, then run this command again with --apply (or run the SQL yourself).');
      } finally {
        await source.close();
      }
    });
}
