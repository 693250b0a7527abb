import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { ClientConfig } from 'pg';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../../errors.js';
import { formatZodIssues } from '../../config/issues.js';
import type { ProfileTarget } from '../../dbt/profiles.js';

const port = z.coerce.number().int().min(1).max(65_535);
const seconds = z.coerce.number().nonnegative();

/** The keys of a dbt-postgres output that activate uses; the rest are dbt-postgres's business. */
export const postgresOutputSchema = z
  .looseObject({
    type: z.literal('postgres'),
    host: z.string().min(1),
    user: z.string().min(1),
    password: z.string().optional(),
    pass: z.string().optional(),
    port: port.default(5432),
    dbname: z.string().min(1).optional(),
    database: z.string().min(1).optional(),
    schema: z.string().optional(),
    sslmode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).default('prefer'),
    sslcert: z.string().optional(),
    sslkey: z.string().optional(),
    sslrootcert: z.string().optional(),
    connect_timeout: seconds.default(10),
    keepalives_idle: seconds.optional(),
    application_name: z.string().optional(),
    role: z.string().min(1).optional(),
    search_path: z.string().optional(),
  })
  .refine((o) => o.dbname !== undefined || o.database !== undefined, { message: 'is required (or database:)', path: ['dbname'] });

export type PostgresOutput = z.infer<typeof postgresOutputSchema>;

/** What a connection needs, resolved from the profile: pg client settings per SSL attempt, in order. */
export interface PostgresSettings {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly sslmode: PostgresOutput['sslmode'];
  readonly role: string | undefined;
  /** libpq's sslmode as attempts: prefer tries SSL then plain, allow plain then SSL. */
  readonly attempts: readonly ClientConfig[];
  /** `postgres (profile p, target t, user@host:port/db)`: for messages, never credentials. */
  readonly description: string;
  /** `profiles.yml: p.outputs.t`: where to fix the profile. */
  readonly where: string;
}

/**
 * Session settings that make the text PostgreSQL returns, and casts to text for the row
 * hash, independent of the server's and the role's configuration.
 */
export const SESSION_SETTINGS: Readonly<Record<string, string>> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO',
  IntervalStyle: 'postgres',
  extra_float_digits: '1',
  bytea_output: 'hex',
  standard_conforming_strings: 'on',
};

/** libpq's `options` string: `-c name=value`, with spaces and backslashes escaped by a backslash. */
export function startupOptions(settings: Readonly<Record<string, string>>): string {
  const escape = (s: string) => s.replace(/[\\ ]/g, (c) => `\\${c}`);
  return Object.entries(settings)
    .map(([name, value]) => `-c ${escape(`${name}=${value}`)}`)
    .join(' ');
}

export function parsePostgresOutput(target: ProfileTarget): PostgresOutput {
  const parsed = postgresOutputSchema.safeParse(target.output);
  if (!parsed.success) {
    throw new ConfigError(formatZodIssues(parsed.error, target.file, { prefix: `${target.profile}.outputs.${target.target}` }));
  }
  return parsed.data;
}

/** The profile output -> pg client settings. Reads certificate files (relative to `cwd`, as libpq does). */
export function postgresSettings(target: ProfileTarget, output: PostgresOutput, cwd: string): PostgresSettings {
  const where = `${target.file}: ${target.profile}.outputs.${target.target}`;
  const database = (output.dbname ?? output.database)!;
  const readPem = (key: 'sslcert' | 'sslkey' | 'sslrootcert') => {
    const path = output[key];
    if (path === undefined) return undefined;
    try {
      return readFileSync(resolve(cwd, path), 'utf8');
    } catch (error) {
      throw new ConfigError(`${where}.${key}: cannot read ${resolve(cwd, path)}: ${errorMessage(error)}`, { cause: error });
    }
  };
  const ca = readPem('sslrootcert');
  const tls: ConnectionOptions = { cert: readPem('sslcert'), key: readPem('sslkey') };
  const encrypted = (mode: PostgresOutput['sslmode']): ConnectionOptions => {
    switch (mode) {
      case 'verify-full':
        return { ...tls, ca, rejectUnauthorized: true };
      case 'verify-ca':
        return { ...tls, ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
      case 'require':
        // libpq: with a root certificate, require verifies the CA as verify-ca does.
        return ca ? encrypted('verify-ca') : { ...tls, rejectUnauthorized: false };
      default:
        return { ...tls, rejectUnauthorized: false };
    }
  };
  const search: Record<string, string> = output.search_path ? { search_path: output.search_path } : {};
  const base: ClientConfig = {
    host: output.host,
    port: output.port,
    user: output.user,
    password: output.password ?? output.pass,
    database,
    application_name: output.application_name ?? 'dbt-activate',
    connectionTimeoutMillis: Math.round(output.connect_timeout * 1000),
    keepAlive: true,
    keepAliveInitialDelayMillis: output.keepalives_idle ? Math.round(output.keepalives_idle * 1000) : 0,
    options: startupOptions({ ...SESSION_SETTINGS, ...search }),
  };
  const plain: ClientConfig = { ...base, ssl: false };
  const ssl: ClientConfig = { ...base, ssl: encrypted(output.sslmode) };
  const attempts =
    output.sslmode === 'disable' ? [plain] : output.sslmode === 'allow' ? [plain, ssl] : output.sslmode === 'prefer' ? [ssl, plain] : [ssl];
  return {
    host: output.host,
    port: output.port,
    user: output.user,
    database,
    sslmode: output.sslmode,
    role: output.role,
    attempts,
    description: `postgres (profile ${target.profile}, target ${target.target}, ${output.user}@${output.host}:${output.port}/${database})`,
    where,
  };
}
