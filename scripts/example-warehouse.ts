/**
 * A miniature `dbt build` for the example project in `dbt_example/`, for machines without dbt.
 *
 * It reads the committed `target/manifest.json`, loads every seed with DuckDB's `read_csv`, then
 * runs every model's `compiled_code` in dependency order as `CREATE OR REPLACE VIEW|TABLE`, using
 * the relation names dbt wrote. It does not render Jinja: the manifest already holds the compiled
 * SQL, exactly as dbt would have run it. It creates the nodes' schemas if missing and drops a
 * relation only to replace it with a different kind (a view that became a table); nothing else.
 *
 * Used by `npm run demo` and by test/example-project.test.ts; not part of the published package.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

export interface BuildExampleWarehouseOptions {
  /** The dbt project directory (holds dbt_project.yml, seeds/, target/). */
  readonly projectDir: string;
  /** The DuckDB file to build. Its basename (without extension) must be the manifest's database. */
  readonly databasePath: string;
  /** Defaults to `<projectDir>/target/manifest.json`. */
  readonly manifestPath?: string;
  /** Rebuild the models only and keep the seed tables as they are (e.g. after editing a seed row). */
  readonly skipSeeds?: boolean;
}

/** The subset of a manifest node this builder reads. */
interface ManifestNode {
  readonly unique_id: string;
  readonly resource_type: string;
  readonly name: string;
  readonly alias?: string | null;
  readonly database?: string | null;
  readonly schema: string;
  readonly relation_name?: string | null;
  readonly original_file_path: string;
  readonly compiled_code?: string | null;
  readonly config?: { readonly materialized?: string; readonly enabled?: boolean };
  readonly depends_on?: { readonly nodes?: readonly string[] };
}

