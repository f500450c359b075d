/**
 * Setup links and the setup page's session rules through the real server (Fastify inject, real
 * PostgreSQL): tokens as hashes, one exchange per link, cookie attributes, CSRF, revocation, expiry,
 * rate limits, the boundary between recipients, and that tokens never reach the log.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../support/api.js';
import { runSluice } from '../support/cli.js';

const ROLE = (n: number) => `arn:aws:iam::12345678901${n}:role/transfer-role`;

function cookieOf(setCookie: string | string[] | undefined): string {
  const raw = Array.isArray(setCookie) ? setCookie[0] : setCookie;
  assert.ok(raw, 'a Set-Cookie header');
  return raw.split(';')[0] as string;
}

describe('setup links', () => {
  let t: TestApi;
  let recipientA: string;
  let recipientB: string;
  let destA: string;
  let destB: string;

  const createLink = async (recipient: string, body: unknown = {}) => {
    const res = await t.app.inject({ method: 'POST', url: `/v1/recipients/${recipient}/setup-links`, headers: t.auth, payload: body as object });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { id: string; url: string; token: string; status: string; expiresAt: string };
  };
  const open = async (token: string) => {
    const res = await t.app.inject({ method: 'GET', url: `/setup/${token}` });
    assert.equal(res.statusCode, 303, res.body);
    const cookie = cookieOf(res.headers['set-cookie']);
    const page = await t.app.inject({ method: 'GET', url: '/setup', headers: { cookie } });
    const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page.body)?.[1];
    assert.ok(csrf, 'the page carries its CSRF token');
    return { cookie, csrf, res };
  };

  before(async () => {
    t = await startTestApi({ SLUICE_PUBLIC_URL: 'https://sluice.test.example', SLUICE_SETUP_TESTS_PER_HOUR: '2', SLUICE_SETUP_FRAME_ANCESTORS: "'self' https://app.example.com" });
    const mk = async (tenantId: string) =>
      (await t.app.inject({ method: 'POST', url: '/v1/recipients', headers: t.auth, payload: { name: tenantId, tenantId } })).json() as { id: string };
    recipientA = (await mk('tenant-a')).id;
    recipientB = (await mk('tenant-b')).id;
    const dest = async (recipientId: string, n: number) =>
      (
        (await t.app.inject({
          method: 'POST',
          url: '/v1/destinations',
          headers: t.auth,
          payload: { recipientId, bucket: `bucket-${n}`, region: 'eu-west-1', auth: { roleArn: ROLE(n) } },
        })).json() as { id: string }
      ).id;
    destA = await dest(recipientA, 1);
    destB = await dest(recipientB, 2);
  });
  after(async () => {
    await t.close();
  });

  it('creates a link on SLUICE_PUBLIC_URL, shows its token once and stores only a hash', async () => {
    const link = await createLink(recipientA, { prefill: { bucket: 'acme-exports', region: 'eu-west-1' } });
    assert.match(link.token, /^sls_[A-Za-z0-9_-]{43}$/);
    assert.equal(link.url, `https://sluice.test.example/setup/${link.token}`);
    assert.equal(link.status, 'active');
    const days = (Date.parse(link.expiresAt) - Date.now()) / 86_400_000;
    assert.ok(days > 6.99 && days <= 7, `expires in 7 days by default (${days})`);
    const listed = await t.app.inject({ method: 'GET', url: `/v1/recipients/${recipientA}/setup-links`, headers: t.auth });
    assert.ok(!listed.body.includes(link.token.slice(4)), 'the list never shows a token');
    const { rows } = await t.db.pool.query<{ row: string }>('SELECT row_to_json(l)::text AS row FROM setup_links l');
    assert.ok(rows.every((r) => !r.row.includes(link.token.slice(4))), 'the token is stored nowhere');
  });

  it('validates links with the API rules and names each field', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/recipients/${recipientA}/setup-links`,
      headers: t.auth,
      payload: { expiresInDays: 31, prefill: { bucket: 'Bad_Bucket', region: 'mars-1' }, returnUrl: 'http://example.com/back' },
    });
    assert.equal(res.statusCode, 400);
    const fields = (res.json() as { error: { details: Array<{ field: string }> } }).error.details.map((d) => d.field).sort();
    assert.deepEqual(fields, ['expiresInDays']);
    const rules = await t.app.inject({
      method: 'POST',
      url: `/v1/recipients/${recipientA}/setup-links`,
      headers: t.auth,
      payload: { prefill: { bucket: 'Bad_Bucket', region: 'mars-1' }, returnUrl: 'http://example.com/back', destinationId: destB },
    });
    assert.equal(rules.statusCode, 400);
    const ruleFields = (rules.json() as { error: { details: Array<{ field: string }> } }).error.details.map((d) => d.field).sort();
    assert.deepEqual(ruleFields, ['prefill.bucket', 'prefill.region', 'returnUrl']);
    const other = await t.app.inject({ method: 'POST', url: `/v1/recipients/${recipientA}/setup-links`, headers: t.auth, payload: { destinationId: destB } });
    assert.equal(other.statusCode, 400, "another recipient's destination cannot be named");
    const missing = await t.app.inject({ method: 'POST', url: '/v1/recipients/rcp_nope/setup-links', headers: t.auth, payload: {} });
    assert.equal(missing.statusCode, 404);
    const anonymous = await t.app.inject({ method: 'POST', url: `/v1/recipients/${recipientA}/setup-links`, payload: {} });
    assert.equal(anonymous.statusCode, 401, 'the provider API needs a key');
  });

  it('exchanges the token once for a Secure HttpOnly SameSite=Strict cookie, with a strict CSP', async () => {
    const link = await createLink(recipientA);
    const { res, cookie } = await open(link.token);
    assert.equal(res.headers.location, '/setup', 'the token leaves the address bar');
    const set = String(res.headers['set-cookie']);
    assert.match(set, /^sluice_setup=[A-Za-z0-9_-]{43}; Path=\/setup; Expires=[^;]+; HttpOnly; Secure; SameSite=Strict$/);
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'self' https:\/\/app\.example\.com/);
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    const again = await t.app.inject({ method: 'GET', url: `/setup/${link.token}` });
    assert.equal(again.statusCode, 410);
    assert.match(again.body, /already been used/);
    // The browser that opened it goes back to its session.
    const mine = await t.app.inject({ method: 'GET', url: `/setup/${link.token}`, headers: { cookie } });
    assert.equal(mine.statusCode, 303);
    const junk = await t.app.inject({ method: 'GET', url: '/setup/sls_' + 'A'.repeat(43) });
    assert.equal(junk.statusCode, 404);
    assert.ok(!t.logs().includes(link.token.slice(4)), 'the token is never logged');
    assert.ok(!t.logs().includes(cookie.split('=')[1] as string), 'the session id is never logged');
  });

  it('refuses state-changing calls without the page\'s CSRF token or from another origin', async () => {
    const link = await createLink(recipientA);
    const { cookie, csrf } = await open(link.token);
    const call = (headers: Record<string, string>) =>
      t.app.inject({ method: 'POST', url: '/setup/api/validate', headers: { cookie, ...headers }, payload: { bucket: 'Bad' } });
    assert.equal((await call({})).statusCode, 403);
    assert.equal((await call({ 'x-csrf-token': 'x'.repeat(43) })).statusCode, 403);
    assert.equal((await call({ 'x-csrf-token': csrf, origin: 'https://evil.example' })).statusCode, 403);
    const ok = await call({ 'x-csrf-token': csrf, origin: 'https://sluice.test.example' });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual((ok.json() as { problems: Array<{ field: string }> }).problems.map((p) => p.field), ['bucket']);
    const none = await t.app.inject({ method: 'POST', url: '/setup/api/validate', headers: { 'x-csrf-token': csrf }, payload: {} });
    assert.equal(none.statusCode, 401, 'no cookie, no session');
  });

  it("reaches only its own recipient's destination, and rate-limits test runs per link", async () => {
    const link = await createLink(recipientA, { destinationId: destA });
    const { cookie, csrf } = await open(link.token);
    const h = { cookie, 'x-csrf-token': csrf };
    const first = await t.app.inject({ method: 'POST', url: '/setup/api/test', headers: h });
    assert.equal(first.statusCode, 202, first.body);
    const testId = (first.json() as { test: { id: string } }).test.id;
    const mine = await t.app.inject({ method: 'GET', url: `/setup/api/tests/${testId}`, headers: { cookie } });
    assert.equal(mine.statusCode, 200);
    // A test of recipient B's destination is not found through A's link.
    const theirs = await t.app.inject({ method: 'POST', url: `/v1/destinations/${destB}/test?wait=false`, headers: t.auth });
    const theirId = (theirs.json() as { id: string }).id;
    const cross = await t.app.inject({ method: 'GET', url: `/setup/api/tests/${theirId}`, headers: { cookie } });
    assert.equal(cross.statusCode, 404);
    const status = await t.app.inject({ method: 'GET', url: '/setup/api/status', headers: { cookie } });
    assert.equal((status.json() as { destination: { id: string } }).destination.id, destA);

    assert.equal((await t.app.inject({ method: 'POST', url: '/setup/api/test', headers: h })).statusCode, 202);
    const limited = await t.app.inject({ method: 'POST', url: '/setup/api/test', headers: h });
    assert.equal(limited.statusCode, 429);
    const err = (limited.json() as { error: { code: string; actor: string } }).error;
    assert.deepEqual([err.code, err.actor], ['setup_test_rate_limited', 'recipient']);
  });

  it('ends sessions when the link is revoked or expires', async () => {
    const link = await createLink(recipientA);
    const { cookie } = await open(link.token);
    const wrongRecipient = await t.app.inject({ method: 'DELETE', url: `/v1/recipients/${recipientB}/setup-links/${link.id}`, headers: t.auth });
    assert.equal(wrongRecipient.statusCode, 404);
    const revoked = await t.app.inject({ method: 'DELETE', url: `/v1/recipients/${recipientA}/setup-links/${link.id}`, headers: t.auth });
    assert.equal((revoked.json() as { status: string }).status, 'revoked');
    assert.equal((await t.app.inject({ method: 'GET', url: '/setup/api/status', headers: { cookie } })).statusCode, 401);
    const page = await t.app.inject({ method: 'GET', url: '/setup', headers: { cookie } });
    assert.equal(page.statusCode, 401);

    const unopened = await createLink(recipientA);
    await t.app.inject({ method: 'DELETE', url: `/v1/recipients/${recipientA}/setup-links/${unopened.id}`, headers: t.auth });
    const refused = await t.app.inject({ method: 'GET', url: `/setup/${unopened.token}` });
    assert.equal(refused.statusCode, 410);
    assert.match(refused.body, /revoked/);

    const expiring = await createLink(recipientA);
    const session = await open(expiring.token);
    await t.db.pool.query(`UPDATE setup_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [expiring.id]);
    assert.equal((await t.app.inject({ method: 'GET', url: '/setup/api/status', headers: { cookie: session.cookie } })).statusCode, 401);
    const expired = await createLink(recipientA);
    await t.db.pool.query(`UPDATE setup_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.id]);
    const late = await t.app.inject({ method: 'GET', url: `/setup/${expired.token}` });
    assert.equal(late.statusCode, 410);
    assert.match(late.body, /expired/);
    const list = await t.app.inject({ method: 'GET', url: `/v1/recipients/${recipientA}/setup-links`, headers: t.auth });
    const statuses = new Set((list.json() as { links: Array<{ status: string }> }).links.map((l) => l.status));
    assert.deepEqual([...statuses].sort(), ['active', 'expired', 'revoked', 'used']);
  });

  it('documents the provider calls and the link-scoped calls in the OpenAPI document', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown>; components: { securitySchemes: Record<string, unknown> } };
    for (const p of ['/v1/recipients/{id}/setup-links', '/v1/recipients/{id}/setup-links/{linkId}', '/setup/api/connect', '/setup/api/tests/{testId}', '/setup/api/status', '/setup/api/settings', '/setup/api/pause']) {
      assert.ok(doc.paths[p], `${p} is documented`);
    }
    assert.ok(!doc.paths['/setup/{token}'], 'the token route is not an API call');
    assert.ok(doc.components.securitySchemes.setupSession);
  });
});

describe('setup page branding', () => {
  it("shows the provider's name and serves its logo from Sluice itself", async () => {
    await fs.mkdir(path.resolve('.tmp'), { recursive: true });
    const logo = path.resolve('.tmp', `logo-${process.pid}.svg`);
    await fs.writeFile(logo, '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    const t = await startTestApi({ SLUICE_PROVIDER_NAME: 'Initrode Data', SLUICE_PROVIDER_LOGO_FILE: logo });
    try {
      const page = await t.app.inject({ method: 'GET', url: '/setup' });
      assert.match(page.body, /<img class="logo" src="\/setup\/assets\/logo" alt="">/);
      assert.match(page.body, /Ask Initrode Data for a new setup link\./);
      const img = await t.app.inject({ method: 'GET', url: '/setup/assets/logo' });
      assert.equal(img.headers['content-type'], 'image/svg+xml');
      assert.equal((await t.app.inject({ method: 'GET', url: '/setup/assets/other' })).statusCode, 404);
    } finally {
      await t.close();
      await fs.rm(logo, { force: true });
    }
  });
});

describe('sluice links', () => {
  it('creates a link (URL printed once), lists it without the token and revokes it', async () => {
    const t = await startTestApi();
    const dataDir = await fs.mkdtemp(path.resolve('.tmp', 'links-cli-'));
    const sluice = async (args: string[]) => {
      const { code, stdout, stderr } = await runSluice(['links', ...args], {
        DATABASE_URL: t.db.url,
        SLUICE_DATA_DIR: dataDir,
        SLUICE_SECRET_KEY: crypto.randomBytes(32).toString('base64'),
        SLUICE_PUBLIC_URL: 'https://sluice.example.com',
        SLUICE_LOG_FORMAT: 'json',
      });
      return { code, out: stdout, err: stderr };
    };
    try {
      const r = (await t.app.inject({ method: 'POST', url: '/v1/recipients', headers: t.auth, payload: { name: 'CLI', tenantId: 'cli' } })).json() as { id: string };
      const made = await sluice(['create', '--recipient', r.id, '--bucket', 'cli-exports', '--region', 'eu-west-1', '--auth-methods', 'role', '--expires-in-days', '2']);
      assert.equal(made.code, 0, made.err);
      assert.match(made.out, /^https:\/\/sluice\.example\.com\/setup\/sls_[A-Za-z0-9_-]{43}\n$/);
      assert.match(made.err, /created setup link lnk_\w+ .*shown only now/);
      const bad = await sluice(['create', '--recipient', r.id, '--bucket', 'Bad_Bucket', '--expires-in-days', '45']);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /expiresInDays/);
      const listed = await sluice(['list', '--recipient', r.id, '--json']);
      const links = JSON.parse(listed.out) as Array<{ id: string; status: string; prefill: { bucket: string }; allowed: { authMethods: string[] } }>;
      assert.equal(links.length, 1);
      assert.deepEqual([links[0]!.status, links[0]!.prefill.bucket, links[0]!.allowed.authMethods], ['active', 'cli-exports', ['role']]);
      assert.ok(!listed.out.includes(made.out.trim().split('/').pop()!), 'no token in the list');
      const revoked = await sluice(['revoke', links[0]!.id, '--json']);
      assert.equal((JSON.parse(revoked.out) as { status: string }).status, 'revoked');
    } finally {
      await t.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
