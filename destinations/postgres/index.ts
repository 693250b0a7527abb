import type { Pool, PoolClient } from 'pg';
import { DestinationError, errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import { didYouMean } from '../../src/suggest.js';
import type {
  Change,
  Destination,
  DestinationContext,
  DestinationDefinition,
  MappedField,
  Mode,
  RecordResult,
  WriteContext,
} from '../types.js';
import { inferColumnType, widenedType } from './column-types.js';
import { postgresConfigSchema, postgresOptionsSchema, tableName, type PostgresConfig, type PostgresOptions } from './config.js';
import { poolConfig, secretValues } from './connection.js';
import { classifyError, describeError, fatalHint, sqlState } from './errors.js';
import {
  addColumnStatement,
  createStatement,
  createTableStatement,
  deleteOldKeyStatement,
  deleteStatement,
  INFERRED_MARK,
  markInferredStatement,
  moveKeyStatement,
  qualifiedName,
  quoteIdent,
  updateStatement,
  upsertStatement,
  widenColumnStatement,
  type ColumnDefinition,
  type TableRef,
} from './sql.js';

export type { PostgresConfig, PostgresOptions } from './config.js';

const MASK = '****';
/** PostgreSQL truncates longer names (NAMEDATALEN - 1), which would silently unmap the field. */
const MAX_IDENTIFIER_BYTES = 63;
/** Modes whose statements use ON CONFLICT (identifier columns), so need a unique index on them. */
const CONFLICT_MODES: readonly Mode[] = ['upsert', 'create', 'mirror'];

interface Table extends TableRef {
  /** As the user wrote it, for messages. */
  readonly display: string;
  /** Every column of the table. */
  readonly columns: ReadonlySet<string>;
  /** Columns whose type create_table inferred from values (marked with a comment). */
  readonly inferred: ReadonlySet<string>;
}

interface Inspection {
  readonly schema: string;
  readonly name: string;
  readonly columns: ReadonlyMap<string, string>;
  readonly inferred: ReadonlySet<string>;
  /** Column sets of the valid, non-partial unique indexes (the primary key among them). */
  readonly uniqueKeys: readonly (readonly string[])[];
}

class PostgresDestination implements Destination<PostgresOptions> {
  readonly #config: PostgresConfig;
  readonly #name: string;
  readonly #log: Logger;
  /** Created on first use: loading node-postgres costs every command startup time otherwise. */
  #pool: Promise<Pool> | undefined;
  readonly #secrets: readonly string[];
  /** Checked (and created) tables, by the options' table name. */
  readonly #tables = new Map<string, Promise<Table>>();

  constructor(config: PostgresConfig, context: DestinationContext) {
    this.#config = config;
    this.#name = context.name;
    this.#log = context.log;
    this.#secrets = secretValues(config);
  }

  async #connect(): Promise<PoolClient> {
    this.#pool ??= import('pg').then(({ default: pg }) => {
      const pool = new pg.Pool(poolConfig(this.#config));
      // An idle connection the server closed must not crash the process; the next checkout reconnects.
      const closed = (error: Error) => this.#log.debug(`postgres destination "${this.#name}": connection closed: ${this.#scrub(errorMessage(error))}`);
      pool.on('error', closed);
      // A connection lost while checked out fails its query (handled there) and also emits 'error'.
      pool.on('connect', (client) => client.on('error', closed));
      return pool;
    });
    return (await this.#pool).connect();
  }

  async write(batch: readonly Change[], options: PostgresOptions, context: WriteContext): Promise<readonly RecordResult[]> {
    if (batch.length === 0) return [];
    const keys = this.#identifierColumns(batch, context);
    // A delete needs only the identifier (its values are those last sent, perhaps under an older mapping).
    const columns = batch[0]!.operation === 'delete' ? keys : orderedColumns(batch, keys);
    const table = await this.#table(options, keys, columns, batch, context.mode);

    let client: PoolClient;
    try {
      client = await this.#connect();
    } catch (error) {
      const kind = classifyError(error);
      if (kind === 'fatal') throw this.#fatal(error, table.display);
      return failAll(batch, this.#scrub(`cannot connect: ${describeError(error)}`), true);
    }
    let broken: string | undefined;
    const results: RecordResult[] = [];
    // One transaction per attempt. A batch the data makes fail is split in halves until the
    // records at fault stand alone: they are rejected with the server's message, the rest commit.
    const attempt = async (part: readonly Change[]): Promise<void> => {
      if (broken !== undefined) {
        results.push(...failAll(part, broken, true));
        return;
      }
      try {
        await client.query('BEGIN');
        const outcome = await this.#apply(client, part, table, keys, context.mode);
        await client.query('COMMIT');
        results.push(...outcome);
        return;
      } catch (error) {
        if (error instanceof TypeError || error instanceof RangeError) throw error; // a bug here, not the database
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = this.#scrub(`connection lost: ${describeError(error)}`);
        }
        const kind = classifyError(error);
        if (kind === 'fatal') throw this.#fatal(error, table.display);
        const message = this.#scrub(describeError(error));
        if (kind === 'transient' || broken !== undefined) {
          results.push(...failAll(part, broken ?? message, true));
          return;
        }
        if (part.length === 1) {
          const code = sqlState(error);
          results.push({ key: part[0]!.key, status: 'failed', message, retryable: kind === 'timeout', ...(code ? { code } : {}) });
          return;
        }
      }
      const middle = Math.ceil(part.length / 2);
      await attempt(part.slice(0, middle));
      await attempt(part.slice(middle));
    };
    try {
      await attempt(batch);
    } finally {
      client.release(broken !== undefined);
    }
    return results;
  }

  /**
   * One attempt's statements, inside its transaction. Records carrying different fields
   * (`skip_nulls`, `update_fields: changed`) are written per set of fields, so a field a record
   * does not carry is left as the table has it, never set to NULL.
   */
  async #apply(client: PoolClient, part: readonly Change[], table: Table, keys: readonly string[], mode: Mode): Promise<RecordResult[]> {
    const synced = (change: Change): RecordResult => ({ key: change.key, status: 'synced' });
    if (part[0]!.operation === 'delete') {
      await client.query(deleteStatement(table, keys), [toJson(part.map((c) => c.identifier))]);
      return part.map(synced);
    }
    if (mode !== 'create') await this.#followKeyChanges(client, part, table, keys, mode);
    const results = new Map<string, RecordResult>();
    for (const { columns, changes } of byFieldSet(part, keys)) {
      const docs = toJson(changes.map((c) => pick({ ...c.identifier, ...c.fields }, columns)));
      if (mode === 'create') {
        const { rows } = await client.query<{ ord: string }>(createStatement(table, columns, keys), [docs]);
        for (const r of byPosition(changes, rows, (change) => ({
          key: change.key,
          status: 'skipped',
          reason: `a row with this ${keys.join(', ')} already exists in ${table.display} (create mode never overwrites)`,
        }))) results.set(r.key, r);
      } else if (mode === 'update') {
        const { rows } = await client.query<{ ord: string }>(updateStatement(table, columns, keys), [docs]);
        for (const r of byPosition(changes, rows, (change) => ({
          key: change.key,
          status: 'skipped',
          reason: `no row with this ${keys.join(', ')} in ${table.display} (update mode never inserts)`,
        }))) results.set(r.key, r);
      } else {
        await client.query(upsertStatement(table, columns, keys), [docs]);
        for (const change of changes) results.set(change.key, synced(change));
      }
    }
    return part.map((change) => results.get(change.key)!);
  }

  /**
   * A changed record whose identifier changed (an email that is the match key, say) would
   * otherwise leave its old row behind. The old row moves to the new identifier when it still
   * holds what this sync wrote and the new identifier is free; in mirror mode an old row whose
   * new identifier is already taken is deleted, under the same condition.
   */
  async #followKeyChanges(client: PoolClient, part: readonly Change[], table: Table, keys: readonly string[], mode: Mode): Promise<void> {
    const moved = part.filter((c) => c.previous !== null && keys.every((k) => Object.hasOwn(c.previous!, k)) && keys.some((k) => !sameValue(c.previous![k], c.identifier[k])));
    if (moved.length === 0) return;
    const compared = [...new Set(moved.flatMap((c) => Object.keys(c.previous!)))].filter((c) => table.columns.has(c) && !keys.includes(c));
    // Only the values the record was last sent with: a column it did not have is not compared.
    const wanted = new Set([...keys, ...compared]);
    const docs = toJson(moved.map((c) => ({ new: c.identifier, old: Object.fromEntries(Object.entries(c.previous!).filter(([k]) => wanted.has(k))) })));
    await client.query(moveKeyStatement(table, keys, compared), [docs]);
    if (mode === 'mirror') await client.query(deleteOldKeyStatement(table, keys, compared), [docs]);
  }

  #identifierColumns(batch: readonly Change[], context: WriteContext): string[] {
    const keys = Object.keys(batch[0]!.identifier);
    if (keys.length === 0) {
      throw new DestinationError(
        `postgres destination "${this.#name}": sync ${context.syncId} has no identifier. The identifier fields are the ` +
          `table's key (its primary key or a unique index) that rows are matched on; add one to the sync's meta.activation, ` +
          `e.g. identifier: { customer_id: customer_id }`,
      );
    }
    return keys;
  }

  /** Checks the table once per sync (creating it or its missing columns with create_table). */
  #table(options: PostgresOptions, keys: readonly string[], mapped: readonly string[], batch: readonly Change[], mode: Mode): Promise<Table> {
    const cached = this.#tables.get(options.table);
    const usable = (table: Table) =>
      mapped.every((c) => table.columns.has(c)) && !(options.create_table && this.#widenings(table, mapped, batch).length > 0);
    const ready = cached?.then((table) => (usable(table) ? table : undefined));
    const next = (ready ?? Promise.resolve(undefined)).then((table) => table ?? this.#prepare(options, keys, mapped, batch, mode));
    this.#tables.set(options.table, next);
    next.catch(() => this.#tables.delete(options.table));
    return next;
  }

  async #prepare(options: PostgresOptions, keys: readonly string[], mapped: readonly string[], batch: readonly Change[], mode: Mode): Promise<Table> {
    const display = options.table;
    let client: PoolClient;
    try {
      client = await this.#connect();
    } catch (error) {
      throw new DestinationError(
        this.#scrub(`postgres destination "${this.#name}": cannot connect: ${describeError(error)}${hintSuffix(fatalHint(error, display))}`),
        { cause: error },
      );
    }
    try {
      const tooLong = mapped.filter((c) => Buffer.byteLength(c, 'utf8') > MAX_IDENTIFIER_BYTES);
      if (tooLong.length > 0) {
        throw new DestinationError(
          `postgres destination "${this.#name}": field name ${tooLong.map((c) => `"${c}"`).join(', ')} is longer than PostgreSQL's ` +
            `${MAX_IDENTIFIER_BYTES}-byte limit for column names; map it to a shorter name`,
        );
      }
      let found = await inspect(client, options.table);
      const typeOf = (column: string): string =>
        options.columns?.[column] ?? inferColumnType(batch.map((c) => c.fields[column] ?? c.identifier[column]));
      if (!found) {
        if (!options.create_table) {
          throw new DestinationError(
            `postgres destination "${this.#name}": table ${display} does not exist. Create it with a primary key on ` +
              `(${keys.join(', ')}), or set create_table: true in the sync's meta.activation`,
          );
        }
        const unknownTypes = batch[0]!.operation === 'delete' ? [] : Object.keys(options.columns ?? {}).filter((c) => !mapped.includes(c));
        if (unknownTypes.length > 0) {
          throw new DestinationError(
            `postgres destination "${this.#name}": columns: ${unknownTypes.join(', ')} ${unknownTypes.length > 1 ? 'are' : 'is'} not mapped by the sync ` +
              `(mapped: ${mapped.join(', ')})${didYouMean(unknownTypes[0]!, mapped)}`,
          );
        }
        const { schema, name } = tableName(options.table);
        const targetSchema = schema ?? (await currentSchema(client));
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(targetSchema)}`);
        const definitions: ColumnDefinition[] = mapped.map((c) => ({ name: c, type: typeOf(c) }));
        await client.query(createTableStatement(targetSchema, name, definitions, keys));
        const created = { sql: qualifiedName(targetSchema, name), types: new Map<string, string>() };
        for (const column of mapped) if (options.columns?.[column] === undefined) await client.query(markInferredStatement(created, column));
        this.#log.info(`postgres destination "${this.#name}": created table ${display} (${definitions.map((d) => `${d.name} ${d.type}`).join(', ')})`);
        found = await inspect(client, options.table);
        if (!found) throw new DestinationError(`postgres destination "${this.#name}": table ${display} was created but cannot be found`);
      }
      const missing = mapped.filter((c) => !found!.columns.has(c));
      if (missing.length > 0) {
        if (!options.create_table) {
          const existing = [...found.columns.keys()];
          const sameButCase = existing.find((c) => c.toLowerCase() === missing[0]!.toLowerCase());
          const suggestion = sameButCase ? ` (the table has "${sameButCase}": names are case-sensitive)` : didYouMean(missing[0]!, existing);
          throw new DestinationError(
            `postgres destination "${this.#name}": table ${display} has no column ${missing.map((c) => `"${c}"`).join(', ')}` +
              `${suggestion}; its columns: ${existing.join(', ')}. Mapped field names are the column ` +
              `names; add the columns or set create_table: true`,
          );
        }
        const ref = { sql: qualifiedName(found.schema, found.name), types: found.columns };
        for (const column of missing) {
          const definition = { name: column, type: typeOf(column) };
          await client.query(addColumnStatement(ref, definition));
          if (options.columns?.[column] === undefined) await client.query(markInferredStatement(ref, column));
          this.#log.info(`postgres destination "${this.#name}": added column ${column} ${definition.type} to ${display}`);
        }
        found = (await inspect(client, options.table))!;
      }
      if (options.create_table) {
        const current = tableOf(display, found);
        const widenings = this.#widenings(current, mapped, batch);
        for (const { column, from, to } of widenings) {
          await client.query(widenColumnStatement(current, column, from, to));
          this.#log.info(`postgres destination "${this.#name}": widened column ${column} of ${display} from ${from} to ${to} for the values now sent`);
        }
        if (widenings.length > 0) found = (await inspect(client, options.table))!;
      }
      if (CONFLICT_MODES.includes(mode) && !found.uniqueKeys.some((u) => sameSet(u, keys))) {
        throw new DestinationError(
          `postgres destination "${this.#name}": table ${display} has no primary key or unique index on exactly ` +
            `(${keys.join(', ')}), the sync's identifier; ${mode} mode matches rows on it (INSERT ... ON CONFLICT). ` +
            `Add one, e.g. CREATE UNIQUE INDEX ON ${qualifiedName(found.schema, found.name)} (${keys.map(quoteIdent).join(', ')})`,
        );
      }
      return tableOf(display, found);
    } catch (error) {
      if (error instanceof DestinationError) throw error;
      throw this.#fatal(error, display);
    } finally {
      client.release();
    }
  }

  /** Inferred columns of the table that this batch's values do not fit, and the type each needs. */
  #widenings(table: Table, mapped: readonly string[], batch: readonly Change[]): { column: string; from: string; to: string }[] {
    if (batch[0]!.operation === 'delete') return [];
    const out: { column: string; from: string; to: string }[] = [];
    for (const column of mapped) {
      const from = table.types.get(column);
      if (!table.inferred.has(column) || from === undefined) continue;
      const to = widenedType(from, batch.map((c) => c.fields[column] ?? c.identifier[column]));
      if (to !== undefined) out.push({ column, from, to });
    }
    return out;
  }

  async checkMapping(fields: readonly MappedField[], options: PostgresOptions): Promise<readonly string[]> {
    const problems: string[] = [];
    const keys = fields.filter((f) => f.isIdentifier).map((f) => f.field);
    if (keys.length === 0) problems.push('postgres destinations need an identifier: the table key rows are matched on');
    const mapped = fields.map((f) => f.field);
    const unknownTypes = Object.keys(options.columns ?? {}).filter((c) => !mapped.includes(c));
    if (unknownTypes.length > 0) problems.push(`columns: ${unknownTypes.join(', ')} not mapped by the sync${didYouMean(unknownTypes[0]!, mapped)}`);
    let found: Inspection | undefined;
    const client = await this.#connect().catch((error: unknown) => {
      problems.push(this.#scrub(`cannot connect: ${describeError(error)}`));
      return undefined;
    });
    if (!client) return problems;
    try {
      found = await inspect(client, options.table);
    } catch (error) {
      problems.push(this.#scrub(describeError(error)));
      return problems;
    } finally {
      client.release();
    }
    if (!found) {
      if (!options.create_table) problems.push(`table ${options.table} does not exist (set create_table: true to create it)`);
      return problems;
    }
    const missing = mapped.filter((f) => !found!.columns.has(f));
    if (missing.length > 0 && !options.create_table) problems.push(`table ${options.table} has no column ${missing.join(', ')}`);
    if (keys.length > 0 && !found.uniqueKeys.some((u) => sameSet(u, keys))) {
      problems.push(`table ${options.table} has no primary key or unique index on (${keys.join(', ')}), needed by upsert, create and mirror`);
    }
    return problems;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await (await pool).end();
  }

  #fatal(error: unknown, table: string): DestinationError {
    const hint = fatalHint(error, table);
    return new DestinationError(
      this.#scrub(`postgres destination "${this.#name}" (table ${table}): ${describeError(error)}${hintSuffix(hint)}`),
      { cause: error },
    );
  }

  /** The password must not reach a message, whatever the server or driver put in it. */
  #scrub(text: string): string {
    let out = text;
    for (const value of this.#secrets) out = out.split(value).join(MASK);
    return out;
  }
}

