import pg from 'pg';
import type { ProfileTarget } from '../../dbt/profiles.js';
import type { Connection, Row, Warehouse } from '../types.js';
import { postgresDialect, quote } from './postgres-dialect.js';
import { connectError, isSslNegotiationFailure, queryError } from './postgres-errors.js';
import { parsePostgresOutput, postgresSettings, type PostgresSettings } from './postgres-profile.js';
import { valueParser } from './postgres-values.js';

export { postgresOutputSchema } from './postgres-profile.js';

// Per client, never pg.types.setTypeParser: activate must not change how a host application's pg parses.
const types = { getTypeParser: (oid: number) => valueParser(oid) } as pg.CustomTypesConfig;

/**
 * Opens a dbt-postgres target. The first connection is made here, so a wrong password, an
 * unreachable host or a missing database is reported (exit 2) before anything is planned.
 */
export async function openPostgres(target: ProfileTarget, cwd: string): Promise<Warehouse> {
  const settings = postgresSettings(target, parsePostgresOutput(target), cwd);
  const clients = new Set<pg.Client>();
  let spare: pg.Client | undefined = await connectClient(settings);
  const track = (client: pg.Client): Connection => {
    clients.add(client);
    return wrapClient(client, settings, () => clients.delete(client));
  };
  return {
    kind: 'postgres',
    dialect: postgresDialect({ database: settings.database, target: settings.where }),
    description: settings.description,
    async connect() {
      const client = spare ?? (await connectClient(settings));
      spare = undefined;
      return track(client);
    },
    async close() {
      const open = [...clients, ...(spare ? [spare] : [])];
      clients.clear();
      spare = undefined;
      await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    },
  };
}

/** Connects as libpq would for the sslmode (prefer: SSL, else plain), then takes the role. */
export async function connectClient(settings: PostgresSettings): Promise<pg.Client> {
  let lastError: unknown;
  for (const [index, attempt] of settings.attempts.entries()) {
    const client = new pg.Client({ ...attempt, types });
    // A server-side disconnect is reported by the next query; an unhandled 'error' event would end the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      lastError = error;
      await client.end().catch(() => undefined);
      const more = index < settings.attempts.length - 1;
      if (more && isSslNegotiationFailure(error, attempt.ssl !== false)) continue;
      throw connectError(error, settings);
    }
    if (settings.role) {
      try {
        await client.query(`SET ROLE ${quote(settings.role)}`);
      } catch (error) {
        await client.end().catch(() => undefined);
        throw connectError(error, settings);
      }
    }
    return client;
  }
  throw connectError(lastError, settings);
}

let cursorCounter = 0;
const MIN_FETCH_ROWS = 2000;

function wrapClient(client: pg.Client, settings: PostgresSettings, onClose: () => void): Connection {
  const run = async (sql: string, params?: readonly unknown[]): Promise<pg.QueryResult<Row>> => {
    try {
      return await client.query<Row>(sql, params as unknown[] | undefined);
    } catch (error) {
      throw queryError(error, sql, settings);
    }
  };
  let inTransaction = false;
  return {
    execute: async (sql, params) => void (await run(sql, params)),
    describe: async (sql) => (await run(sql)).fields.map((f) => f.name),
    query: async <T extends Row>(sql: string, params?: readonly unknown[]) => (await run(sql, params)).rows as T[],
    /**
     * A server-side cursor inside a transaction: PostgreSQL keeps the result, the process
     * holds one batch. Stopping early closes the cursor (ending its transaction when it began it).
     */
    async *stream(sql, params, batchSize) {
      const cursor = `activate_cursor_${++cursorCounter}`;
      const ownTransaction = !inTransaction;
      if (ownTransaction) {
        await run('BEGIN');
        inTransaction = true;
      }
      let failed = false;
      try {
        await run(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`, params);
        const size = Math.max(1, Math.floor(batchSize));
        // Small batches (a destination's 100 records) would cost a round trip each: fetch more, yield slices.
        const fetch = Math.ceil(Math.max(size, MIN_FETCH_ROWS) / size) * size;
        for (;;) {
          const { rows } = await run(`FETCH FORWARD ${fetch} FROM ${cursor}`);
          for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
          if (rows.length < fetch) break;
        }
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        if (ownTransaction) {
          inTransaction = false;
          await client.query(failed ? 'ROLLBACK' : 'COMMIT').catch(() => undefined);
        } else if (!failed) {
          await client.query(`CLOSE ${cursor}`).catch(() => undefined);
        }
      }
    },
    async transaction(work) {
      if (inTransaction) return work();
      await run('BEGIN');
      inTransaction = true;
      try {
        const out = await work();
        await run('COMMIT');
        return out;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        inTransaction = false;
      }
    },
    async close() {
      onClose();
      await client.end().catch(() => undefined);
    },
  };
}
