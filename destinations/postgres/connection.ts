import type { PoolConfig } from 'pg';
import { SSL_MODES, type PostgresConfig, type SslMode } from './config.js';

const MIN_MASKED_LENGTH = 4;

/** node-postgres pool settings for a destination entry. */
export function poolConfig(config: PostgresConfig): PoolConfig {
  const base: PoolConfig = {
    max: config.concurrency,
    connectionTimeoutMillis: Math.round(config.connect_timeout_seconds * 1000),
    idleTimeoutMillis: 30_000,
    application_name: 'dbt-activate',
    ...(config.statement_timeout_seconds === undefined ? {} : { statement_timeout: Math.round(config.statement_timeout_seconds * 1000) }),
  };
  if (config.url !== undefined) {
    const { connectionString, sslmode } = libpqSslMode(config.url);
    const ssl = sslOption(sslmode ?? config.sslmode);
    return { ...base, connectionString, ...(ssl === undefined ? {} : { ssl }) };
  }
  const ssl = sslOption(config.sslmode);
  const withSsl = ssl === undefined ? {} : { ssl };
  return {
    ...base,
    host: config.host,
    port: config.port ?? 5432,
    user: config.user,
    password: config.password,
    database: config.database,
    ...withSsl,
  };
}

/**
 * node-postgres reads `sslmode=require` (and prefer, verify-ca) in a URL as verify-full, and warns
 * on stderr. activate gives sslmode its libpq meaning wherever it is written: the URL's sslmode is
 * taken out and applied as the `ssl` option. A URL naming certificate files is left to node-postgres.
 */
function libpqSslMode(url: string): { connectionString: string; sslmode: SslMode | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { connectionString: url, sslmode: undefined };
  }
  const mode = parsed.searchParams.get('sslmode');
  const files = ['sslcert', 'sslkey', 'sslrootcert'].some((k) => parsed.searchParams.has(k));
  if (mode === null || files || !(SSL_MODES as readonly string[]).includes(mode)) return { connectionString: url, sslmode: undefined };
  parsed.searchParams.delete('sslmode');
  return { connectionString: parsed.toString(), sslmode: mode as SslMode };
}

/** libpq's sslmode in node-postgres terms. `prefer` cannot fall back in node-postgres: it connects without TLS. */
function sslOption(mode: PostgresConfig['sslmode']): PoolConfig['ssl'] {
  switch (mode) {
    case undefined:
      return undefined;
    case 'disable':
    case 'prefer':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
  }
}

/** Values never to show in a message: the password, the url, and the password inside the url. */
export function secretValues(config: PostgresConfig): string[] {
  const values = [config.password, config.url];
  if (config.url) {
    try {
      const password = new URL(config.url).password;
      if (password) values.push(password, decodeURIComponent(password));
    } catch {
      // not parseable as a URL: the whole url is masked anyway
    }
  }
  return values
    .filter((v): v is string => typeof v === 'string' && v.length >= MIN_MASKED_LENGTH)
    .sort((a, b) => b.length - a.length);
}
