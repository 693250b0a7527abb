import { join, relative } from 'node:path';
import type { Destination, MappedField } from '../../destinations/types.js';
import type { SyncSpec } from '../config/sync-spec.js';
import type { ProfileTarget } from '../dbt/profiles.js';
import { ActivateError, ConfigError, errorMessage } from '../errors.js';
import { createHttpClient } from '../http/http-client.js';
import type { HttpClient } from '../http/types.js';
import { silentLogger, type Logger } from '../logger.js';
import { loadProject, resolveProfile, type Project, type ProjectOptions } from '../project/load-project.js';
import { selectSyncs } from '../project/select.js';
import { didYouMean } from '../suggest.js';
import { openWarehouse } from '../warehouse/registry.js';
import type { Connection, Warehouse } from '../warehouse/types.js';
import { readCatalog, type Catalog } from './catalog.js';

export interface ValidateOptions {
  /** An already loaded project (the CLI loads it first); otherwise it is loaded from `projectOptions`. */
  readonly project?: Project;
  readonly projectOptions?: ProjectOptions;
  readonly select?: readonly string[];
  readonly exclude?: readonly string[];
  /** Also ask each destination whether the mapped fields exist (`checkMapping`); sends no data. */
  readonly online?: boolean;
  readonly log?: Logger;
}

export interface ValidateResult {
  /** `model/sync: path: message`, or `file: path: message` for problems in a file; empty when all is well. */
  readonly problems: readonly string[];
  /** Ids of the syncs that were checked. */
  readonly syncs: readonly string[];
  /** What could not be checked and why (not problems). */
  readonly notes: readonly string[];
}

interface ColumnInfo {
  readonly name: string;
  readonly type: string | undefined;
}

/** Columns by lower-case name: warehouse and dbt column names are compared case-insensitively. */
type Columns = ReadonlyMap<string, ColumnInfo>;

interface Needed {
  readonly path: string;
  readonly column: string;
  readonly role: 'key' | 'identifier' | 'field';
}

/**
 * `activate validate`: everything that can be checked without sending or writing anything.
 * Loading the project checks activate.yml (destinations exist, each connector validates its
 * entry, every env var is set), the manifest and every meta.activation. Then, per sync:
 * the profile resolves (its env vars too), every key and mapped column exists in the model,
 * and keys and identifier fields are not structured values (STRUCT, MAP, LIST, JSON, ...).
 *
 * Where columns come from, cheapest first: the columns documented in the model's YAML (proof
 * that a column exists, never that it does not), `catalog.json` when dbt wrote one, else the
 * warehouse itself (a zero-row query on the relation). A column counts as missing when the
 * warehouse lacks it, or when catalog.json lacks it and the YAML does not document it.
 */
export async function validateProject(options: ValidateOptions = {}): Promise<ValidateResult> {
  const log = options.log ?? silentLogger;
  let project = options.project;
  if (!project) {
    try {
      project = await loadProject(options.projectOptions ?? {});
    } catch (error) {
      if (error instanceof ConfigError) return { problems: [...error.problems], syncs: [], notes: [] };
      if (error instanceof ActivateError) return { problems: error.message.split('\n'), syncs: [], notes: [] };
      throw error;
    }
  }
  const problems: string[] = [];
  const notes: string[] = [];
  const syncs = selectSyncs(project.syncs, project.manifest, options.select, options.exclude, log);
  const sources = new ColumnSources(project, problems, log);
  const online = options.online ? new OnlineChecks(project, log) : undefined;
  try {
    await sources.prepare(syncs.length > 0);
    for (const sync of syncs) {
      const columns = await checkColumns(sync, sources, problems);
      if (online) await online.check(sync, columns, problems, notes);
    }
  } finally {
    await online?.close();
    await sources.close();
  }
  const redact = (text: string) => project.redactor.redact(text);
  return { problems: problems.map(redact), syncs: syncs.map((s) => s.id), notes: notes.map(redact) };
}

