/**
 * The SQL the postgres destination sends, as pure functions (no connection needed to test them).
 *
 * Every statement takes the batch as one JSON parameter and turns it into rows of the
 * destination table's own row type with `jsonb_populate_record(NULL::<table>, doc)`, so each
 * value is converted by the column's type (a value the column cannot take fails the statement,
 * and the batch is then split to find the record at fault). A batch is one statement whatever
 * its size, and no parameter limit applies.
 */

/** A double-quoted identifier, exactly as written. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function qualifiedName(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** A SQL string literal. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

export const ORDINAL = '__activate_ord';

export interface TableRef {
  /** `"schema"."table"`, the schema resolved from the catalog. */
  readonly sql: string;
  /** Types (format_type) by column name, for the columns the statements compare. */
  readonly types: ReadonlyMap<string, string>;
}

const list = (names: readonly string[], prefix = '') => names.map((n) => `${prefix}${quoteIdent(n)}`).join(', ');
const keyMatch = (left: string, right: string, keys: readonly string[]) =>
  keys.map((k) => `${left}.${quoteIdent(k)} = ${right}.${quoteIdent(k)}`).join(' AND ');

/** `src`: the batch ($1, a JSON array of objects) as typed rows, with their position (1-based). */
function source(table: TableRef, columns: readonly string[]): string {
  return (
    `src AS (SELECT e.ord AS ${ORDINAL}, ${list(columns, 'v.')} ` +
    `FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(doc, ord) ` +
    `CROSS JOIN LATERAL jsonb_populate_record(NULL::${table.sql}, e.doc) AS v)`
  );
}

/** INSERT ... ON CONFLICT (keys) DO UPDATE: every record is written. */
export function upsertStatement(table: TableRef, columns: readonly string[], keys: readonly string[]): string {
  const updates = columns.filter((c) => !keys.includes(c));
  const onConflict = updates.length === 0
    ? 'DO NOTHING'
    : `DO UPDATE SET ${updates.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`;
  return (
    `WITH ${source(table, columns)} ` +
    `INSERT INTO ${table.sql} (${list(columns)}) SELECT ${list(columns)} FROM src ORDER BY ${ORDINAL} ` +
    `ON CONFLICT (${list(keys)}) ${onConflict}`
  );
}

/** INSERT ... ON CONFLICT DO NOTHING; returns the positions of the records inserted. */
export function createStatement(table: TableRef, columns: readonly string[], keys: readonly string[]): string {
  return (
    `WITH ${source(table, columns)}, ` +
    `ins AS (INSERT INTO ${table.sql} (${list(columns)}) SELECT ${list(columns)} FROM src ORDER BY ${ORDINAL} ` +
    `ON CONFLICT (${list(keys)}) DO NOTHING RETURNING ${list(keys)}) ` +
    `SELECT src.${ORDINAL} AS ord FROM src JOIN ins ON ${keyMatch('src', 'ins', keys)}`
  );
}

/** UPDATE existing rows only; returns the positions of the records that found their row. */
export function updateStatement(table: TableRef, columns: readonly string[], keys: readonly string[]): string {
  const sets = columns.filter((c) => !keys.includes(c));
  // With nothing but the key mapped, "updating" is confirming the row exists.
  const assignments = (sets.length > 0 ? sets : keys).map((c) => `${quoteIdent(c)} = src.${quoteIdent(c)}`).join(', ');
  return (
    `WITH ${source(table, columns)} ` +
    `UPDATE ${table.sql} AS t SET ${assignments} FROM src WHERE ${keyMatch('t', 'src', keys)} ` +
    `RETURNING src.${ORDINAL} AS ord`
  );
}

/** DELETE the rows whose key is in the batch. */
export function deleteStatement(table: TableRef, keys: readonly string[]): string {
  return `WITH ${source(table, keys)} DELETE FROM ${table.sql} AS t USING src WHERE ${keyMatch('t', 'src', keys)}`;
}

/**
 * Records whose identifier changed: $1 is a JSON array of `{ "new": {identifier}, "old": {values
 * last sent} }`. `o` is the row as this sync last wrote it, `n` the new key.
 */
