import type { ModelNode } from '../../dbt/manifest.js';
import { aliasSelectColumns } from '../sql-text.js';
import type { ColumnSpec, SqlDialect } from '../types.js';

/** An exact identifier: Snowflake keeps the case of quoted names. */
const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/**
 * A name the user wrote unquoted (the state schema in activate.yml, the tables activate
 * creates, dbt's database/schema/alias): Snowflake resolves it in upper case, as dbt-snowflake
 * does with its default quoting (none). Names that are not plain identifiers stay as written.
 */
export const snowflakeName = (name: string) => (/^[A-Za-z_][A-Za-z0-9_$]*$/.test(name) ? quote(name.toUpperCase()) : quote(name));

/** Snowflake string literals treat backslash as an escape character. */
const literal = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

const qualified = (parts: readonly (string | undefined | null)[]) =>
  parts.filter((p): p is string => !!p).map(snowflakeName).join('.');

/** The Snowflake spelling of a text parameter resolved the way `snowflakeName` resolves a name. */
const folded = (param: string) => `IFF(REGEXP_LIKE(${param}, '[A-Za-z_][A-Za-z0-9_$]*'), UPPER(${param}), ${param})`;

function merge(table: string, columns: readonly string[], keys: readonly string[], select: string, update: boolean): string {
  const source = aliasSelectColumns(select, columns, snowflakeName);
  const on = keys.map((k) => `t.${snowflakeName(k)} = s.${snowflakeName(k)}`).join(' AND ');
  const updates = columns.filter((c) => !keys.includes(c)).map((c) => `${snowflakeName(c)} = s.${snowflakeName(c)}`);
  return (
    `MERGE INTO ${table} AS t USING (${source}) AS s ON ${on} ` +
    (update && updates.length > 0 ? `WHEN MATCHED THEN UPDATE SET ${updates.join(', ')} ` : '') +
    `WHEN NOT MATCHED THEN INSERT (${columns.map(snowflakeName).join(', ')}) VALUES (${columns.map((c) => `s.${snowflakeName(c)}`).join(', ')})`
  );
}

/**
 * Snowflake SQL. Hashing and keys follow the same scheme as the DuckDB dialect
 * (length-prefixed canonical text, md5 hex, a JSON array text for composite keys). The text
 * forms of dates and timestamps come from the session's output formats, which the adapter pins
 * at connect time (UTC, ISO 8601, nanoseconds), so the hash does not depend on account settings.
 */
export const snowflakeDialect: SqlDialect = {
  quote,
  literal,
  modelRelation(model: ModelNode): string {
    // dbt-snowflake writes relation_name unquoted (`DB.SCHEMA.name`) unless the project quotes.
    if (model.relationName) return model.relationName;
    return qualified([model.database, model.schema, model.alias]);
  },
  table: (schema, name, database) => qualified([database, schema, name]),
  param: (index) => `:${index}`,
  canonicalText: (e) =>
    `COALESCE(CAST(LENGTH(CAST(${e} AS VARCHAR)) AS VARCHAR) || ':' || CAST(${e} AS VARCHAR), '~')`,
  recordKey(expressions) {
    if (expressions.length === 1) return `CAST(${expressions[0]} AS VARCHAR)`;
    const anyNull = expressions.map((e) => `${e} IS NULL`).join(' OR ');
    const parts = expressions.map((e) => `CAST(${e} AS VARCHAR)`).join(', ');
    return `CASE WHEN ${anyNull} THEN NULL ELSE TO_JSON(ARRAY_CONSTRUCT(${parts})) END`;
  },
  md5: (e) => `MD5(${e})`,
  concat: (parts) => parts.join(' || '),
  jsonRows(paramIndex, columns: readonly ColumnSpec[]) {
    const select = columns
      .map((c) => {
        const value = `GET(f.value, ${literal(c.name)})::VARCHAR`;
        return `${c.type === 'timestamp' ? `TO_TIMESTAMP_TZ(${value})` : value} AS ${snowflakeName(c.name)}`;
      })
      .join(', ');
    return `(SELECT ${select} FROM TABLE(FLATTEN(INPUT => PARSE_JSON(:${paramIndex}))) AS f)`;
  },
  textType: 'VARCHAR',
  timestampType: 'TIMESTAMP_TZ',
  bigintType: 'BIGINT',
  now: 'CURRENT_TIMESTAMP()',
  createTempTableAs: (name, query) => `CREATE OR REPLACE TEMPORARY TABLE ${quote(name)} AS ${query}`,
  columnsProbe: (relation) => `SELECT * FROM ${relation} LIMIT 0`,
  tableExists: (s, t) =>
    `SELECT COUNT(*) AS n FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ${folded(`:${s}`)} AND TABLE_NAME = ${folded(`:${t}`)}`,
  upsert: (table, columns, keys, select) => merge(table, columns, keys, select, true),
  schema: (name, database) => qualified([database, name]),
  primaryKey: (columns) => `PRIMARY KEY (${columns.map(snowflakeName).join(', ')})`,
  insertIfAbsent: (table, columns, keys, select) => merge(table, columns, keys, select, false),
};
