/**
 * The google identity source against a STAND-IN for Google: Google's metadata server, OAuth token
 * endpoint and IAM Credentials API cannot be reached from this test machine, so a small HTTP server
 * on 127.0.0.1 plays them. It checks each request exactly as Google documents it (path, query
 * encoding, Metadata-Flavor header, the JWT-bearer assertion's signature against the service-account
 * key's public half, its claims, the Bearer access token) and answers in Google's shapes. It proves
 * Sluice speaks the documented protocol; it does not prove Google's own behaviour.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, jwtVerify, SignJWT } from 'jose';
import { loadConfig } from '../../src/config.js';
import { freePort } from '../../src/control/embedded.js';
import { SecretBox } from '../../src/control/secrets.js';
import { SluiceError } from '../../src/core/errors.js';
import { createIdentitySource } from '../../src/identity/index.js';
import { GoogleKeyFileIdentity, GoogleMetadataIdentity, readServiceAccountKey } from '../../src/identity/google.js';
import type { Pool } from '../../src/control/db.js';
import { silentLogger } from '../../src/core/log.js';

const SA_EMAIL = 'sluice@provider-project.iam.gserviceaccount.com';
const SA_ID = '104502938475610293847';
// An audience with every character that needs URL encoding in a query.
const AUDIENCE = 'sluice-aud:with/odd?chars&more=1+2';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Google's three endpoints, checking requests as documented. */
class GoogleStandIn {
  readonly seen: Seen[] = [];
  readonly saKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  readonly googleKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  readonly issuedAccessTokens = new Set<string>();
  refuseKey = false;
  refuseIdToken = false;
  server!: http.Server;
  base = '';

  async start(): Promise<void> {
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
        this.seen.push(seen);
        this.handle(seen).then(
          ({ status, json, text, headers }) => {
            res.writeHead(status, { 'content-type': json ? 'application/json' : 'text/plain', ...headers });
            res.end(json ? JSON.stringify(json) : text);
          },
          (err: unknown) => {
            res.writeHead(500);
            res.end(String(err));
          },
        );
      });
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  keyFile(): Record<string, string> {
    return {
      type: 'service_account',
      project_id: 'provider-project',
      private_key_id: 'a1b2c3d4e5',
      private_key: this.saKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: SA_EMAIL,
      client_id: SA_ID,
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: `${this.base}/token`,
    };
  }

  idToken(audience: string): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({ azp: SA_ID, email: SA_EMAIL, email_verified: true })
      .setProtectedHeader({ alg: 'RS256', kid: 'google-key-1', typ: 'JWT' })
      .setIssuer('https://accounts.google.com')
      .setSubject(SA_ID)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(this.googleKey.privateKey);
  }

  async handle(req: Seen): Promise<{ status: number; json?: unknown; text?: string; headers?: Record<string, string> }> {
    const url = new URL(req.url, this.base);
    if (req.method === 'GET' && url.pathname === '/computeMetadata/v1/instance/service-accounts/default/identity') {
      if (req.headers['metadata-flavor'] !== 'Google') return { status: 403, text: 'Missing Metadata-Flavor:Google header.' };
      const audience = url.searchParams.get('audience');
      if (!audience || url.searchParams.get('format') !== 'full') return { status: 400, text: 'audience and format=full expected' };
      // The raw query must carry the audience percent-encoded, or '&' and '+' would change it.
      if (!req.url.includes(`audience=${encodeURIComponent(audience)}&`)) return { status: 400, text: 'audience not encoded' };
      return { status: 200, text: await this.idToken(audience), headers: { 'metadata-flavor': 'Google' } };
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      if (req.headers['content-type'] !== 'application/x-www-form-urlencoded') return { status: 400, json: { error: 'invalid_request' } };
      const form = new URLSearchParams(req.body);
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return { status: 400, json: { error: 'unsupported_grant_type' } };
      if (this.refuseKey) return { status: 400, json: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } };
      try {
        const { payload, protectedHeader } = await jwtVerify(form.get('assertion') ?? '', this.saKey.publicKey, {
          issuer: SA_EMAIL,
          audience: `${this.base}/token`,
          algorithms: ['RS256'],
        });
        if (protectedHeader.kid !== 'a1b2c3d4e5') throw new Error('kid is not the private_key_id');
        if (payload.scope !== 'https://www.googleapis.com/auth/cloud-platform') throw new Error('scope');
        if ((payload.exp ?? 0) - (payload.iat ?? 0) > 3600) throw new Error('assertion lives longer than an hour');
      } catch (err) {
        return { status: 400, json: { error: 'invalid_grant', error_description: String(err) } };
      }
      const accessToken = `ya29.${crypto.randomBytes(16).toString('hex')}`;
      this.issuedAccessTokens.add(accessToken);
      return { status: 200, json: { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' } };
    }
    if (req.method === 'POST' && url.pathname === `/v1/projects/-/serviceAccounts/${encodeURIComponent(SA_EMAIL)}:generateIdToken`) {
      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization))?.[1];
      if (!bearer || !this.issuedAccessTokens.has(bearer)) {
        return { status: 401, json: { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } } };
      }
      if (this.refuseIdToken) {
        return { status: 403, json: { error: { code: 403, message: "Permission 'iam.serviceAccounts.getOpenIdToken' denied", status: 'PERMISSION_DENIED' } } };
      }
      const body = JSON.parse(req.body) as { audience?: string; includeEmail?: boolean };
      if (req.headers['content-type'] !== 'application/json' || !body.audience) return { status: 400, json: { error: { message: 'bad body' } } };
      return { status: 200, json: { token: await this.idToken(body.audience) } };
    }
    return { status: 404, text: `no route ${req.method} ${req.url}` };
  }
}

