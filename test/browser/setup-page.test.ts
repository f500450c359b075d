/// <reference lib="dom" />
/**
 * The recipient's setup page in a real browser (Debian's Chromium, driven by Playwright), against a
 * real `sluice start`: embedded PostgreSQL, the worker, the local S3 server and the demo data. The
 * newcomer's flow — the setup link `npm start` prints for the second demo recipient — is walked from
 * the link to the status page after the first delivery; then the security rules: the cookie, CSRF,
 * revocation, used and expired links; and an accessibility check (axe-core) of every page.
 *
 * Screenshots go to .tmp/screenshots, or to docs/images (the README's) with SLUICE_UPDATE_SCREENSHOTS=1.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { freePort } from '../../src/control/embedded.js';
import { DEMO_KEYS } from '../../src/demo/bucket.js';

const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = process.env.SLUICE_UPDATE_SCREENSHOTS === '1' ? path.resolve('docs/images') : path.resolve('.tmp/screenshots');

interface Sluice {
  child: ChildProcess;
  output: () => string;
  base: string;
  apiKey: string;
  setupUrl: string;
  bucketEndpoint: string;
}

async function startSluice(dataDir: string, port: number): Promise<Sluice> {
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_DATA_DIR: dataDir, SLUICE_PORT: String(port), SLUICE_LOG_FORMAT: 'json', SLUICE_LOG_LEVEL: 'info' };
  delete env.DATABASE_URL;
  delete env.SLUICE_SOURCE_URL;
  env.SLUICE_CONFIG = path.join(dataDir, 'no-project-models.yaml');
  env.SLUICE_PROVIDER_NAME = 'Acme Analytics';
  env.SLUICE_SETUP_TESTS_PER_HOUR = '6';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no setup link within 180 s:\n${out.slice(-3000)}`)), 180_000);
    const check = (): void => {
      if (/\/setup\/sls_[A-Za-z0-9_-]{43}\n[^\n]*\n/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sluice start exited with ${code}:\n${out.slice(-3000)}`));
    });
  });
  const pick = (re: RegExp): string => {
    const m = re.exec(out);
    assert.ok(m?.[1], `${re} in:\n${out.slice(-2000)}`);
    return m[1];
  };
  return {
    child,
    output: () => out,
    base: `http://127.0.0.1:${port}`,
    apiKey: pick(/key: (sk_[A-Za-z0-9_-]+)/),
    setupUrl: pick(/(http:\/\/\S+\/setup\/sls_[A-Za-z0-9_-]{43})/),
    bucketEndpoint: pick(/on bucket sluice-demo at (http:\/\/127\.0\.0\.1:\d+)/),
  };
}

async function axeSerious(page: Page): Promise<string[]> {
  // The page's CSP forbids injected scripts: the audited contexts are opened with bypassCSP.
  await page.addScriptTag({ path: path.resolve('node_modules/axe-core/axe.min.js') });
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: unknown[] }> }> } }).axe;
    return (await axe.run()).violations;
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.length})`);
}

describe('setup page in Chromium', () => {
  let dataDir: string;
  let sluice: Sluice;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const newContext = async (opts: Parameters<Browser['newContext']>[0] = {}) => {
    const c = await browser.newContext({ viewport: { width: 1024, height: 900 }, ...opts });
    contexts.push(c);
    return c;
  };
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${sluice.base}${p}`, {
      method,
      headers: { authorization: `Bearer ${sluice.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    await fs.mkdir(path.resolve('.tmp'), { recursive: true });
    await fs.mkdir(SHOTS, { recursive: true });
    dataDir = await fs.mkdtemp(path.resolve('.tmp', 'browser-'));
    await fs.chmod(dataDir, 0o755);
    sluice = await startSluice(dataDir, await freePort());
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    if (sluice && sluice.child.exitCode === null) {
      sluice.child.removeAllListeners('exit');
      const exited = new Promise((resolve) => sluice.child.on('exit', resolve));
      sluice.child.kill('SIGINT');
      await exited;
    }
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("walks the printed link: form, policies, a failing and a passing test, the status page after the first transfer", async () => {
    const context = await newContext({ bypassCSP: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: sluice.base });
    const page = await context.newPage();
    await page.goto(sluice.setupUrl);
    // The token is gone from the address bar; the page is the setup form with the provider's name.
    assert.equal(page.url(), `${sluice.base}/setup`);
    await page.getByRole('heading', { level: 1, name: 'Connect your S3 bucket' }).waitFor();
    assert.equal(await page.locator('.provider').textContent(), 'Acme Analytics');

    // Checked as typed, with the API's rules, next to the field.
    await page.getByLabel('Bucket name').fill('Bad_Bucket');
    await page.locator('#bucket-error').filter({ hasText: 'lowercase' }).waitFor();
    assert.equal(await page.getByLabel('Bucket name').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('Bucket name').fill('sluice-demo-globex');
    await page.locator('#bucket-error:empty').waitFor({ state: 'attached' });

    // The permissions policy is filled in for this bucket and prefix; the copy button copies it.
    await page.locator('#permissions-policy', { hasText: 'arn:aws:s3:::sluice-demo-globex/exports/*' }).waitFor();
    await page.getByRole('button', { name: 'Copy permissions policy' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const policy = JSON.parse(copied) as { Statement: Array<{ Action: string[]; Resource: string }> };
    assert.deepEqual(policy.Statement[0]?.Action, ['s3:PutObject', 's3:DeleteObject']);
    assert.equal(policy.Statement[0]?.Resource, 'arn:aws:s3:::sluice-demo-globex/exports/*');
    assert.deepEqual(await axeSerious(page), []);

    // A wrong bucket: the real test runs on the worker and says which step failed and why.
    await page.getByLabel('Bucket name').fill('sluice-demo-missing');
    await page.getByLabel('Access key ID').fill(DEMO_KEYS.globex.accessKeyId);
    await page.getByLabel('Secret access key').fill(DEMO_KEYS.globex.secretAccessKey);
    await page.screenshot({ path: path.join(SHOTS, 'setup-form.png'), fullPage: true });
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.locator('#test-phase', { hasText: 'The connection test failed' }).waitFor({ timeout: 60_000 });
    const failed = page.locator('#test-steps li.step-failed');
    assert.equal(await failed.getAttribute('data-step'), 'put_object');
    assert.match((await failed.textContent()) ?? '', /bucket/i);
    assert.equal(await page.getByLabel('Secret access key').inputValue(), '', 'the secret is not kept in the page');
    await page.locator('#test-result').screenshot({ path: path.join(SHOTS, 'setup-test-failed.png') });

    // The right bucket. The secret was stored with the failed attempt: left empty, it is kept.
    await page.getByLabel('Bucket name').fill('sluice-demo-globex');
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.locator('#test-phase', { hasText: 'The connection test passed' }).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('#test-steps li.step-failed').count(), 0);
    assert.equal(await page.locator('#test-steps li.step-passed[data-step="put_object"]').count(), 1);
    await page.getByRole('link', { name: 'See the delivery status' }).click();

    // The status page, once the first transfer (queued by the pass) has finished.
    await page.getByRole('heading', { level: 1, name: 'Your S3 destination' }).waitFor();
    for (let i = 0; i < 60; i++) {
      if (/succeeded/.test((await page.locator('#transfers').textContent().catch(() => '')) ?? '')) break;
      await page.waitForTimeout(1000);
      await page.reload();
    }
    const row = page.locator('#transfers tbody tr', { hasText: 'succeeded' }).first();
    assert.match((await row.textContent()) ?? '', /succeeded/);
    assert.match((await row.locator('td').nth(2).textContent()) ?? '', /^[1-9]\d*$/, 'rows were delivered');
    assert.equal(await page.locator('#location').textContent(), 's3://sluice-demo-globex/exports/');
    assert.equal(await page.locator('#state').textContent(), 'Delivering');
    assert.match((await page.locator('#verify-command').textContent()) ?? '', /^sluice verify --bucket sluice-demo-globex --prefix exports .*--public-key http:\/\/127\.0\.0\.1:\d+\/\.well-known\/sluice-manifest-keys\.json/);
    assert.deepEqual(await axeSerious(page), []);
    await page.screenshot({ path: path.join(SHOTS, 'setup-status.png'), fullPage: true });

    // Pause and resume; change the frequency within what the link allows.
    await page.getByRole('button', { name: 'Pause delivery' }).click();
    await page.locator('#state', { hasText: 'Paused' }).waitFor();
    await page.getByRole('button', { name: 'Resume delivery' }).click();
    await page.locator('#state', { hasText: 'Delivering' }).waitFor();
    await page.getByLabel('Delivery frequency').selectOption('60');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('#settings-saved', { hasText: 'Saved.' }).waitFor();
    const dests = await api('GET', '/v1/destinations');
    const globex = (dests.body.destinations as Array<{ bucket: string; frequencyMinutes: number; enabled: boolean; status: string }>).find((d) => d.bucket === 'sluice-demo-globex');
    assert.deepEqual([globex?.frequencyMinutes, globex?.enabled, globex?.status], [60, true, 'active']);

    // Re-run the test from the status page.
    await page.getByRole('button', { name: 'Run the connection test again' }).click();
    await page.locator('#test-phase', { hasText: 'The connection test passed' }).waitFor({ timeout: 60_000 });

    // The same link again, in another browser: used.
    const other = await (await newContext()).newPage();
    const res = await other.goto(sluice.setupUrl);
    assert.equal(res?.status(), 410);
    await other.getByRole('heading', { name: 'This setup link has already been used' }).waitFor();
    await other.getByText('Ask Acme Analytics for a new setup link.').waitFor();
  });

  it('shows the role path with trust policy and AWS CLI commands, readable at 320 px, by keyboard', async () => {
    const recipients = await api('GET', '/v1/recipients');
    const globex = (recipients.body.recipients as Array<{ id: string; tenantId: string }>).find((r) => r.tenantId === 'globex')!;
    const created = await api('POST', `/v1/recipients/${globex.id}/setup-links`, { prefill: { bucket: 'globex-exports', region: 'eu-west-1', prefix: 'sluice' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const context = await newContext({ viewport: { width: 320, height: 800 }, bypassCSP: true });
    const page = await context.newPage();
    await page.goto(created.body.url as string);
    await page.locator('#trust-policy', { hasText: 'sts:AssumeRoleWithWebIdentity' }).waitFor();
    const trust = JSON.parse((await page.locator('#trust-policy').textContent()) ?? '') as { Statement: Array<{ Condition: { StringEquals: Record<string, string> } }> };
    const audience = Object.entries(trust.Statement[0]!.Condition.StringEquals).find(([k]) => k.endsWith(':aud'))?.[1];
    assert.match(audience ?? '', /^sluice-[a-z2-7]{26}$/, 'the audience of the destination this link will create');
    assert.match((await page.locator('#aws-cli').textContent()) ?? '', /aws iam create-role --role-name transfer-role --assume-role-policy-document file:\/\/trust-policy\.json/);
    // Nothing is wider than the screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `page overflows 320 px by ${overflow} px`);
    // By keyboard: the first Tab reaches the skip link, then the fields in order.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to the form');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'bucket');
    await page.getByLabel('Role ARN').fill('arn:aws:iam::12345:role/x');
    await page.locator('#roleArn-error', { hasText: '12-digit' }).or(page.locator('#roleArn-error', { hasText: 'must look like' })).waitFor();
    assert.deepEqual(await axeSerious(page), []);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(SHOTS, 'setup-320px.png'), fullPage: false });

    // Revoked: the open page's calls are refused, and so is a reload.
    const revoked = await api('DELETE', `/v1/recipients/${globex.id}/setup-links/${created.body.id as string}`);
    assert.equal(revoked.body.status, 'revoked');
    const refused = await page.evaluate(async () => (await fetch('/setup/api/status')).status);
    assert.equal(refused, 401);
    const res = await page.reload();
    assert.equal(res?.status(), 401);
    await page.getByRole('heading', { name: 'Open the setup link you were sent' }).waitFor();
  });

  it('keeps the session in an HttpOnly SameSite=Strict cookie and refuses calls without the CSRF token', async () => {
    const recipients = await api('GET', '/v1/recipients');
    const globex = (recipients.body.recipients as Array<{ id: string; tenantId: string }>).find((r) => r.tenantId === 'globex')!;
    const created = await api('POST', `/v1/recipients/${globex.id}/setup-links`, {});
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(created.body.url as string);
    const [cookie] = await context.cookies();
    assert.equal(cookie?.name, 'sluice_setup');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');
    assert.equal(cookie?.path, '/setup');
    assert.equal(cookie?.secure, false, 'Secure only on https (this Sluice is on plain http)');
    assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read it');
    // The page's script sends the token; a call without it, or with another origin, is refused.
    // (No named functions inside evaluate: the test's transpiler would wrap them in a helper the page lacks.)
    const statuses = await page.evaluate(async () =>
      Promise.all(
        [{} as Record<string, string>, { 'x-csrf-token': 'x'.repeat(43) }, { 'x-csrf-token': document.querySelector('meta[name="csrf-token"]')!.getAttribute('content')! }].map(
          async (headers) => (await fetch('/setup/api/validate', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"bucket":"x"}' })).status,
        ),
      ),
    );
    assert.deepEqual(statuses, [403, 403, 200], 'none, wrong, the page\'s own');
    // The page sets a strict CSP that a provider can relax only for frame-ancestors.
    const res = await page.goto(`${sluice.base}/setup`);
    const csp = res?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    // The token never reached the log.
    assert.ok(!sluice.output().includes((created.body.token as string).slice(4)), 'token in the log');
  });

  it('says an expired link has expired', async () => {
    const recipients = await api('GET', '/v1/recipients');
    const globex = (recipients.body.recipients as Array<{ id: string; tenantId: string }>).find((r) => r.tenantId === 'globex')!;
    const created = await api('POST', `/v1/recipients/${globex.id}/setup-links`, { expiresInDays: 1 / 86_400 });
    await new Promise((r) => setTimeout(r, 1500));
    const page = await (await newContext({ bypassCSP: true })).newPage();
    const res = await page.goto(created.body.url as string);
    assert.equal(res?.status(), 410);
    await page.getByRole('heading', { name: 'This setup link has expired' }).waitFor();
    assert.deepEqual(await axeSerious(page), []);
    assert.deepEqual(await page.context().cookies(), [], 'no session for an expired link');
  });
});
