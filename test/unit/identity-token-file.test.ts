import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { loadConfig } from '../../src/config.js';
import type { Pool } from '../../src/control/db.js';
import { SecretBox } from '../../src/control/secrets.js';
import { SluiceError } from '../../src/core/errors.js';
import { createIdentitySource } from '../../src/identity/index.js';
import { TokenFileIdentity } from '../../src/identity/token-file.js';
import { silentLogger } from '../../src/core/log.js';

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ISSUER = 'https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';
const SUBJECT = 'system:serviceaccount:exports:sluice';
const isCode = (code: string) => (e: unknown) => e instanceof SluiceError && e.code === code;

function kubeToken(aud: string | string[], opts: { exp?: number; iss?: string } = {}): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ 'kubernetes.io': { namespace: 'exports' } })
    .setProtectedHeader({ alg: 'RS256', kid: 'k8s' })
    .setIssuer(opts.iss ?? ISSUER)
    .setSubject(SUBJECT)
    .setAudience(aud)
    .setIssuedAt(iat)
    .setExpirationTime(opts.exp ?? iat + 3600)
    .sign(privateKey);
}

describe('token-file identity', () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-token-file-'));
    file = path.join(dir, 'token');
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('rereads the file on every call, as the kubelet rotates it', async () => {
    const identity = new TokenFileIdentity({ file });
    const first = await kubeToken('sluice-aaa');
    await fs.writeFile(file, first + '\n');
    assert.equal(await identity.token('sluice-aaa'), first);
    const second = await kubeToken('sluice-aaa', { exp: Math.floor(Date.now() / 1000) + 7200 });
    await fs.writeFile(file, second);
    assert.equal(await identity.token('sluice-aaa'), second);
  });

  it('refuses an audience other than the one the file carries', async () => {
    await fs.writeFile(file, await kubeToken('sluice-aaa'));
    const identity = new TokenFileIdentity({ file });
    await assert.rejects(
      identity.token('sluice-bbb'),
      (e: unknown) => isCode('identity_audience_fixed')(e) && /sluice-aaa/.test((e as Error).message) && /sluice-bbb/.test(String((e as SluiceError).hint)),
    );
    assert.deepEqual(await identity.audiences(), ['sluice-aaa']);
    assert.equal(identity.singleAudience, true, 'tells a connection test that no other audience can be probed');
    await fs.writeFile(file, await kubeToken(['sts.amazonaws.com', 'sluice-bbb']));
    assert.ok(await identity.token('sluice-bbb'), 'one of several audiences is fine');
  });

  it('refuses an expired token with a hint that the file is not refreshed', async () => {
    await fs.writeFile(file, await kubeToken('sluice-aaa', { exp: Math.floor(Date.now() / 1000) - 10 }));
    await assert.rejects(new TokenFileIdentity({ file }).token('sluice-aaa'), isCode('identity_token_expired'));
  });

  it('says what is wrong with a missing or garbled file', async () => {
    await assert.rejects(new TokenFileIdentity({ file: path.join(dir, 'none') }).token('sluice-aaa'), isCode('identity_unavailable'));
    await fs.writeFile(path.join(dir, 'garbled'), 'not a jwt');
    await assert.rejects(new TokenFileIdentity({ file: path.join(dir, 'garbled') }).token('sluice-aaa'), isCode('identity_unavailable'));
  });

  it('describes the identity from the token, or from the settings', async () => {
    await fs.writeFile(file, await kubeToken('sluice-aaa'));
    const fromToken = await new TokenFileIdentity({ file }).describe();
    assert.equal(fromToken.kind, 'token-file');
    assert.equal(fromToken.issuer, ISSUER);
    assert.equal(fromToken.subject, SUBJECT);
    assert.equal(fromToken.conditionKeyPrefix, ISSUER.replace('https://', ''));
    assert.equal(fromToken.audienceConditionKey, 'aud');
    assert.equal(fromToken.requiresOidcProvider, true);
    const configured = await new TokenFileIdentity({ file: path.join(dir, 'none'), issuer: 'https://issuer.example.com/', subject: 'me' }).describe();
    assert.equal(configured.issuer, 'https://issuer.example.com');
    assert.equal(configured.subject, 'me');
    await fs.writeFile(file, await kubeToken('sluice-aaa', { iss: 'https://accounts.google.com' }));
    assert.equal((await new TokenFileIdentity({ file }).describe()).audienceConditionKey, 'oaud', 'Google-issued: Google federation');
  });

  it('is chosen by SLUICE_IDENTITY=token-file, which needs SLUICE_TOKEN_FILE', async () => {
    const deps = { pool: {} as Pool, secrets: new SecretBox(crypto.randomBytes(32)), log: silentLogger };
    await assert.rejects(createIdentitySource(loadConfig({ SLUICE_IDENTITY: 'token-file' }), deps), isCode('invalid_identity_config'));
    const identity = await createIdentitySource(
      loadConfig({ SLUICE_IDENTITY: 'token-file', SLUICE_TOKEN_FILE: file, SLUICE_TOKEN_FILE_SUBJECT: 'configured' }),
      deps,
    );
    assert.equal(identity.kind, 'token-file');
    assert.equal((await identity.describe()).subject, 'configured');
  });
});
