import type { ModelNode } from '../dbt/manifest.js';

export type WarehouseKind = 'duckdb' | 'postgres' | 'snowflake' | 'bigquery';

/** A row with values already normalised (see normalise.ts): JSON-safe, the same on every warehouse. */
export type Row = Readonly<Record<string, unknown>>;

export interface Connection {
  execute(sql: string, params?: readonly unknown[]): Promise<void>;
  /** Names of the columns `sql` would return (run it as a zero-row query). */
  describe(sql: string): Promise<string[]>;
  /** For small results only (counts, samples, lock rows). */
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Streams a large result in batches; the cursor is released when iteration ends or stops early. */
  stream(sql: string, params: readonly unknown[], batchSize: number): AsyncIterable<readonly Row[]>;
  /** Runs `work` in one transaction, rolled back when it throws. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface Warehouse {
  readonly kind: WarehouseKind;
  readonly dialect: SqlDialect;
  /** For messages: adapter, profile target and where it points (never credentials). */
  readonly description: string;
  /** A new connection: temporary tables live on it; state writes use another one. */
  connect(): Promise<Connection>;
  close(): Promise<void>;
}

export interface ColumnSpec {
  readonly name: string;
  readonly type: 'text' | 'timestamp';
}

/** Knows the warehouse's SQL. Pure: no I/O, testable without a connection. */
export interface SqlDialect {
  quote(identifier: string): string;
  /** The model's relation as dbt built it (`relation_name` when the manifest has it). */
  modelRelation(model: ModelNode): string;
  table(schema: string, name: string, database?: string): string;
  /** Placeholder for the n-th (1-based) parameter. */
  param(index: number): string;
  /** Unambiguous text form of any value, NULL included, for hashing. */
  canonicalText(expression: string): string;
  /**
   * canonicalText(e) as several parts of the row hash's one concat(), where building one
   * string per row instead of one per value is cheaper (DuckDB). Must concatenate to exactly
   * canonicalText(e): the hashes of rows already synced depend on it.
   */
  canonicalParts?(expression: string): readonly string[];
  /**
   * The warehouse rejects a second row with the same primary key, so state rows new to the
   * state may be plain INSERTs, cheaper there than an upsert (DuckDB).
   */
  readonly enforcesPrimaryKeys?: boolean;
  /** The record key: the value as text, a JSON array for composite keys; NULL when any part is NULL. */
  recordKey(expressions: readonly string[]): string;
  md5(expression: string): string;
  concat(parts: readonly string[]): string;
  literal(value: string): string;
  /** Rows of a JSON array parameter, as a relation with the given text columns. */
  jsonRows(paramIndex: number, columns: readonly ColumnSpec[]): string;
  readonly textType: string;
  readonly timestampType: string;
  readonly bigintType: string;
  readonly now: string;
  /** `CREATE TEMP TABLE name AS query` in this warehouse's words. */
  createTempTableAs(name: string, query: string): string;
  /** Zero-row query whose result columns are the relation's columns. */
  columnsProbe(relation: string): string;
  /** Does `schema.table` exist? One row with a column `n` (count). */
  tableExists(schemaParam: number, tableParam: number): string;
  /**
   * Inserts the rows of `select` (columns by position, as `INSERT INTO table (columns) select`),
   * replacing the rows whose `keys` already exist: `ON CONFLICT DO UPDATE`, or MERGE where the
   * warehouse has no ON CONFLICT.
   */
  upsert(table: string, columns: readonly string[], keys: readonly string[], select: string): string;
  /**
   * The schema as `CREATE SCHEMA` should name it, consistent with `table()`. Optional; without
   * it use `quote(name)`. Snowflake folds plain names to upper case as `table()` does (dbt's
   * unquoted identifiers); BigQuery qualifies the dataset with the profile's project.
   */
  schema?(name: string, database?: string): string;
  /**
   * A table constraint making `columns` the primary key, for CREATE TABLE. Optional; without it
   * use `PRIMARY KEY (columns)`. BigQuery accepts only `PRIMARY KEY (...) NOT ENFORCED`.
   */
  primaryKey?(columns: readonly string[]): string;
  /**
   * Inserts the rows of `select` (columns by position) whose `keys` are not in `table` yet and
   * leaves existing rows alone, in one statement (so concurrent writers cannot both insert a key
   * where the warehouse serialises writes to a table but enforces no keys, as Snowflake and
   * BigQuery do). Optional; used by the lease protocol proposed for the state store.
   */
  insertIfAbsent?(table: string, columns: readonly string[], keys: readonly string[], select: string): string;
  /**
   * Statements taking and releasing a session lock named by parameter 1, held while the state
   * tables are created or migrated. Optional: without it, a failed migration is retried.
   */
  readonly migrationLock?: { readonly acquire: string; readonly release: string };
}
