import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfigError, EXIT_BAD_INPUT } from '../../src/errors.js';
import { modelRowsQuery } from '../../src/plan/diff-query.js';
import { planSync } from '../../src/plan/planner.js';
import { duckdbDialect } from '../../src/warehouse/duckdb/duckdb-dialect.js';
import { fromDuckDB } from '../../src/warehouse/duckdb/duckdb-values.js';
import { openPostgres } from '../../src/warehouse/postgres/postgres-warehouse.js';
import type { Connection, Warehouse } from '../../src/warehouse/types.js';
import { describePostgres, pgAdmin, pgOutput, pgTarget, scratchName, scratchSchema } from '../support/postgres.js';
import { defineWarehouseConformance, type PortableType } from './conformance.js';
import { syncSpec } from './specs.js';

const PG_TYPES: Readonly<Record<PortableType, string>> = {
  integer: 'integer',
  bigint: 'bigint',
  decimal: 'numeric(38, 2)',
  float: 'double precision',
  text: 'text',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  json: 'jsonb',
};

describePostgres('PostgreSQL adapter', () => {
  defineWarehouseConformance('postgres', async () => {
    const models = await scratchSchema('conf');
    const stateSchema = scratchName('conf_state');
    const warehouse = await openPostgres(pgTarget(), process.cwd());
    return {
      warehouse,
      schema: models.name,
      stateSchema,
      types: PG_TYPES,
      series: (n) => `generate_series(1, ${n}) AS series(i)`,
      async cleanup() {
        await warehouse.close();
        await models.drop();
        const admin = await pgAdmin();
        await admin.query(`DROP SCHEMA IF EXISTS "${stateSchema}" CASCADE`).finally(() => admin.end());
      },
    };
  });

  let schema: Awaited<ReturnType<typeof scratchSchema>>;
  let warehouse: Warehouse;
  let connection: Connection;
  beforeAll(async () => {
    schema = await scratchSchema('pg');
    warehouse = await openPostgres(pgTarget(), process.cwd());
    connection = await warehouse.connect();
  });
  afterAll(async () => {
    await connection?.close();
    await warehouse?.close();
    await schema?.drop();
  });

  it('reads PostgreSQL-only types exactly: arrays, bytea, jsonb, infinities, microseconds, int8 beyond 2^53', async () => {
    const [row] = await connection.query(`SELECT
      ARRAY[1, NULL, 9007199254740993]::bigint[] AS big_array,
      ARRAY['a,b', 'q"uote', NULL]::text[] AS text_array,
      ARRAY[[1.50, 2], [3, 4]]::numeric[] AS nested,
      ARRAY['{"k": 1}']::jsonb[] AS json_array,
      ARRAY[TIMESTAMPTZ '2024-01-02 03:04:05.000001+00'] AS ts_array,
      '\\x00ff10'::bytea AS bytes,
      '{"b": 1, "a": [true, null]}'::jsonb AS doc,
      '"text"'::json AS json_string,
      'infinity'::timestamptz AS ts_inf,
      'NaN'::float8 AS nan,
      'Infinity'::numeric AS num_inf,
      TIMESTAMP '0044-03-15 12:00:00 BC' AS ides,
      TIMESTAMPTZ '2024-01-02 03:04:05.123456-07:30' AS offset_ts,
      '-9223372036854775808'::bigint AS int8_min,
      12::smallint AS small,
      1.25::real AS real,
      '550e8400-e29b-41d4-a716-446655440000'::uuid AS id,
      INTERVAL '1 day 02:03:04' AS span,
      TIME '13:14:15.5' AS t`);
    expect(row).toEqual({
      big_array: [1, null, '9007199254740993'],
      text_array: ['a,b', 'q"uote', null],
      nested: [[1.5, 2], [3, 4]],
      json_array: [{ k: 1 }],
      ts_array: ['2024-01-02T03:04:05.000001Z'],
      bytes: Buffer.from([0x00, 0xff, 0x10]).toString('base64'),
      doc: { a: [true, null], b: 1 },
      json_string: 'text',
      ts_inf: 'infinity',
      nan: 'NaN',
      num_inf: 'Infinity',
      ides: '-000043-03-15T12:00:00.000Z',
      offset_ts: '2024-01-02T10:34:05.123456Z',
      int8_min: '-9223372036854775808',
      small: 12,
      real: 1.25,
      id: '550e8400-e29b-41d4-a716-446655440000',
      span: '1 day 02:03:04',
      t: '13:14:15.5',
    });
  });

  it('gives the same rows the same row hashes and record keys on PostgreSQL and DuckDB', async () => {
    // Types whose text form agrees on both: integers, text, booleans, dates, decimals of one
    // scale, NULL. Floats ("100" vs "100.0") and jsonb (re-spaced) do not, nor timestamptz
    // unless DuckDB's TimeZone is UTC: a sync moved between them re-sends such rows once.
    const rows = [
      "(1, 'plain', true, DATE '2024-02-29', 12.50, NULL, 9007199254740993)",
      "(2, '', false, DATE '1969-12-31', -0.05, 'x', -42)",
      "(3, 'ünï ✓ 👍🏽 e\u0301 \"q\" \\ |~', NULL, DATE '0001-01-01', 0.00, '', 9223372036854775807)",
      "(4, NULL, true, NULL, 99999999999999999999999999999999.99, NULL, NULL)",
    ];
    const columns = 'id INTEGER, t VARCHAR, b BOOLEAN, d DATE, n DECIMAL(34, 2), z VARCHAR, big BIGINT';
    const input = (relation: string) => ({
      relation,
      keyColumns: ['id', 't'],
      valueColumns: ['t', 'b', 'd', 'n', 'z', 'big'],
      fingerprint: '0123456789abcdef',
      mode: 'upsert' as const,
      stateTable: undefined,
    });

    const pgTable = `"${schema.name}"."same_rows"`;
    await connection.execute(`CREATE TABLE ${pgTable} (${columns.replaceAll('VARCHAR', 'text')})`);
    await connection.execute(`INSERT INTO ${pgTable} VALUES ${rows.join(', ')}`);
    const byHash = (a: Record<string, unknown>, b: Record<string, unknown>) => (String(a.__hash) < String(b.__hash) ? -1 : 1);
    const onPostgres = (await connection.query(`SELECT __key, __hash FROM (${modelRowsQuery(warehouse.dialect, input(pgTable))}) AS m`)).sort(byHash);

    const duck = await DuckDBInstance.create(':memory:');
    const duckConnection = await duck.connect();
    try {
      await duckConnection.run(`CREATE TABLE same_rows (${columns})`);
      await duckConnection.run(`INSERT INTO same_rows VALUES ${rows.join(', ')}`);
      const reader = await duckConnection.runAndReadAll(`SELECT __key, __hash FROM (${modelRowsQuery(duckdbDialect, input('same_rows'))}) AS m`);
      const onDuckDB = reader.getRowObjects().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, fromDuckDB(v)])));
      expect(onPostgres).toHaveLength(4);
      expect(new Set(onPostgres.map((r) => r.__hash)).size).toBe(4);
      expect(onPostgres).toEqual(onDuckDB.sort(byHash));
      expect(onPostgres.map((r) => r.__key)).toContain('["3","ünï ✓ 👍🏽 e\u0301 \\"q\\" \\\\ |~"]');
      expect(onPostgres.map((r) => r.__key)).toContain(null);
    } finally {
      duckConnection.closeSync();
      duck.closeSync();
    }
  });

  it('streams through a server-side cursor that is gone when the stream ends or stops early', async () => {
    const open = async () => (await connection.query<{ n: number }>('SELECT count(*) AS n FROM pg_cursors'))[0]!.n;
    const during: number[] = [];
    for await (const batch of connection.stream('SELECT i FROM generate_series(1, 2500) AS s(i) WHERE i > $1', [0], 1000)) {
      during.push(batch.length, await open());
    }
    expect(during).toEqual([1000, 1, 1000, 1, 500, 1]);
    expect(await open()).toBe(0);
    for await (const _ of connection.stream('SELECT i FROM generate_series(1, 2500) AS s(i)', [], 10)) break;
    expect(await open()).toBe(0);
  });

  it('inserts a key only when it is absent, leaving the first row in place', async () => {
    const table = `"${schema.name}"."leases"`;
    await connection.execute(`CREATE TABLE ${table} (sync_id text PRIMARY KEY, run_id text NOT NULL)`);
    const insert = warehouse.dialect.insertIfAbsent!(table, ['sync_id', 'run_id'], ['sync_id'], 'SELECT $1, $2');
    await connection.execute(insert, ['s', 'first']);
    await connection.execute(insert, ['s', 'second']);
    expect(await connection.query(`SELECT * FROM ${table}`)).toEqual([{ sync_id: 's', run_id: 'first' }]);
  });

  it('refuses a model whose relation_name is in another database, naming both and the target', async () => {
    const spec = syncSpec('elsewhere', '"analytics"."marts"."customers"', { primary_key: 'id', fields: { e: 'email' } });
    const error = await planSync(spec, warehouse, { state: undefined, allowLargeChanges: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(EXIT_BAD_INPUT);
    const database = String(pgOutput().dbname);
    expect((error as Error).message).toBe(
      `model elsewhere ("analytics"."marts"."customers") is in database "analytics", but profiles.yml: activate_test.outputs.pg ` +
        `connects to database "${database}", and a PostgreSQL connection cannot read another database: ` +
        `point the target's dbname at "analytics", or build the model into "${database}"`,
    );
  });

  it('reads a model by its relation_name when the database is the connected one', async () => {
    const database = String(pgOutput().dbname);
    await connection.execute(`CREATE TABLE "${schema.name}"."Mixed Case" (id integer, "E-mail" text)`);
    await connection.execute(`INSERT INTO "${schema.name}"."Mixed Case" VALUES (1, 'a@x.com')`);
    const spec = syncSpec('mixed', `"${database}"."${schema.name}"."Mixed Case"`, { primary_key: 'id', fields: { email: 'E-mail' } });
    const plan = await planSync(spec, warehouse, { state: undefined, allowLargeChanges: false });
    const [batch] = await (async () => {
      const out = [];
      for await (const b of plan.changes(10)) out.push(b);
      return out;
    })();
    await plan.close();
    expect(batch).toEqual([expect.objectContaining({ key: '1', fields: { email: 'a@x.com' } })]);
  });

  it('pins the session settings the row hash depends on, whatever the role or server sets', async () => {
    const role = scratchName('tz_role');
    const admin = await pgAdmin();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`ALTER ROLE ${role} SET TimeZone = 'America/New_York'`);
      await admin.query(`ALTER ROLE ${role} SET DateStyle = 'SQL, DMY'`);
      await admin.query(`ALTER ROLE ${role} SET extra_float_digits = 3`);
      const other = await openPostgres(pgTarget({ user: role }), process.cwd());
      try {
        const c = await other.connect();
        const [row] = await c.query(
          `SELECT CAST(TIMESTAMPTZ '2024-01-02 03:04:05+00' AS text) AS tz, CAST(DATE '2024-02-29' AS text) AS d, CAST(0.1::float8 AS text) AS f, current_setting('application_name') AS app`,
        );
        expect(row).toEqual({ tz: '2024-01-02 03:04:05+00', d: '2024-02-29', f: '0.1', app: 'dbt-activate' });
        await c.close();
      } finally {
        await other.close();
      }
    } finally {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });

  it('takes the profile role, and sets the search_path', async () => {
    const role = scratchName('member');
    const admin = await pgAdmin();
    try {
      await admin.query(`CREATE ROLE ${role} NOLOGIN`);
      const other = await openPostgres(pgTarget({ role, search_path: `${schema.name}, public` }), process.cwd());
      try {
        const c = await other.connect();
        const [row] = await c.query(`SELECT current_user AS who, current_setting('search_path') AS path`);
        expect(row).toEqual({ who: role, path: `${schema.name}, public` });
        await c.close();
      } finally {
        await other.close();
      }
    } finally {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});
