/**
 * Structured logging: one JSON line per event, human-readable on a terminal. Secret-bearing fields are
 * redacted by path as a second line of defence; the first is never putting secrets in log objects.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  '*.secretAccessKey',
  '*.SecretAccessKey',
  '*.secret_access_key',
  '*.sessionToken',
  '*.SessionToken',
  '*.token',
  '*.password',
  '*.apiKey',
  '*.privateKey',
  'secretAccessKey',
  'sessionToken',
  'token',
  'password',
  'apiKey',
  'authorization',
  'req.headers.authorization',
];

export interface LogOptions {
  level?: string;
  format?: 'json' | 'pretty' | 'auto';
  /** Where JSON lines go; defaults to stdout. Tests pass a stream to inspect what was logged. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.SLUICE_LOG_LEVEL ?? 'info';
  const format = opts.format ?? 'auto';
  // Pretty when the lines go to a terminal: stdout for services, stderr for CLI commands.
  const dest = opts.destination ?? process.stdout;
  const toStderr = dest === process.stderr;
  const pretty = format === 'pretty' || (format === 'auto' && (dest as { isTTY?: boolean }).isTTY === true);
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: undefined };
  if (pretty && (!opts.destination || toStderr)) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname', destination: toStderr ? 2 : 1 } },
    });
  }
  return opts.destination ? pino(base, opts.destination) : pino(base);
}

/** A logger that drops everything, for library code called without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
