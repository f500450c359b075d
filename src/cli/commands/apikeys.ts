import type { Command } from 'commander';
import { createApiKey, listApiKeys, revokeApiKey } from '../../control/apikeys.js';
import { printJson, printRecord, printTable, withRuntime } from '../output.js';

export function registerApiKeys(program: Command): void {
  const cmd = program.command('apikeys').description('Operator API keys (Authorization: Bearer <key> on /v1 routes).');

  cmd
    .command('create')
    .description('Create a key and print it once; only its SHA-256 is stored.')
    .requiredOption('--name <name>', 'what the key is for, e.g. "deploy pipeline"')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; json?: boolean }) => {
      const made = await withRuntime((rt) => createApiKey(rt.pool, { name: opts.name }));
      if (opts.json) return printJson(made);
      process.stdout.write(`${made.key}\n`);
      process.stderr.write(`created API key ${made.id} (${made.name}); it is shown only now — store it safely\n`);
    });

  cmd
    .command('list')
    .description('List keys (never the keys themselves).')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const keys = await withRuntime((rt) => listApiKeys(rt.pool));
      if (opts.json) return printJson(keys);
      printTable(keys, ['id', 'name', 'createdAt', 'lastUsedAt', 'revokedAt']);
    });

  cmd
    .command('revoke <id>')
    .description('Revoke a key; requests with it are refused from now on.')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const key = await withRuntime((rt) => revokeApiKey(rt.pool, id));
      if (opts.json) return printJson(key);
      printRecord({ ...key });
    });
}
