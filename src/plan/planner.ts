import { randomUUID } from 'node:crypto';
import type { Change } from '../../destinations/types.js';
import { DataError, WarehouseError, errorMessage } from '../errors.js';
import { mappedColumns, type Limit, type SyncSpec } from '../config/sync-spec.js';
import type { StateStore } from '../state/state-store.js';
import { didYouMean } from '../suggest.js';
import type { Connection, Row, Warehouse } from '../warehouse/types.js';
import { changeSetQuery, planOrder, valueAlias } from './diff-query.js';

export interface PlanCounts {
  readonly added: number;
  readonly changed: number;
  readonly removed: number;
  /** Rows in the model now. */
  readonly modelRows: number;
  /** Records synced before this run (the base of percentage limits). */
  readonly syncedRecords: number;
}

export interface SampleChange {
  readonly kind: Change['kind'];
  readonly key: string;
  /** Values last sent (changed and removed records). */
  readonly before: Readonly<Record<string, unknown>> | undefined;
  /** Values to send (added and changed records). */
  readonly after: Readonly<Record<string, unknown>> | undefined;
}

export interface SyncPlan {
  readonly spec: SyncSpec;
  readonly counts: PlanCounts;
  /** Safety limits this change set exceeds; non-empty means the sync must not be sent. */
  readonly violations: readonly string[];
  sample(perKind: number): Promise<SampleChange[]>;
  /** The change set, streamed from the warehouse in batches that each hold one operation. */
  changes(batchSize: number): AsyncIterable<readonly Change[]>;
  /** Drops the plan's temporary table and its connection. */
  close(): Promise<void>;
}

export interface PlanOptions {
  /** Undefined when no state exists yet or state is being forgotten (--full-refresh). */
  readonly state: StateStore | undefined;
  readonly allowLargeChanges: boolean;
}

/**
 * Checks the model and computes the sync's change set inside the warehouse, into a
 * temporary table on its own connection. Bad data (missing columns, null or duplicate keys)
 * throws DataError before anything is sent.
 */
export async function planSync(spec: SyncSpec, warehouse: Warehouse, options: PlanOptions): Promise<SyncPlan> {
  const connection = await warehouse.connect();
  try {
    return await buildPlan(spec, warehouse, connection, options);
  } catch (error) {
    await connection.close();
    throw error;
  }
}