/** `model/sync` for messages. */
function prefixOf(sync: SyncSpec): string {
  return `${sync.model.name}/${sync.id}`;
}

async function checkColumns(sync: SyncSpec, sources: ColumnSources, problems: string[]): Promise<Columns> {
  const prefix = prefixOf(sync);
  const needed: Needed[] = [
    ...sync.primaryKey.map((column, i): Needed => ({
      path: sync.primaryKey.length > 1 ? `primary_key[${i}]` : 'primary_key',
      column,
      role: 'key',
    })),
    ...Object.entries(sync.identifier).map(([field, column]): Needed => ({ path: `identifier.${field}`, column, role: 'identifier' })),
    ...Object.entries(sync.fields).map(([field, column]): Needed => ({ path: `fields.${field}`, column, role: 'field' })),
  ];
  const documented = documentedColumns(sync);
  const known = (n: Needed) => documented.has(n.column.toLowerCase());
  const typed = (n: Needed) => n.role === 'field' || documented.get(n.column.toLowerCase())?.type !== undefined;

  let actual: { columns: Columns; where: string; authoritative: boolean } | undefined;
  const fromCatalog = sources.catalogColumns(sync);
  if (fromCatalog) {
    actual = { columns: fromCatalog.columns, where: fromCatalog.where, authoritative: false };
  } else if (!needed.every(known) || !needed.every(typed)) {
    const fromWarehouse = await sources.warehouseColumns(sync);
    if ('error' in fromWarehouse) {
      // Only an unanswered question of existence is a problem; unknown types are not.
      if (!needed.every(known)) problems.push(`${prefix}: model: cannot check its columns: ${fromWarehouse.error}`);
    } else {
      actual = { columns: fromWarehouse.columns, where: fromWarehouse.where, authoritative: true };
    }
  }

  const merged = new Map<string, ColumnInfo>(documented);
  for (const [key, info] of actual?.columns ?? []) {
    merged.set(key, { name: info.name, type: info.type ?? documented.get(key)?.type });
  }
  for (const n of needed) {
    const key = n.column.toLowerCase();
    if (actual) {
      const present = actual.columns.has(key) || (!actual.authoritative && documented.has(key));
      if (!present) {
        problems.push(
          `${prefix}: ${n.path}: column "${n.column}" does not exist in ${actual.where}` +
            didYouMean(n.column, [...actual.columns.values()].map((c) => c.name)),
        );
        continue;
      }
    } else if (!documented.has(key)) {
      continue; // Unknown: the warehouse could not be asked (reported above).
    }
    if (n.role === 'field') continue;
    const type = (actual?.columns.get(key)?.type ?? documented.get(key)?.type)?.trim();
    const kind = type === undefined ? undefined : structuredKind(type);
    if (kind) {
      problems.push(
        n.role === 'key'
          ? `${prefix}: ${n.path}: column "${n.column}" is a ${kind} (${type}); a primary key must be scalar values (text, numbers, dates)`
          : `${prefix}: ${n.path}: column "${n.column}" is a ${kind} (${type}); a destination match field takes one scalar value`,
      );
    }
  }
  return merged;
}

/** The columns dbt documents for the model (from its YAML), with `data_type` when declared. */
function documentedColumns(sync: SyncSpec): Map<string, ColumnInfo> {
  const out = new Map<string, ColumnInfo>();
  for (const [key, column] of Object.entries(sync.model.node.columns ?? {})) {
    const name = column.name || key;
    const type = column.data_type?.trim() || undefined;
    out.set(name.toLowerCase(), { name, type });
  }
  return out;
}

const STRUCTURED: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(STRUCT|ROW|RECORD)\b/i, 'STRUCT'],
  [/^(MAP|HSTORE)\b/i, 'MAP'],
  [/^(LIST|ARRAY)\b|\[\d*\]$/i, 'LIST'],
  [/^(JSON|JSONB)\b/i, 'JSON'],
  [/^(VARIANT|OBJECT|SUPER)\b/i, 'semi-structured value'],
  [/^UNION\b/i, 'UNION'],
];