export async function buildExampleWarehouse(opts: BuildExampleWarehouseOptions): Promise<void> {
  const projectDir = resolve(opts.projectDir);
  const databasePath = resolve(opts.databasePath);
  const manifestPath = resolve(opts.manifestPath ?? join(projectDir, 'target', 'manifest.json'));
  const nodes = await readManifestNodes(manifestPath);

  const seeds = nodes.filter((n) => n.resource_type === 'seed');
  const models = topologicalModels(nodes);

  // dbt-duckdb names the database after the file; the compiled SQL refers to it by that name.
  const catalog = basename(databasePath, extname(databasePath));
  for (const node of [...seeds, ...models]) {
    if (node.database != null && node.database !== catalog) {
      throw new Error(
        `${node.unique_id} lives in database "${node.database}" but the DuckDB file ${databasePath} ` +
          `is attached as "${catalog}"; name the file ${node.database}.duckdb`,
      );
    }
  }

  await mkdir(dirname(databasePath), { recursive: true });
  await withConnection(databasePath, async (conn) => {
    await conn.run('BEGIN TRANSACTION');
    try {
      const schemas = new Set([...seeds, ...models].map((n) => `${quoteIdent(catalog)}.${quoteIdent(n.schema)}`));
      for (const schema of schemas) await conn.run(`CREATE SCHEMA IF NOT EXISTS ${schema}`);

      if (!opts.skipSeeds) {
        for (const seed of seeds) {
          const csvPath = join(projectDir, seed.original_file_path);
          await replaceRelation(conn, catalog, seed, 'BASE TABLE');
          await conn.run(
            `CREATE OR REPLACE TABLE ${relationOf(seed, catalog)} AS ` +
              `SELECT * FROM read_csv(${quoteLiteral(csvPath)}, header = true, auto_detect = true)`,
          );
        }
      }

      for (const model of models) {
        const materialized = model.config?.materialized ?? 'view';
        const sql = model.compiled_code;
        if (materialized === 'ephemeral') continue; // dbt inlines ephemeral models as CTEs
        if (sql == null || sql.trim() === '') {
          throw new Error(`${model.unique_id} has no compiled_code; the manifest must come from dbt compile/run/build`);
        }
        let kind: 'VIEW' | 'TABLE';
        if (materialized === 'view') kind = 'VIEW';
        else if (materialized === 'table' || materialized === 'incremental') kind = 'TABLE';
        else throw new Error(`${model.unique_id}: materialization "${materialized}" is not supported by this builder`);
        await replaceRelation(conn, catalog, model, kind === 'VIEW' ? 'VIEW' : 'BASE TABLE');
        await conn.run(`CREATE OR REPLACE ${kind} ${relationOf(model, catalog)} AS (\n${sql}\n)`);
      }
      await conn.run('COMMIT');
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
    // Leave a self-contained file (no .wal) for the next process that opens it.
    await conn.run('CHECKPOINT');
  });
}

/**
 * Runs SQL against a DuckDB file and returns the rows of the last statement as JSON-friendly
 * objects (BIGINT and DECIMAL become strings or numbers as DuckDB's JSON conversion decides).
 * Opens and closes the file, so no other process may hold it open for writing meanwhile.
 */
export async function execSql(databasePath: string, sql: string): Promise<Record<string, unknown>[]> {
  return withConnection(resolve(databasePath), async (conn) => {
    const reader = await conn.runAndReadAll(sql);
    const rows = reader.getRowObjectsJson() as Record<string, unknown>[];
    await conn.run('CHECKPOINT');
    return rows;
  });
}

async function withConnection<T>(databasePath: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(databasePath);
  try {
    const conn = await instance.connect();
    try {
      return await fn(conn);
    } finally {
      conn.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

async function readManifestNodes(manifestPath: string): Promise<ManifestNode[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read dbt manifest ${manifestPath}`, { cause: err });
  }
  const nodes = (parsed as { nodes?: Record<string, ManifestNode> } | null)?.nodes;
  if (nodes == null || typeof nodes !== 'object') throw new Error(`${manifestPath} has no "nodes" object`);
  return Object.values(nodes).filter((n) => n.config?.enabled !== false);
}

/** Models in an order where every model comes after the models it depends on (stable: manifest order). */
function topologicalModels(nodes: readonly ManifestNode[]): ManifestNode[] {
  const models = new Map(nodes.filter((n) => n.resource_type === 'model').map((n) => [n.unique_id, n]));
  const ordered: ManifestNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (node: ManifestNode, path: readonly string[]): void => {
    const s = state.get(node.unique_id);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`dependency cycle: ${[...path, node.unique_id].join(' -> ')}`);
    state.set(node.unique_id, 'visiting');
    for (const parentId of node.depends_on?.nodes ?? []) {
      const parent = models.get(parentId);
      if (parent) visit(parent, [...path, node.unique_id]);
    }
    state.set(node.unique_id, 'done');
    ordered.push(node);
  };
  for (const model of models.values()) visit(model, []);
  return ordered;
}

function relationOf(node: ManifestNode, catalog: string): string {
  if (node.relation_name) return node.relation_name;
  return [catalog, node.schema, node.alias ?? node.name].map(quoteIdent).join('.');
}

/** Drops the node's relation when it exists as the other kind, since CREATE OR REPLACE cannot switch kinds. */
async function replaceRelation(
  conn: DuckDBConnection,
  catalog: string,
  node: ManifestNode,
  wanted: 'VIEW' | 'BASE TABLE',
): Promise<void> {
  const reader = await conn.runAndReadAll(
    'SELECT table_type FROM information_schema.tables WHERE table_catalog = $1 AND table_schema = $2 AND table_name = $3',
    [catalog, node.schema, node.alias ?? node.name],
  );
  const existing = reader.getRowObjectsJson()[0]?.['table_type'];
  if (existing === undefined || existing === wanted) return;
  await conn.run(`DROP ${existing === 'VIEW' ? 'VIEW' : 'TABLE'} ${relationOf(node, catalog)}`);
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
