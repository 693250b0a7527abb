import { ConfigError } from '../../errors.js';
import type { ModelNode } from '../../dbt/manifest.js';
import type { ColumnSpec, SqlDialect } from '../types.js';

export const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
// The connection pins standard_conforming_strings=on, so a backslash is an ordinary character.
const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** `"db"."schema"."alias"` (dbt's relation_name) -> its parts, unquoted. */
export function splitRelationName(relationName: string): string[] {
  const parts: string[] = [];
  const pattern = /\s*(?:"((?:[^"]|"")*)"|([^".\s]+))\s*(\.|$)/y;
  let match: RegExpExecArray | null;
  while (pattern.lastIndex < relationName.length && (match = pattern.exec(relationName))) {
    parts.push(match[1] !== undefined ? match[1].replaceAll('""', '"') : match[2]!.toLowerCase());
    if (match[3] === '') break;
  }
  return parts;
}

export interface PostgresDialectOptions {
  /** The database the connection is to: PostgreSQL queries cannot reach another one. */
  readonly database: string;
  /** For messages: which profile target that is. */
  readonly target: string;
}

/**
 * PostgreSQL's SQL. Canonical text for the row hash is the value cast to text, as on DuckDB:
 * integers, text, booleans, dates, decimals of the same scale and NULL give the same text (so
 * the same hash) on both. Floats differ (`100` vs `100.0`, `Infinity` vs `inf`), and so do
 * jsonb (re-spaced and key-sorted) and timestamptz when DuckDB's TimeZone is not UTC (the
 * connection pins UTC here).
 */
export function postgresDialect(options: PostgresDialectOptions): SqlDialect {
  const checkDatabase = (database: string | undefined, what: string) => {
    if (database === undefined || database === options.database) return;
    throw new ConfigError(
      `${what} is in database "${database}", but ${options.target} connects to database "${options.database}", ` +
        `and a PostgreSQL connection cannot read another database: point the target's dbname at "${database}", ` +
        `or build the model into "${options.database}"`,
    );
  };
  const table = (schema: string, name: string, database?: string) => {
    checkDatabase(database, `${schema}.${name}`);
    return [schema, name].map(quote).join('.');
  };
  return {
    quote,
    literal,
    modelRelation(model: ModelNode): string {
      const what = `model ${model.name}`;
      if (model.relationName) {
        const parts = splitRelationName(model.relationName);
        checkDatabase(parts.length === 3 ? parts[0] : undefined, `${what} (${model.relationName})`);
        return model.relationName;
      }
      checkDatabase(model.database, what);
      return [model.schema, model.alias].filter((p): p is string => !!p).map(quote).join('.');
    },
    table,
    param: (index) => `$${index}`,
    // Length-prefixed text keeps "a|b"+"c" apart from "a"+"b|c"; NULL gets a form no text can take.
    canonicalText: (e) => `coalesce(CAST(length(CAST(${e} AS text)) AS text) || ':' || CAST(${e} AS text), '~')`,
    recordKey(expressions) {
      if (expressions.length === 1) return `CAST(${expressions[0]} AS text)`;
      const anyNull = expressions.map((e) => `${e} IS NULL`).join(' OR ');
      const parts = expressions.map((e) => `CAST(${e} AS text)`).join(', ');
      // to_json of an array prints no spaces, as DuckDB's to_json does: the same keys on both.
      return `CASE WHEN ${anyNull} THEN NULL ELSE CAST(to_json(ARRAY[${parts}]) AS text) END`;
    },
    md5: (e) => `md5(${e})`,
    concat: (parts) => parts.join(' || '),
    jsonRows(paramIndex, columns: readonly ColumnSpec[]) {
      const shape = columns.map((c) => `${quote(c.name)} ${c.type === 'timestamp' ? 'timestamptz' : 'text'}`).join(', ');
      return `(SELECT * FROM json_to_recordset(CAST($${paramIndex} AS json)) AS j(${shape}))`;
    },
    textType: 'text',
    timestampType: 'timestamptz',
    bigintType: 'bigint',
    now: 'now()',
    // Random names per plan, so no OR REPLACE (which PostgreSQL does not have for tables).
    createTempTableAs: (name, query) => `CREATE TEMPORARY TABLE ${quote(name)} AS ${query}`,
    columnsProbe: (relation) => `SELECT * FROM ${relation} LIMIT 0`,
    tableExists: (s, t) =>
      `SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $${s} AND table_name = $${t}`,
    migrationLock: {
      acquire: 'SELECT pg_advisory_lock(hashtext($1))',
      release: 'SELECT pg_advisory_unlock(hashtext($1))',
    },
    insertIfAbsent: (table, columns, keys, select) =>
      `INSERT INTO ${table} (${columns.map(quote).join(', ')}) ${select} ON CONFLICT (${keys.map(quote).join(', ')}) DO NOTHING`,
    upsert(table, columns, keys, select) {
      const updates = columns.filter((c) => !keys.includes(c)).map((c) => `${quote(c)} = excluded.${quote(c)}`);
      return (
        `INSERT INTO ${table} (${columns.map(quote).join(', ')}) ${select} ` +
        `ON CONFLICT (${keys.map(quote).join(', ')}) DO UPDATE SET ${updates.join(', ')}`
      );
    },
  };
}
