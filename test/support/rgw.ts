/**
 * Ceph RGW for the AWS-compatibility suite (test/aws), and the customer-side provisioning done with
 * the real AWS SDK v3: buckets, the IAM OIDC provider for Sluice's issuer, roles with a trust policy
 * and exactly the seed's permissions policy.
 *
 * `npm run test:aws` starts one cluster for the whole suite and hands it to the test files through
 * SLUICE_TEST_RGW_* variables; a file run on its own starts (and stops) its own cluster.
 * Each file makes its own bucket, provider (its issuer has its own port) and roles, so files can share
 * the cluster and run in parallel.
 *
 * RGW quirks this file absorbs (shared/reference/ceph-rgw.md): ARNs have an empty account
 * (`arn:aws:iam:::role/NAME`); objects written by a role session belong to a shadow user, so each bucket
 * gets a policy letting the admin user read, list and delete for assertions; STS errors come back as
 * S3-shaped XML (the SDK names them "Unknown": assert on the HTTP status).
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  CreateOpenIDConnectProviderCommand,
  CreateRoleCommand,
  DeleteOpenIDConnectProviderCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  IAMClient,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutBucketPolicyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { adminS3Client, installRgw, startRgw, type RgwCluster } from '../../scripts/rgw/cluster.js';
import { listKeys } from './s3-admin.js';

export const RGW_ENV = {
  endpoint: 'SLUICE_TEST_RGW_ENDPOINT',
  plainEndpoint: 'SLUICE_TEST_RGW_PLAIN_ENDPOINT',
  accessKeyId: 'SLUICE_TEST_RGW_ACCESS_KEY_ID',
  secretAccessKey: 'SLUICE_TEST_RGW_SECRET_ACCESS_KEY',
  adminUser: 'SLUICE_TEST_RGW_ADMIN_USER',
} as const;

/** IAM policy document (trust or permissions). */
export interface PolicyDocument {
  Version: string;
  Statement: readonly object[];
}

export interface TestRgw {
  /** S3 + STS + IAM. */
  endpoint: string;
  /** The same buckets through a gateway without STS, which reports bad keys as S3 does (see cluster.ts). */
  plainEndpoint: string;
  region: string;
  /** Admin (bucket owner) keys: provisioning and assertions only, never given to Sluice's writer. */
  adminCredentials: { accessKeyId: string; secretAccessKey: string };
  admin: S3Client;
  iam: IAMClient;
  /** Creates a bucket (unique name from `hint`) that the admin user can read back. */
  createBucket(hint?: string): Promise<string>;
  /** Registers `issuer` as an IAM OIDC provider whose client ids are `audiences`; returns its ARN. */
  createOidcProvider(issuer: string, audiences: string[], thumbprint?: string): Promise<string>;
  /** A role trusting `trustPolicy`, with `permissions` as its only (inline) policy; returns its ARN. */
  createRole(trustPolicy: PolicyDocument, permissions: PolicyDocument, hint?: string, exactName?: string): Promise<string>;
  get(bucket: string, key: string): Promise<Buffer>;
  list(bucket: string, prefix?: string): Promise<string[]>;
  /** Deletes the roles and providers this handle created; stops the cluster if this handle started it. */
  close(): Promise<void>;
}

/** The seed's permissions policy (shared/reference/customer-s3-setup.md), exactly. */
export function seedPermissionsPolicy(bucket: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: `arn:aws:s3:::${bucket}/*` }],
  };
}

/** SHA-1 of a DER certificate as IAM wants it (40 hex). RGW 16 does not check it, AWS does. */
export function thumbprintOf(certDerBase64: string): string {
  return createHash('sha1').update(Buffer.from(certDerBase64, 'base64')).digest('hex');
}

const unique = (hint: string) => `${hint}-${randomBytes(4).toString('hex')}`;

export async function useRgw(): Promise<TestRgw> {
  let cluster: RgwCluster | undefined;
  let conn: { endpoint: string; plainEndpoint: string; accessKeyId: string; secretAccessKey: string; adminUser: string };
  const fromEnv = process.env[RGW_ENV.endpoint];
  if (fromEnv) {
    conn = {
      endpoint: fromEnv,
      plainEndpoint: required(RGW_ENV.plainEndpoint),
      accessKeyId: required(RGW_ENV.accessKeyId),
      secretAccessKey: required(RGW_ENV.secretAccessKey),
      adminUser: process.env[RGW_ENV.adminUser] ?? 'admin',
    };
  } else {
    await installRgw((line) => console.error(`rgw: ${line}`));
    cluster = await startRgw();
    conn = cluster;
  }
  const region = 'us-east-1';
  const adminCredentials = { accessKeyId: conn.accessKeyId, secretAccessKey: conn.secretAccessKey };
  const admin = adminS3Client({ ...conn, region });
  const iam = new IAMClient({ endpoint: conn.endpoint, region, credentials: adminCredentials });
  const roles: string[] = [];
  const providers: string[] = [];

  return {
    endpoint: conn.endpoint,
    plainEndpoint: conn.plainEndpoint,
    region,
    adminCredentials,
    admin,
    iam,
    async createBucket(hint = 'sluice-aws') {
      const bucket = unique(hint);
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      const adminArn = `arn:aws:iam:::user/${conn.adminUser}`;
      const policy: PolicyDocument = {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'TestAssertions',
            Effect: 'Allow',
            Principal: { AWS: [adminArn] },
            Action: ['s3:GetObject', 's3:ListBucket', 's3:DeleteObject'],
            Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
          },
        ],
      };
      await admin.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
      return bucket;
    },
    async createOidcProvider(issuer, audiences, thumbprint = randomBytes(20).toString('hex')) {
      const r = await iam.send(new CreateOpenIDConnectProviderCommand({ Url: issuer, ClientIDList: audiences, ThumbprintList: [thumbprint] }));
      const arn = r.OpenIDConnectProviderArn ?? `arn:aws:iam:::oidc-provider/${issuer.replace(/^https?:\/\//, '')}`;
      providers.push(arn);
      return arn;
    },
    async createRole(trustPolicy, permissions, hint = 'sluice-writer', exactName?: string) {
      const RoleName = exactName ?? unique(hint);
      const r = await iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: JSON.stringify(trustPolicy) }));
      roles.push(RoleName);
      await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'sluice-seed', PolicyDocument: JSON.stringify(permissions) }));
      return r.Role?.Arn ?? `arn:aws:iam:::role/${RoleName}`;
    },
    async get(bucket, key) {
      const r = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    },
    list: (bucket, prefix) => listKeys(admin, bucket, prefix),
    async close() {
      try {
        // Only when sharing the suite's cluster is cleanup worth a request; a private cluster just goes.
        if (!cluster) {
          for (const RoleName of roles) {
            await iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName: 'sluice-seed' })).catch(() => {});
            await iam.send(new DeleteRoleCommand({ RoleName })).catch(() => {});
          }
          for (const arn of providers) await iam.send(new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn })).catch(() => {});
        }
      } finally {
        admin.destroy();
        iam.destroy();
        await cluster?.stop();
      }
    },
  };
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set together with ${RGW_ENV.endpoint}`);
  return v;
}
