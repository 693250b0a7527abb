import type { ModelNode } from '../../dbt/manifest.js';
import { aliasSelectColumns } from '../sql-text.js';
import type { ColumnSpec, SqlDialect } from '../types.js';

/** Backtick-quoted identifier; BigQuery escapes with a backslash. */
export const quote = (identifier: string) => `\`${identifier.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;

/** BigQuery string literal: backslash escapes; raw newlines are not allowed in '...'. */
export function literal(value: string): string {
  let out = "'";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}'`;
}

const jsonPath = (name: string) => literal(/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `$.${name}` : `$."${name.replaceAll('"', '\\"')}"`);

export interface BigQueryDialectOptions {
  /** The profile's project: qualifies the state dataset when activate.yml names no database. */
  readonly project?: string;
  /** Where jobs run (the profile's location, else the profile dataset's); names the region INFORMATION_SCHEMA. */
  readonly location?: string;
}

/**
 * BigQuery Standard SQL. Hashing and keys follow the shared scheme (length-prefixed canonical
 * text, md5 hex, a JSON array text for composite keys). The text of a value is its scalar JSON
 * form unquoted (`JSON_VALUE(TO_JSON_STRING(v))`: strings as they are, `true`, `2024-02-29`,
 * integers beyond 2^53 exact), or its JSON text for ARRAY, STRUCT and JSON values, which CAST
 * to STRING cannot take. NUMERIC has no fixed scale in BigQuery, so `12.50` hashes as `12.5`.
 */
export function bigqueryDialect(options: BigQueryDialectOptions = {}): SqlDialect {
  const qualified = (parts: readonly (string | undefined | null)[]) => parts.filter((p): p is string => !!p).map(quote).join('.');
  const region = `region-${(options.location ?? 'US').toLowerCase()}`;
  const merge = (table: string, columns: readonly string[], keys: readonly string[], select: string, update: boolean) => {
    const on = keys.map((k) => `t.${quote(k)} = s.${quote(k)}`).join(' AND ');
    const updates = columns.filter((c) => !keys.includes(c)).map((c) => `${quote(c)} = s.${quote(c)}`);
    return (
      `MERGE INTO ${table} AS t USING (${aliasSelectColumns(select, columns, quote)}) AS s ON ${on} ` +
      (update && updates.length > 0 ? `WHEN MATCHED THEN UPDATE SET ${updates.join(', ')} ` : '') +
      `WHEN NOT MATCHED THEN INSERT (${columns.map(quote).join(', ')}) VALUES (${columns.map((c) => `s.${quote(c)}`).join(', ')})`
    );
  };
  return {
    quote,
    literal,
    modelRelation(model: ModelNode): string {
      // dbt-bigquery writes `project`.`dataset`.`table`.
      if (model.relationName) return model.relationName;
      return qualified([model.database, model.schema, model.alias]);
    },
    table: (schema, name, database) => qualified([database ?? options.project, schema, name]),
    param: (index) => `@p${index}`,
    canonicalText(e) {
      const text = `COALESCE(JSON_VALUE(TO_JSON_STRING(${e})), TO_JSON_STRING(${e}))`;
      return `IF(${e} IS NULL, '~', CONCAT(CAST(LENGTH(${text}) AS STRING), ':', ${text}))`;
    },
    recordKey(expressions) {
      if (expressions.length === 1) return `CAST(${expressions[0]} AS STRING)`;
      const anyNull = expressions.map((e) => `${e} IS NULL`).join(' OR ');
      const parts = expressions.map((e) => `CAST(${e} AS STRING)`).join(', ');
      return `IF(${anyNull}, NULL, TO_JSON_STRING([${parts}]))`;
    },
    md5: (e) => `TO_HEX(MD5(${e}))`,
    concat: (parts) => `CONCAT(${parts.join(', ')})`,
    jsonRows(paramIndex, columns: readonly ColumnSpec[]) {
      const select = columns
        .map((c) => {
          const value = `JSON_VALUE(r, ${jsonPath(c.name)})`;
          return `${c.type === 'timestamp' ? `CAST(${value} AS TIMESTAMP)` : value} AS ${quote(c.name)}`;
        })
        .join(', ');
      return `(SELECT ${select} FROM UNNEST(JSON_QUERY_ARRAY(@p${paramIndex})) AS r)`;
    },
    textType: 'STRING',
    timestampType: 'TIMESTAMP',
    bigintType: 'INT64',
    now: 'CURRENT_TIMESTAMP()',
    // A session temp table (the adapter runs each connection's jobs in one BigQuery session).
    createTempTableAs: (name, query) => `CREATE OR REPLACE TEMP TABLE ${quote(name)} AS ${query}`,
    columnsProbe: (relation) => `SELECT * FROM ${relation} LIMIT 0`,
    tableExists: (s, t) =>
      `SELECT COUNT(*) AS n FROM ${qualified([options.project, region])}.INFORMATION_SCHEMA.TABLES WHERE table_schema = @p${s} AND table_name = @p${t}`,
    upsert: (table, columns, keys, select) => merge(table, columns, keys, select, true),
    schema: (name, database) => qualified([database ?? options.project, name]),
    primaryKey: (columns) => `PRIMARY KEY (${columns.map(quote).join(', ')}) NOT ENFORCED`,
    insertIfAbsent: (table, columns, keys, select) => merge(table, columns, keys, select, false),
  };
}
