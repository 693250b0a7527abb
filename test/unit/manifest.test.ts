import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { syncSpecsOfModel } from '../../src/config/sync-spec.js';
import { parseManifest, readManifest, type Manifest } from '../../src/dbt/manifest.js';
import { ConfigError, EXIT_BAD_INPUT } from '../../src/errors.js';
import { duckdbDialect } from '../../src/warehouse/duckdb/duckdb-dialect.js';
import { makeTempDir, manifestsDir } from '../support/fixtures.js';
import { WEBHOOKS_YAML, activateConfig, manifestObject } from './helpers.js';

const config = activateConfig(WEBHOOKS_YAML);
const tmp = makeTempDir('manifest');
afterAll(() => tmp.remove());

/** Models per fixture, as counted in PROVENANCE.md. */
const EXPECTED_MODELS: Record<string, number> = {
  'v12_dbterd-jaffle-shop-snowflake_manifest.json': 15,
  'v12_dbt-artifacts-parser-duckdb_manifest.json': 13,
  'v12_dbt-artifacts-parser-bigquery_manifest.json': 36,
  'v11_dbt-artifacts-parser-bigquery_manifest.json': 35,
  'v10_dbt-core-postgres_manifest.json': 2,
  'v9_dbterd-dbt-constraints-postgres_manifest.json': 12,
  'v8_dbt-artifacts-parser-bigquery_manifest.json': 7,
  'v7_openlineage-postgres_manifest.json': 5,
};

const fixtureFiles = readdirSync(manifestsDir).filter((f) => f.endsWith('_manifest.json')).sort();

type RawNode = Record<string, unknown> & { config: Record<string, unknown> };
type RawManifest = { metadata: Record<string, unknown>; nodes: Record<string, RawNode> };

const rawCache = new Map<string, string>();
/** A fresh, editable copy of a fixture manifest. */
function rawFixture(file: string): RawManifest {
  let text = rawCache.get(file);
  if (text === undefined) {
    text = readFileSync(join(manifestsDir, file), 'utf8');
    rawCache.set(file, text);
  }
  return JSON.parse(text) as RawManifest;
}

const DUCKDB_FIXTURE = 'v12_dbt-artifacts-parser-duckdb_manifest.json';
const CUSTOMERS = 'model.jaffle_shop.customers';

function modelNamed(manifest: Manifest, name: string) {
  const model = manifest.models.find((m) => m.name === name);
  if (!model) throw new Error(`model ${name} not in manifest`);
  return model;
}

