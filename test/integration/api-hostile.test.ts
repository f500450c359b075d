/**
 * Hostile input gets a 4xx in the documented error shape, never a 500: NUL and other control
 * characters, malformed and oversized URLs and headers (through a real socket, where Node's HTTP
 * parser answers), bad JSON and content types; an API key in the query string is refused and never
 * logged.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../support/api.js';

let api: TestApi;
let base: string;

before(async () => {
  api = await startTestApi();
  base = await api.app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await api.close();
});

function assertShape(body: unknown, code: string): void {
  const err = (body as { error?: Record<string, unknown> }).error;
  assert.ok(err, `documented shape: ${JSON.stringify(body)}`);
  assert.equal(err.code, code, JSON.stringify(body));
  assert.equal(typeof err.message, 'string');
  assert.equal(err.actor, 'provider');
}

/** A raw HTTP/1.1 exchange, for what inject() never reaches: the HTTP parser. */
function raw(request: string): Promise<{ status: number; body: string }> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let data = '';
    socket.on('data', (d) => (data += d.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    socket.end(request);
  });
}

describe('control characters', () => {
  it('NUL or a control character in a name, a tenant id, a recipientId, a path id or a query value is a 400 naming the field', async () => {
    const cases: Array<{ method: 'GET' | 'POST'; url: string; payload?: Record<string, unknown>; field: string }> = [
      { method: 'POST', url: '/v1/recipients', payload: { name: 'a\u0000b', tenantId: 't1' }, field: 'name' },
      { method: 'POST', url: '/v1/recipients', payload: { name: 'a\nb', tenantId: 't1' }, field: 'name' },
      { method: 'POST', url: '/v1/recipients', payload: { name: 'ok', tenantId: 't\u00001' }, field: 'tenantId' },
      { method: 'POST', url: '/v1/destinations', payload: { recipientId: 'rcp_\u0000', bucket: 'b-ok', region: 'us-east-1', auth: {} }, field: 'recipientId' },
      { method: 'POST', url: '/v1/destinations', payload: { recipientId: 'rcp_\u0007', bucket: 'b-ok', region: 'us-east-1', auth: { roleArn: 'arn:aws:iam::123456789012:role/r' } }, field: 'recipientId' },
      { method: 'GET', url: '/v1/recipients/rcp_%00', field: 'id' },
      { method: 'GET', url: '/v1/destinations/dst_%0Aevil', field: 'id' },
      { method: 'GET', url: '/v1/transfers/%00', field: 'id' },
      { method: 'GET', url: '/v1/destinations?recipientId=%00', field: 'recipientId' },
      { method: 'GET', url: '/v1/transfers?recipient=a%01b', field: 'recipient' },
      { method: 'POST', url: '/v1/destinations/test', payload: { bucket: 'b-ok', region: 'us-east-1', prefix: 'a\u0000', auth: {} }, field: 'prefix' },
      { method: 'POST', url: '/v1/recipients', payload: { 'na\u0000me': 'x', tenantId: 't1' }, field: 'na?me' },
    ];
    for (const c of cases) {
      const res = await api.app.inject({ method: c.method, url: c.url, headers: api.auth, ...(c.payload ? { payload: c.payload } : {}) });
      assert.equal(res.statusCode, 400, `${c.url} ${res.body}`);
      assertShape(res.json(), 'invalid_input');
      const fields = (res.json().error.details as Array<{ field: string }>).map((d) => d.field);
      assert.ok(fields.includes(c.field), `${c.url}: ${res.body}`);
    }
  });
});

describe('field names that are Object.prototype members', () => {
  it('valueOf, constructor and toString are unknown fields, not prototype lookups (found by the fuzz test: was a 500)', async () => {
    for (const url of ['/v1/destinations/test', '/v1/recipients', '/v1/policies']) {
      const res = await api.app.inject({ method: 'POST', url, headers: { ...api.auth, 'content-type': 'application/json' }, payload: '{"valueOf":[],"constructor":1,"toString":"x"}' });
      assert.equal(res.statusCode, 400, `${url} ${res.body}`);
      assertShape(res.json(), 'invalid_input');
      const details = res.json().error.details as Array<{ field: string; message: string }>;
      for (const f of ['valueOf', 'constructor', 'toString']) {
        assert.deepEqual(details.find((d) => d.field === f), { field: f, message: 'is not a known field; check the spelling' }, res.body);
      }
    }
  });
});

