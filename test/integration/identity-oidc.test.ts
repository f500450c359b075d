import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import fastify, { type FastifyInstance } from 'fastify';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { oidcRoutes } from '../../src/api/routes/oidc.js';
import { loadConfig } from '../../src/config.js';
import { createPool } from '../../src/control/db.js';
import { freePort } from '../../src/control/embedded.js';
import { SecretBox } from '../../src/control/secrets.js';
import { SluiceError } from '../../src/core/errors.js';
import { newAudience } from '../../src/core/audience.js';
import { createIdentitySource } from '../../src/identity/index.js';
import { createOidcIdentity, type OidcIdentity } from '../../src/identity/oidc/index.js';
import { createLogger, silentLogger } from '../../src/core/log.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';

const secrets = new SecretBox(crypto.randomBytes(32));

function oidcConfig(env: Record<string, string> = {}) {
  return loadConfig({ SLUICE_IDENTITY: 'oidc', ...env });
}

describe('oidc identity: issuer served over HTTP', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let identity: OidcIdentity;
  let issuer: string;

  before(async () => {
    db = await freshDatabase();
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    identity = await createOidcIdentity(oidcConfig({ SLUICE_PUBLIC_URL: issuer, SLUICE_OIDC_SUBJECT: 'sluice-test' }), {
      pool: db.pool,
      secrets,
      log: silentLogger,
    });
    app = fastify();
    await app.register(oidcRoutes, { identity });
    await app.listen({ host: '127.0.0.1', port });
  });
  after(async () => {
    await app.close();
    await db.drop();
  });

  it('serves a discovery document that points at its JWKS, with Cache-Control', async () => {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=300');
    const doc = (await res.json()) as Record<string, unknown>;
    assert.equal(doc.issuer, issuer);
    assert.equal(doc.jwks_uri, `${issuer}/.well-known/jwks.json`);
    assert.deepEqual(doc.id_token_signing_alg_values_supported, ['RS256']);
    assert.ok(Array.isArray(doc.response_types_supported));
    assert.deepEqual(doc.subject_types_supported, ['public']);
    assert.ok((doc.claims_supported as string[]).includes('aud'));
    const jwks = await fetch(doc.jwks_uri as string);
    assert.equal(jwks.headers.get('cache-control'), 'public, max-age=300');
  });

  it('mints a token that verifies against the served JWKS, with the documented claims', async () => {
    const audience = newAudience();
    const token = await identity.token(audience);
    const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), {
      issuer,
      audience,
      algorithms: ['RS256'],
    });
    assert.equal(payload.sub, 'sluice-test');
    assert.equal(payload.aud, audience);
    for (const claim of ['iat', 'nbf', 'exp'] as const) assert.ok(Number.isInteger(payload[claim]), `${claim} is an integer`);
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 600);
    assert.equal(payload.nbf, payload.iat);
    assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
    assert.equal(protectedHeader.alg, 'RS256');
    assert.ok(protectedHeader.kid);
    const other = await identity.token(audience);
    assert.notEqual((await jwtVerify(other, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)))).payload.jti, payload.jti);
  });

  it('publishes an x5c certificate for each key that matches the key and verifies its tokens (as Ceph RGW does)', async () => {
    const { keys } = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    assert.equal(keys.length, 1);
    const jwk = keys[0]!;
    assert.equal(jwk.kty, 'RSA');
    assert.equal(jwk.alg, 'RS256');
    assert.equal(jwk.use, 'sig');
    assert.equal(jwk.d, undefined, 'no private part is served');
    const cert = new crypto.X509Certificate(Buffer.from(jwk.x5c![0]!, 'base64'));
    const certJwk = cert.publicKey.export({ format: 'jwk' });
    assert.equal(certJwk.n, jwk.n);
    assert.equal(certJwk.e, jwk.e);
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    assert.equal(cert.subject, `CN=127.0.0.1:${new URL(issuer).port}`);
    const token = await identity.token('sluice-x5c-check');
    await jwtVerify(token, cert.publicKey, { audience: 'sluice-x5c-check' });
    assert.deepEqual(await importJWK(jwk, 'RS256').then(() => true), true);
  });

  it('describes what a recipient must trust', async () => {
    const port = new URL(issuer).port;
    const d = await identity.describe();
    assert.equal(d.kind, 'oidc');
    assert.equal(d.issuer, issuer);
    assert.equal(d.subject, 'sluice-test');
    assert.equal(d.conditionKeyPrefix, `127.0.0.1:${port}`);
    assert.equal(d.audienceConditionKey, 'aud');
    assert.equal(d.requiresOidcProvider, true);
    assert.equal(d.federatedPrincipal('123456789012'), `arn:aws:iam::123456789012:oidc-provider/127.0.0.1:${port}`);
    assert.equal(d.federatedPrincipal(''), `arn:aws:iam:::oidc-provider/127.0.0.1:${port}`);
  });

  it('keeps private keys encrypted in the control store', async () => {
    const { rows } = await db.pool.query<{ kid: string; private_key: Buffer; row: string }>(
      'SELECT kid, private_key, t::text AS row FROM identity_keys t',
    );
    assert.ok(rows.length >= 1);
    for (const r of rows) {
      const pem = secrets.decryptString(r.private_key, `identity_key:${r.kid}`);
      assert.match(pem, /BEGIN PRIVATE KEY/);
      const d = Buffer.from(String(crypto.createPrivateKey(pem).export({ format: 'jwk' }).d), 'base64url');
      const middle = d.subarray(16, 48);
      assert.ok(!r.private_key.includes(middle), 'no bytes of the private exponent in the stored ciphertext');
      assert.ok(!r.row.includes('PRIVATE KEY'));
      for (const encoding of ['hex', 'base64', 'base64url'] as const) {
        assert.ok(!r.row.includes(middle.toString(encoding).slice(4, 36)), `no private exponent in ${encoding}`);
      }
      assert.throws(() => secrets.decrypt(r.private_key, 'identity_key:another'), (e: unknown) => e instanceof SluiceError);
    }
  });

  it('refuses an audience IAM could not register', async () => {
    await assert.rejects(identity.token(''), (e: unknown) => e instanceof SluiceError && e.code === 'invalid_audience');
    await assert.rejects(identity.token('has space'), (e: unknown) => e instanceof SluiceError && e.code === 'invalid_audience');
  });
});

