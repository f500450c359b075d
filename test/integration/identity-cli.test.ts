import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { registerIdentity } from '../../src/cli/commands/identity.js';
import { commands } from '../../src/cli/commands/index.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';

describe('sluice identity (CLI)', () => {
  let db: TestDatabase;
  const saved = { ...process.env };
  before(async () => {
    db = await freshDatabase();
    // The command reads its configuration from the environment, as `sluice` does.
    Object.assign(process.env, {
      DATABASE_URL: db.url,
      SLUICE_SECRET_KEY: crypto.randomBytes(32).toString('base64'),
      SLUICE_PUBLIC_URL: 'https://sluice.example.com',
      SLUICE_IDENTITY: 'oidc',
      SLUICE_LOG_LEVEL: 'warn',
      SLUICE_LOG_FORMAT: 'json',
    });
  });
  after(async () => {
    process.env = saved;
    await db.drop();
  });

  /** Runs `sluice …args` in this process and returns what it printed. */
  async function sluice(...args: string[]): Promise<string> {
    const program = new Command('sluice').exitOverride();
    registerIdentity(program);
    const printed: string[] = [];
    const log = console.log;
    console.log = (...parts: unknown[]) => void printed.push(parts.join(' '));
    try {
      await program.parseAsync(args, { from: 'user' });
    } finally {
      console.log = log;
    }
    return printed.join('\n');
  }

  it('is a command of sluice', () => {
    assert.ok(commands.includes(registerIdentity));
  });

  it('rotates the oidc key and prints what recipients must trust', async () => {
    const rotated = JSON.parse(await sluice('identity', 'rotate', '--json')) as { kid: string; state: string };
    assert.equal(rotated.state, 'published');

    const report = JSON.parse(await sluice('identity', '--json')) as Record<string, unknown>;
    assert.equal(report.kind, 'oidc');
    assert.equal(report.issuer, 'https://sluice.example.com');
    assert.equal(report.subject, 'sluice');
    assert.equal(report.federatedPrincipal, 'arn:aws:iam::<RECIPIENT_ACCOUNT_ID>:oidc-provider/sluice.example.com');
    assert.deepEqual(report.conditionKeys, { subject: 'sluice.example.com:sub', audience: 'sluice.example.com:aud' });
    assert.equal((report.oidcProvider as { url: string }).url, 'https://sluice.example.com');
    const keys = report.keys as Array<{ kid: string; state: string }>;
    assert.deepEqual(keys.map((k) => k.state).sort(), ['active', 'published']);
    assert.ok(keys.some((k) => k.kid === rotated.kid && k.state === 'published'));

    const text = await sluice('identity');
    assert.match(text, /Provider URL\s+https:\/\/sluice\.example\.com/);
    assert.match(text, new RegExp(`${rotated.kid}\\s+published\\s+signs from`));
  });
});
