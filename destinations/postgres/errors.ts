/**
 * What a PostgreSQL error means for the records of a batch:
 * - `record`: the data (a constraint, a value the column cannot take, a trigger's RAISE): split
 *   the batch to find the records at fault; they are rejected, the others committed.
 * - `timeout`: the statement ran too long: split too, but a record still timing out alone may
 *   pass next time (retryable).
 * - `transient`: the connection or the server (lost connection, shutdown, deadlock, out of
 *   resources): the batch is not written and is sent again next run.
 * - `fatal`: the whole sync cannot work (credentials, permissions, missing table or column, no
 *   unique index): the sync stops.
 */
export type ErrorKind = 'record' | 'timeout' | 'transient' | 'fatal';

interface PgErrorFields {
  readonly code?: unknown;
  readonly detail?: unknown;
  readonly hint?: unknown;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

export function sqlState(error: unknown): string | undefined {
  const code = (error as PgErrorFields | null)?.code;
  return typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
}

export function classifyError(error: unknown): ErrorKind {
  const code = sqlState(error);
  if (code === undefined) return 'transient'; // network errors (ECONNRESET, ...) and the driver's own
  const cls = code.slice(0, 2);
  if (code === '57014') return 'timeout'; // statement_timeout
  if (cls === '08' || cls === '53' || cls === '57' || cls === '40' || cls === '58' || code === '55P03' || cls === 'XX') return 'transient';
  // 28 credentials, 3D/3F missing database/schema, 42 missing table/column, privileges, no unique
  // index for ON CONFLICT; 25006 read-only server; 0A feature not supported.
  if (cls === '28' || cls === '3D' || cls === '3F' || cls === '42' || cls === '0A' || code === '25006') return 'fatal';
  return 'record';
}

/** The server's message with its detail ("Key (email)=(a@b.c) already exists."). */
export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const { detail } = (error ?? {}) as PgErrorFields;
  const code = sqlState(error);
  const extra = [typeof detail === 'string' && detail ? detail : undefined, code ? `SQLSTATE ${code}` : undefined].filter(Boolean);
  return extra.length > 0 ? `${message} (${extra.join('; ')})` : message;
}

/** What to do about a fatal error, appended to the server's message. */
export function fatalHint(error: unknown, table: string | undefined): string {
  const code = sqlState(error);
  const on = table ? ` on ${table}` : '';
  if (code?.startsWith('28')) return 'check the user and password (or url) configured for it';
  if (code === '42501') return `the user needs SELECT, INSERT, UPDATE and DELETE${on} (and CREATE on the schema for create_table)`;
  if (code === '42P10') return 'the table needs a primary key or unique index on exactly the identifier columns';
  if (code === '25006') return 'the server is read-only; point the destination at the primary';
  if (code === '3D000') return 'the database does not exist';
  return '';
}
