/**
 * The example dbt project (dbt_example/) and its hand-made target/manifest.json must agree, the way
 * a real `dbt build` would leave them, and scripts/example-warehouse.ts must build it in DuckDB.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { buildExampleWarehouse, execSql } from '../scripts/example-warehouse.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const projectDir = join(repoRoot, 'dbt_example');
const PROJECT = 'jaffle_activate';

interface Node {
  unique_id: string;
  resource_type: string;
  name: string;
  database: string;
  schema: string;
  alias: string;
  relation_name: string | null;
  original_file_path: string;
  path: string;
  patch_path: string | null;
  raw_code: string;
  compiled_code?: string;
  checksum: { name: string; checksum: string };
  config: { materialized: string; meta: Record<string, unknown>; severity?: string };
  meta: Record<string, unknown>;
  description: string;
  columns: Record<string, { name: string; description: string }>;
  refs?: { name: string; package: string | null; version: string | null }[];
  depends_on: { macros: string[]; nodes?: string[] };
  attached_node?: string;
  column_name?: string;
  test_metadata?: { name: string; kwargs: Record<string, unknown>; namespace: string | null };
}
interface Manifest {
  metadata: Record<string, unknown>;
  nodes: Record<string, Node>;
  parent_map: Record<string, string[]>;
  child_map: Record<string, string[]>;
}
interface YamlModel {
  name: string;
  description?: string;
  config?: { meta?: Record<string, unknown> };
  columns?: { name: string; description?: string; data_tests?: string[] }[];
}

const manifest = JSON.parse(readFileSync(join(projectDir, 'target', 'manifest.json'), 'utf8')) as Manifest;
const nodes = Object.values(manifest.nodes);
const ofType = (t: string) => nodes.filter((n) => n.resource_type === t);
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
/** dbt reads project files as UTF-8 and strips surrounding whitespace (load_file_contents(strip=True)). */
const asDbtReadsIt = (rel: string) => readFileSync(join(projectDir, rel), 'utf8').trim();

