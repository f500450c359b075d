/** The PostgreSQL source: catalog, read sessions (see reader.ts for the contract) and limits. */
export { describeQuery, describeTable, type CatalogColumn, type RelationInfo } from './catalog.js';
export { openModelRead, sourceError, type ModelRead } from './reader.js';
export { createPostgresSource, type PostgresSource, type PostgresSourceOptions } from './source.js';