/** Table name (schema resolved), columns with their types, unique column sets; undefined when there is no such table. */
async function inspect(client: PoolClient, table: string): Promise<Inspection | undefined> {
  const { schema, name } = tableName(table);
  const regclass = schema === undefined ? quoteIdent(name) : qualifiedName(schema, name);
  const { rows: tables } = await client.query<{ oid: string; schema: string; name: string; kind: string }>(
    `SELECT c.oid::text AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`,
    [regclass],
  );
  const found = tables[0];
  if (!found) return undefined;
  if (found.kind !== 'r' && found.kind !== 'p') {
    throw new DestinationError(`${table} is not a table (a view or other relation); point the sync at a table`);
  }
  const { rows: columns } = await client.query<{ name: string; type: string; comment: string | null }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, col_description(attrelid, attnum) AS comment FROM pg_attribute
     WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [found.oid],
  );
  const { rows: indexes } = await client.query<{ columns: string[] }>(
    `SELECT array(SELECT a.attname::text FROM unnest(i.indkey) AS k(attnum) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)::text[] AS columns
     FROM pg_index i WHERE i.indrelid = $1::oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL`,
    [found.oid],
  );
  return {
    schema: found.schema,
    name: found.name,
    columns: new Map(columns.map((c) => [c.name, c.type])),
    inferred: new Set(columns.filter((c) => c.comment === INFERRED_MARK).map((c) => c.name)),
    uniqueKeys: indexes.map((i) => i.columns),
  };
}