describe('times out of range', () => {
  it('a transfer list filter before the year 1 (which JavaScript parses and PostgreSQL cannot hold) or after 9999 is a 400 naming the field', async () => {
    for (const [field, value] of [['since', '-271821-04-20T00:00:00Z'], ['until', '-005000-01-01T00:00:00Z'], ['since', '+275760-09-13T00:00:00Z']] as const) {
      const r = await api.app.inject({ method: 'GET', url: `/v1/transfers?${field}=${encodeURIComponent(value)}`, headers: api.auth });
      assert.equal(r.statusCode, 400, `${field}=${value}: ${r.body}`);
      assertShape(r.json(), 'invalid_input');
      assert.equal(r.json().error.details[0].field, field);
    }
    const ok = await api.app.inject({ method: 'GET', url: '/v1/transfers?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z', headers: api.auth });
    assert.equal(ok.statusCode, 200, ok.body);
  });
});

describe("Fastify's own errors", () => {
  it('a bad percent-encoding, an over-long path id, bad JSON, a wrong content type and a large body answer in the documented shape', async () => {
    const badUrl = await api.app.inject({ method: 'GET', url: '/v1/recipients/%E0%A4%A', headers: api.auth });
    assert.equal(badUrl.statusCode, 400);
    assertShape(badUrl.json(), 'invalid_input');
    assert.ok(!badUrl.body.includes('%E0'), 'the URL is not echoed');
    const long = await api.app.inject({ method: 'GET', url: `/v1/destinations/${'d'.repeat(500)}`, headers: api.auth });
    assert.equal(long.statusCode, 414);
    assertShape(long.json(), 'uri_too_long');
    const json = await api.app.inject({ method: 'POST', url: '/v1/recipients', headers: { ...api.auth, 'content-type': 'application/json' }, payload: '{"name":' });
    assert.equal(json.statusCode, 400);
    assertShape(json.json(), 'invalid_input');
    const type = await api.app.inject({ method: 'POST', url: '/v1/recipients', headers: { ...api.auth, 'content-type': 'application/xml' }, payload: '<a/>' });
    assert.equal(type.statusCode, 415);
    assertShape(type.json(), 'unsupported_media_type');
    const big = await api.app.inject({ method: 'POST', url: '/v1/recipients', headers: { ...api.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x'.repeat(300_000), tenantId: 't' }) });
    assert.equal(big.statusCode, 413);
    assertShape(big.json(), 'payload_too_large');
  });

  it('oversized headers (431) and a URL longer than the parser takes answer in the documented shape over a real socket', async () => {
    const headers = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(20_000)}\r\n\r\n`);
    assert.equal(headers.status, 431);
    assertShape(JSON.parse(headers.body), 'headers_too_large');
    const url = await raw(`GET /v1/recipients?filter=${'u'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(url.status, 431);
    assertShape(JSON.parse(url.body), 'headers_too_large');
    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    assert.equal(garbage.status, 400);
    assertShape(JSON.parse(garbage.body), 'bad_request');
  });
});

describe('API keys in the query string', () => {
  it('are refused with 401 and a hint to use the header, on any path, and never reach the log', async () => {
    for (const url of [`/v1/recipients?key=${api.key}`, `/v1/recipients?api_key=${api.key}`, '/v1/destinations?apikey=whatever', '/healthz?access_token=x', `/v1/transfers?note=${api.key}`]) {
      const res = await api.app.inject({ method: 'GET', url, headers: api.auth });
      assert.equal(res.statusCode, 401, url);
      assertShape(res.json(), 'api_key_in_query');
      assert.match(res.json().error.hint, /Authorization: Bearer <key>" header/);
    }
    const plain = await api.app.inject({ method: 'GET', url: '/v1/transfers?limit=5&status=failed', headers: api.auth });
    assert.equal(plain.statusCode, 200);
    const logs = api.logs();
    assert.ok(!logs.includes(api.key), 'the key is not logged');
    assert.ok(!logs.includes('limit=5'), 'no query string is logged');
    assert.match(logs, /"path":"\/v1\/transfers"/);
  });
});
