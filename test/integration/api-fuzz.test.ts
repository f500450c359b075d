/**
 * Property-based fuzzing of every route in the OpenAPI document (fast-check): path ids, query values
 * and bodies built from each route's own schema — its field names with values of any JSON type,
 * strings of any code point (NUL, controls, lone surrogates), real ids mixed in — and bodies of any
 * shape. Whatever arrives, the answer is never a 5xx, and every 4xx is in the documented error shape.
 * Bounded (RUNS per route) so it fits in `npm test`; a failure prints the seed and the smallest case.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import { startTestApi, type TestApi } from '../support/api.js';

const RUNS = Number(process.env.SLUICE_FUZZ_RUNS ?? 20);

let api: TestApi;
const realIds: string[] = [];

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  enum?: unknown[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
}
interface Operation {
  parameters?: Array<{ in: string; name: string; schema?: JsonSchema }>;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

before(async () => {
  api = await startTestApi();
  const post = (url: string, payload: Record<string, unknown>) => api.app.inject({ method: 'POST', url, headers: api.auth, payload });
  const r = (await post('/v1/recipients', { name: 'Fuzz', tenantId: 'fuzz' })).json();
  const d = (await post('/v1/destinations', { recipientId: r.id, bucket: 'fuzz-bucket', region: 'us-east-1', auth: { roleArn: 'arn:aws:iam::123456789012:role/fuzz' } })).json();
  realIds.push(r.id, d.id);
});
after(async () => {
  await api.close();
});

const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', '../..', '%00', '{}', 'null', '-1', '1e999', 'NaN', 'true', "'; DROP TABLE recipients; --", '\ud800', 'a'.repeat(300)),
);

/** A value for a field: usually of the schema's kind, often of any JSON kind at all. */
function valueFor(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  const options: Array<fc.Arbitrary<unknown>> = [anyString, fc.jsonValue({ maxDepth: 2 })];
  if (schema?.enum) options.push(fc.constantFrom(...schema.enum));
  if (schema?.properties && depth < 2) options.push(objectFor(schema, depth + 1));
  if (schema?.items && depth < 2) options.push(fc.array(valueFor(schema.items, depth + 1), { maxLength: 4 }));
  for (const alt of schema?.anyOf ?? []) if (depth < 2) options.push(valueFor(alt, depth + 1));
  options.push(fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
  return fc.oneof(...options);
}

function objectFor(schema: JsonSchema, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const props = Object.entries(schema.properties ?? {});
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, s] of props) model[name] = valueFor(s, depth);
  return fc.record(model, { requiredKeys: [] });
}

/** Every UTF-8 byte as %XX (a lone surrogate becomes U+FFFD, as any client would send it). */
function percentEncode(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
}

async function operations(): Promise<Array<{ method: string; path: string; op: Operation }>> {
  const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };
  return Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase(), path, op })));
}

it('no request built from any route schema gets a 5xx; every 4xx is in the documented shape', async () => {
  const ops = await operations();
  assert.ok(ops.length >= 20, `routes found: ${ops.length}`);
  let requests = 0;
  for (const { method, path, op } of ops) {
    const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
    const queryParams = (op.parameters ?? []).filter((p) => p.in === 'query');
    const bodySchema = op.requestBody?.content?.['application/json']?.schema;
    // Path segments as sent: real ids, any string percent-encoded byte by byte, or malformed encodings.
    const idArb = fc.oneof(
      fc.constantFrom(...realIds),
      anyString.filter((s) => s.length > 0).map(percentEncode),
      fc.constantFrom('%E0%A4%A', '%', '%zz', '..', '%2F', 'a%00b'),
    );
    const queryArb = fc.record(Object.fromEntries(queryParams.map((p) => [p.name, valueFor(p.schema)])), { requiredKeys: [] });
    const bodyArb = bodySchema ? fc.oneof(objectFor(bodySchema), fc.jsonValue({ maxDepth: 3 })) : fc.constant(undefined);
    await fc.assert(
      fc.asyncProperty(fc.array(idArb, { minLength: pathParams.length, maxLength: pathParams.length }), queryArb, bodyArb, async (ids, query, body) => {
        let url = path;
        pathParams.forEach((p, i) => (url = url.replace(`{${p.name}}`, ids[i] as string)));
        const qs = new URLSearchParams();
        for (const [k, v] of Object.entries(query)) qs.append(k, typeof v === 'string' ? v : JSON.stringify(v));
        // A connection test of a real destination would wait for a worker: ask for the queued answer.
        if (path.endsWith('/{id}/test')) qs.set('wait', 'false');
        const q = qs.toString();
        const res = await api.app.inject({
          method: method as 'GET',
          url: q ? `${url}?${q}` : url,
          headers: { ...api.auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
        });
        requests++;
        assert.ok(res.statusCode < 500, `${method} ${url}?${q} → ${res.statusCode} ${res.body.slice(0, 300)}`);
        if (res.statusCode >= 400) {
          const err = res.json().error;
          assert.equal(typeof err?.code, 'string', res.body);
          assert.equal(typeof err?.message, 'string', res.body);
          assert.ok(['recipient', 'provider', 'sluice'].includes(err?.actor), res.body);
        }
      }),
      { numRuns: RUNS },
    );
  }
  assert.ok(requests >= ops.length * RUNS);
});