function tableOf(display: string, found: Inspection): Table {
  return {
    display,
    sql: qualifiedName(found.schema, found.name),
    types: found.columns,
    columns: new Set(found.columns.keys()),
    inferred: found.inferred,
  };
}

async function currentSchema(client: PoolClient): Promise<string> {
  const { rows } = await client.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  const schema = rows[0]?.schema;
  if (!schema) throw new DestinationError('no schema to create the table in: the search_path names none that exists; write the table as schema.table');
  return schema;
}

/** The records grouped by the fields they carry (most batches: one group), identifier columns first. */
function byFieldSet(part: readonly Change[], keys: readonly string[]): { columns: string[]; changes: Change[] }[] {
  const groups = new Map<string, { columns: string[]; changes: Change[] }>();
  for (const change of part) {
    const columns = [...keys, ...Object.keys(change.fields).filter((f) => !keys.includes(f))];
    const signature = JSON.stringify(columns);
    const group = groups.get(signature) ?? { columns, changes: [] };
    group.changes.push(change);
    groups.set(signature, group);
  }
  return [...groups.values()];
}

/** Identifier columns first, then every other field the batch's records carry, in order. */
function orderedColumns(batch: readonly Change[], keys: readonly string[]): string[] {
  const seen = new Set<string>(keys);
  for (const change of batch) for (const field of Object.keys(change.fields)) seen.add(field);
  return [...seen];
}

