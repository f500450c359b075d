/**
 * `sluice transfers list | show`: transfers as the API shows them (GET /v1/transfers[/:id]), with each
 * model's rows, bytes and files — live while a transfer runs (written every few seconds).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { notFound } from '../../core/errors.js';
import { transferDetails, type TransferDetails } from '../../jobs/transfer-details.js';
import { getTransferRow, listTransferRows, type TransferStatus } from '../../transfer/store/transfers.js';
import { printJson, printTable, withRuntime } from '../output.js';
import { formatBytes } from './transfer.js';

const STATUSES: TransferStatus[] = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled'];

type ModelView = TransferDetails['results'][number];

function modelCell(m: ModelView): string {
  const of = m.status === 'running' && m.estimatedRows ? ` of ~${m.estimatedRows}` : '';
  const err = m.error ? ` [${m.error.code}]` : '';
  return `${m.model} ${m.status} ${m.rows}${of} rows ${m.files} files ${formatBytes(m.bytes)}${err}`;
}

export function registerTransfers(program: Command): void {
  const cmd = program.command('transfers').description('Transfers: list them, or show one with its per-model results (live while it runs).');

  cmd
    .command('list')
    .description('List transfers, newest first, with per-model rows and files.')
    .option('--destination <id>', 'only this destination')
    .option('--recipient <id>', 'only this recipient')
    .option('--status <status>', `only this status (${STATUSES.join(', ')})`, (v: string) => {
      if (!STATUSES.includes(v as TransferStatus)) throw new InvalidArgumentError(`must be one of ${STATUSES.join(', ')}`);
      return v as TransferStatus;
    })
    .option('--limit <n>', 'at most this many (default 20)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError('must be a number from 1 to 1000');
      return n;
    })
    .option('--json', 'print JSON')
    .action(async (opts: { destination?: string; recipient?: string; status?: TransferStatus; limit?: number; json?: boolean }) => {
      const transfers = await withRuntime(async (rt) => {
        const rows = await listTransferRows(rt.pool, {
          ...(opts.destination ? { destinationId: opts.destination } : {}),
          ...(opts.recipient ? { recipientId: opts.recipient } : {}),
          ...(opts.status ? { status: opts.status } : {}),
          limit: opts.limit ?? 20,
        });
        return transferDetails(rt.pool, rows);
      });
      if (opts.json) return printJson({ transfers });
      printTable(
        transfers.map((t) => ({
          id: t.id,
          destination: t.destinationId,
          kind: t.kind,
          status: t.nextAttempt ? `${t.status}, retrying` : t.status,
          requested: t.requestedAt,
          rows: t.results.reduce((n, m) => n + m.rows, 0),
          models: t.results.map((m) => `${m.model}:${m.rows}${m.status === 'succeeded' ? '' : `(${m.status})`}`).join(' ') || '-',
        })),
        ['id', 'destination', 'kind', 'status', 'requested', 'rows', 'models'],
      );
    });

  cmd
    .command('show <id>')
    .description('Show one transfer with each model\'s status, rows, bytes, files, manifest and error.')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const t = await withRuntime(async (rt) => {
        const row = await getTransferRow(rt.pool, id);
        if (!row) throw notFound('transfer', id);
        return (await transferDetails(rt.pool, [row]))[0]!;
      });
      if (opts.json) return printJson(t);
      console.log(`transfer ${t.id} (${t.kind}) of ${t.destinationId}: ${t.status}, attempt ${t.attempt}`);
      console.log(`  requested ${t.requestedAt}, started ${t.startedAt ?? '-'}, finished ${t.finishedAt ?? '-'}`);
      if (t.error) console.log(`  error ${t.error.code} (${t.error.actor} must act): ${t.error.message}`);
      if (t.nextAttempt) console.log(`  retrying: attempt ${t.nextAttempt.attempt} of ${t.nextAttempt.maxAttempts} at ${t.nextAttempt.at}`);
      for (const w of t.warnings) console.log(`  warning ${w.code}: ${w.message}`);
      for (const m of t.results) {
        console.log(`  ${modelCell(m)}${m.manifestKey ? `, manifest ${m.manifestKey}` : ''}`);
        if (m.error) console.log(`    ${m.error.code} (${m.error.actor} must act): ${m.error.message}`);
      }
      if (t.results.length === 0) console.log('  (no model has started yet)');
    });
}