async function buildPlan(spec: SyncSpec, warehouse: Warehouse, connection: Connection, options: PlanOptions): Promise<SyncPlan> {
  const d = warehouse.dialect;
  const relation = d.modelRelation(spec.model);
  const columns = await modelColumns(spec, warehouse, connection, relation);
  const resolve = (column: string) => columns.get(column.toLowerCase())!;
  const mapped = mappedColumns(spec);
  const keyColumns = spec.primaryKey.map(resolve);
  const valueColumns = mapped.map(([, column]) => resolve(column));

  const keyExpression = d.recordKey(keyColumns.map(d.quote));
  const [rowCount] = await connection.query<{ n: number }>(`SELECT count(*) AS n FROM ${relation}`);
  const modelRows = Number(rowCount?.n ?? 0);

  // One scan of the model: hashed, joined with the state's keys and hashes, the change set
  // kept in a temporary table (removed records too, in every mode, for the key check below).
  const table = `activate_plan_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const stateTable = options.state?.tables.state;
  const query = changeSetQuery(d, { relation, keyColumns, valueColumns, fingerprint: spec.fingerprint, mode: spec.mode, stateTable });
  await connection.execute(d.createTempTableAs(table, query), [spec.id]);
  const quotedTable = d.quote(table);
  const tables = [quotedTable];

  const opStats = await connection.query<{ op: string; n: number; keyed: number; keys: number }>(
    `SELECT __op AS op, count(*) AS n, count(__key) AS keyed, count(DISTINCT __key) AS keys FROM ${quotedTable} GROUP BY __op`,
  );
  const stat = (op: string) => {
    const row = opStats.find((r) => r.op === op);
    return { n: Number(row?.n ?? 0), keyed: Number(row?.keyed ?? 0), keys: Number(row?.keys ?? 0) };
  };
  const syncedRecords = options.state ? await options.state.countState(spec.id) : 0;
  const added = stat('added');
  const removed = stat('removed');
  // Null or repeated keys, from what the join saw: a null key is an added row without a key; a
  // key repeated among new rows repeats in the table; a key repeated among rows that match a
  // state record makes more matches (model rows - added) than matched records (state - removed).
  // Only then is the model scanned again, for the counts and examples of the error.
  if (added.n !== added.keyed || added.keyed !== added.keys || modelRows - added.n !== syncedRecords - removed.n) {
    await checkKeys(spec, connection, keyExpression, relation, valueColumns, d.quote);
  }
  const removes = spec.mode === 'mirror' || spec.mode === 'audience';
  const counts: PlanCounts = { added: added.n, changed: stat('changed').n, removed: removes ? removed.n : 0, modelRows, syncedRecords };
  const violations = options.allowLargeChanges ? [] : safetyViolations(spec, counts);
  const sentOps = removes ? `'changed', 'removed'` : `'changed'`;
  const sendOps = removes ? `'added', 'changed', 'removed'` : `'added', 'changed'`;

  const fieldNames = mapped.map(([field]) => field);
  const identifierNames = Object.keys(spec.identifier);
  const toChange = (row: Row): Change => {
    const kind = row.__op as Change['kind'];
    const previous = kind === 'added' ? null : parseSent(row.__sent);
    const fields = kind === 'removed' ? (previous ?? {}) : valuesOf(row, fieldNames);
    return {
      previous,
      operation: kind === 'removed' ? 'delete' : 'upsert',
      kind,
      key: String(row.__key),
      hash: String(row.__hash),
      fields,
      identifier: Object.fromEntries(identifierNames.map((f) => [f, fields[f] ?? null])),
      destinationId: (row.__destination_id as string | null) ?? null,
    };
  };

  /** Values last sent, by key, for a few records (plan samples). */
  const sentOf = async (keys: readonly string[]): Promise<Map<string, unknown>> => {
    if (!stateTable || keys.length === 0) return new Map();
    const rows = await connection.query<{ record_key: string; sent_values: unknown }>(
      `SELECT record_key, sent_values FROM ${stateTable} WHERE sync_id = ${d.param(1)} AND record_key IN (${keys.map((_, i) => d.param(i + 2)).join(', ')})`,
      [spec.id, ...keys],
    );
    return new Map(rows.map((r) => [r.record_key, r.sent_values]));
  };

  /**
   * The change set with the values last sent, read from the state once, when sending starts,
   * for the changed and removed records only (a semi-join: the state table's values are not
   * carried through the plan's join).
   */
  const withSent = async (): Promise<string> => {
    if (!stateTable || counts.changed + counts.removed === 0) {
      return `SELECT *, CAST(NULL AS ${d.textType}) AS __sent FROM ${quotedTable} WHERE __op IN (${sendOps})`;
    }
    const sentTable = d.quote(`${table}_sent`);
    tables.push(sentTable);
    await connection.execute(
      d.createTempTableAs(
        `${table}_sent`,
        `SELECT record_key AS __sent_key, sent_values AS __sent FROM ${stateTable} WHERE sync_id = ${d.param(1)} ` +
          `AND record_key IN (SELECT __key FROM ${quotedTable} WHERE __op IN (${sentOps}))`,
      ),
      [spec.id],
    );
    return `SELECT p.*, x.__sent FROM ${quotedTable} AS p LEFT JOIN ${sentTable} AS x ON x.__sent_key = p.__key WHERE p.__op IN (${sendOps})`;
  };

  return {
    spec,
    counts,
    violations,
    async sample(perKind) {
      const out: SampleChange[] = [];
      for (const kind of removes ? (['added', 'changed', 'removed'] as const) : (['added', 'changed'] as const)) {
        const rows = await connection.query(
          `SELECT * FROM ${quotedTable} WHERE __op = ${d.param(1)} ORDER BY __key LIMIT ${Math.max(0, Math.floor(perKind))}`,
          [kind],
        );
        const sent = kind === 'added' ? new Map<string, unknown>() : await sentOf(rows.map((r) => String(r.__key)));
        for (const row of rows) {
          out.push({
            kind,
            key: String(row.__key),
            before: kind === 'added' ? undefined : parseSent(sent.get(String(row.__key))),
            after: kind === 'removed' ? undefined : valuesOf(row, fieldNames),
          });
        }
      }
      return out;
    },
    async *changes(batchSize) {
      const source = await withSent();
      let batch: Change[] = [];
      for await (const rows of connection.stream(`SELECT * FROM (${source}) AS c ORDER BY ${planOrder()}`, [], batchSize)) {
        for (const row of rows) {
          const change = toChange(row);
          if (batch.length > 0 && (batch.length >= batchSize || batch[0]!.operation !== change.operation)) {
            yield batch;
            batch = [];
          }
          batch.push(change);
        }
      }
      if (batch.length > 0) yield batch;
    },
    async close() {
      try {
        for (const t of tables) await connection.execute(`DROP TABLE IF EXISTS ${t}`);
      } finally {
        await connection.close();
      }
    },
  };
}

/** Model columns by lower-case name; every key and mapped column must be among them. */
async function modelColumns(spec: SyncSpec, warehouse: Warehouse, connection: Connection, relation: string): Promise<Map<string, string>> {
  let names: string[];
  try {
    names = await connection.describe(warehouse.dialect.columnsProbe(relation));
  } catch (error) {
    throw new DataError(
      `${spec.origin}: model ${spec.model.name} cannot be read as ${relation} in ${warehouse.description}: ${errorMessage(error)}. Run \`dbt build\` for it first.`,
      { cause: error },
    );
  }
  const columns = new Map(names.map((n) => [n.toLowerCase(), n]));
  const problems: string[] = [];
  const check = (column: string, where: string) => {
    if (!columns.has(column.toLowerCase())) {
      problems.push(`${spec.origin}.${where}: column "${column}" does not exist in ${relation}${didYouMean(column, names)}`);
    }
  };
  spec.primaryKey.forEach((c, i) => check(c, spec.primaryKey.length > 1 ? `primary_key[${i}]` : 'primary_key'));
  for (const [field, column] of Object.entries(spec.identifier)) check(column, `identifier.${field}`);
  for (const [field, column] of Object.entries(spec.fields)) check(column, `fields.${field}`);
  if (problems.length > 0) throw new DataError(problems.join('\n'));
  return columns;
}

