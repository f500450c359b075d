import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
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
    columns: m.columns.map((c) => ({ name: c.name, pgType: c.pgType, logicalType: c.logicalType })),
  };
}

export function registerModels(program: Command): void {
  program
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
        console.log(`${d.name}  (${from}; key ${d.primaryKey.join(', ')}; cursor ${d.cursor}; tenant ${d.tenant}${d.softDelete ? `; soft delete ${d.softDelete}` : ''}${d.lookback ? `; lookback ${d.lookback}` : ''})`);
        const width = Math.max(...m.columns.map((c) => c.name.length));
        for (const c of m.columns) console.log(`  ${c.name.padEnd(width)}  ${c.logicalType.padEnd(18)} ${c.pgType}`);
      }
    });
}
