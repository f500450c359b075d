import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freshDatabase, type TestDatabase } from '../support/db.js';

const run = promisify(execFile);

describe('sluice identity (CLI)', () => {
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    db = await freshDatabase();
    env = {
      ...process.env,
      DATABASE_URL: db.url,
      SLUICE_SECRET_KEY: crypto.randomBytes(32).toString('base64'),
      SLUICE_PUBLIC_URL: 'https://sluice.example.com',
      SLUICE_IDENTITY: 'oidc',
      SLUICE_LOG_LEVEL: 'warn',
      SLUICE_LOG_FORMAT: 'json',
    };
  });
  after(() => db.drop());

  const sluice = async (...args: string[]) => (await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env })).stdout;

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
  });
});
