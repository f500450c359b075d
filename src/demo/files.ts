/**
 * Files the demo keeps in the data folder: the models of the demo dataset (written only when the
 * project has no sluice.yaml of its own) and the demo's operator API key.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from '../control/db.js';
import { createApiKey, hashApiKey } from '../control/apikeys.js';

export const DEMO_MODELS_YAML = `# Models of the demo dataset (the "shop" schema of the sluice_demo database), written by \`npm start\`.
# Every model is filtered by tenant_id = the recipient's tenant and read incrementally on updated_at.
# Reads use the commit-safe watermark; the one-minute lookback is only its fallback (a replica, a role
# without pg_read_all_stats): the demo's writes are tiny transactions.
source:
  max_concurrent_queries: 4
  statement_timeout: 5m
models:
  - name: merchants
    table: shop.merchants
    cursor: updated_at
    tenant: tenant_id
    lookback: 1m
  - name: customers
    table: shop.customers
    cursor: updated_at
    tenant: tenant_id
    lookback: 1m
  - name: orders
    table: shop.orders
    cursor: updated_at
    tenant: tenant_id
    lookback: 1m
    soft_delete: deleted_at
  - name: rewards
    table: shop.rewards
    cursor: updated_at
    tenant: tenant_id
    lookback: 1m
`;

/** The models file to use: the project's own if it exists, else the demo's (written into the data folder). */
export async function demoModelsFile(configured: string, dataDir: string): Promise<{ file: string; demo: boolean }> {
  const own = path.resolve(configured);
  if (await exists(own)) return { file: own, demo: false };
  const file = path.join(dataDir, 'sluice.yaml');
  await fs.writeFile(file, DEMO_MODELS_YAML);
  return { file, demo: true };
}

/**
 * The demo's operator API key. Keys are stored hashed, so the plaintext is kept in the data folder
 * (readable by its owner only) to be printed again on the next start; it only opens the local API.
 */
export async function demoApiKey(pool: Pool, dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'demo-api-key');
  const kept = (await fs.readFile(file, 'utf8').catch(() => '')).trim();
  if (kept) {
    const { rows } = await pool.query('SELECT 1 FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL', [hashApiKey(kept)]);
    if (rows.length > 0) return kept;
  }
  const { key } = await createApiKey(pool, { name: 'demo (npm start)' });
  await fs.writeFile(file, `${key}\n`, { mode: 0o600 });
  return key;
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