const isCode = (code: string) => (e: unknown) => e instanceof SluiceError && e.code === code;

describe('google identity (against a stand-in for Google)', () => {
  const google = new GoogleStandIn();
  let dir: string;
  let keyFile: string;

  before(async () => {
    await google.start();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-google-'));
    keyFile = path.join(dir, 'key.json');
    await fs.writeFile(keyFile, JSON.stringify(google.keyFile()), { mode: 0o600 });
  });
  after(async () => {
    await google.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('gets an ID token from the metadata server, audience URL-encoded, with Metadata-Flavor', async () => {
    const identity = new GoogleMetadataIdentity({ metadataHost: new URL(google.base).host, log: silentLogger });
    const token = await identity.token(AUDIENCE);
    const { payload } = await jwtVerify(token, google.googleKey.publicKey, { audience: AUDIENCE, issuer: 'https://accounts.google.com' });
    assert.equal(payload.sub, SA_ID);
    const req = google.seen.at(-1)!;
    assert.equal(req.headers['metadata-flavor'], 'Google');
    assert.match(req.url, /format=full/);
  });

  it('learns the service account\'s unique id from a minted token for describe()', async () => {
    const identity = new GoogleMetadataIdentity({ metadataHost: new URL(google.base).host, log: silentLogger });
    const d = await identity.describe();
    assert.equal(d.kind, 'google');
    assert.equal(d.issuer, 'https://accounts.google.com');
    assert.equal(d.subject, SA_ID);
    assert.equal(d.conditionKeyPrefix, 'accounts.google.com');
    assert.equal(d.audienceConditionKey, 'oaud');
    assert.equal(d.federatedPrincipal('123456789012'), 'accounts.google.com');
    const fixed = new GoogleMetadataIdentity({ metadataHost: '127.0.0.1:1', subject: '42', log: silentLogger });
    assert.equal((await fixed.describe()).subject, '42', 'a configured subject needs no call');
  });

  it('refuses an answer that is not from a metadata server', async () => {
    const identity = new GoogleMetadataIdentity({ metadataHost: `${new URL(google.base).host}/nothing-here`, log: silentLogger });
    await assert.rejects(identity.token('sluice-x'), isCode('identity_unavailable'));
  });

  it('says clearly when the metadata server cannot be reached', async () => {
    const identity = new GoogleMetadataIdentity({ metadataHost: `127.0.0.1:${await freePort()}`, log: silentLogger });
    await assert.rejects(identity.token('sluice-x'), (e: unknown) => isCode('identity_unavailable')(e) && /metadata server/.test((e as Error).message));
  });

  it('mints through the IAM Credentials API with the key file, reusing the access token', async () => {
    const identity = await createIdentitySource(
      loadConfig({
        SLUICE_IDENTITY: 'google',
        SLUICE_GOOGLE_SERVICE_ACCOUNT_KEY_FILE: keyFile,
        SLUICE_GOOGLE_IAM_CREDENTIALS_URL: google.base,
      }),
      { pool: {} as Pool, secrets: new SecretBox(crypto.randomBytes(32)), log: silentLogger },
    );
    assert.ok(identity instanceof GoogleKeyFileIdentity);
    const before = google.seen.length;
    const first = await identity.token(AUDIENCE);
    const second = await identity.token('sluice-another');
    assert.equal(decodeJwt(first).aud, AUDIENCE);
    assert.equal(decodeJwt(second).aud, 'sluice-another');
    const calls = google.seen.slice(before).map((s) => `${s.method} ${new URL(s.url, google.base).pathname}`);
    assert.deepEqual(calls, [
      'POST /token',
      `POST /v1/projects/-/serviceAccounts/${encodeURIComponent(SA_EMAIL)}:generateIdToken`,
      `POST /v1/projects/-/serviceAccounts/${encodeURIComponent(SA_EMAIL)}:generateIdToken`,
    ]);
    const body = JSON.parse(google.seen.at(-1)!.body) as Record<string, unknown>;
    assert.deepEqual(body, { audience: 'sluice-another', includeEmail: true });
    const d = await identity.describe();
    assert.equal(d.subject, SA_ID, 'the key file\'s client_id, without a call');
    assert.equal(google.seen.length, before + 3);
  });

  it('explains a refused key and a missing permission', async () => {
    const key = await readServiceAccountKey(keyFile);
    const identity = new GoogleKeyFileIdentity({ key, iamCredentialsUrl: google.base, log: silentLogger });
    google.refuseKey = true;
    try {
      await assert.rejects(identity.token('sluice-x'), (e: unknown) => isCode('identity_unavailable')(e) && /Invalid JWT Signature/.test((e as Error).message));
    } finally {
      google.refuseKey = false;
    }
    google.refuseIdToken = true;
    try {
      await assert.rejects(identity.token('sluice-x'), (e: unknown) => isCode('identity_unavailable')(e) && /serviceAccountOpenIdTokenCreator/.test(String((e as SluiceError).hint)));
    } finally {
      google.refuseIdToken = false;
    }
  });

  it('rejects a key file that is not a service-account key, without echoing the key', async () => {
    const bad = path.join(dir, 'bad.json');
    await fs.writeFile(bad, JSON.stringify({ ...google.keyFile(), type: 'authorized_user' }));
    await assert.rejects(readServiceAccountKey(bad), (e: unknown) => isCode('invalid_identity_config')(e) && !/PRIVATE KEY/.test((e as Error).message));
    await assert.rejects(readServiceAccountKey(path.join(dir, 'missing.json')), isCode('invalid_identity_config'));
  });
});
