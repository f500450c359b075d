import type { Command } from 'commander';
import { createApiKey, listApiKeys, revokeApiKey } from '../../control/apikeys.js';
import { printJson, printRecord, printTable, withRuntime } from '../output.js';
import { withFlagNames } from './destinations.js';

export function registerApiKeys(program: Command): void {
  const cmd = program.command('apikeys').description('API keys (Authorization: Bearer <key> on /v1 routes), each with a scope: operator, read-only or one recipient.');

  cmd
    .command('create')
    .description('Create a key and print it once; only its SHA-256 is stored.')
    .requiredOption('--name <name>', 'what the key is for, e.g. "deploy pipeline"')
    .option('--scope <scope>', 'operator (everything, the default), read-only (reads only), or recipient (one recipient\'s resources; with --recipient)', 'operator')
    .option('--recipient <id>', 'the recipient a recipient key belongs to')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; scope: string; recipient?: string; json?: boolean }) => {
      // The CLI spells it read-only; the stored scope is read_only.
      const scope = opts.scope === 'read-only' ? 'read_only' : opts.scope;
      const made = await withRuntime((rt) =>
        withFlagNames(createApiKey(rt.pool, { name: opts.name, scope, ...(opts.recipient !== undefined ? { recipientId: opts.recipient } : {}) }), {
          name: '--name',
          scope: '--scope',
          recipientId: '--recipient',
        }, 'API key'),
      );
      if (opts.json) return printJson(made);
      process.stdout.write(`${made.key}\n`);
      const whose = made.scope === 'recipient' ? `recipient ${made.recipientId ?? ''}` : made.scope === 'read_only' ? 'read-only' : 'operator';
      process.stderr.write(`created ${whose} API key ${made.id} (${made.name}); it is shown only now — store it safely\n`);
    });

  cmd
    .command('list')
    .description('List keys (never the keys themselves).')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const keys = await withRuntime((rt) => listApiKeys(rt.pool));
      if (opts.json) return printJson(keys);
      printTable(keys, ['id', 'name', 'scope', 'recipientId', 'createdAt', 'lastUsedAt', 'revokedAt']);
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