async function checkKeys(
  spec: SyncSpec,
  connection: Connection,
  keyExpression: string,
  relation: string,
  valueColumns: readonly string[],
  quote: (s: string) => string,
): Promise<number> {
  const [stats] = await connection.query<{ total: number; null_keys: number; distinct_keys: number }>(
    `SELECT count(*) AS total, count(*) - count(k) AS null_keys, count(DISTINCT k) AS distinct_keys FROM (SELECT ${keyExpression} AS k FROM ${relation}) AS keys`,
  );
  const total = Number(stats?.total ?? 0);
  const nullKeys = Number(stats?.null_keys ?? 0);
  const distinct = Number(stats?.distinct_keys ?? 0);
  const keyName = spec.primaryKey.join(', ');
  const problems: string[] = [];
  if (nullKeys > 0) {
    const shown = valueColumns.slice(0, 4);
    const examples = await connection.query(
      `SELECT ${shown.map(quote).join(', ')} FROM ${relation} WHERE ${keyExpression} IS NULL LIMIT 3`,
    );
    problems.push(
      `${spec.origin}.primary_key: ${nullKeys} of ${total} rows of ${spec.model.name} have a null ${keyName}; e.g. rows with ${examples.map((r) => JSON.stringify(r)).join(', ')}`,
    );
  }
  const nonNull = total - nullKeys;
  if (distinct < nonNull) {
    const examples = await connection.query<{ k: string; n: number }>(
      `SELECT k, count(*) AS n FROM (SELECT ${keyExpression} AS k FROM ${relation}) AS keys WHERE k IS NOT NULL GROUP BY k HAVING count(*) > 1 ORDER BY count(*) DESC, k LIMIT 5`,
    );
    problems.push(
      `${spec.origin}.primary_key: ${nonNull - distinct} rows of ${spec.model.name} repeat a ${keyName} already used; duplicated keys: ${examples.map((e) => `${e.k} (${e.n} rows)`).join(', ')}`,
    );
  }
  if (problems.length > 0) throw new DataError(problems.join('\n'));
  return total;
}

function safetyViolations(spec: SyncSpec, counts: PlanCounts): string[] {
  const out: string[] = [];
  if (counts.removed > 0 && counts.modelRows === 0) {
    out.push(
      `model ${spec.model.name} is empty: the plan would delete all ${counts.removed} records synced before (a mass delete); ` +
        `check the model, or pass --allow-large-changes if this is intended`,
    );
    return out;
  }
  const over = (limit: Limit | undefined, value: number) => {
    if (!limit) return undefined;
    if (limit.kind === 'count') return value > limit.value ? `${limit.value}` : undefined;
    // A share of nothing synced yet is meaningless: the first sync is never "too large".
    if (counts.syncedRecords === 0) return undefined;
    return (value / counts.syncedRecords) * 100 > limit.value ? `${limit.value}% of ${counts.syncedRecords} synced records` : undefined;
  };
  const deletes = over(spec.safety.maxDeletes, counts.removed);
  if (deletes) out.push(`${counts.removed} deletes exceed safety.max_deletes (${deletes}); pass --allow-large-changes to send them anyway`);
  const total = counts.added + counts.changed + counts.removed;
  const changes = over(spec.safety.maxChanges, total);
  if (changes) out.push(`${total} changes exceed safety.max_changes (${changes}); pass --allow-large-changes to send them anyway`);
  return out;
}

function valuesOf(row: Row, fieldNames: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  fieldNames.forEach((field, i) => (out[field] = row[valueAlias(i)] ?? null));
  return out;
}

function parseSent(value: unknown): Record<string, unknown> {
  if (typeof value !== 'string') return {};
  try {
    return JSON.parse(value) as Record<string, unknown>;
  } catch (error) {
    throw new WarehouseError(`state holds sent values that are not JSON: ${errorMessage(error)}`, { cause: error });
  }
}
