import { ConfigError } from '../errors.js';
import type { ProfileTarget } from '../dbt/profiles.js';
import type { Warehouse } from './types.js';

/** Opens the warehouse a dbt profile target points at; each adapter's SDK loads only when used. */
export async function openWarehouse(target: ProfileTarget, cwd: string): Promise<Warehouse> {
  const type = target.output.type;
  switch (type) {
    case 'duckdb': {
      const { openDuckDB } = await import('./duckdb/duckdb-warehouse.js');
      return openDuckDB(target, cwd);
    }
    case 'postgres': {
      const { openPostgres } = await import('./postgres/postgres-warehouse.js');
      return openPostgres(target, cwd);
    }
    case 'snowflake': {
      const { openSnowflake } = await import('./snowflake/snowflake-warehouse.js');
      return openSnowflake(target, cwd);
    }
    case 'bigquery': {
      const { openBigQuery } = await import('./bigquery/bigquery-warehouse.js');
      return openBigQuery(target, cwd);
    }
    default:
      throw new ConfigError(
        `${target.file}: ${target.profile}.outputs.${target.target}.type: "${String(type)}" is not a warehouse activate supports (duckdb, postgres, snowflake, bigquery)`,
      );
  }
}
