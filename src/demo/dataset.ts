/**
 * The demo source: a small multi-tenant shop — merchants, customers, orders and rewards of three
 * tenants — generated in its own database, with `updated_at` on every row so transfers are
 * incremental. `applyChanges` adds and changes a few rows (new orders, status changes, rewards,
 * an occasional cancellation through the soft-delete column), as a live application would.
 */
import type { Queryable } from '../control/db.js';

export const DEMO_SCHEMA = 'shop';
export const DEMO_TENANTS = ['acme', 'globex', 'initech'] as const;

const SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS shop;

CREATE TABLE IF NOT EXISTS shop.merchants (
  id          bigint PRIMARY KEY,
  tenant_id   text NOT NULL,
  name        text NOT NULL,
  category    text NOT NULL,
  country     char(2) NOT NULL,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS shop.customers (
  id            bigint PRIMARY KEY,
  tenant_id     text NOT NULL,
  merchant_id   bigint NOT NULL REFERENCES shop.merchants(id),
  email         text NOT NULL,
  full_name     text NOT NULL,
  loyalty_tier  text NOT NULL CHECK (loyalty_tier IN ('bronze', 'silver', 'gold')),
  signed_up_on  date NOT NULL,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS shop.orders (
  id           bigint PRIMARY KEY,
  tenant_id    text NOT NULL,
  customer_id  bigint NOT NULL REFERENCES shop.customers(id),
  merchant_id  bigint NOT NULL REFERENCES shop.merchants(id),
  status       text NOT NULL CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'refunded')),
  total        numeric(12,2) NOT NULL,
  currency     char(3) NOT NULL,
  items        jsonb NOT NULL,
  ordered_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  -- Soft delete: a cancelled order stays, with this set (delivered with _sluice_deleted = true).
  deleted_at   timestamptz
);
CREATE TABLE IF NOT EXISTS shop.rewards (
  id           bigint PRIMARY KEY,
  tenant_id    text NOT NULL,
  customer_id  bigint NOT NULL REFERENCES shop.customers(id),
  points       integer NOT NULL,
  reason       text NOT NULL,
  issued_at    timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL
);
-- The index every incremental read uses: tenant, then the cursor, then the primary key.
CREATE INDEX IF NOT EXISTS merchants_incremental ON shop.merchants (tenant_id, updated_at, id);
CREATE INDEX IF NOT EXISTS customers_incremental ON shop.customers (tenant_id, updated_at, id);
CREATE INDEX IF NOT EXISTS orders_incremental ON shop.orders (tenant_id, updated_at, id);
CREATE INDEX IF NOT EXISTS rewards_incremental ON shop.rewards (tenant_id, updated_at, id);
`;

export interface DatasetSize {
  merchantsPerTenant: number;
  customersPerTenant: number;
  ordersPerTenant: number;
  rewardsPerTenant: number;
}

export const DEFAULT_SIZE: DatasetSize = { merchantsPerTenant: 5, customersPerTenant: 200, ordersPerTenant: 2000, rewardsPerTenant: 600 };

/**
 * Creates the tables and, when they are empty, fills them. Deterministic (a fixed seed), spread over
 * the last 90 days. Ids are tenant-major so that every tenant's rows are easy to tell apart.
 */
export async function seedDataset(db: Queryable, size: DatasetSize = DEFAULT_SIZE): Promise<{ seeded: boolean }> {
  await db.query(SCHEMA_SQL);
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM shop.merchants');
  if ((rows[0]?.n ?? 0) > 0) return { seeded: false };
  await db.query('SELECT setseed(0.42)');
  const tenants = [...DEMO_TENANTS];
  await db.query(
    `INSERT INTO shop.merchants (id, tenant_id, name, category, country, created_at, updated_at)
     SELECT t.ord * 1000 + m, t.name,
            initcap(t.name) || ' ' || (ARRAY['Outfitters','Grocers','Books','Coffee','Garden','Cycles','Toys'])[1 + (m % 7)],
            (ARRAY['apparel','grocery','books','food','home','sports','toys'])[1 + (m % 7)],
            (ARRAY['US','DE','FR','GB','JP','BR'])[1 + ((m + t.ord) % 6)],
            now() - interval '90 days', now() - interval '90 days' + m * interval '1 hour'
       FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord), generate_series(1, $2) m`,
    [tenants, size.merchantsPerTenant],
  );
  await db.query(
    `INSERT INTO shop.customers (id, tenant_id, merchant_id, email, full_name, loyalty_tier, signed_up_on, created_at, updated_at)
     SELECT t.ord * 1000000 + c, t.name, t.ord * 1000 + 1 + (c % $3),
            'customer' || c || '@' || t.name || '.example',
            (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Ken','Radia','Donald','Frances','Tim'])[1 + (c % 10)] || ' ' ||
            (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Thompson','Perlman','Knuth','Allen','Berners-Lee'])[1 + ((c / 10) % 10)],
            (ARRAY['bronze','bronze','bronze','silver','silver','gold'])[1 + floor(random() * 6)::int],
            (now() - (90 - c % 90) * interval '1 day')::date,
            now() - (90 - c % 90) * interval '1 day', now() - (90 - c % 90) * interval '1 day' + random() * interval '1 hour'
       FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord), generate_series(1, $2) c`,
    [tenants, size.customersPerTenant, size.merchantsPerTenant],
  );
  await db.query(
    `INSERT INTO shop.orders (id, tenant_id, customer_id, merchant_id, status, total, currency, items, ordered_at, updated_at)
     SELECT t.ord * 10000000 + o, t.name, t.ord * 1000000 + 1 + (o * 7 % $3), t.ord * 1000 + 1 + (o % $4),
            (ARRAY['placed','paid','shipped','delivered','delivered','delivered','refunded'])[1 + floor(random() * 7)::int],
            round((5 + random() * 495)::numeric, 2), (ARRAY['USD','EUR','GBP'])[1 + (o % 3)],
            jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (1000 + o % 250), 'qty', 1 + o % 4)),
            now() - interval '90 days' + o * (interval '90 days' / $2),
            now() - interval '90 days' + o * (interval '90 days' / $2) + random() * interval '2 days'
       FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord), generate_series(1, $2) o`,
    [tenants, size.ordersPerTenant, size.customersPerTenant, size.merchantsPerTenant],
  );
  await db.query(
    `INSERT INTO shop.rewards (id, tenant_id, customer_id, points, reason, issued_at, updated_at)
     SELECT t.ord * 10000000 + r, t.name, t.ord * 1000000 + 1 + (r * 13 % $3),
            (ARRAY[10, 25, 50, 100, 250])[1 + floor(random() * 5)::int],
            (ARRAY['purchase','referral','birthday','review','promotion'])[1 + (r % 5)],
            now() - interval '90 days' + r * (interval '90 days' / $2),
            now() - interval '90 days' + r * (interval '90 days' / $2)
       FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord), generate_series(1, $2) r`,
    [tenants, size.rewardsPerTenant, size.customersPerTenant],
  );
  // Rows must never carry a cursor in the future, or incremental windows would skip them.
  for (const table of ['merchants', 'customers', 'orders', 'rewards']) {
    await db.query(`UPDATE shop.${table} SET updated_at = now() WHERE updated_at > now()`);
  }
  return { seeded: true };
}

export interface ChangeCounts {
  newOrders: number;
  changedOrders: number;
  cancelledOrders: number;
  newRewards: number;
}

/** A few new and changed rows in every tenant, stamped now. */
export async function applyChanges(db: Queryable, perTenant = 3): Promise<ChangeCounts> {
  const { rows } = await db.query<ChangeCounts>(
    `WITH new_orders AS (
       INSERT INTO shop.orders (id, tenant_id, customer_id, merchant_id, status, total, currency, items, ordered_at, updated_at)
       SELECT (SELECT max(id) FROM shop.orders o2 WHERE o2.tenant_id = c.tenant_id) + row_number() OVER (PARTITION BY c.tenant_id),
              c.tenant_id, c.id, c.merchant_id, 'placed', round((5 + random() * 495)::numeric, 2), 'USD',
              jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (1000 + floor(random() * 250)::int), 'qty', 1)),
              clock_timestamp(), clock_timestamp()
         FROM (SELECT *, row_number() OVER (PARTITION BY tenant_id ORDER BY random()) AS k FROM shop.customers) c
        WHERE c.k <= $1
       RETURNING 1
     ), changed AS (
       UPDATE shop.orders o SET status = CASE o.status WHEN 'placed' THEN 'paid' WHEN 'paid' THEN 'shipped' ELSE 'delivered' END,
                                updated_at = clock_timestamp()
         FROM (SELECT id, row_number() OVER (PARTITION BY tenant_id ORDER BY random()) AS k
                 FROM shop.orders WHERE status IN ('placed', 'paid', 'shipped') AND deleted_at IS NULL) pick
        WHERE o.id = pick.id AND pick.k <= $1
       RETURNING 1
     ), cancelled AS (
       UPDATE shop.orders o SET deleted_at = clock_timestamp(), updated_at = clock_timestamp()
         FROM (SELECT id, row_number() OVER (PARTITION BY tenant_id ORDER BY random()) AS k
                 FROM shop.orders WHERE status = 'placed' AND deleted_at IS NULL) pick
        WHERE o.id = pick.id AND pick.k <= 1 AND random() < 0.5
       RETURNING 1
     ), new_rewards AS (
       INSERT INTO shop.rewards (id, tenant_id, customer_id, points, reason, issued_at, updated_at)
       SELECT (SELECT max(id) FROM shop.rewards r2 WHERE r2.tenant_id = c.tenant_id) + row_number() OVER (PARTITION BY c.tenant_id),
              c.tenant_id, c.id, 25, 'purchase', clock_timestamp(), clock_timestamp()
         FROM (SELECT *, row_number() OVER (PARTITION BY tenant_id ORDER BY random()) AS k FROM shop.customers) c
        WHERE c.k <= $1
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM new_orders)::int AS "newOrders", (SELECT count(*) FROM changed)::int AS "changedOrders",
            (SELECT count(*) FROM cancelled)::int AS "cancelledOrders", (SELECT count(*) FROM new_rewards)::int AS "newRewards"`,
    [perTenant],
  );
  return rows[0] ?? { newOrders: 0, changedOrders: 0, cancelledOrders: 0, newRewards: 0 };
}
