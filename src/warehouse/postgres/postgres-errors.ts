import { EXIT_BAD_INPUT, WarehouseError, errorMessage } from '../../errors.js';
import { quote } from './postgres-dialect.js';
import type { PostgresSettings } from './postgres-profile.js';

type Context = Pick<PostgresSettings, 'host' | 'port' | 'user' | 'database' | 'sslmode' | 'description' | 'where' | 'role'>;

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE']);

export const sqlState = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

const isSslRefused = (error: unknown) => /does not support SSL/i.test(errorMessage(error));

/** True when libpq's prefer/allow would try the next attempt (the other side of SSL). */
export function isSslNegotiationFailure(error: unknown, attemptWasSsl: boolean): boolean {
  // prefer: the server refuses SSL. allow: pg_hba.conf refuses a plain connection ("no encryption").
  return attemptWasSsl ? isSslRefused(error) : sqlState(error) === '28000' && /no encryption/i.test(errorMessage(error));
}

/**
 * A failed connection as one message naming the warehouse, the profile target and what to
 * do. Always bad input (exit 2): nothing was sent, and the fix is in profiles.yml or the server.
 */
export function connectError(error: unknown, c: Context): WarehouseError {
  const code = sqlState(error);
  const message = errorMessage(error);
  const at = `${c.where} (postgres, ${c.user}@${c.host}:${c.port}/${c.database})`;
  let advice: string;
  if (code === '28P01') {
    advice = `password authentication failed for user "${c.user}": check password (or pass) in the target, or the environment variable it reads`;
  } else if (code === '28000') {
    advice = `${message}: check user in the target, and that the server's pg_hba.conf lets this user connect from this machine`;
  } else if (code === '3D000') {
    advice = `${message} on ${c.host}:${c.port}: check dbname in the target`;
  } else if (code === '42704' || code === '22023' || (code === '42501' && c.role !== undefined && /role/i.test(message))) {
    advice = `cannot SET ROLE "${c.role}": ${message}; check role in the target, and that user "${c.user}" is a member of it`;
  } else if ((code !== undefined && NETWORK_CODES.has(code)) || /timeout|terminated/i.test(message)) {
    advice =
      `cannot reach the server at ${c.host}:${c.port} (${message}): check host and port in the target, that the server is running, ` +
      `and that it accepts TCP connections from this machine (listen_addresses, firewall)`;
  } else if (isSslRefused(error)) {
    advice = `sslmode is ${c.sslmode} but the server at ${c.host}:${c.port} does not support SSL: enable SSL on the server, or set sslmode: prefer (or disable) in the target`;
  } else if (/certificate|self[- ]signed|altnames/i.test(message) || (code !== undefined && /CERT|TLS/.test(code))) {
    advice = `the server's certificate was not accepted with sslmode ${c.sslmode} (${message}): set sslrootcert to the CA that signed it, or use sslmode: require`;
  } else {
    advice = `cannot connect: ${message}`;
  }
  return new WarehouseError(`${at}: ${advice}`, { cause: error, exitCode: EXIT_BAD_INPUT });
}

/** An error of a statement on an open connection; permission problems say which grant is missing. */
export function queryError(error: unknown, sql: string, c: Context): WarehouseError {
  const code = sqlState(error);
  const message = errorMessage(error);
  if (code === '42501' && /^\s*CREATE\s+SCHEMA/i.test(sql)) {
    return new WarehouseError(
      `${c.description}: ${message}; as the database owner: GRANT CREATE ON DATABASE ${quote(c.database)} TO ${quote(c.role ?? c.user)}`,
      { cause: error, exitCode: EXIT_BAD_INPUT },
    );
  }
  return new WarehouseError(`PostgreSQL: ${message}`, { cause: error });
}
