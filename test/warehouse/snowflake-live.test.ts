/**
 * The Snowflake adapter against a real account: the warehouse conformance suite and the
 * session settings. Runs only with ACTIVATE_TEST_SNOWFLAKE_ACCOUNT (and _USER, _PASSWORD or
 * _PRIVATE_KEY_PATH [+ _PRIVATE_KEY_PASSPHRASE], _DATABASE, _WAREHOUSE, optional _ROLE and
 * _SCHEMA, an existing schema for the session's temporary tables, default PUBLIC); otherwise
 * it is skipped with a note. Each run creates two schemas of its own and drops them.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openWarehouse } from '../../src/warehouse/registry.js';
import { snowflakeName } from '../../src/warehouse/snowflake/snowflake-dialect.js';
import { defineWarehouseConformance } from './conformance.js';

const env = process.env;
const live = !!env.ACTIVATE_TEST_SNOWFLAKE_ACCOUNT;
const name = 'snowflake live';
if (!live) {
  console.warn(
    `skipped "${name}": set ACTIVATE_TEST_SNOWFLAKE_ACCOUNT, _USER, _PASSWORD (or _PRIVATE_KEY_PATH), _DATABASE and _WAREHOUSE to run against a real Snowflake account`,
  );
}

function target() {
  const output: Record<string, unknown> = {
    type: 'snowflake',
    account: env.ACTIVATE_TEST_SNOWFLAKE_ACCOUNT,
    user: env.ACTIVATE_TEST_SNOWFLAKE_USER,
    password: env.ACTIVATE_TEST_SNOWFLAKE_PASSWORD,
    private_key_path: env.ACTIVATE_TEST_SNOWFLAKE_PRIVATE_KEY_PATH,
    private_key_passphrase: env.ACTIVATE_TEST_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE,
    role: env.ACTIVATE_TEST_SNOWFLAKE_ROLE,
    database: env.ACTIVATE_TEST_SNOWFLAKE_DATABASE,
    warehouse: env.ACTIVATE_TEST_SNOWFLAKE_WAREHOUSE,
    schema: env.ACTIVATE_TEST_SNOWFLAKE_SCHEMA ?? 'PUBLIC',
  };
  for (const key of Object.keys(output)) if (output[key] === undefined || output[key] === '') delete output[key];
  return { file: 'profiles.yml', profile: 'live', target: 'snowflake', output };
}

describe.skipIf(!live)(name, () => {
  it('tags its queries and pins the session settings', async () => {
    const warehouse = await openWarehouse(target(), process.cwd());
    const connection = await warehouse.connect();
    try {
      const rows = await connection.query<{ key: string; value: string }>("SHOW PARAMETERS LIKE 'QUERY_TAG' IN SESSION");
      expect(rows[0]?.value).toBe('dbt-activate');
      expect(await connection.query("SELECT TO_VARCHAR(TO_TIMESTAMP_NTZ('2024-01-02 03:04:05.123456')) AS t")).toEqual([
        { t: '2024-01-02T03:04:05.123456000' },
      ]);
    } finally {
      await connection.close();
      await warehouse.close();
    }
  });

  defineWarehouseConformance(
    'snowflake',
    async () => {
      const warehouse = await openWarehouse(target(), process.cwd());
      const suffix = randomBytes(4).toString('hex').toUpperCase();
      const schema = `ACTIVATE_CONFORMANCE_${suffix}`;
      const stateSchema = `ACTIVATE_CONFORMANCE_STATE_${suffix}`;
      const connection = await warehouse.connect();
      await connection.execute(`CREATE SCHEMA ${snowflakeName(schema)}`);
      await connection.close();
      return {
        warehouse,
        schema,
        stateSchema,
        types: {
          integer: 'INTEGER',
          bigint: 'BIGINT',
          decimal: 'NUMBER(38, 2)',
          float: 'FLOAT',
          text: 'VARCHAR',
          boolean: 'BOOLEAN',
          date: 'DATE',
          timestamp: 'TIMESTAMP_NTZ',
          timestamptz: 'TIMESTAMP_TZ',
          // VALUES cannot hold PARSE_JSON; VARIANT reading is covered against the REST fake.
          json: 'VARCHAR',
        },
        series: (n) => `(SELECT CAST(ROW_NUMBER() OVER (ORDER BY SEQ4()) AS INTEGER) AS i FROM TABLE(GENERATOR(ROWCOUNT => ${n}))) AS series`,
        async cleanup() {
          const c = await warehouse.connect();
          try {
            await c.execute(`DROP SCHEMA IF EXISTS ${snowflakeName(schema)} CASCADE`);
            await c.execute(`DROP SCHEMA IF EXISTS ${snowflakeName(stateSchema)} CASCADE`);
          } finally {
            await c.close();
            await warehouse.close();
          }
        },
      };
    },
    {
      // The lease race relies on Snowflake serialising MERGEs on one table (it enforces no keys):
      // TESTS.lease is what checks it, and only a real account can.
      valueOverrides: { v_json: '{"a": [1, 2], "b": "x"}' },
    },
  );
});
