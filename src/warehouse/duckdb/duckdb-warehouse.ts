import { existsSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { z } from 'zod';
import { ConfigError, WarehouseError, EXIT_BAD_INPUT, errorMessage } from '../../errors.js';
import { formatZodIssues } from '../../config/issues.js';
import type { ProfileTarget } from '../../dbt/profiles.js';
import type { Connection, Row, Warehouse } from '../types.js';
import { duckdbDialect } from './duckdb-dialect.js';
import { fromDuckDB } from './duckdb-values.js';

/** The keys of a dbt-duckdb output that activate uses; the rest are dbt-duckdb's business. */
export const duckdbOutputSchema = z.looseObject({
  type: z.literal('duckdb'),
  path: z.string().default(':memory:'),
  schema: z.string().default('main'),
  database: z.string().optional(),
  settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  extensions: z.array(z.union([z.string(), z.looseObject({ name: z.string() })])).optional(),
});

export async function openDuckDB(target: ProfileTarget, cwd: string): Promise<Warehouse> {
  const parsed = duckdbOutputSchema.safeParse(target.output);
  if (!parsed.success) {
    throw new ConfigError(formatZodIssues(parsed.error, target.file, { prefix: `${target.profile}.outputs.${target.target}` }));
  }
  const output = parsed.data;
  const inMemory = output.path === ':memory:' || output.path === '';
  const isRemote = /^(md|motherduck):/.test(output.path);
  // dbt-duckdb hands a relative path to DuckDB unchanged, so it resolves against the working directory.
  const path = inMemory || isRemote ? output.path : resolve(cwd, output.path);
  if (!inMemory && !isRemote && !existsSync(path)) {
    throw new ConfigError(
      `${target.file}: ${target.profile}.outputs.${target.target}.path: DuckDB file ${path} does not exist; run \`dbt build\` first (paths are relative to the current directory, as in dbt).`,
    );
  }
  const options: Record<string, string> = {};
  for (const [k, v] of Object.entries(output.settings ?? {})) options[k] = String(v);
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path, options);
  } catch (error) {
    const message = errorMessage(error);
    if (/lock/i.test(message)) {
      throw new WarehouseError(
        `DuckDB file ${path} is open in another process (dbt, a DuckDB shell or another activate run): ${message}`,
        { cause: error },
      );
    }
    throw new WarehouseError(`cannot open DuckDB file ${path}: ${message}`, { cause: error, exitCode: EXIT_BAD_INPUT });
  }
  const database = output.database ?? (inMemory ? 'memory' : basename(path, extname(path)));
  const connections = new Set<DuckDBConnection>();
  return {
    kind: 'duckdb',
    dialect: duckdbDialect,
    description: `duckdb (profile ${target.profile}, target ${target.target}, ${inMemory ? ':memory:' : database})`,
    async connect() {
      const connection = await instance.connect();
      connections.add(connection);
      return wrapConnection(connection, () => connections.delete(connection));
    },
    async close() {
      for (const c of connections) c.closeSync();
      connections.clear();
      instance.closeSync();
    },
  };
}

function wrapConnection(connection: DuckDBConnection, onClose: () => void): Connection {
  const run = async <T>(sql: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw new WarehouseError(`DuckDB: ${errorMessage(error)}`, { cause: error });
    }
  };
  const values = (params: readonly unknown[] | undefined) => (params ?? []) as DuckDBValue[];
  let inTransaction = false;
  return {
    execute: (sql, params) => run(sql, async () => void (await connection.run(sql, values(params)))),
    describe: (sql) => run(sql, async () => (await connection.runAndReadAll(sql)).columnNames()),
    query: <T extends Row>(sql: string, params?: readonly unknown[]) =>
      run(sql, async () => {
        const reader = await connection.runAndReadAll(sql, values(params));
        const names = reader.columnNames();
        return reader.getRows().map((row) => toRow(names, row) as T);
      }),
    async *stream(sql, params, batchSize) {
      const result = await run(sql, () => connection.stream(sql, values(params)));
      const names = result.columnNames();
      let batch: Row[] = [];
      for (;;) {
        const chunk = await run(sql, () => result.fetchChunk());
        if (!chunk || chunk.rowCount === 0) break;
        for (const row of chunk.getRows()) {
          batch.push(toRow(names, row));
          if (batch.length >= batchSize) {
            yield batch;
            batch = [];
          }
        }
      }
      if (batch.length > 0) yield batch;
    },
    async transaction(work) {
      if (inTransaction) return work();
      await run('BEGIN', () => connection.run('BEGIN TRANSACTION'));
      inTransaction = true;
      try {
        const out = await work();
        await run('COMMIT', () => connection.run('COMMIT'));
        return out;
      } catch (error) {
        await connection.run('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        inTransaction = false;
      }
    },
    async close() {
      connection.closeSync();
      onClose();
    },
  };
}

function toRow(names: readonly string[], row: readonly DuckDBValue[]): Row {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) out[names[i]!] = fromDuckDB(row[i]!);
  return out;
}