describe('oidc identity: key rotation', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase();
  });
  after(async () => db.drop());

  it('publishes the new key before signing with it, keeps the old one until its tokens expire, then drops it', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const identity = await createOidcIdentity(
      oidcConfig({
        SLUICE_PUBLIC_URL: 'https://sluice.example.com',
        SLUICE_OIDC_PUBLISH_LEAD_SECONDS: '300',
        SLUICE_OIDC_JWKS_MAX_AGE_SECONDS: '300',
        SLUICE_OIDC_TOKEN_TTL_SECONDS: '600',
      }),
      { pool: db.pool, secrets, log: silentLogger, now: () => now, reloadSeconds: 0 },
    );
    const kids = async () => (await identity.jwks()).keys.map((k) => k.kid);
    const signer = async () => decodeProtectedHeader(await identity.token('sluice-rotation')).kid;
    const verifies = async (token: string) => {
      const jwks = createLocalJWKSet(await identity.jwks());
      return jwtVerify(token, jwks, { currentDate: new Date(now) }).then(
        () => true,
        () => false,
      );
    };

    const [a] = await kids();
    assert.ok(a);
    assert.equal(await signer(), a);

    const rotated = await identity.rotate();
    const b = rotated.kid;
    assert.equal(rotated.state, 'published');
    assert.equal(rotated.activatesAt.getTime(), now + 300_000);
    assert.deepEqual(await kids(), [a, b], 'published at once, after the signing key');
    assert.equal(await signer(), a, 'not signing yet');
    await assert.rejects(identity.rotate(), (e: unknown) => e instanceof SluiceError && e.code === 'rotation_pending');

    now += 299_000;
    assert.equal(await signer(), a, 'still not signing one second before the lead time is over');
    const lastOfA = await identity.token('sluice-rotation');

    now += 1_000;
    assert.equal(await signer(), b, 'signs once the lead time is over');
    assert.deepEqual(await kids(), [b, a], 'the signing key comes first; the old one is still published');
    const keys = await identity.keys.list();
    const old = keys.find((k) => k.kid === a)!;
    assert.equal(old.state, 'previous');
    // Retained for the token lifetime + reload slack (0 here) + 60 s of clock skew.
    assert.equal(old.retireAt!.getTime(), now + 660_000);

    now += 598_000;
    assert.ok(await verifies(lastOfA), "the old key's last token still verifies until it expires");
    now += 62_000 - 1;
    assert.deepEqual(await kids(), [b, a]);

    now += 1;
    assert.deepEqual(await kids(), [b], 'dropped once every token it signed has expired');
    const { rows } = await db.pool.query('SELECT state, private_key, retired_at FROM identity_keys WHERE kid = $1', [a]);
    assert.equal(rows[0].state, 'retired');
    assert.equal(rows[0].private_key, null, 'the retired private key is erased');
    assert.equal(new Date(rows[0].retired_at).getTime(), now);
  });

  it('is the default SLUICE_IDENTITY, local-only without SLUICE_PUBLIC_URL, and says AWS cannot reach it', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', format: 'json', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
    const identity = await createIdentitySource(loadConfig({ SLUICE_PORT: '7171' }), { pool: db.pool, secrets, log });
    assert.equal(identity.kind, 'oidc');
    assert.equal((await identity.describe()).issuer, 'http://127.0.0.1:7171');
    assert.ok(lines.some((l) => /AWS cannot reach it/.test(l)));
  });

  it('refuses a publish lead time shorter than the JWKS cache max-age', async () => {
    await assert.rejects(
      createOidcIdentity(oidcConfig({ SLUICE_OIDC_PUBLISH_LEAD_SECONDS: '60', SLUICE_OIDC_JWKS_MAX_AGE_SECONDS: '300' }), {
        pool: db.pool,
        secrets,
        log: silentLogger,
      }),
      (e: unknown) => e instanceof SluiceError && e.code === 'invalid_identity_config',
    );
  });
});

