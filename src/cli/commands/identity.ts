import type { Command } from 'commander';
import { SluiceError } from '../../core/errors.js';
import { createIdentitySource } from '../../identity/index.js';
import { OidcIdentity } from '../../identity/oidc/issuer.js';
import { formatIdentityReport, identityReport } from '../../identity/report.js';
import { openRuntime } from '../../runtime.js';

export function registerIdentity(program: Command): void {
  const cmd = program
    .command('identity')
    .description("Print what recipients must trust: Sluice's identity, issuer, subject and trust-policy condition keys.")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const rt = await openRuntime();
      try {
        const identity = await createIdentitySource(rt.config, rt);
        const report = await identityReport(identity);
        console.log(opts.json ? JSON.stringify(report, null, 2) : formatIdentityReport(report));
      } finally {
        await rt.close();
      }
    });

  cmd
    .command('rotate')
    .description('oidc identity: publish a new signing key; it signs after SLUICE_OIDC_PUBLISH_LEAD_SECONDS.')
    .action(async (_opts: unknown, command: Command) => {
      // `--json` belongs to `identity`; commander parses it wherever it appears.
      const opts = command.optsWithGlobals<{ json?: boolean }>();
      const rt = await openRuntime();
      try {
        const identity = await createIdentitySource(rt.config, rt);
        if (!(identity instanceof OidcIdentity)) {
          throw new SluiceError({
            code: 'rotation_unsupported',
            message: `SLUICE_IDENTITY=${identity.kind} has no keys of Sluice's to rotate.`,
            hint: 'Rotation applies to Sluice\'s own issuer (SLUICE_IDENTITY=oidc); Google and Kubernetes rotate their own keys.',
          });
        }
        const key = await identity.rotate();
        if (opts.json) console.log(JSON.stringify(key, null, 2));
        else console.log(`published key ${key.kid}; it starts signing at ${key.activatesAt.toISOString()}, the current key stays published until its tokens expire`);
      } finally {
        await rt.close();
      }
    });
}
