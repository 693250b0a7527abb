/**
 * The benchmark's data, generated inside the warehouse (range() / generate_series() and
 * expressions), never shipped:
 * - `customers` v1: N rows, key `customer_id`, ten mapped columns of mixed types (text, decimal,
 *   double, integer, boolean, date, timestamp);
 * - `customers` v2: v1 with 1% of rows changed (i % 100 = 7), 0.1% removed (i % 1000 = 3) and
 *   0.1% added (N < i <= N + N/1000);
 * - state "as if v1 had been synced": activate's state tables with one row per v1 record, its
 *   key and row hash (md5 of fingerprint | length-prefixed canonical text, hand-written below)
 *   and its values as JSON. `activate plan` against v2 must then find exactly 1% / 0.1% / 0.1%,
 *   which checks the hand-written hash against the engine's on every run.
 */
import { dirname } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { StateStore } from '../src/state/state-store.js';
import { openWarehouse } from '../src/warehouse/registry.js';

export const MODEL_NAME = 'customers';
export const KEY_COLUMN = 'customer_id';
/** Mapped columns; each one is sent as the destination field of the same name. Sorted: the hash follows field-name order. */
export const FIELDS = [
  'churn_score',
  'country',
  'email',
  'first_name',
  'is_active',
  'last_seen_at',
  'lifetime_value',
  'orders',
  'plan',
  'signup_date',
] as const;

export type Flavour = 'duckdb' | 'postgres';

export interface Expected {
  readonly added: number;
  readonly changed: number;
  readonly removed: number;
}

/** What a plan of v2 against state of v1 must find. */
export function expectedChanges(n: number): Expected {
  const changed = Math.floor((n - 7) / 100) + 1; // i % 100 = 7, 1 <= i <= n
  const removed = Math.floor((n - 3) / 1000) + 1; // i % 1000 = 3
  return { added: Math.floor(n / 1000), changed, removed };
}

/** Column expressions over the integer `i`; `changed` is true for the rows v2 changes. */
function columns(flavour: Flavour, changed: string): string {
  const pick = (values: readonly string[]) =>
    flavour === 'duckdb'
      ? `([${values.map((v) => `'${v}'`).join(', ')}])[1 + i % ${values.length}]`
      : `(ARRAY[${values.map((v) => `'${v}'`).join(', ')}])[1 + i % ${values.length}]`;
  const plan = pick(['free', 'pro', 'team', 'enterprise']);
  const ltv = flavour === 'duckdb' ? `CAST(((i * 7919) % 10000000) / 100.0 AS DECIMAL(12,2))` : `CAST(((i * 7919) % 10000000) / 100.0 AS NUMERIC(12,2))`;
  const score = flavour === 'duckdb' ? `CAST((i * 2654435761) % 10007 AS DOUBLE) / 10007` : `CAST((i * 2654435761) % 10007 AS DOUBLE PRECISION) / 10007`;
  const seen =
    flavour === 'duckdb'
      ? `TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i % 31536000)`
      : `TIMESTAMP '2024-01-01 00:00:00' + make_interval(secs => i % 31536000)`;
  return [
    `i AS ${KEY_COLUMN}`,
    `'user' || i || '@example.com' AS email`,
    `${pick(['Ann', 'Bob', 'Cleo', 'Dev', 'Eli', 'Fay', 'Gus', 'Hana', 'Ivo', 'Jun'])} AS first_name`,
    `CASE WHEN ${changed} THEN 'enterprise' ELSE ${plan} END AS plan`,
    `${pick(['US', 'GB', 'DE', 'FR', 'NL', 'BR', 'IN', 'JP'])} AS country`,
    `CASE WHEN ${changed} THEN ${ltv} + 1 ELSE ${ltv} END AS lifetime_value`,
    `CASE WHEN ${changed} THEN ${score} + 0.5 ELSE ${score} END AS churn_score`,
    `CAST(i % 250 AS INTEGER) AS orders`,
    `i % 3 <> 0 AS is_active`,
    `DATE '2020-01-01' + CAST(i % 1500 AS INTEGER) AS signup_date`,
    `${seen} AS last_seen_at`,
  ].join(',\n  ');
}

/** SELECT of model v1 (every row as first synced) or v2 (after the changes). */
export function modelSelect(flavour: Flavour, n: number, version: 'v1' | 'v2'): string {
  const series = flavour === 'duckdb' ? `range(1, ${n + Math.floor(n / 1000) + 1}) AS t(i)` : `generate_series(1::bigint, ${n + Math.floor(n / 1000)}::bigint) AS t(i)`;
  if (version === 'v1') {
    const v1Series = flavour === 'duckdb' ? `range(1, ${n + 1}) AS t(i)` : `generate_series(1::bigint, ${n}::bigint) AS t(i)`;
    return `SELECT ${columns(flavour, 'FALSE')} FROM ${v1Series}`;
  }
  return `SELECT ${columns(flavour, `i <= ${n} AND i % 100 = 7`)} FROM ${series} WHERE NOT (i <= ${n} AND i % 1000 = 3)`;
}

const sqlText = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * The row hash, written by hand (not taken from the engine): md5 of `<fingerprint>|` and each
 * mapped value as `<length>:<text>` (`~` for NULL), joined by `|`, in field-name order. One
 * n-ary concat() per row: the fastest equivalent form found on DuckDB.
 */
