/**
 * The BigQuery adapter against a real project: the warehouse conformance suite. Runs only with
 * ACTIVATE_TEST_BIGQUERY_PROJECT and ACTIVATE_TEST_BIGQUERY_DATASET (an existing dataset, the
 * profile's) and either ACTIVATE_TEST_BIGQUERY_KEYFILE (a service-account key) or
 * application-default credentials; ACTIVATE_TEST_BIGQUERY_LOCATION defaults to the dataset's.
 * Otherwise it is skipped with a note. Each run creates two datasets of its own and drops them.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openWarehouse } from '../../src/warehouse/registry.js';
import { defineWarehouseConformance, TESTS } from './conformance.js';

const env = process.env;
const live = !!env.ACTIVATE_TEST_BIGQUERY_PROJECT && !!env.ACTIVATE_TEST_BIGQUERY_DATASET;
const name = 'bigquery live';
if (!live) {
  console.warn(
    `skipped "${name}": set ACTIVATE_TEST_BIGQUERY_PROJECT, ACTIVATE_TEST_BIGQUERY_DATASET and ACTIVATE_TEST_BIGQUERY_KEYFILE (or application-default credentials) to run against a real BigQuery project`,
  );
}

function target() {
  const output: Record<string, unknown> = {
    type: 'bigquery',
    method: env.ACTIVATE_TEST_BIGQUERY_KEYFILE ? 'service-account' : 'oauth',
    keyfile: env.ACTIVATE_TEST_BIGQUERY_KEYFILE,
    project: env.ACTIVATE_TEST_BIGQUERY_PROJECT,
    dataset: env.ACTIVATE_TEST_BIGQUERY_DATASET,
    location: env.ACTIVATE_TEST_BIGQUERY_LOCATION,
    job_execution_timeout_seconds: 600,
  };
  for (const key of Object.keys(output)) if (output[key] === undefined || output[key] === '') delete output[key];
  return { file: 'profiles.yml', profile: 'live', target: 'bigquery', output };
}

describe.skipIf(!live)(name, () => {
  it('labels its jobs and keeps INT64 and NUMERIC exact', async () => {
    const warehouse = await openWarehouse(target(), process.cwd());
    const connection = await warehouse.connect();
    try {
      expect(
        await connection.query("SELECT 9007199254740993 AS i, NUMERIC '123456789012345678.12' AS n, TIMESTAMP '2024-01-02 03:04:05.123456+00' AS t"),
      ).toEqual([{ i: '9007199254740993', n: '123456789012345678.12', t: '2024-01-02T03:04:05.123456Z' }]);
    } finally {
      await connection.close();
      await warehouse.close();
    }
  });

  defineWarehouseConformance(
    'bigquery',
    async () => {
      const warehouse = await openWarehouse(target(), process.cwd());
      const suffix = randomBytes(4).toString('hex');
      const schema = `activate_conformance_${suffix}`;
      const stateSchema = `activate_conformance_state_${suffix}`;
      const connection = await warehouse.connect();
      await connection.execute(`CREATE SCHEMA ${warehouse.dialect.schema!(schema)}`);
      await connection.close();
      return {
        warehouse,
        schema,
        stateSchema,
        types: {
          integer: 'INT64',
          bigint: 'INT64',
          decimal: 'BIGNUMERIC(38, 2)',
          float: 'FLOAT64',
          text: 'STRING',
          boolean: 'BOOL',
          date: 'DATE',
          timestamp: 'DATETIME',
          timestamptz: 'TIMESTAMP',
          // BigQuery has no CAST from STRING to JSON (PARSE_JSON); JSON reading is covered against the REST fake.
          json: 'STRING',
        },
        series: (n) => `(SELECT i FROM UNNEST(GENERATE_ARRAY(1, ${n})) AS i) AS series`,
        async cleanup() {
          const c = await warehouse.connect();
          try {
            await c.execute(`DROP SCHEMA IF EXISTS ${warehouse.dialect.schema!(schema)} CASCADE`);
            await c.execute(`DROP SCHEMA IF EXISTS ${warehouse.dialect.schema!(stateSchema)} CASCADE`);
          } finally {
            await c.close();
            await warehouse.close();
          }
        },
      };
    },
    {
      skip: [
        // BigQuery NUMERIC has no fixed scale: 12.50 is canonically "12.5", so its hashes differ from the shared text there.
        TESTS.hash,
      ],
      // TESTS.lease checks that concurrent MERGEs on the locks table let one run in (BigQuery enforces no keys).
      valueOverrides: { v_json: '{"a": [1, 2], "b": "x"}' },
    },
  );
});
