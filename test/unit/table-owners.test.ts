/**
 * Each control-store table is written by one module (docs/architecture.md, "Who writes which
 * table"). This scans src/ for SQL writes — INSERT, UPDATE, DELETE, TRUNCATE, MERGE, in one-line or
 * multi-line strings, CTEs included — and fails when a table is written outside its owner, or when a
 * table nobody owns is written at all (a new table gets its owner here first).
 *
 * Migrations (src/control/migrations/*.sql) are left out: they change the schema, once, in order.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

/** table → the one file that writes it. */
const OWNERS: Record<string, string> = {
  api_keys: 'src/control/apikeys.ts',
  connection_tests: 'src/jobs/connection-tests.ts',
  destinations: 'src/control/destination-store.ts',
  identity_keys: 'src/identity/oidc/keys.ts',
  manifest_signing_keys: 'src/control/signing-keys.ts',
  migrations: 'src/control/migrate.ts',
  recipients: 'src/control/recipients.ts',
  setup_links: 'src/control/setup-links.ts',
  setup_sessions: 'src/control/setup-links.ts',
  transfers: 'src/transfer/store/transfers.ts',
  transfer_models: 'src/transfer/store/transfer-models.ts',
  watermarks: 'src/transfer/store/watermarks.ts',
  workers: 'src/jobs/workers.ts',
  // graphile-worker's tables (named through QUEUE_SCHEMA), and its functions that change them.
  queue: 'src/jobs/queue-jobs.ts',
};

/**
 * Written, but not control-store tables: the source's deletion log (sources/postgres/deletes.ts, in
 * the provider's database), the demo's source database.
 */
const NOT_CONTROL_STORE = [/^\$\{DELETES_TABLE\}$/, /^shop\./];

/** The queue's tables and functions (graphile-worker's schema) count as one table, `queue`. */
const QUEUE_TABLE = /^(\$\{QUEUE_SCHEMA\}|graphile_worker)\./;
const QUEUE_FUNCTION = /\.(add_job|add_jobs|complete_jobs|fail_job|force_unlock_workers|remove_job|permanently_fail_jobs|reschedule_jobs)\(/g;

const WRITE = /\b(?<!FOR )(?<!KEY )(INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|MERGE\s+INTO)\s+(?:ONLY\s+)?((?:\$\{[A-Z_]+\}\.|[a-z_][a-z0-9_]*\.)?(?:\$\{[A-Za-z_]+\}|[a-z_][a-z0-9_]*))/g;

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.posix.join(dir, e.name);
    if (e.isDirectory()) return p === 'src/control/migrations' ? [] : files(p);
    return /\.(ts|sql)$/.test(e.name) ? [p] : [];
  });
}

/** The file's text without comments (a comment may name a write without making one). */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .split('\n')
    .map((line) => (/^\s*(\/\/|--)/.test(line) ? '' : line))
    .join('\n');
}

interface Write {
  file: string;
  line: number;
  table: string;
  statement: string;
}

function writes(): Write[] {
  const out: Write[] = [];
  for (const file of files('src')) {
    const text = code(fs.readFileSync(file, 'utf8'));
    for (const m of text.matchAll(WRITE)) {
      const raw = m[2]!;
      // A keyword without a table after it (ON CONFLICT DO UPDATE SET …) writes the INSERT's table.
      if (raw === 'SET' || /^[A-Z]+$/.test(raw)) continue;
      const table = QUEUE_TABLE.test(raw) ? 'queue' : raw.replace(/^(\$\{SCHEMA\}|sluice)\./, '');
      out.push({ file, line: text.slice(0, m.index).split('\n').length, table, statement: m[1]!.replace(/\s+/g, ' ') });
    }
    for (const m of text.matchAll(QUEUE_FUNCTION)) {
      out.push({ file, line: text.slice(0, m.index).split('\n').length, table: 'queue', statement: m[0].slice(1, -1) });
    }
  }
  return out;
}

test('the scan finds the writes it is meant to find', () => {
  const found = writes();
  const has = (table: string, file: string): boolean => found.some((w) => w.table === table && w.file === file);
  // One of each form: a multi-line UPDATE, an INSERT, a DELETE, an UPDATE inside a CTE.
  assert.ok(has('destinations', 'src/control/destination-store.ts'));
  assert.ok(has('recipients', 'src/control/recipients.ts'));
  assert.ok(has('setup_sessions', 'src/control/setup-links.ts'));
  assert.ok(has('connection_tests', 'src/jobs/connection-tests.ts'));
  assert.ok(has('migrations', 'src/control/migrate.ts'), 'a schema-qualified table is found under its own name');
  assert.ok(has('transfers', 'src/transfer/store/transfers.ts'));
  assert.ok(has('queue', 'src/jobs/queue-jobs.ts'), "the queue's tables and functions are found as `queue`");
  assert.deepEqual(
    code('x\n// UPDATE destinations SET a = 1\n/* DELETE FROM recipients */ y').match(WRITE),
    null,
    'comments are not writes',
  );
  assert.deepEqual([...'SELECT 1 FROM destinations FOR UPDATE SKIP LOCKED'.matchAll(WRITE)].length, 0, 'a row lock is not a write');
});

test('every control-store table is written by its one owner only', () => {
  const problems: string[] = [];
  for (const w of writes()) {
    if (NOT_CONTROL_STORE.some((re) => re.test(w.table))) continue;
    const owner = OWNERS[w.table];
    const where = `${w.file}:${w.line} ${w.statement} ${w.table}`;
    if (owner !== undefined) {
      if (w.file !== owner) problems.push(`${where}: only ${owner} writes ${w.table}; call its functions instead`);
    } else {
      problems.push(`${where}: no owner for table ${w.table}; add it to OWNERS in test/unit/table-owners.test.ts and docs/architecture.md`);
    }
  }
  assert.deepEqual(problems, []);
});
