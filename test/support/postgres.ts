/**
 * The real PostgreSQL server for tests: `ACTIVATE_TEST_PG_URL` (CI sets it and
 * `ACTIVATE_TEST_PG_REQUIRED=1`). Without the URL, PostgreSQL tests skip visibly
 * (describe.skipIf(!pgUrl)); when it is required but missing, importing this module fails the file.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';
import type { ProfileTarget } from '../../src/dbt/profiles.js';

export const pgUrl: string | undefined = process.env.ACTIVATE_TEST_PG_URL || undefined;

if (!pgUrl && process.env.ACTIVATE_TEST_PG_REQUIRED === '1') {
  throw new Error('ACTIVATE_TEST_PG_REQUIRED=1 but ACTIVATE_TEST_PG_URL is not set: PostgreSQL tests cannot run');
}

/** A schema of its own for one test file, dropped (with everything in it) by drop(). */
export interface ScratchSchema {
  readonly name: string;
  readonly pool: pg.Pool;
  query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

export async function scratchSchema(label: string): Promise<ScratchSchema> {
  if (!pgUrl) throw new Error('ACTIVATE_TEST_PG_URL is not set');
  const name = `activate_test_${label}_${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: pgUrl, max: 4 });
  pool.on('error', () => undefined);
  await pool.query(`CREATE SCHEMA "${name}"`);
  return {
    name,
    pool,
    query: async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await pool.query<T>(sql, params)).rows,
    async drop() {
      try {
        await pool.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      } finally {
        await pool.end();
      }
    },
  };
}

/** The URL with another user (trust authentication lets any existing role in without a password). */
export function urlWithUser(url: string, user: string, password?: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password ?? '';
  return parsed.toString();
}

/** describe() for tests that need PostgreSQL: skipped, with a note, when ACTIVATE_TEST_PG_URL is not set. */
export function describePostgres(name: string, body: () => void): void {
  if (!pgUrl) console.warn(`skipped "${name}": set ACTIVATE_TEST_PG_URL=postgres://user@host:5432/db to run the PostgreSQL tests`);
  describe.skipIf(!pgUrl)(name, body);
}

/** A dbt-postgres profile output for the test server, as a user would write it in profiles.yml. */
export function pgOutput(extra: Record<string, unknown> = {}, url = pgUrl!): Record<string, unknown> {
  const u = new URL(url);
  const sslmode = u.searchParams.get('sslmode');
  return {
    type: 'postgres',
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username) || 'postgres',
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    dbname: decodeURIComponent(u.pathname.slice(1)) || 'postgres',
    schema: 'public',
    ...(sslmode ? { sslmode } : {}),
    ...extra,
  };
}

/** A profile target (`activate_test.outputs.pg` of profiles.yml) for the test server. */
export function pgTarget(extra: Record<string, unknown> = {}): ProfileTarget {
  return { file: 'profiles.yml', profile: 'activate_test', target: 'pg', output: pgOutput(extra) };
}

/** An administrative connection to the test database (not through activate's adapter). */
export async function pgAdmin(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: pgUrl });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A unique lower-case name for a schema or role of this test run. */
export function scratchName(label: string): string {
  return `activate_test_${label}_${randomBytes(4).toString('hex')}`;
}
