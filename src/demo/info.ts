/**
 * What a newcomer needs beside a running demo (`npm start`) to follow the README's walkthrough in a
 * second terminal: the demo bucket's endpoint and credentials, the database URLs, the tenants of the
 * demo data, and the two settings `sluice transfer` and `sluice models` read. Printed at the end of
 * the start summary and by `sluice demo info`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { SluiceError } from '../core/errors.js';
import { readEmbeddedState } from '../control/embedded.js';
import { DEMO_ACCESS_KEY_ID, DEMO_BUCKET, DEMO_KEYS, DEMO_SECRET_ACCESS_KEY, demoBucketPort } from './bucket.js';
import { DEMO_TENANTS } from './dataset.js';
import { DEMO_PREFIX, DEMO_TENANT } from './setup.js';

export const DEMO_DATABASE = 'sluice_demo';

export interface DemoInfo {
  apiUrl: string;
  apiKey: string | null;
  /** The control store's URL (Sluice's own tables), or null when DATABASE_URL is set (not shown). */
  controlUrl: string | null;
  sourceUrl: string;
  modelsFile: string;
  bucket: { endpoint: string; name: string; prefix: string; accessKeyId: string; secretAccessKey: string; region: string; directory: string };
  /** A key pair of the local bucket per demo tenant: each recipient gives its own. */
  keys: Record<string, { accessKeyId: string; secretAccessKey: string }>;
  tenants: { demo: string; others: string[] };
}

export function demoInfoLines(info: DemoInfo): string[] {
  return [
    'Walkthrough (README "Quick start"), in a second terminal beside this one:',
    `  export SLUICE_CONFIG=${info.modelsFile}`,
    `  export SLUICE_SOURCE_URL=${info.sourceUrl}`,
    // The demo bucket is plain http on 127.0.0.1: allowed for the demo's own shell only.
    `  export SLUICE_ALLOW_HTTP_ENDPOINTS=true SLUICE_ENDPOINT_ALLOWLIST=127.0.0.1`,
    ...(info.controlUrl ? [`  control store    ${info.controlUrl}  (the CLI finds it by itself)`] : []),
    `  API              ${info.apiUrl}${info.apiKey ? `   key: ${info.apiKey}` : ''}`,
    `  demo bucket      ${info.bucket.name} at ${info.bucket.endpoint}, region ${info.bucket.region}`,
    ...Object.entries(info.keys).map(
      ([tenant, k]) => `                   ${`${tenant}:`.padEnd(9)}access key ${k.accessKeyId}, secret ${k.secretAccessKey} (local bucket only)`,
    ),
    `  tenants          ${info.tenants.demo} (the demo recipient), ${info.tenants.others.join(', ')}: every one has data; initech has no recipient yet`,
    `  again            npm run sluice -- demo info`,
  ];
}

/** The info from a data folder whose demo runs now (reads the files `npm start` keeps there). */
export async function readDemoInfo(dataDir: string, env: { host: string; port: number; modelsFile: string }): Promise<DemoInfo> {
  const state = await readEmbeddedState(dataDir);
  if (!state) {
    throw new SluiceError({
      code: 'demo_not_running',
      message: `No running demo found in ${dataDir} (no embedded PostgreSQL state file).`,
      hint: 'Start it with `npm start` (in this folder, or with the same SLUICE_DATA_DIR), then ask again.',
      actor: 'provider',
    });
  }
  const server = new URL(state.url);
  const withDb = (db: string): string => {
    const u = new URL(server);
    u.pathname = `/${db}`;
    return u.toString();
  };
  const apiKey = (await fs.readFile(path.join(dataDir, 'demo-api-key'), 'utf8').catch(() => '')).trim() || null;
  const own = path.resolve(env.modelsFile);
  const modelsFile = (await fs.access(own).then(() => true, () => false)) ? own : path.join(dataDir, 'sluice.yaml');
  return demoInfo({
    apiUrl: `http://${env.host}:${env.port}`,
    apiKey,
    controlUrl: withDb('sluice'),
    sourceUrl: withDb(DEMO_DATABASE),
    modelsFile,
    endpoint: `http://127.0.0.1:${await demoBucketPort(dataDir)}`,
    directory: path.join(dataDir, 's3'),
  });
}

export function demoInfo(p: { apiUrl: string; apiKey: string | null; controlUrl: string | null; sourceUrl: string; modelsFile: string; endpoint: string; directory: string }): DemoInfo {
  return {
    apiUrl: p.apiUrl,
    apiKey: p.apiKey,
    controlUrl: p.controlUrl,
    sourceUrl: p.sourceUrl,
    modelsFile: p.modelsFile,
    bucket: {
      endpoint: p.endpoint,
      name: DEMO_BUCKET,
      prefix: DEMO_PREFIX,
      accessKeyId: DEMO_ACCESS_KEY_ID,
      secretAccessKey: DEMO_SECRET_ACCESS_KEY,
      region: 'us-east-1',
      directory: p.directory,
    },
    keys: DEMO_KEYS,
    tenants: { demo: DEMO_TENANT, others: DEMO_TENANTS.filter((t) => t !== DEMO_TENANT) },
  };
}
