/**
 * `sluice` command line. Each command lives in `commands/<name>.ts` and registers itself on the
 * program; this file only wires them up and turns errors into one clear line and an exit code.
 */
import { Command, CommanderError } from 'commander';
import { SluiceError } from '../core/errors.js';
import { commands } from './commands/index.js';

// The AWS SDK warns on every start that its releases after January 2027 need Node 22. That is the
// operator's news once (README, "Node versions"), not every start's: an explicit setting still wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

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
// With the embedded PostgreSQL loaded, its exit hook would exit with 0 on beforeExit: exit explicitly.
if (process.exitCode) process.exit(process.exitCode);

function reportError(err: unknown): number {
  // Usage errors (unknown option, missing argument) are bad input like any other: exit code 2.
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof SluiceError) {
    console.error(`error [${err.code}]: ${err.message}`);
    for (const d of err.details ?? []) console.error(`  - ${d.field}: ${d.message}`);
    if (err.hint) console.error(`hint: ${err.hint}`);
    return 2;
  }
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return 1;
}
