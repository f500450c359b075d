import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { DestinationCreateInput } from '../../src/control/destination-input.js';
import { checkDestinationRules } from '../../src/control/destination-rules.js';
import { parseInput, problemsFromZod } from '../../src/control/validation.js';
import { SluiceError } from '../../src/core/errors.js';

describe('field problems from schemas', () => {
  it('phrase zod issues the same way for every field, one per field', () => {
    const schema = z.strictObject({ a: z.string(), b: z.number(), c: z.enum(['x', 'y']), d: z.boolean().optional() });
    const r = schema.safeParse({ b: 'no', c: 'z', d: 1, id: 'x', typo: 1 });
    assert.ok(!r.success);
    assert.deepEqual(problemsFromZod(r.error.issues), [
      { field: 'a', message: 'is required' },
      { field: 'b', message: 'must be a number' },
      { field: 'c', message: 'must be one of x, y' },
      { field: 'd', message: 'must be true or false' },
      { field: 'id', message: 'is assigned by Sluice and cannot be given' },
      { field: 'typo', message: 'is not a known field; check the spelling' },
    ]);
  });

  it('throw invalid_input with the problems as details', () => {
    assert.throws(
      () => parseInput(DestinationCreateInput, { recipientId: 'rcp_1', bucket: 'b', region: 'r', auth: { roleArn: 1 } }, 'destination'),
      (err: unknown) =>
        err instanceof SluiceError &&
        err.code === 'invalid_input' &&
        err.status === 400 &&
        JSON.stringify(err.details) === JSON.stringify([{ field: 'auth.roleArn', message: 'must be a string' }]),
    );
  });

  it('never echo the value of a bad field', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY with space';
    const r = DestinationCreateInput.safeParse({ recipientId: 'r', bucket: secret, region: 1, auth: { secretAccessKey: 5, extra: secret } });
    assert.ok(!r.success);
    assert.ok(!JSON.stringify(problemsFromZod(r.error.issues)).includes('wJalr'));
  });
});

describe('destination rules', () => {
  const base = {
    name: 'n',
    bucket: 'acme-data',
    region: 'us-east-1',
    prefix: '',
    endpoint: null,
    forcePathStyle: false,
    kmsKeyArn: null,
    conditionalWrites: true,
    requestChecksums: true,
    format: 'parquet' as const,
    compression: null,
    models: null,
    frequencyMinutes: null,
  };
  const policy = { allowHttp: false, allowlist: [] };

  it('accept an account-less role ARN only with a custom endpoint', async () => {
    const arn = 'arn:aws:iam:::role/rgw-role';
    const aws = await checkDestinationRules({ ...base, auth: { roleArn: arn } }, policy);
    assert.deepEqual(aws.problems, [{ field: 'auth.roleArn', message: 'must contain the 12-digit AWS account id after "iam::"' }]);
    const rgw = await checkDestinationRules(
      { ...base, region: 'default', endpoint: 'https://rgw.example.net', auth: { roleArn: arn } },
      policy,
      async () => [{ address: '52.216.1.1', family: 4 }],
    );
    assert.deepEqual(rgw.problems, []);
    assert.deepEqual(rgw.auth, { kind: 'role', roleArn: arn });
  });

  it('judge the endpoint by where its host resolves', async () => {
    const r = await checkDestinationRules(
      { ...base, endpoint: 'https://sneaky.example.net', auth: { roleArn: 'arn:aws:iam::123456789012:role/r' } },
      policy,
      async () => [{ address: '10.1.2.3', family: 4 }],
    );
    assert.equal(r.problems[0]?.field, 'endpoint');
    assert.match(r.problems[0]?.message ?? '', /resolves to a private address 10\.1\.2\.3/);
  });

  it('refuse a model named twice and a compression the format lacks', async () => {
    const r = await checkDestinationRules(
      { ...base, format: 'jsonl', compression: 'snappy', models: ['a', 'a'], auth: { roleArn: 'arn:aws:iam::123456789012:role/r' } },
      policy,
    );
    assert.deepEqual(r.problems, [
      { field: 'compression', message: 'must be one of gzip, zstd, none for format jsonl' },
      { field: 'models', message: 'must not name a model twice' },
    ]);
  });
});
