import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIdentityReport, identityReport } from '../../src/identity/report.js';
import { googleTrustedIdentity } from '../../src/identity/trusted.js';
import type { IdentitySource } from '../../src/core/identity.js';

describe('identity report', () => {
  it('tells a Google identity\'s recipients to trust accounts.google.com with sub and oaud, and nothing to register', async () => {
    const google: IdentitySource = {
      kind: 'google',
      describe: async () => googleTrustedIdentity('104502938475610293847'),
      token: () => Promise.reject(new Error('unused')),
    };
    const report = await identityReport(google);
    assert.deepEqual(report, {
      kind: 'google',
      issuer: 'https://accounts.google.com',
      subject: '104502938475610293847',
      federatedPrincipal: 'accounts.google.com',
      conditionKeys: { subject: 'accounts.google.com:sub', audience: 'accounts.google.com:oaud' },
    });
    const text = formatIdentityReport(report);
    assert.match(text, /Principal\.Federated\s+accounts\.google\.com/);
    assert.match(text, /accounts\.google\.com:oaud = <the destination's audience>/);
    assert.doesNotMatch(text, /OIDC identity provider/);
  });

  it('lists an oidc issuer\'s provider URL, client ids and keys in text', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const text = formatIdentityReport({
      kind: 'oidc',
      issuer: 'https://sluice.example.com',
      subject: 'sluice',
      federatedPrincipal: 'arn:aws:iam::<RECIPIENT_ACCOUNT_ID>:oidc-provider/sluice.example.com',
      conditionKeys: { subject: 'sluice.example.com:sub', audience: 'sluice.example.com:aud' },
      oidcProvider: { url: 'https://sluice.example.com', clientIds: "each destination's audience and its probe audience (two client ids per destination; `sluice policy <destination>` prints both)" },
      keys: [
        { kid: 'new', state: 'published', publishedAt: at, activatesAt: at, activatedAt: null, retireAt: null },
        { kid: 'cur', state: 'active', publishedAt: at, activatesAt: at, activatedAt: at, retireAt: null },
      ],
    });
    assert.match(text, /Provider URL\s+https:\/\/sluice\.example\.com/);
    assert.match(text, /Audience \(client id\)\s+each destination's audience/);
    assert.match(text, /new\s+published\s+signs from 2026-01-01T00:00:00\.000Z/);
    assert.match(text, /cur\s+active\s+signing since/);
  });
});