describe('oidc identity: concurrent initialisation', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase();
  });
  after(async () => db.drop());

  it('creates one active key when two processes start at once', async () => {
    const pools = [createPool(db.url, { max: 2 }), createPool(db.url, { max: 2 })];
    try {
      const config = oidcConfig({ SLUICE_PUBLIC_URL: 'https://sluice.example.com' });
      const [x, y] = await Promise.all(pools.map((pool) => createOidcIdentity(config, { pool, secrets, log: silentLogger })));
      const { rows } = await db.pool.query<{ state: string }>('SELECT state FROM identity_keys');
      assert.deepEqual(rows.map((r) => r.state), ['active']);
      assert.deepEqual(decodeProtectedHeader(await x!.token('sluice-a')).kid, decodeProtectedHeader(await y!.token('sluice-a')).kid);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('publishes one new key when two processes rotate at once', async () => {
    const pools = [createPool(db.url, { max: 2 }), createPool(db.url, { max: 2 })];
    try {
      const config = oidcConfig({ SLUICE_PUBLIC_URL: 'https://sluice.example.com' });
      const identities = await Promise.all(pools.map((pool) => createOidcIdentity(config, { pool, secrets, log: silentLogger })));
      const results = await Promise.allSettled(identities.map((i) => i.rotate()));
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const refused = results.find((r) => r.status === 'rejected');
      assert.ok(refused?.status === 'rejected' && refused.reason instanceof SluiceError && refused.reason.code === 'rotation_pending');
      const { rows } = await db.pool.query<{ state: string }>('SELECT state FROM identity_keys ORDER BY state');
      assert.deepEqual(rows.map((r) => r.state), ['active', 'published']);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('signs at once with a published key when the signing key has gone', async () => {
    await db.pool.query(`DELETE FROM identity_keys WHERE state = 'active'`);
    const identity = await createOidcIdentity(oidcConfig({ SLUICE_PUBLIC_URL: 'https://sluice.example.com' }), {
      pool: db.pool,
      secrets,
      log: silentLogger,
    });
    const { rows } = await db.pool.query<{ kid: string; state: string }>('SELECT kid, state FROM identity_keys');
    assert.deepEqual(rows.map((r) => r.state), ['active']);
    assert.equal(decodeProtectedHeader(await identity.token('sluice-a')).kid, rows[0]!.kid);
  });

  it('allows at most one active key even when written directly', async () => {
    const { rows } = await db.pool.query('SELECT public_jwk, private_key FROM identity_keys WHERE state = $1', ['active']);
    await assert.rejects(
      db.pool.query(
        `INSERT INTO identity_keys (kid, state, public_jwk, private_key, published_at, activates_at, activated_at)
         VALUES ('second', 'active', $1, $2, now(), now(), now())`,
        [rows[0].public_jwk, rows[0].private_key],
      ),
      /identity_keys_one_active/,
    );
  });
});

describe('oidc routes', () => {
  it('serve nothing when the identity is not Sluice\'s own issuer', async () => {
    const app = fastify();
    await app.register(oidcRoutes, {
      identity: { kind: 'token-file', describe: () => Promise.reject(new Error('unused')), token: () => Promise.reject(new Error('unused')) },
    });
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    assert.equal(res.statusCode, 404);
    await app.close();
  });
});
