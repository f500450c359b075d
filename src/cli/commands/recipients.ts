import type { Command } from 'commander';
import { createRecipient, disableRecipient, getRecipient, listRecipients, updateRecipient } from '../../control/recipients.js';
import { given, printJson, printRecord, printTable, withCatalog, withRuntime } from '../output.js';

export function registerRecipients(program: Command): void {
  const cmd = program.command('recipients').description('The provider\'s customers: create, list, show, update, disable.');

  cmd
    .command('create')
    .description('Create a recipient.')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--tenant-id <id>', 'the value of the tenant column for this customer')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; tenantId: string; json?: boolean }) => {
      const r = await withCatalog((rt, models) => createRecipient(rt.pool, { name: opts.name, tenantId: opts.tenantId }, models));
      if (opts.json) return printJson(r);
      printRecord({ ...r });
    });

  cmd
    .command('list')
    .description('List recipients.')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const rs = await withRuntime((rt) => listRecipients(rt.pool));
      if (opts.json) return printJson(rs);
      printTable(rs, ['id', 'name', 'tenantId', 'destinationCount', 'disabled', 'createdAt']);
    });

  cmd
    .command('show <id>')
    .description('Show one recipient.')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const r = await withRuntime((rt) => getRecipient(rt.pool, id));
      if (opts.json) return printJson(r);
      printRecord({ ...r });
    });

  cmd
    .command('update <id>')
    .description('Rename a recipient or change its tenant id (only while it has no destinations).')
    .option('--name <name>', 'new display name')
    .option('--tenant-id <id>', 'new tenant id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { name?: string; tenantId?: string; json?: boolean }) => {
      const r = await withCatalog((rt, models) => updateRecipient(rt.pool, id, given({ name: opts.name, tenantId: opts.tenantId }), models));
      if (opts.json) return printJson(r);
      printRecord({ ...r });
    });

  cmd
    .command('disable <id>')
    .description('Disable a recipient and all its destinations.')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const r = await withRuntime((rt) => disableRecipient(rt.pool, id));
      if (opts.json) return printJson(r);
      printRecord({ ...r });
    });
}
