/** Names shared by the bench's parent (run.ts) and its measured child processes (pipeline.ts). */
export const BIG_TENANT = '1';
export const BENCH_BUCKET = 'bench';
export const COLUMNS = ['id', 'tenant_id', 'quantity', 'amount', 'product', 'created_at', 'updated_at', 'attributes', 'note'];
/** The whole table as one model: every row carries the same pseudo-tenant. */
export const tableSql = (table: string): string => `SELECT ${COLUMNS.join(', ')}, 0 AS all_rows FROM ${table}`;
