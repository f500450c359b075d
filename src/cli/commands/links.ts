/**
 * `sluice links …`: setup links for recipients — the same repository, rules and messages as
 * /v1/recipients/:id/setup-links.
 */
import type { Command } from 'commander';
import { createSetupLink, listSetupLinks, revokeSetupLink, type SetupLinkCreate } from '../../control/setup-links.js';
import { printJson, printRecord, printTable, withRuntime } from '../output.js';

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

export function registerLinks(program: Command): void {
  const cmd = program.command('links').description("Setup links: a recipient's way to its hosted setup page (create, list, revoke).");

  cmd
    .command('create')
    .description('Create a setup link for a recipient and print its URL once (Sluice keeps only a hash).')
    .requiredOption('--recipient <id>', 'the recipient the link is bound to')
    .option('--expires-in-days <n>', 'days until it expires (default 7, at most 30)', Number)
    .option('--destination <id>', "open the status page of this existing destination of the recipient")
    .option('--bucket <name>', 'prefill: bucket')
    .option('--region <code>', 'prefill: region')
    .option('--prefix <prefix>', 'prefill: prefix')
    .option('--format <format>', 'prefill: parquet, csv or jsonl')
    .option('--frequency-minutes <n>', 'prefill: 15, 60, 360, 720 or 1440', Number)
    .option('--auth-methods <list>', 'allowed: role,access_key (default both)', list)
    .option('--formats <list>', 'allowed formats (default all)', list)
    .option('--frequencies <list>', 'allowed frequencies in minutes (default all)', (v: string) => list(v).map(Number))
    .option('--endpoint <url>', 'an S3-compatible store the recipient\'s bucket is on (fixed for the recipient)')
    .option('--path-style', 'with --endpoint: path-style requests')
    .option('--return-url <url>', 'where the page sends the recipient back')
    .option('--json', 'print JSON')
    .action(
      async (opts: {
        recipient: string;
        expiresInDays?: number;
        destination?: string;
        bucket?: string;
        region?: string;
        prefix?: string;
        format?: string;
        frequencyMinutes?: number;
        authMethods?: string[];
        formats?: string[];
        frequencies?: number[];
        endpoint?: string;
        pathStyle?: boolean;
        returnUrl?: string;
        json?: boolean;
      }) => {
        const prefill = Object.fromEntries(
          Object.entries({ bucket: opts.bucket, region: opts.region, prefix: opts.prefix, format: opts.format, frequencyMinutes: opts.frequencyMinutes }).filter(
            ([, v]) => v !== undefined,
          ),
        );
        const allowed = Object.fromEntries(
          Object.entries({ authMethods: opts.authMethods, formats: opts.formats, frequencies: opts.frequencies }).filter(([, v]) => v !== undefined),
        );
        // Shapes are checked by the same schema as the API (SetupLinkCreateInput); this only assembles it.
        const input: Record<string, unknown> = {
          ...(opts.expiresInDays !== undefined ? { expiresInDays: opts.expiresInDays } : {}),
          ...(opts.destination ? { destinationId: opts.destination } : {}),
          ...(Object.keys(prefill).length > 0 ? { prefill } : {}),
          ...(Object.keys(allowed).length > 0 ? { allowed } : {}),
          ...(opts.endpoint ? { store: { endpoint: opts.endpoint, ...(opts.pathStyle ? { forcePathStyle: true } : {}) } } : {}),
          ...(opts.returnUrl ? { returnUrl: opts.returnUrl } : {}),
        } satisfies Partial<Record<keyof SetupLinkCreate, unknown>>;
        const made = await withRuntime((rt) => createSetupLink(rt.pool, { config: rt.config }, opts.recipient, input));
        if (opts.json) return printJson(made);
        process.stdout.write(`${made.url}\n`);
        process.stderr.write(`created setup link ${made.id} for ${made.recipientId}, expires ${made.expiresAt}; the URL is shown only now — send it to the recipient\n`);
      },
    );

  cmd
    .command('list')
    .description("A recipient's setup links (never their tokens).")
    .requiredOption('--recipient <id>', 'the recipient')
    .option('--json', 'print JSON')
    .action(async (opts: { recipient: string; json?: boolean }) => {
      const links = await withRuntime((rt) => listSetupLinks(rt.pool, opts.recipient));
      if (opts.json) return printJson(links);
      printTable(links, ['id', 'status', 'destinationId', 'createdAt', 'expiresAt', 'usedAt', 'revokedAt']);
    });

  cmd
    .command('revoke <id>')
    .description('Revoke a setup link: its page and open sessions stop working at once.')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const link = await withRuntime((rt) => revokeSetupLink(rt.pool, null, id));
      if (opts.json) return printJson(link);
      printRecord({ ...link });
    });
}