function rekeyed(table: TableRef): string {
  return (
    `jsonb_array_elements($1::jsonb) AS e(doc) ` +
    `CROSS JOIN LATERAL jsonb_populate_record(NULL::${table.sql}, e.doc->'new') AS n ` +
    `CROSS JOIN LATERAL jsonb_populate_record(NULL::${table.sql}, e.doc->'old') AS o`
  );
}

/**
 * The old-key row still holds what this sync last wrote, in every compared column that the
 * record's last sent values have: a row someone changed since is no longer this sync's to move
 * or delete. json and xml have no equality, so they compare as text.
 */
function holdsWhatWasSent(table: TableRef, compared: readonly string[]): string {
  if (compared.length === 0) return 'TRUE';
  return compared
    .map((c) => {
      const type = table.types.get(c) ?? '';
      const cast = /^(json|xml)(\[\])*$/.test(type) ? '::text' : '';
      return `(NOT (e.doc->'old' ? ${quoteLiteral(c)}) OR t.${quoteIdent(c)}${cast} IS NOT DISTINCT FROM o.${quoteIdent(c)}${cast})`;
    })
    .join(' AND ');
}

const newKeyTaken = (table: TableRef, keys: readonly string[]) =>
  `EXISTS (SELECT 1 FROM ${table.sql} AS x WHERE ${keyMatch('x', 'n', keys)})`;

/**
 * Moves a row to its record's new identifier, when the row at the old identifier is still what
 * this sync wrote and no row has the new identifier yet. The upsert that follows writes the
 * rest of the values; columns activate does not write keep theirs.
 */
export function moveKeyStatement(table: TableRef, keys: readonly string[], compared: readonly string[]): string {
  return (
    `UPDATE ${table.sql} AS t SET ${keys.map((k) => `${quoteIdent(k)} = n.${quoteIdent(k)}`).join(', ')} ` +
    `FROM ${rekeyed(table)} ` +
    `WHERE ${keyMatch('t', 'o', keys)} AND ${holdsWhatWasSent(table, compared)} AND NOT ${newKeyTaken(table, keys)}`
  );
}

/**
 * Mirror mode: a record whose identifier changed to one that already has a row leaves its
 * old row behind; delete it when it is still what this sync wrote.
 */
export function deleteOldKeyStatement(table: TableRef, keys: readonly string[], compared: readonly string[]): string {
  return (
    `DELETE FROM ${table.sql} AS t USING ${rekeyed(table)} ` +
    `WHERE ${keyMatch('t', 'o', keys)} AND ${holdsWhatWasSent(table, compared)} AND ${newKeyTaken(table, keys)}`
  );
}

export interface ColumnDefinition {
  readonly name: string;
  readonly type: string;
}

export function createTableStatement(schema: string, name: string, columns: readonly ColumnDefinition[], keys: readonly string[]): string {
  const defs = columns.map((c) => `${quoteIdent(c.name)} ${c.type}${keys.includes(c.name) ? ' NOT NULL' : ''}`);
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, name)} (${[...defs, `PRIMARY KEY (${list(keys)})`].join(', ')})`;
}

export function addColumnStatement(table: TableRef, column: ColumnDefinition): string {
  return `ALTER TABLE ${table.sql} ADD COLUMN IF NOT EXISTS ${quoteIdent(column.name)} ${column.type}`;
}

/** Marks a column whose type create_table inferred from values, so that later values may widen it. */
export const INFERRED_MARK = 'dbt-activate: type inferred from values (widened when later values need it)';

export function markInferredStatement(table: TableRef, column: string): string {
  return `COMMENT ON COLUMN ${table.sql}.${quoteIdent(column)} IS ${quoteLiteral(INFERRED_MARK)}`;
}

/** Widens an inferred column's type; every value converts (numbers up, dates to timestamps as UTC, anything to text or jsonb). */
export function widenColumnStatement(table: TableRef, column: string, from: string, to: string): string {
  const c = quoteIdent(column);
  const using =
    to === 'jsonb' ? `to_jsonb(${c})`
    : to === 'timestamp with time zone' && from !== to ? `(${c}::timestamp AT TIME ZONE 'UTC')`
    : `${c}::${to}`;
  return `ALTER TABLE ${table.sql} ALTER COLUMN ${c} TYPE ${to} USING ${using}`;
}
