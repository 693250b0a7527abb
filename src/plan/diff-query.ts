import type { Mode } from '../../destinations/types.js';
import type { SqlDialect } from '../warehouse/types.js';

export interface DiffInput {
  readonly relation: string;
  /** Key column names as the warehouse spells them. */
  readonly keyColumns: readonly string[];
  /** Mapped column names as the warehouse spells them, in mapping order (become f0, f1, ...). */
  readonly valueColumns: readonly string[];
  readonly fingerprint: string;
  readonly mode: Mode;
  /** The state table, or undefined when there is no state yet (first plan, or --full-refresh). */
  readonly stateTable: string | undefined;
}

export const valueAlias = (index: number) => `f${index}`;

/** The model's rows as (key, hash, mapped values): the left side of every diff. */
export function modelRowsQuery(d: SqlDialect, input: DiffInput): string {
  const key = d.recordKey(input.keyColumns.map(d.quote));
  const parts = (e: string) => d.canonicalParts?.(e) ?? [d.canonicalText(e)];
  const hashed = d.md5(
    d.concat([d.literal(`${input.fingerprint}|`), ...input.valueColumns.flatMap((c, i) => [...(i ? [d.literal('|')] : []), ...parts(d.quote(c))])]),
  );
  const values = input.valueColumns.map((c, i) => `${d.quote(c)} AS ${valueAlias(i)}`);
  return `SELECT ${key} AS __key, ${hashed} AS __hash, ${values.join(', ')} FROM ${input.relation}`;
}

/**
 * The change set in its plainest form, kept as the reference the tests hold changeSetQuery
 * (what the planner runs) and each dialect's SQL against: the model's rows joined with the
 * keys, hashes and values last sent. Parameter 1 is the sync id. Which side of the join counts
 * depends on the mode: only mirror (and audience) sends removals; create sends only rows never
 * sent.
 */
export function diffQuery(d: SqlDialect, input: DiffInput): string {
  const t = d.textType;
  const state = input.stateTable
    ? `SELECT record_key, row_hash, sent_values, destination_id FROM ${input.stateTable} WHERE sync_id = ${d.param(1)}`
    : `SELECT CAST(NULL AS ${t}) AS record_key, CAST(NULL AS ${t}) AS row_hash, CAST(NULL AS ${t}) AS sent_values, ` +
      // The cast gives the unused sync id parameter a type: PostgreSQL cannot infer one from IS NULL.
      `CAST(NULL AS ${t}) AS destination_id FROM (SELECT 1 AS x) AS empty WHERE CAST(${d.param(1)} AS ${t}) IS NULL`;
  const removes = input.mode === 'mirror' || input.mode === 'audience';
  const join = removes ? 'FULL OUTER JOIN' : 'LEFT JOIN';
  const where =
    input.mode === 'create'
      ? 's.record_key IS NULL'
      : removes
        ? 's.record_key IS NULL OR m.__key IS NULL OR m.__hash <> s.row_hash'
        : 's.record_key IS NULL OR m.__hash <> s.row_hash';
  const values = input.valueColumns.map((_, i) => `m.${valueAlias(i)}`);
  return (
    `WITH m AS (${modelRowsQuery(d, input)}), s AS (${state}) ` +
    `SELECT CASE WHEN s.record_key IS NULL THEN 'added' WHEN m.__key IS NULL THEN 'removed' ELSE 'changed' END AS __op, ` +
    `coalesce(m.__key, s.record_key) AS __key, coalesce(m.__hash, s.row_hash) AS __hash, ` +
    `s.sent_values AS __sent, s.destination_id AS __destination_id${values.length ? ', ' + values.join(', ') : ''} ` +
    `FROM m ${join} s ON m.__key = s.record_key WHERE ${where}`
  );
}

/**
 * The change set as the planner materialises it: the same added and changed rows as diffQuery,
 * but joined with only the state's keys, hashes and destination ids (the values last sent are
 * read afterwards, for the rows that carry them), so the join holds two narrow columns per
 * record instead of every value, and always as a FULL OUTER JOIN: removed records are there in
 * every mode, for counting (the planner sends them only in mirror and audience modes).
 *
 * Every model row without a state row is in it as `added` (a NULL key included), so
 * `model rows - added` is the number of model rows that matched a state record: with the
 * number of state records, whether a key repeats is known without another scan of the model.
 * Parameter 1 is the sync id.
 */
export function changeSetQuery(d: SqlDialect, input: DiffInput): string {
  const t = d.textType;
  const state = input.stateTable
    ? `SELECT record_key, row_hash, destination_id FROM ${input.stateTable} WHERE sync_id = ${d.param(1)}`
    : `SELECT CAST(NULL AS ${t}) AS record_key, CAST(NULL AS ${t}) AS row_hash, CAST(NULL AS ${t}) AS destination_id ` +
      `FROM (SELECT 1 AS x) AS empty WHERE CAST(${d.param(1)} AS ${t}) IS NULL`;
  const changed = input.mode === 'create' ? '' : ' OR m.__hash <> s.row_hash';
  const values = input.valueColumns.map((_, i) => `m.${valueAlias(i)}`);
  return (
    `WITH m AS (${modelRowsQuery(d, input)}), s AS (${state}) ` +
    `SELECT CASE WHEN s.record_key IS NULL THEN 'added' WHEN m.__key IS NULL THEN 'removed' ELSE 'changed' END AS __op, ` +
    `coalesce(m.__key, s.record_key) AS __key, coalesce(m.__hash, s.row_hash) AS __hash, ` +
    `s.destination_id AS __destination_id${values.length ? ', ' + values.join(', ') : ''} ` +
    `FROM m FULL OUTER JOIN s ON m.__key = s.record_key WHERE s.record_key IS NULL OR m.__key IS NULL${changed}`
  );
}

/** Removals first (so a unique field freed by a removed record can be taken), then changes, then additions. */
export function planOrder(): string {
  return `CASE __op WHEN 'removed' THEN 0 WHEN 'changed' THEN 1 ELSE 2 END, __key`;
}
