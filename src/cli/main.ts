/**
 * `sluice` command line. Each command lives in `commands/<name>.ts` and registers itself on the
 * program; this file only wires them up and turns errors into one clear line and an exit code.
 */
import { Command, CommanderError } from 'commander';
import { SluiceError } from '../errors.js';
import { commands } from './commands/index.js';

const program = new Command('sluice')
  .description('Deliver each recipient\'s rows from PostgreSQL into the recipient\'s own S3 bucket.')
  .showHelpAfterError()
  .exitOverride();

for (const register of commands) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode;
  if (err instanceof SluiceError) {
    console.error(`error [${err.code}]: ${err.message}`);
    for (const d of err.details ?? []) console.error(`  - ${d.field}: ${d.message}`);
    if (err.hint) console.error(`hint: ${err.hint}`);
    return 2;
  }
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return 1;
}
