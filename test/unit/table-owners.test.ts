/**
 * One owner per table: every INSERT, UPDATE or DELETE on the transfer tables, the workers table and
 * the job queue's tables is written in that table's module (docs/architecture.md), nowhere else.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';

const OWNERS: Record<string, string> = {
  transfers: 'src/transfer/store/transfers.ts',
  transfer_models: 'src/transfer/store/transfer-models.ts',
  watermarks: 'src/transfer/store/watermarks.ts',
  workers: 'src/jobs/workers.ts',
  // graphile-worker's tables, named through QUEUE_SCHEMA or by their schema.
  queue: 'src/jobs/queue-jobs.ts',
};

async function sources(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true });
  return entries.filter((e) => e.endsWith('.ts')).map((e) => path.join(dir, e));
}

test('each transfer and queue table is written by its one module', async () => {
  const writes = /\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\$\{QUEUE_SCHEMA\}\.\w+|graphile_worker\.\w+|\w+)/gi;
  const found: string[] = [];
  for (const file of await sources('src')) {
    const text = await fs.readFile(file, 'utf8');
    for (const m of text.matchAll(writes)) {
      const target = m[2]!;
      const table = /QUEUE_SCHEMA|graphile_worker/.test(target) ? 'queue' : target.toLowerCase();
      const owner = OWNERS[table];
      if (owner && owner !== file.split(path.sep).join('/')) found.push(`${file}: ${m[0]}`);
    }
    // graphile-worker's functions that change its tables.
    if (/\.(add_job|force_unlock_workers)\(/.test(text) && file.split(path.sep).join('/') !== OWNERS.queue) found.push(`${file}: a queue function`);
  }
  assert.deepEqual(found, []);
});