function pick(values: Readonly<Record<string, unknown>>, columns: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of columns) out[column] = values[column] ?? null;
  return out;
}

function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function byPosition(part: readonly Change[], rows: readonly { ord: string }[], otherwise: (change: Change) => RecordResult): RecordResult[] {
  const hit = new Set(rows.map((r) => Number(r.ord)));
  return part.map((change, i) => (hit.has(i + 1) ? { key: change.key, status: 'synced' } : otherwise(change)));
}

function sameValue(a: unknown, b: unknown): boolean {
  return toJson(a ?? null) === toJson(b ?? null);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function failAll(batch: readonly Change[], message: string, retryable: boolean): RecordResult[] {
  return batch.map((change) => ({ key: change.key, status: 'failed', message, retryable }));
}

function hintSuffix(hint: string): string {
  return hint ? `; ${hint}` : '';
}

/** Keeps a table in a PostgreSQL database in step with a model: upsert, update, create, mirror. */
export const postgres: DestinationDefinition<PostgresConfig, PostgresOptions> = {
  type: 'postgres',
  config: postgresConfigSchema,
  options: postgresOptionsSchema,
  modes: ['upsert', 'update', 'create', 'mirror'],
  // clear (mapped fields set to null) and ignore are shaped by the engine into an upsert or nothing.
  onDelete: ['delete', 'clear', 'ignore'],
  secretKeys: ['password', 'url'],
  limits: (config) => ({
    batchSize: config.batch_size,
    concurrency: config.concurrency,
    // Statements are not HTTP requests; the pool's size is the only throttle.
    requests: 1_000_000,
    perSeconds: 1,
  }),
  create: (config, context) => new PostgresDestination(config, context),
};

export default postgres;