describe('readManifest over real dbt manifests', () => {
  it('covers every fixture file in the shared fixtures', () => {
    expect(fixtureFiles.sort()).toEqual(Object.keys(EXPECTED_MODELS).sort());
  });

  it.each(fixtureFiles)('%s loads with its schema version, models and no syncs', async (file) => {
    const raw = rawFixture(file);
    const manifest = await readManifest(join(manifestsDir, file), `fixtures/${file}`);

    expect(manifest.path).toBe(`fixtures/${file}`);
    expect(manifest.schemaVersion).toBe(Number(/^v(\d+)_/.exec(file)![1]));
    expect(manifest.dbtVersion).toBe(raw.metadata.dbt_version);
    expect(manifest.adapterType).toBe(/-(\w+)_manifest\.json$/.exec(file)![1]);
    expect(manifest.models.length).toBe(EXPECTED_MODELS[file]);

    const rawModels = Object.values(raw.nodes).filter((n) => n.resource_type === 'model');
    expect(manifest.models.map((m) => m.uniqueId).sort()).toEqual(rawModels.map((n) => n.unique_id).sort());
    for (const model of manifest.models) {
      expect(model.materialized).not.toBe('ephemeral');
      expect(model.node.config?.enabled).not.toBe(false);
      expect(model.relationName, model.uniqueId).toBeTruthy();
      // dbt's relation_name is used as it is.
      expect(duckdbDialect.modelRelation(model)).toBe(model.relationName);
    }

    const problems: string[] = [];
    const syncs = manifest.models.flatMap((m) => syncSpecsOfModel(m, config, problems));
    expect(syncs).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('keeps the model meta dbt wrote (snowflake v12: same keys in meta and config.meta)', async () => {
    const manifest = await readManifest(join(manifestsDir, 'v12_dbterd-jaffle-shop-snowflake_manifest.json'));
    expect(modelNamed(manifest, 'dim_customer_segment').meta).toEqual({ label: 'customer_segment' });
    expect(modelNamed(manifest, 'orders').yamlPath).toBe('models/marts/orders.yml');
    // No patch_path (no YAML for the model): messages fall back to the SQL file.
    expect(modelNamed(manifest, 'supplies').yamlPath).toBeUndefined();
    expect(modelNamed(manifest, 'supplies').sqlPath).toBe('models/marts/supplies.sql');
  });
});

describe('meta.activation in edited copies of a real manifest', () => {
  const sync = (destination: string, extra: Record<string, unknown> = {}) => ({
    destination,
    primary_key: 'customer_id',
    fields: { email: 'email' },
    ...extra,
  });

  function syncsOf(raw: RawManifest, modelName = 'customers') {
    const manifest = parseManifest(raw, 'target/manifest.json');
    const problems: string[] = [];
    const specs = syncSpecsOfModel(modelNamed(manifest, modelName), config, problems);
    expect(problems).toEqual([]);
    return specs;
  }

  it('is found in config.meta only (dbt 1.10 and later)', () => {
    const raw = rawFixture(DUCKDB_FIXTURE);
    raw.nodes[CUSTOMERS]!.config.meta = { activation: sync('hook') };
    raw.nodes[CUSTOMERS]!.meta = {};
    const specs = syncsOf(raw);
    expect(specs.map((s) => s.id)).toEqual(['customers__hook']);
    expect(specs[0]!.destination.name).toBe('hook');
    expect(specs[0]!.origin).toBe('models/marts/customers.yml: customers: meta.activation');
  });

  it('is found in top-level meta only (dbt before 1.10)', () => {
    const raw = rawFixture('v7_openlineage-postgres_manifest.json');
    const node = raw.nodes[CUSTOMERS]!;
    node.meta = { activation: sync('crm_webhook') };
    node.config.meta = {};
    const specs = syncsOf(raw);
    expect(specs.map((s) => s.id)).toEqual(['customers__crm_webhook']);
    expect(specs[0]!.model.relationName).toBe('"postgres"."public"."customers"');
  });

  it('prefers config.meta when both are present and differ', () => {
    const raw = rawFixture(DUCKDB_FIXTURE);
    raw.nodes[CUSTOMERS]!.meta = { activation: sync('hook', { name: 'from_meta' }), owner_team: 'growth' };
    raw.nodes[CUSTOMERS]!.config.meta = { activation: sync('crm_webhook', { name: 'from_config' }) };
    const specs = syncsOf(raw);
    expect(specs.map((s) => [s.id, s.destination.name])).toEqual([['from_config', 'crm_webhook']]);
    // Other top-level keys are still visible.
    expect(specs[0]!.model.meta.owner_team).toBe('growth');
  });

  it('accepts a list: ids default to <model>__<destination>, `name` overrides', () => {
    const raw = rawFixture(DUCKDB_FIXTURE);
    raw.nodes[CUSTOMERS]!.config.meta = {
      activation: [sync('hook'), sync('crm_webhook', { name: 'crm_contacts' }), sync('crm_webhook', { mode: 'mirror' })],
    };
    const manifest = parseManifest(raw, 'target/manifest.json');
    const problems: string[] = [];
    const specs = syncSpecsOfModel(modelNamed(manifest, 'customers'), config, problems);
    expect(specs.map((s) => s.id)).toEqual(['customers__hook', 'crm_contacts', 'customers__crm_webhook']);
    expect(specs.map((s) => s.origin.split(': ').pop())).toEqual([
      'meta.activation[0]',
      'meta.activation[1]',
      'meta.activation[2]',
    ]);
    expect(specs[2]!.mode).toBe('mirror');
    expect(specs[0]!.mode).toBe('upsert');
    expect(problems).toEqual([]);
  });

  it('skips ephemeral and disabled models, even when they carry an activation', () => {
    const raw = rawFixture(DUCKDB_FIXTURE);
    raw.nodes[CUSTOMERS]!.config.materialized = 'ephemeral';
    raw.nodes[CUSTOMERS]!.config.meta = { activation: sync('hook') };
    raw.nodes['model.jaffle_shop.orders']!.config.enabled = false;
    raw.nodes['model.jaffle_shop.orders']!.config.meta = { activation: sync('hook') };
    const manifest = parseManifest(raw, 'target/manifest.json');
    const names = manifest.models.map((m) => m.name);
    expect(names).not.toContain('customers');
    expect(names).not.toContain('orders');
    expect(names).toContain('products');
    expect(manifest.models).toHaveLength(EXPECTED_MODELS[DUCKDB_FIXTURE]! - 2);
    const problems: string[] = [];
    expect(manifest.models.flatMap((m) => syncSpecsOfModel(m, config, problems))).toEqual([]);
  });

  it('builds the relation from database.schema.alias when relation_name is null or absent', () => {
    const raw = rawFixture(DUCKDB_FIXTURE);
    raw.nodes[CUSTOMERS]!.relation_name = null;
    raw.nodes[CUSTOMERS]!.alias = 'dim "customers"';
    delete raw.nodes['model.jaffle_shop.orders']!.relation_name;
    const manifest = parseManifest(raw, 'target/manifest.json');
    expect(modelNamed(manifest, 'customers').relationName).toBeUndefined();
    expect(duckdbDialect.modelRelation(modelNamed(manifest, 'customers'))).toBe('"jaffle_shop"."main"."dim ""customers"""');
    expect(duckdbDialect.modelRelation(modelNamed(manifest, 'orders'))).toBe('"jaffle_shop"."main"."orders"');
    // Untouched models keep dbt's relation_name.
    expect(duckdbDialect.modelRelation(modelNamed(manifest, 'products'))).toBe('"jaffle_shop"."main"."products"');
  });

  it('falls back to the model name when alias is missing too, and skips a missing database', () => {
    const obj = manifestObject([{ name: 'leads' }]) as RawManifest;
    const node = obj.nodes['model.shop.leads']!;
    node.relation_name = null;
    node.alias = null;
    node.database = null;
    const model = parseManifest(obj, 'm.json').models[0]!;
    expect(model.alias).toBe('leads');
    expect(duckdbDialect.modelRelation(model)).toBe('"main"."leads"');
  });
});

describe('readManifest errors', () => {
  it('a missing file is bad input that names the path and says to run dbt parse/build', async () => {
    const path = join(tmp.dir, 'nowhere', 'manifest.json');
    const error = await readManifest(path, 'target/manifest.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(EXIT_BAD_INPUT);
    expect((error as ConfigError).message).toContain('target/manifest.json');
    expect((error as ConfigError).message).toMatch(/dbt parse/);
    expect((error as ConfigError).message).toMatch(/dbt build/);
  });

  it('uses the real path in messages when no display path is given', async () => {
    const path = join(tmp.dir, 'missing.json');
    await expect(readManifest(path)).rejects.toThrow(path);
  });

  it('a truncated file is a ConfigError naming the file', async () => {
    const text = readFileSync(join(manifestsDir, DUCKDB_FIXTURE), 'utf8');
    const path = join(tmp.dir, 'truncated.json');
    writeFileSync(path, text.slice(0, Math.floor(text.length / 2)));
    const error = await readManifest(path, 'target/truncated.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(EXIT_BAD_INPUT);
    expect((error as ConfigError).message).toMatch(/^target\/truncated\.json: is not valid JSON/);
    expect((error as ConfigError).cause).toBeInstanceOf(SyntaxError);
  });

  it('the wrong shape (no nodes) is a ConfigError about nodes', () => {
    const raw = rawFixture(DUCKDB_FIXTURE) as Partial<RawManifest>;
    delete raw.nodes;
    const error = (() => {
      try {
        parseManifest(raw, 'target/manifest.json');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'target/manifest.json: nodes: is required (is this a dbt manifest.json?)',
    ]);
  });

  it('a JSON file that is not a manifest at all is rejected', () => {
    expect(() => parseManifest([1, 2, 3], 'x.json')).toThrow(ConfigError);
    expect(() => parseManifest({ metadata: { dbt_schema_version: 'v12' }, nodes: {} }, 'x.json')).toThrow(
      /not a dbt manifest schema URL/,
    );
  });

  it('schema v6 is refused with a message about the version', () => {
    const raw = rawFixture('v7_openlineage-postgres_manifest.json');
    raw.metadata.dbt_schema_version = 'https://schemas.getdbt.com/dbt/manifest/v6.json';
    raw.metadata.dbt_version = '1.2.0';
    const call = () => parseManifest(raw, 'target/manifest.json');
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(/manifest schema v6 \(dbt 1\.2\.0\) is older than v7/);
  });

  it('schema versions newer than the newest known one still load', () => {
    const raw = rawFixture(DUCKDB_FIXTURE);
    raw.metadata.dbt_schema_version = 'https://schemas.getdbt.com/dbt/manifest/v13.json';
    expect(parseManifest(raw, 'm.json').schemaVersion).toBe(13);
  });
});
