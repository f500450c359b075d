/**
 * `sluice transfer <destination>`: runs one transfer now, in this process, with a live progress bar per
 * model on a terminal (plain lines otherwise), then a summary per model. Exit code 0 only when every
 * model succeeded.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { validationError } from '../../core/errors.js';
import type { ModelResult, TransferProgress, TransferResult } from '../../transfer/result.js';
import { runTransfer } from '../../transfer/run.js';
import type { TransferKind } from '../../core/types.js';
import { openTransferDeps } from '../../jobs/transfer-deps.js';
import { transferRequestProblems } from '../../models/catalog.js';
import { printJson, withCatalog } from '../output.js';

interface TransferCliOptions {
  fullRefresh?: boolean;
  models?: string;
  from?: string;
  to?: string;
  json?: boolean;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function progressLine(p: TransferProgress): string {
  const of = p.estimatedRows ? ` of ~${p.estimatedRows}` : '';
  return `${p.model}: ${p.status}, ${p.rows}${of} rows, ${formatBytes(p.bytes)}, ${p.files} files, ${Math.round(p.rowsPerSecond)} rows/s, ${formatBytes(p.bytesPerSecond)}/s`;
}

/**
 * Live display: on a TTY a bar per model — a real bar of rows against the planner's estimate when
 * there is one, else a counter with its rate; otherwise a line per change of status (and at most
 * every 2 s per model).
 */
export function progressReporter(tty: boolean, write: (line: string) => void = (l) => process.stderr.write(l + '\n')) {
  if (tty) {
    const multi = new cliProgress.MultiBar(
      {
        format: ' {model} | {status} | {bar} {rows}{of} rows | {size} | {rate} rows/s | {files} files',
        hideCursor: true,
        clearOnComplete: false,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    const bars = new Map<string, cliProgress.SingleBar>();
    return {
      update(p: TransferProgress) {
        const total = p.estimatedRows ?? 0;
        // The estimate may be low: the bar's total grows with the rows actually read, and ends full.
        const barTotal = p.status === 'succeeded' ? Math.max(p.rows, 1) : Math.max(total, p.rows);
        const payload = {
          model: p.model.padEnd(20),
          status: p.status.padEnd(9),
          rows: p.rows,
          of: total > 0 && p.status === 'running' ? ` of ~${total}` : '',
          size: formatBytes(p.bytes),
          rate: Math.round(p.rowsPerSecond),
          files: p.files,
        };
        let bar = bars.get(p.model);
        if (!bar) {
          bar = multi.create(barTotal, 0, payload);
          bars.set(p.model, bar);
        }
        bar.setTotal(barTotal);
        // No estimate: an empty bar, the counter and its rate say how far it is.
        bar.update(total > 0 || p.status === 'succeeded' ? Math.min(p.rows, barTotal) : 0, payload);
      },
      stop: () => multi.stop(),
    };
  }
  const last = new Map<string, { status: string; at: number }>();
  return {
    update(p: TransferProgress) {
      const prev = last.get(p.model);
      const now = Date.now();
      if (prev && prev.status === p.status && now - prev.at < 2000) return;
      last.set(p.model, { status: p.status, at: now });
      write(progressLine(p));
    },
    stop: () => undefined,
  };
}

export function parseTransferOptions(opts: TransferCliOptions): { kind: TransferKind; models?: string[]; from?: string; to?: string } {
  const problems = [];
  if (opts.fullRefresh && (opts.from || opts.to)) problems.push({ field: '--full-refresh', message: 'cannot be combined with --from/--to (a backfill)' });
  if (problems.length > 0) throw validationError(problems, 'options');
  const models = opts.models
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const kind: TransferKind = opts.fullRefresh ? 'FULL_REFRESH' : opts.from || opts.to ? 'BACKFILL' : 'INCREMENTAL';
  return { kind, ...(models && models.length > 0 ? { models } : {}), ...(opts.from ? { from: opts.from } : {}), ...(opts.to ? { to: opts.to } : {}) };
}

export function summaryLines(r: TransferResult): string[] {
  const lines = [`transfer ${r.id} (${r.kind}) of ${r.destinationId}: ${r.status}`];
  const width = Math.max(5, ...r.models.map((m) => m.model.length));
  for (const m of r.models as ModelResult[]) {
    const what = m.error
      ? `${m.error.code} (${m.error.actor} must act): ${m.error.message}`
      : `${m.rows} rows, ${m.files} files, ${formatBytes(m.bytes)}${m.manifestKey ? `, manifest ${m.manifestKey}` : ', nothing new'}`;
    lines.push(`  ${m.model.padEnd(width)}  ${m.status.padEnd(9)}  ${(m.durationMs / 1000).toFixed(1)} s  ${what}`);
  }
  for (const w of r.warnings ?? []) lines.push(`warning [${w.code}]: ${w.message}${w.hint ? `\n  hint: ${w.hint}` : ''}`);
  return lines;
}

export function registerTransfer(program: Command): void {
  program
    .command('transfer <destination>')
    .description('Run a transfer of a destination now: incremental, --full-refresh, or a backfill with --from/--to (cursor range, from exclusive, to inclusive).')
    .option('--full-refresh', 'deliver every row of the recipient again (manifest type FULL_REFRESH)')
    .option('--models <a,b>', 'only these models (default: every model the destination exports)')
    .option('--from <cursor>', 'backfill: cursor value after which to start')
    .option('--to <cursor>', 'backfill: last cursor value to include')
    .option('--json', 'print the result as JSON')
    .action(async (destination: string, opts: TransferCliOptions) => {
      const req = parseTransferOptions(opts);
      const result = await withCatalog(async (rt, models) => {
        const dst = await rt.pool.query<{ models: string[] | null }>('SELECT models FROM destinations WHERE id = $1', [destination]);
        if (dst.rows[0]) {
          const problems = await transferRequestProblems(models, dst.rows[0].models, req);
          const flag: Record<string, string> = { from: '--from', to: '--to' };
          const named = problems.map((p) => ({ field: flag[p.field] ?? '--models', message: p.message }));
          if (named.length > 0) throw validationError(named, 'transfer request');
        }
        const opened = await openTransferDeps(rt);
        const progress = progressReporter(Boolean(process.stderr.isTTY) && !opts.json);
        const abort = new AbortController();
        const onSignal = (): void => abort.abort(new Error('interrupted'));
        process.once('SIGINT', onSignal);
        try {
          return await runTransfer(opened.deps, { destinationId: destination, ...req, signal: abort.signal, onProgress: (p) => progress.update(p) });
        } finally {
          process.off('SIGINT', onSignal);
          progress.stop();
          await opened.close();
        }
      });
      if (opts.json) printJson(result);
      else for (const line of summaryLines(result)) console.log(line);
      if (result.status !== 'succeeded') process.exitCode = 1;
    });
}