/** The kind of a structured (non-scalar) warehouse type, e.g. "STRUCT" for `STRUCT(a INTEGER)`; undefined for scalars. */
export function structuredKind(type: string): string | undefined {
  const t = type.trim();
  for (const [pattern, kind] of STRUCTURED) if (pattern.test(t)) return kind;
  return undefined;
}

/**
 * Where the columns of a model come from: catalog.json when it has the model, else the
 * warehouse (opened once, lazily, with the project's profile).
 */
class ColumnSources {
  #catalog: Catalog | undefined;
  #target: ProfileTarget | undefined;
  #targetError: string | undefined;
  #warehouse: Promise<{ warehouse: Warehouse; connection: Connection } | { error: string }> | undefined;
  readonly #models = new Map<string, Promise<{ columns: Columns; where: string } | { error: string }>>();

  constructor(
    private readonly project: Project,
    private readonly problems: string[],
    private readonly log: Logger,
  ) {}

  /** Reads catalog.json and resolves the profile (its env vars included), reporting their problems. */
  async prepare(hasSyncs: boolean): Promise<void> {
    const path = join(this.project.dbt.targetPath, 'catalog.json');
    const display = relative(this.project.dbt.dir, path).startsWith('..') ? path : relative(this.project.dbt.dir, path);
    this.#catalog = await readCatalog(path, display, this.problems);
    if (!hasSyncs) return;
    try {
      this.#target = await resolveProfile(this.project);
    } catch (error) {
      if (!(error instanceof ActivateError)) throw error;
      this.problems.push(...(error instanceof ConfigError ? error.problems : [error.message]));
      this.#targetError = 'the dbt profile could not be resolved (see above)';
    }
  }

  catalogColumns(sync: SyncSpec): { columns: Columns; where: string } | undefined {
    const columns = this.#catalog?.nodes.get(sync.model.uniqueId);
    if (!columns) return undefined;
    return {
      columns: new Map(columns.map((c) => [c.name.toLowerCase(), c])),
      where: `${relationOf(sync)} (according to ${this.#catalog!.display}; \`dbt docs generate\` refreshes it)`,
    };
  }

  warehouseColumns(sync: SyncSpec): Promise<{ columns: Columns; where: string } | { error: string }> {
    let pending = this.#models.get(sync.model.uniqueId);
    if (!pending) {
      pending = this.#readModel(sync);
      this.#models.set(sync.model.uniqueId, pending);
    }
    return pending;
  }

  async #readModel(sync: SyncSpec): Promise<{ columns: Columns; where: string } | { error: string }> {
    const opened = await this.#open();
    if ('error' in opened) return opened;
    const { warehouse, connection } = opened;
    const relation = warehouse.dialect.modelRelation(sync.model);
    try {
      const columns = await describeColumns(warehouse, connection, relation);
      this.log.debug(`validate: ${relation} has columns ${columns.map((c) => c.name).join(', ')}`);
      return { columns: new Map(columns.map((c) => [c.name.toLowerCase(), c])), where: relation };
    } catch (error) {
      return {
        error: `${relation} cannot be read in ${warehouse.description}: ${firstLine(errorMessage(error))}. Run \`dbt build\` for it first.`,
      };
    }
  }

  #open(): Promise<{ warehouse: Warehouse; connection: Connection } | { error: string }> {
    this.#warehouse ??= (async () => {
      if (!this.#target) return { error: this.#targetError ?? 'no dbt profile' };
      let warehouse: Warehouse | undefined;
      try {
        warehouse = await openWarehouse(this.#target, this.project.options.cwd ?? process.cwd());
        return { warehouse, connection: await warehouse.connect() };
      } catch (error) {
        await warehouse?.close().catch(() => undefined);
        return { error: `the warehouse cannot be reached (${this.#target.profile}.${this.#target.target}): ${firstLine(errorMessage(error))}` };
      }
    })();
    return this.#warehouse;
  }

  async close(): Promise<void> {
    const opened = await this.#warehouse;
    if (opened && !('error' in opened)) {
      await opened.connection.close().catch(() => undefined);
      await opened.warehouse.close().catch(() => undefined);
    }
  }
}

