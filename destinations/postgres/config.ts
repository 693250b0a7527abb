import { z } from 'zod';

/** How the connection is encrypted, as libpq spells it. */
export const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The postgres entry in activate.yml: where the application database is and how to reach it. */
export const postgresConfigSchema = z
  .strictObject({
    type: z.literal('postgres'),
    /** `postgres://user:password@host:5432/database?sslmode=require`; or the keys below. */
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65_535).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    database: z.string().min(1).optional(),
    /** Used when `url` has no sslmode of its own. */
    sslmode: z.enum(SSL_MODES).optional(),
    /** Records per write: one statement (and one transaction) per batch. */
    batch_size: z.number().int().min(1).max(50_000).default(1000),
    /** Batches written at once, each on its own connection. */
    concurrency: z.number().int().min(1).max(32).default(2),
    connect_timeout_seconds: z.number().positive().default(10),
    /** Longest one batch's statement may run; unset means the server's setting. */
    statement_timeout_seconds: z.number().positive().optional(),
  })
  .superRefine((config, ctx) => {
    const keyed = (['host', 'port', 'user', 'password', 'database'] as const).filter((k) => config[k] !== undefined);
    if (config.url !== undefined && keyed.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: [keyed[0]!],
        message: `set either url or host/port/user/password/database, not both (found url and ${keyed.join(', ')})`,
      });
    }
    if (config.url === undefined && config.host === undefined) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'set url (postgres://user:password@host:5432/database), or host and database' });
    }
    if (config.url === undefined && config.host !== undefined && config.database === undefined) {
      ctx.addIssue({ code: 'custom', path: ['database'], message: 'set the database to connect to' });
    }
  });

export type PostgresConfig = z.output<typeof postgresConfigSchema>;

/** One PostgreSQL name part: anything but a dot or a double quote (names are used exactly as written). */
const namePart = '[^."\\s][^."]*';
const TABLE_NAME = new RegExp(`^${namePart}(\\.${namePart})?$`);

/**
 * A SQL type for create_table: `text`, `numeric(12,2)`, `timestamp with time zone`, `text[]`,
 * `public.citext`. Written into the DDL as is, so only type syntax is accepted.
 */
const SQL_TYPE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?( [A-Za-z_][A-Za-z0-9_]*)*( ?\(\s*\d+\s*(,\s*\d+\s*)?\))?( [A-Za-z_][A-Za-z0-9_]*)*(\[\d*\])*$/;

/** Connector options in meta.activation. */
export const postgresOptionsSchema = z.strictObject({
  /** `schema.table` (or `table`, found through the search_path); names are case-sensitive, as written. */
  table: z.string().regex(TABLE_NAME, 'must be "schema.table" or "table" (no quotes; names are used exactly as written)'),
  /** Create the table (and its schema) when missing, and add mapped columns it lacks. */
  create_table: z.boolean().default(false),
  /** Column -> SQL type, for create_table; other columns get a type from the values. */
  columns: z.record(z.string().min(1), z.string().regex(SQL_TYPE, 'must be a SQL type such as text, bigint, numeric(12,2) or timestamptz')).optional(),
});

export type PostgresOptions = z.output<typeof postgresOptionsSchema>;

/** `schema.table` split into its parts. */
export function tableName(table: string): { readonly schema: string | undefined; readonly name: string } {
  const dot = table.indexOf('.');
  return dot < 0 ? { schema: undefined, name: table } : { schema: table.slice(0, dot), name: table.slice(dot + 1) };
}
