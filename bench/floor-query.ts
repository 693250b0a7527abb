/**
 * The warehouse floor, run as its own process: one hand-written query over the benchmark's
 * tables, in a fresh DuckDB instance (or a fresh PostgreSQL connection). Prints
 * {"ms": ..., "rows": [...]} on stdout; `ms` is the query alone (opening is reported apart).
 *
 *   node dist/bench/floor-query.js '{"kind":"duckdb","path":"...","sql":"..."}'
 *   node dist/bench/floor-query.js '{"kind":"postgres","url":"...","sql":"..."}'
 */
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';

interface Job {
  readonly kind: 'duckdb' | 'postgres';
  readonly path?: string;
  readonly url?: string;
  readonly sql: string;
  /** Statements run before the timed one (e.g. session settings). */
  readonly setup?: readonly string[];
  /** Statements run after the query and timed with it (e.g. DuckDB's CHECKPOINT). */
  readonly timedAfter?: readonly string[];
  /** DuckDB configuration, as in a dbt-duckdb profile's `settings`. */
  readonly settings?: Readonly<Record<string, string>>;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const jsonSafe = (value: unknown) => (typeof value === 'bigint' ? Number(value) : value);

if (job.kind === 'duckdb') {
  const opened = performance.now();
  const instance = await DuckDBInstance.create(job.path!, { ...job.settings });
  const connection = await instance.connect();
  const openMs = performance.now() - opened;
  for (const statement of job.setup ?? []) await connection.run(statement);
  const started = performance.now();
  const reader = await connection.runAndReadAll(job.sql);
  for (const statement of job.timedAfter ?? []) await connection.run(statement);
  const ms = performance.now() - started;
  const names = reader.columnNames();
  const rows = reader.getRows().map((row) => Object.fromEntries(names.map((n, i) => [n, jsonSafe(row[i])])));
  connection.closeSync();
  instance.closeSync();
  process.stdout.write(JSON.stringify({ ms, openMs, rows }) + '\n');
} else {
  const client = new pg.Client({ connectionString: job.url });
  const opened = performance.now();
  await client.connect();
  const openMs = performance.now() - opened;
  for (const statement of job.setup ?? []) await client.query(statement);
  const started = performance.now();
  const result = await client.query(job.sql);
  const ms = performance.now() - started;
  await client.end();
  process.stdout.write(JSON.stringify({ ms, openMs, rows: result.rows }) + '\n');
}