export function handHash(flavour: Flavour, fingerprint: string, alias = ''): string {
  const text = flavour === 'duckdb' ? 'VARCHAR' : 'text';
  const parts = FIELDS.map((c) => {
    const v = `CAST(${alias}"${c}" AS ${text})`;
    return flavour === 'duckdb'
      ? `coalesce(CAST(length(${v}) AS VARCHAR) || ':', '~'), ${v}`
      : `coalesce(CAST(length(${v}) AS text) || ':' || ${v}, '~')`;
  });
  return `md5(concat(${sqlText(`${fingerprint}|`)}, ${parts.join(", '|', ")}))`;
}

export const handKey = (flavour: Flavour, alias = '') => `CAST(${alias}"${KEY_COLUMN}" AS ${flavour === 'duckdb' ? 'VARCHAR' : 'text'})`;

/** The sent values as JSON, field name -> value, roughly as activate stores them. */
function sentValues(flavour: Flavour): string {
  return flavour === 'duckdb'
    ? `CAST(to_json(struct_pack(${FIELDS.map((f) => `"${f}" := "${f}"`).join(', ')})) AS VARCHAR)`
    : `CAST(json_build_object(${FIELDS.map((f) => `'${f}', "${f}"`).join(', ')}) AS text)`;
}

/** The floor of `activate plan`: added/changed/removed counts in one hand-written query. */
export function floorPlanQuery(flavour: Flavour, relation: string, stateTable: string, syncId: string, fingerprint: string): string {
  return (
    `WITH m AS (SELECT ${handKey(flavour)} AS k, ${handHash(flavour, fingerprint)} AS h FROM ${relation}), ` +
    `s AS (SELECT record_key AS k, row_hash AS h FROM ${stateTable} WHERE sync_id = ${sqlText(syncId)}) ` +
    `SELECT count(*) FILTER (WHERE s.k IS NULL) AS added, ` +
    `count(*) FILTER (WHERE m.k IS NOT NULL AND s.k IS NOT NULL AND m.h <> s.h) AS changed, ` +
    `count(*) FILTER (WHERE m.k IS NULL) AS removed ` +
    `FROM m FULL OUTER JOIN s ON m.k = s.k`
  );
}

export interface DuckDbBuild {
  readonly path: string;
  readonly n: number;
  readonly version: 'v1' | 'v2';
  /** Seed state as if v1 had been synced by this sync. */
  readonly seed?: { readonly syncId: string; readonly fingerprint: string };
}

/** Builds a DuckDB file holding main.customers (and state); returns seconds taken. */
export async function buildDuckDb(build: DuckDbBuild): Promise<number> {
  const started = performance.now();
  const instance = await DuckDBInstance.create(build.path);
  const connection = await instance.connect();
  try {
    await connection.run(`CREATE TABLE main.${MODEL_NAME} AS ${modelSelect('duckdb', build.n, build.version)}`);
    await connection.run('CHECKPOINT');
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  if (build.seed) await seedDuckDbState(build.path, build.n, build.seed.syncId, build.seed.fingerprint);
  return (performance.now() - started) / 1000;
}

/** State tables created by activate's own migrations, then filled as if v1 had been synced. */
async function seedDuckDbState(path: string, n: number, syncId: string, fingerprint: string): Promise<void> {
  const warehouse = await openWarehouse({ file: 'profiles.yml', profile: 'bench', target: 'bench', output: { type: 'duckdb', path } }, dirname(path));
  try {
    const connection = await warehouse.connect();
    try {
      const store = new StateStore(connection, warehouse.dialect, 'activate');
      await store.migrate();
      await connection.execute(
        `INSERT INTO ${store.tables.state} (sync_id, record_key, row_hash, sent_values, destination_id, synced_at, run_id) ` +
          `SELECT ${sqlText(syncId)}, ${handKey('duckdb')}, ${handHash('duckdb', fingerprint)}, ${sentValues('duckdb')}, NULL, now(), 'bench-seed' ` +
          // In key order, as a first sync commits it (the plan sends in key order).
          `FROM (${modelSelect('duckdb', n, 'v1')}) ORDER BY 2`,
      );
      await connection.execute('CHECKPOINT');
    } finally {
      await connection.close();
    }
  } finally {
    await warehouse.close();
  }
}

/** PostgreSQL: the session settings activate's adapter pins, so casts to text read the same. */
export const PG_SESSION = [
  "SET TimeZone = 'UTC'",
  "SET DateStyle = 'ISO'",
  "SET IntervalStyle = 'postgres'",
  'SET extra_float_digits = 1',
];

/** Statements building `<schema>.customers` (v2) and, optionally, activate state of v1 in schema `activate_<schema>`. */
export function postgresBuild(schema: string, n: number, version: 'v1' | 'v2', seed?: { syncId: string; fingerprint: string; stateSchema: string }): string[] {
  const statements = [
    ...PG_SESSION,
    `DROP SCHEMA IF EXISTS "${schema}" CASCADE`,
    `CREATE SCHEMA "${schema}"`,
    `CREATE TABLE "${schema}".${MODEL_NAME} AS ${modelSelect('postgres', n, version)}`,
    `ALTER TABLE "${schema}".${MODEL_NAME} ADD PRIMARY KEY (${KEY_COLUMN})`,
    `ANALYZE "${schema}".${MODEL_NAME}`,
  ];
  if (seed) {
    statements.push(
      `INSERT INTO "${seed.stateSchema}".activate_state (sync_id, record_key, row_hash, sent_values, destination_id, synced_at, run_id) ` +
        `SELECT ${sqlText(seed.syncId)}, ${handKey('postgres')}, ${handHash('postgres', seed.fingerprint)}, ${sentValues('postgres')}, NULL, now(), 'bench-seed' ` +
        `FROM (${modelSelect('postgres', n, 'v1')}) AS v1`,
      `ANALYZE "${seed.stateSchema}".activate_state`,
    );
  }
  return statements;
}