function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(join(projectDir, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => relative(projectDir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

const schemaFiles = filesUnder('models', '.yml');
const yamlModels = new Map<string, { file: string; model: YamlModel }>();
for (const file of schemaFiles) {
  const doc = YAML.parse(readFileSync(join(projectDir, file), 'utf8')) as { models?: YamlModel[] };
  for (const model of doc.models ?? []) yamlModels.set(model.name, { file, model });
}

describe('dbt_example manifest matches the project files', () => {
  it('is a dbt v12 manifest for the duckdb project', () => {
    expect(manifest.metadata['dbt_schema_version']).toBe('https://schemas.getdbt.com/dbt/manifest/v12.json');
    expect(manifest.metadata['project_name']).toBe(PROJECT);
    expect(manifest.metadata['project_id']).toBe(createHash('md5').update(PROJECT).digest('hex'));
    expect(manifest.metadata['adapter_type']).toBe('duckdb');
    const project = YAML.parse(readFileSync(join(projectDir, 'dbt_project.yml'), 'utf8')) as Record<string, unknown>;
    expect(project['name']).toBe(PROJECT);
    expect(project['profile']).toBe(PROJECT);
  });

  it('has one model node per .sql file and one seed node per .csv file, and no others', () => {
    expect(ofType('model').map((n) => n.original_file_path).sort()).toEqual(filesUnder('models', '.sql'));
    expect(ofType('seed').map((n) => n.original_file_path).sort()).toEqual(filesUnder('seeds', '.csv'));
    for (const n of [...ofType('model'), ...ofType('seed')]) {
      const stem = n.original_file_path.split('/').pop()!.replace(/\.(sql|csv)$/, '');
      expect(n.name).toBe(stem);
      expect(n.unique_id).toBe(`${n.resource_type}.${PROJECT}.${stem}`);
      expect(manifest.nodes[n.unique_id]).toBe(n);
    }
  });

  it('holds the exact code and sha256 checksum of every file', () => {
    for (const n of ofType('model')) {
      const contents = asDbtReadsIt(n.original_file_path);
      expect(n.raw_code, n.unique_id).toBe(contents);
      expect(n.checksum, n.unique_id).toEqual({ name: 'sha256', checksum: sha256(contents) });
    }
    for (const n of ofType('seed')) {
      expect(n.raw_code).toBe('');
      expect(n.checksum, n.unique_id).toEqual({ name: 'sha256', checksum: sha256(asDbtReadsIt(n.original_file_path)) });
    }
  });

  it('compiles refs to the quoted relation names and records them as dependencies', () => {
    const byName = new Map([...ofType('model'), ...ofType('seed')].map((n) => [n.name, n]));
    for (const n of [...ofType('model'), ...ofType('seed')]) {
      expect(n.relation_name).toBe(`"warehouse"."main"."${n.alias}"`);
      expect(n.database).toBe('warehouse'); // basename of profiles.yml's path: warehouse.duckdb
    }
    for (const n of ofType('model')) {
      const refs = [...n.raw_code.matchAll(/\{\{\s*ref\('([^']+)'\)\s*\}\}/g)].map((m) => m[1]!);
      expect(refs.length, n.unique_id).toBeGreaterThan(0);
      expect(n.refs?.map((r) => r.name)).toEqual(refs);
      expect(n.depends_on.nodes).toEqual(refs.map((r) => byName.get(r)?.unique_id));
      const compiled = n.raw_code.replace(/\{\{\s*ref\('([^']+)'\)\s*\}\}/g, (_, r: string) => byName.get(r)!.relation_name!);
      expect(n.compiled_code, n.unique_id).toBe(compiled);
      expect(n.compiled_code).not.toMatch(/\{\{|\{%/);
      const folder = n.original_file_path.split('/')[1];
      expect(n.config.materialized).toBe(folder === 'staging' ? 'view' : 'table');
    }
  });

  it('carries each YAML activation in config.meta and meta, plus the documented columns', () => {
    expect(yamlModels.size).toBeGreaterThan(0);
    for (const [name, { file, model }] of yamlModels) {
      const node = manifest.nodes[`model.${PROJECT}.${name}`];
      expect(node, name).toBeDefined();
      const activation = model.config?.meta?.['activation'];
      expect(activation, name).toBeDefined();
      expect(node!.config.meta['activation']).toEqual(activation);
      expect(node!.meta).toEqual(node!.config.meta);
      expect(node!.patch_path).toBe(`${PROJECT}://${file}`);
      expect(node!.description).toBe(model.description ?? '');
      expect(Object.values(node!.columns).map((c) => [c.name, c.description])).toEqual(
        (model.columns ?? []).map((c) => [c.name, c.description ?? '']),
      );
    }
    // Models without YAML have neither meta nor a patch.
    for (const n of ofType('model').filter((m) => !yamlModels.has(m.name))) {
      expect(n.config.meta).toEqual({});
      expect(n.patch_path).toBeNull();
    }
  });

  it('has one generic test node per YAML data test, attached to its model', () => {
    const expected = [...yamlModels.values()].flatMap(({ file, model }) =>
      (model.columns ?? []).flatMap((c) =>
        (c.data_tests ?? []).map((t) => ({ test: t, model: model.name, column: c.name, file })),
      ),
    );
    const tests = ofType('test');
    expect(tests).toHaveLength(expected.length);
    for (const e of expected) {
      const name = `${e.test}_${e.model}_${e.column}`;
      const node = tests.find((t) => t.name === name);
      expect(node, name).toBeDefined();
      expect(node!.unique_id).toMatch(new RegExp(`^test\\.${PROJECT}\\.${name}\\.[0-9a-f]{10}$`));
      expect(node!.attached_node).toBe(`model.${PROJECT}.${e.model}`);
      expect(node!.depends_on.nodes).toEqual([`model.${PROJECT}.${e.model}`]);
      expect(node!.column_name).toBe(e.column);
      expect(node!.original_file_path).toBe(e.file);
      expect(node!.config.severity).toBe('ERROR');
      expect(node!.test_metadata).toEqual({
        name: e.test,
        kwargs: { column_name: e.column, model: `{{ get_where_subquery(ref('${e.model}')) }}` },
        namespace: null,
      });
    }
  });

  it('has parent_map and child_map consistent with depends_on', () => {
    expect(Object.keys(manifest.parent_map).sort()).toEqual(Object.keys(manifest.nodes).sort());
    expect(Object.keys(manifest.child_map).sort()).toEqual(Object.keys(manifest.nodes).sort());
    for (const n of nodes) {
      expect(manifest.parent_map[n.unique_id]).toEqual([...(n.depends_on.nodes ?? [])].sort());
      const children = nodes.filter((c) => c.depends_on.nodes?.includes(n.unique_id)).map((c) => c.unique_id);
      expect(manifest.child_map[n.unique_id]).toEqual(children.sort());
    }
  });
});

describe('buildExampleWarehouse', () => {
  let workDir: string;
  let databasePath: string;

  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'activate-example-'));
    // Copy the project without any warehouse file a demo run may have left in the repo.
    cpSync(projectDir, join(workDir, 'dbt_example'), {
      recursive: true,
      filter: (src) => !/\.duckdb(\.wal)?$/.test(src) && !src.endsWith(`${sep}logs`),
    });
    databasePath = join(workDir, 'dbt_example', 'warehouse.duckdb');
  });

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  const customersInSeed = readFileSync(join(projectDir, 'seeds', 'raw_customers.csv'), 'utf8').trim().split('\n').length - 1;

  it('builds seeds and models into a DuckDB file, one customer_scores row per customer', async () => {
    await buildExampleWarehouse({ projectDir: join(workDir, 'dbt_example'), databasePath });
    const [summary] = await execSql(
      databasePath,
      `select count(*)::int as n, count(distinct customer_id)::int as ids,
              count(customer_id)::int as non_null_ids, count(email)::int as emails,
              min(churn_risk) as min_risk, max(churn_risk) as max_risk
         from main.customer_scores`,
    );
    expect(summary).toMatchObject({ n: customersInSeed, ids: customersInSeed, non_null_ids: customersInSeed, emails: customersInSeed });
    expect(Number(summary!['min_risk'])).toBeGreaterThanOrEqual(0);
    expect(Number(summary!['max_risk'])).toBeLessThanOrEqual(1);

    const [atRisk] = await execSql(
      databasePath,
      `select count(*)::int as n, coalesce(min(churn_risk), 1) as min_risk from main.at_risk_customers`,
    );
    expect(Number(atRisk!['n'])).toBeGreaterThan(0);
    expect(Number(atRisk!['n'])).toBeLessThan(customersInSeed);
    expect(Number(atRisk!['min_risk'])).toBeGreaterThanOrEqual(0.7);

    const kinds = await execSql(
      databasePath,
      `select table_name, table_type from information_schema.tables
        where table_catalog = 'warehouse' and table_schema = 'main' order by table_name`,
    );
    expect(kinds).toEqual([
      { table_name: 'at_risk_customers', table_type: 'BASE TABLE' },
      { table_name: 'customer_scores', table_type: 'BASE TABLE' },
      { table_name: 'raw_customers', table_type: 'BASE TABLE' },
      { table_name: 'raw_orders', table_type: 'BASE TABLE' },
      { table_name: 'stg_customers', table_type: 'VIEW' },
      { table_name: 'stg_orders', table_type: 'VIEW' },
    ]);
  });

  it('rebuilds over an existing file, and with skipSeeds keeps edited seed rows', async () => {
    await buildExampleWarehouse({ projectDir: join(workDir, 'dbt_example'), databasePath });
    await execSql(databasePath, `update main.raw_customers set plan = 'enterprise' where id = 3`);
    await buildExampleWarehouse({ projectDir: join(workDir, 'dbt_example'), databasePath, skipSeeds: true });
    const rows = await execSql(databasePath, `select plan from main.customer_scores where customer_id = 3`);
    expect(rows).toEqual([{ plan: 'enterprise' }]);

    // A full build reloads the seeds from the CSV files.
    await buildExampleWarehouse({ projectDir: join(workDir, 'dbt_example'), databasePath });
    const again = await execSql(databasePath, `select plan from main.customer_scores where customer_id = 3`);
    expect(again).not.toEqual([{ plan: 'enterprise' }]);
  });

  it('refuses a database file whose name differs from the manifest database', async () => {
    await expect(
      buildExampleWarehouse({ projectDir: join(workDir, 'dbt_example'), databasePath: join(workDir, 'other.duckdb') }),
    ).rejects.toThrow(/warehouse\.duckdb/);
  });
});
