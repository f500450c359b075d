import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SluiceError } from '../../src/core/errors.js';
import { isLoopbackHost, resolveIssuerUrl } from '../../src/identity/oidc/issuer-url.js';
import { googleTrustedIdentity, issuerHostPath, trustedIdentityFor } from '../../src/identity/trusted.js';
import { silentLogger } from '../../src/core/log.js';

const resolve = (publicUrl: string | undefined, allowHttp = false) => resolveIssuerUrl({ publicUrl, port: 7070, allowHttp, log: silentLogger });
const refused = (e: unknown) => e instanceof SluiceError && e.code === 'invalid_issuer_url';

describe('oidc issuer URL', () => {
  it('accepts https, keeps a path and drops a trailing slash', () => {
    assert.equal(resolve('https://sluice.example.com/'), 'https://sluice.example.com');
    assert.equal(resolve('https://example.com/sluice/'), 'https://example.com/sluice');
  });

  it('refuses http for a public host unless explicitly allowed', () => {
    assert.throws(() => resolve('http://sluice.example.com'), refused);
    assert.equal(resolve('http://sluice.internal:8080', true), 'http://sluice.internal:8080');
  });

  it('accepts http on loopback (tests, Ceph RGW on the same machine)', () => {
    assert.equal(resolve('http://127.0.0.1:9999'), 'http://127.0.0.1:9999');
    assert.equal(resolve('http://localhost:9999'), 'http://localhost:9999');
    assert.equal(resolve('http://[::1]:9999'), 'http://[::1]:9999');
  });

  it('refuses queries, fragments, credentials and other schemes', () => {
    for (const url of ['https://x.example.com/?a=1', 'https://x.example.com/#f', 'https://u:p@x.example.com', 'ftp://x.example.com']) {
      assert.throws(() => resolve(url), refused, url);
    }
  });

  it('defaults to the local port when SLUICE_PUBLIC_URL is unset', () => {
    assert.equal(resolve(undefined), 'http://127.0.0.1:7070');
  });

  it('knows loopback hosts', () => {
    assert.ok(isLoopbackHost('127.0.0.2'));
    assert.ok(!isLoopbackHost('10.0.0.1'));
    assert.ok(!isLoopbackHost('example.com'));
  });
});

describe('trusted identities', () => {
  it('strips the scheme for IAM condition keys', () => {
    assert.equal(issuerHostPath('https://sluice.example.com/x/'), 'sluice.example.com/x');
  });

  it('uses Google\'s federation for Google-issued tokens', () => {
    const g = googleTrustedIdentity('1234');
    assert.equal(g.federatedPrincipal('123456789012'), 'accounts.google.com');
    assert.equal(g.audienceConditionKey, 'oaud');
    assert.equal(g.requiresOidcProvider, false);
    const fromFile = trustedIdentityFor('token-file', 'https://accounts.google.com', '1234');
    assert.equal(fromFile.kind, 'token-file');
    assert.equal(fromFile.conditionKeyPrefix, 'accounts.google.com');
  });

  it('names the OIDC provider ARN in the partition asked for', () => {
    const t = trustedIdentityFor('token-file', 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC', 'system:serviceaccount:ns:sluice');
    assert.equal(t.federatedPrincipal('111122223333', 'aws-cn'), 'arn:aws-cn:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC');
    assert.equal(t.audienceConditionKey, 'aud');
  });
});
