import { openDuckDB } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { defineWarehouseConformance } from './conformance.js';

defineWarehouseConformance('duckdb', async () => {
  const warehouse = await openDuckDB(
    { file: 'profiles.yml', profile: 'conformance', target: 'dev', output: { type: 'duckdb', path: ':memory:' } },
    process.cwd(),
  );
  const connection = await warehouse.connect();
  await connection.execute('CREATE SCHEMA models');
  await connection.close();
  return {
    warehouse,
    schema: 'models',
    stateSchema: 'activate_state',
    types: {
      integer: 'INTEGER',
      bigint: 'BIGINT',
      decimal: 'DECIMAL(38, 2)',
      float: 'DOUBLE',
      text: 'VARCHAR',
      boolean: 'BOOLEAN',
      date: 'DATE',
      timestamp: 'TIMESTAMP',
      timestamptz: 'TIMESTAMPTZ',
      json: 'JSON',
    },
    series: (n) => `(SELECT CAST(range + 1 AS INTEGER) AS i FROM range(${n})) AS series`,
    cleanup: () => warehouse.close(),
  };
}, {
  // DuckDB hands JSON values over as text and its adapter converts by value, not by column type,
  // so JSON reaches destinations as a string from DuckDB and as a structure from PostgreSQL.
  valueOverrides: { v_json: '{"a": [1, 2], "b": "x"}' },
});