/**
 * The relation's columns, with types where this warehouse can tell them from a zero-row
 * query. DuckDB describes a query directly; for others only names are known for now.
 */
async function describeColumns(warehouse: Warehouse, connection: Connection, relation: string): Promise<ColumnInfo[]> {
  const probe = warehouse.dialect.columnsProbe(relation);
  if (warehouse.kind === 'duckdb') {
    const rows = await connection.query<{ column_name: string; column_type: string }>(`DESCRIBE ${probe}`);
    return rows.map((r) => ({ name: String(r.column_name), type: r.column_type ? String(r.column_type) : undefined }));
  }
  return (await connection.describe(probe)).map((name) => ({ name, type: undefined }));
}

/** Problems are one line each; warehouse errors often add a SQL excerpt and a caret below. */
function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

function relationOf(sync: SyncSpec): string {
  const m = sync.model;
  return m.relationName ?? [m.database, m.schema, m.alias].filter((p): p is string => !!p).join('.');
}

/** `--online`: each destination checks the mapping itself (`checkMapping`), sending no data. */
class OnlineChecks {
  readonly #destinations = new Map<string, { destination: Destination<unknown>; http: HttpClient } | { error: string }>();

  constructor(
    private readonly project: Project,
    private readonly log: Logger,
  ) {}

  async check(sync: SyncSpec, columns: Columns, problems: string[], notes: string[]): Promise<void> {
    const configured = sync.destination;
    const prefix = prefixOf(sync);
    let entry = this.#destinations.get(configured.name);
    if (!entry) {
      try {
        const http = createHttpClient({ limits: configured.definition.limits(configured.config), retry: configured.retry, log: this.log });
        const destination = configured.definition.create(configured.config, { http, log: this.log, name: configured.name, cwd: this.project.options.cwd ?? process.cwd() }) as Destination<unknown>;
        entry = { destination, http };
      } catch (error) {
        entry = { error: firstLine(errorMessage(error)) };
      }
      this.#destinations.set(configured.name, entry);
    }
    if ('error' in entry) {
      problems.push(`${prefix}: destination: ${configured.name}: cannot be set up: ${entry.error}`);
      return;
    }
    const { destination } = entry;
    if (!destination.checkMapping) {
      const note = `${configured.name} (${configured.type}) has no online check; its mapping was checked offline only`;
      if (!notes.includes(note)) notes.push(note);
      return;
    }
    const identifiers = new Set(Object.keys(sync.identifier));
    const seen = new Set<string>();
    const fields: MappedField[] = [];
    for (const [field, column] of [...Object.entries(sync.identifier), ...Object.entries(sync.fields)]) {
      if (seen.has(field)) continue;
      seen.add(field);
      fields.push({ field, column, columnType: columns.get(column.toLowerCase())?.type, isIdentifier: identifiers.has(field) });
    }
    try {
      for (const message of await destination.checkMapping(fields, sync.options)) {
        problems.push(`${prefix}: destination: ${configured.name}: ${message}`);
      }
    } catch (error) {
      problems.push(`${prefix}: destination: ${configured.name}: the mapping could not be checked: ${firstLine(errorMessage(error))}`);
    }
  }

  async close(): Promise<void> {
    for (const entry of this.#destinations.values()) {
      if ('error' in entry) continue;
      await entry.destination.close?.().catch(() => undefined);
      await entry.http.close().catch(() => undefined);
    }
    this.#destinations.clear();
  }
}
