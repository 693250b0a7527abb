import { describe, expect, it } from 'vitest';
import type { SyncSpec } from '../../src/config/sync-spec.js';
import type { Manifest } from '../../src/dbt/manifest.js';
import { ConfigError, EXIT_BAD_INPUT } from '../../src/errors.js';
import { fnmatch, globMatch } from '../../src/project/fnmatch.js';
import { parseCriterion, selectSyncs } from '../../src/project/select.js';
import { manifestObject, recordingLogger } from './helpers.js';
import { hook, modelNode, rawManifest, withSyncs, type RawManifest } from './real-artifacts.js';

/** dbt 1.12 jaffle shop on duckdb: sources ecom.raw_* -> staging/stg_* -> marts/*. */
const DUCKDB = 'v12_dbt-artifacts-parser-duckdb';

function tag(raw: RawManifest, model: string, tags: string[], meta: Record<string, unknown> = {}) {
  const node = modelNode(raw, model);
  node.tags = tags;
  node.config.tags = tags;
  node.config.meta = { ...(node.config.meta ?? {}), ...meta };
}

/** Every jaffle_shop model has one webhook sync; customers a second one, `crm_contacts`. */
function jaffleShop() {
  const raw = rawManifest(DUCKDB);
  tag(raw, 'customers', ['daily', 'crm'], { pii: true });
  tag(raw, 'orders', ['daily'], { owners: ['growth', 'sales'], tier: 'gold' });
  tag(raw, 'stg_orders', ['hourly']);
  const activations: Record<string, unknown> = {};
  for (const n of Object.values(raw.nodes)) if (n.resource_type === 'model') activations[n.name] = true;
  activations.customers = [hook(), hook({ name: 'crm_contacts', destination: 'crm_webhook' })];
  return withSyncs(raw, activations);
}

function selector(project: { manifest: Manifest; syncs: SyncSpec[] }) {
  return (select: string[] | undefined, exclude?: string[]) => {
    const log = recordingLogger();
    const picked = selectSyncs(project.syncs, project.manifest, select, exclude, log);
    return {
      ids: picked.map((s) => s.id),
      warnings: log.lines.filter((l) => l.level === 'warn').map((l) => l.message),
    };
  };
}

const shop = jaffleShop();
const select = selector(shop);
const ids = (select: string[], exclude?: string[]) => selector(shop)(select, exclude).ids;
/** The default sync ids of these models, in project order. */
const hooks = (...models: string[]) => {
  const wanted = new Set(models);
  return shop.syncs.filter((s) => wanted.has(s.model.name) && s.id.endsWith('__hook')).map((s) => s.id);
};

describe('selectSyncs over a real manifest (dbt 1.12 jaffle shop)', () => {
  it('has the syncs the tests expect', () => {
    expect(shop.syncs.map((s) => s.id)).toEqual([
      'stg_products__hook',
      'stg_customers__hook',
      'stg_supplies__hook',
      'stg_orders__hook',
      'stg_order_items__hook',
      'stg_locations__hook',
      'supplies__hook',
      'products__hook',
      'customers__hook',
      'crm_contacts',
      'orders__hook',
      'metricflow_time_spine__hook',
      'order_items__hook',
      'locations__hook',
    ]);
  });

  it('a model name selects all its syncs; a sync id only that sync; a unique_id its model', () => {
    expect(ids(['customers'])).toEqual(['customers__hook', 'crm_contacts']);
    expect(ids(['crm_contacts'])).toEqual(['crm_contacts']);
    expect(ids(['fqn:crm_contacts'])).toEqual(['crm_contacts']);
    expect(ids(['model.jaffle_shop.orders'])).toEqual(['orders__hook']);
  });

  it('+model: the model and all its ancestors', () => {
    expect(ids(['+customers'])).toEqual([
      ...hooks('stg_products', 'stg_customers', 'stg_supplies', 'stg_orders', 'stg_order_items'),
      'customers__hook',
      'crm_contacts',
      ...hooks('orders', 'order_items'),
    ]);
  });

  it('model+: the model and all its descendants', () => {
    expect(ids(['stg_orders+'])).toEqual([...hooks('stg_orders'), 'customers__hook', 'crm_contacts', ...hooks('orders', 'order_items')]);
    expect(ids(['customers+'])).toEqual(['customers__hook', 'crm_contacts']); // nothing downstream but tests and a semantic model
  });

  it('n+model and model+n: generations up and down', () => {
    expect(ids(['1+orders'])).toEqual(hooks('stg_orders', 'orders', 'order_items'));
    expect(ids(['2+customers'])).toEqual([...hooks('stg_customers', 'stg_orders'), 'customers__hook', 'crm_contacts', ...hooks('orders', 'order_items')]);
    expect(ids(['stg_supplies+1'])).toEqual(hooks('stg_supplies', 'supplies', 'order_items'));
    expect(ids(['0+orders'])).toEqual(hooks('orders'));
    expect(ids(['1+stg_supplies+1'])).toEqual(hooks('stg_supplies', 'supplies', 'order_items'));
  });

  it('@model: the model, its descendants and their ancestors', () => {
    expect(ids(['@stg_supplies'])).toEqual([
      ...hooks('stg_products', 'stg_customers', 'stg_supplies', 'stg_orders', 'stg_order_items', 'supplies'),
      'customers__hook',
      'crm_contacts',
      ...hooks('orders', 'order_items'),
    ]);
  });

  it('a sync is a leaf under its model: +sync reaches upstream, sync+ is the sync alone', () => {
    expect(ids(['+crm_contacts'])).toEqual(ids(['+customers']));
    expect(ids(['crm_contacts+'])).toEqual(['crm_contacts']);
    expect(ids(['1+crm_contacts'])).toEqual(['customers__hook', 'crm_contacts']);
  });

  it('graph operators from sources and from another method', () => {
    expect(ids(['source:ecom.raw_orders+'])).toEqual([...hooks('stg_orders'), 'customers__hook', 'crm_contacts', ...hooks('orders', 'order_items')]);
    expect(ids(['source:jaffle_shop.ecom.raw_stores+'])).toEqual(hooks('stg_locations', 'locations'));
    expect(ids(['source:ecom+']).length).toBe(shop.syncs.length - 1); // all but metricflow_time_spine, which reads no source
    expect(ids(['tag:hourly+1'])).toEqual(hooks('stg_orders', 'orders', 'order_items'));
  });

  it('tag: with fnmatch wildcards', () => {
    expect(ids(['tag:daily'])).toEqual(['customers__hook', 'crm_contacts', 'orders__hook']);
    expect(ids(['tag:crm'])).toEqual(['customers__hook', 'crm_contacts']);
    expect(ids(['tag:*ly'])).toEqual([...hooks('stg_orders'), 'customers__hook', 'crm_contacts', ...hooks('orders')]);
  });

  it('path: a folder, a file, the model YAML, a glob; relative to the project root; implied by a "/"', () => {
    const staging = hooks('stg_products', 'stg_customers', 'stg_supplies', 'stg_orders', 'stg_order_items', 'stg_locations');
    expect(ids(['path:models/staging'])).toEqual(staging);
    expect(ids(['path:./models/staging/'])).toEqual(staging);
    expect(ids(['models/staging'])).toEqual(staging);
    expect(ids(['path:models/marts/orders.sql'])).toEqual(hooks('orders'));
    expect(ids(['path:models/marts/orders.yml'])).toEqual(hooks('orders'));
    expect(ids(['path:models/*/stg_order*.sql'])).toEqual(hooks('stg_orders', 'stg_order_items'));
    expect(ids(['path:models/**/locations.sql'])).toEqual(hooks('locations'));
    expect(ids(['path:models'])).toHaveLength(shop.syncs.length);
    expect(select(['path:models/marts/order']).warnings).toHaveLength(1); // a prefix is not a path
  });

  it('file: by file name or stem, implied by a .sql/.py/.csv suffix', () => {
    expect(ids(['file:orders.sql'])).toEqual(hooks('orders'));
    expect(ids(['orders.sql'])).toEqual(hooks('orders'));
    expect(ids(['file:orders'])).toEqual(hooks('orders'));
    expect(ids(['file:stg_*s.sql'])).toEqual(hooks('stg_products', 'stg_customers', 'stg_supplies', 'stg_orders', 'stg_order_items', 'stg_locations'));
    expect(ids(['file:stg_*_*'])).toEqual(hooks('stg_order_items'));
  });

  it('config.<key>: and config.meta.<key>: as dbt compares them', () => {
    expect(ids(['config.materialized:view'])).toEqual(
      hooks('stg_products', 'stg_customers', 'stg_supplies', 'stg_orders', 'stg_order_items', 'stg_locations'),
    );
    expect(ids(['config.meta.pii:true'])).toEqual(['customers__hook', 'crm_contacts']);
    expect(ids(['config.meta.pii:TRUE'])).toEqual(['customers__hook', 'crm_contacts']); // booleans, any case
    expect(ids(['config.meta.owners:sales'])).toEqual(hooks('orders')); // list membership
    expect(ids(['config.meta.tier:gold'])).toEqual(hooks('orders'));
    expect(select(['config.meta.tier:GOLD']).ids).toEqual([]); // strings are case-sensitive
    expect(select(['config.meta.pii:yes']).ids).toEqual([]);
    expect(select(['config.meta.missing_key:x']).ids).toEqual([]);
  });

  it('package:, package:this, resource_type:', () => {
    expect(ids(['package:jaffle_shop'])).toHaveLength(shop.syncs.length);
    expect(ids(['package:this'])).toHaveLength(shop.syncs.length);
    expect(ids(['package:jaffle_*'])).toHaveLength(shop.syncs.length);
    expect(ids(['resource_type:model'])).toHaveLength(shop.syncs.length);
    expect(select(['resource_type:seed']).ids).toEqual([]);
  });

  it('fqn: folders, dotted prefixes and wildcards', () => {
    const staging = hooks('stg_products', 'stg_customers', 'stg_supplies', 'stg_orders', 'stg_order_items', 'stg_locations');
    expect(ids(['staging'])).toEqual(staging); // a folder in the fqn
    expect(ids(['jaffle_shop.staging.*'])).toEqual(staging);
    expect(ids(['marts.orders'])).toEqual(hooks('orders'));
    expect(ids(['jaffle_shop.marts.orders'])).toEqual(hooks('orders'));
    expect(ids(['fqn:*'])).toHaveLength(shop.syncs.length);
    // dbt Fusion's shortcut (dbt-core 1.x matches it only at the top level): a bare wildcard matches model names.
    expect(ids(['stg_order*'])).toEqual(hooks('stg_orders', 'stg_order_items'));
    expect(ids(['*_tim?_spine'])).toEqual(hooks('metricflow_time_spine'));
    // Sync ids take wildcards too.
    expect(ids(['crm_*'])).toEqual(['crm_contacts']);
  });

  it('unions spaces and repeated values; intersects commas', () => {
    expect(ids(['orders locations'])).toEqual(hooks('orders', 'locations'));
    expect(ids(['orders', 'locations'])).toEqual(hooks('orders', 'locations'));
    expect(ids(['tag:daily,config.materialized:table'])).toEqual(['customers__hook', 'crm_contacts', 'orders__hook']);
    expect(ids(['+customers,config.materialized:view'])).toEqual(
      hooks('stg_products', 'stg_customers', 'stg_supplies', 'stg_orders', 'stg_order_items'),
    );
    expect(ids(['crm_contacts,tag:crm'])).toEqual(['crm_contacts']); // a sync id intersects with its model's criteria
    expect(ids(['tag:daily,path:models/marts/orders.sql tag:hourly'])).toEqual(hooks('stg_orders', 'orders'));
  });

  it('--exclude uses the same grammar and is subtracted last', () => {
    expect(ids(['+customers'], ['stg_orders+'])).toEqual(hooks('stg_products', 'stg_customers', 'stg_supplies', 'stg_order_items'));
    expect(ids(['customers'], ['crm_contacts'])).toEqual(['customers__hook']);
    expect(ids(['crm_contacts'], ['customers'])).toEqual([]);
    expect(ids([], ['path:models/staging', 'tag:daily'])).toEqual(hooks('supplies', 'products', 'metricflow_time_spine', 'order_items', 'locations'));
  });

  it('warns about a term that selects no sync, with a did-you-mean that keeps its operators', () => {
    expect(select(['+custmers'])).toEqual({ ids: [], warnings: ['The selection criterion "+custmers" does not match any sync (did you mean "+customers"?)'] });
    expect(select(['tag:daly'])).toEqual({ ids: [], warnings: ['The selection criterion "tag:daly" does not match any sync (did you mean "tag:daily"?)'] });
    expect(select(['orders', 'crm_contcts,tag:crm']).warnings).toEqual([
      'The selection criterion "crm_contcts,tag:crm" does not match any sync (did you mean "crm_contacts,tag:crm"?)',
    ]);
  });

  it('says so when a term selects dbt nodes but none has a sync', () => {
    expect(select(['source:ecom.raw_orders'])).toEqual({
      ids: [],
      warnings: ['The selection criterion "source:ecom.raw_orders" does not match any sync: the 1 dbt node it selects has no meta.activation'],
    });
  });
});

describe('selector errors are bad input (exit 2)', () => {
  const fails = (term: string, message: string | RegExp) => {
    let error: unknown;
    try {
      selectSyncs(shop.syncs, shop.manifest, [term], [], recordingLogger());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(EXIT_BAD_INPUT);
    expect((error as ConfigError).message).toMatch(message);
  };

  it('an unknown method, with a did-you-mean', () => {
    fails('tg:daily', /^--select: "tg:daily": "tg" is not a selector method \(did you mean "tag"\?\); activate supports fqn:, tag:, path:/);
    fails('confg.materialized:table', '(did you mean "config"?)');
  });

  it('a dbt method activate does not evaluate', () => {
    fails('state:modified+', '"state:" is a dbt selector method activate does not support');
    fails('result:error+', '"result:" is a dbt selector method activate does not support');
  });

  it('malformed criteria', () => {
    fails('@orders+', 'the "@" prefix and a "+" suffix cannot be combined');
    fails('config:table', 'name the config key');
    fails('tag:', 'has no value to select');
    fails('resource_type:modl', '"modl" is not a dbt resource type (did you mean "model"?)');
    fails('source:a.b.c.d', 'select sources as source:<source>');
  });

  it('in --exclude too, before anything is selected', () => {
    expect(() => selectSyncs(shop.syncs, shop.manifest, ['orders'], ['tga:x'], recordingLogger())).toThrow(/^--exclude: "tga:x"/);
  });

  it('parses the parts of a criterion as dbt does', () => {
    expect(parseCriterion('2+config.meta.pii:true+1')).toMatchObject({
      method: 'config',
      args: ['meta', 'pii'],
      value: 'true',
      parents: true,
      parentsDepth: 2,
      children: true,
      childrenDepth: 1,
      childrensParents: false,
    });
    expect(parseCriterion('models/marts')).toMatchObject({ method: 'path', value: 'models/marts', explicitMethod: false });
    expect(parseCriterion('orders.py')).toMatchObject({ method: 'file' });
    expect(parseCriterion('@orders')).toMatchObject({ method: 'fqn', childrensParents: true, parents: false, children: false });
  });
});

describe('selection over other real manifests', () => {
  it('an installed package shares the graph (bigquery, dbt 1.9, elementary)', () => {
    const project = withSyncs(rawManifest('v12_dbt-artifacts-parser-bigquery'), {
      orders: true,
      customers: true,
      dbt_models: true,
      alerts_dbt_models: true,
    });
    const pick = selector(project);
    expect(pick(['package:elementary']).ids).toEqual(['alerts_dbt_models__hook', 'dbt_models__hook']);
    expect(pick(['package:this']).ids).toEqual(['customers__hook', 'orders__hook']);
    expect(pick(['elementary.edr.alerts.*']).ids).toEqual(['alerts_dbt_models__hook']);
    expect(pick(['edr']).ids).toEqual(['alerts_dbt_models__hook', 'dbt_models__hook']); // a folder below the package
    // Seeds feed the staging models: resource_type + a graph operator.
    expect(pick(['resource_type:seed+']).ids).toEqual(['customers__hook', 'orders__hook']);
    expect(pick(['+orders', 'config.meta.joins:x']).ids).toEqual(['orders__hook']);
  });

  it('exposure: and its ancestors (postgres, dbt 1.6)', () => {
    const project = withSyncs(rawManifest('v10_dbt-core-postgres'), { my_model: true, metricflow_time_spine: true });
    const pick = selector(project);
    expect(pick(['+exposure:simple_exposure']).ids).toEqual(['my_model__hook']);
    expect(pick(['+exposure:test.simple_*']).ids).toEqual(['my_model__hook']);
  });

  it('paths written on Windows (postgres, dbt 1.5)', () => {
    const project = withSyncs(rawManifest('v9_dbterd-dbt-constraints-postgres'), { dim_customers: true, dim_orders: true });
    const pick = selector(project);
    expect(pick(['path:models/dim_customers.sql']).ids).toEqual(['dim_customers__hook']);
    expect(pick(['path:models/schema.yml']).ids).toEqual(['dim_customers__hook', 'dim_orders__hook']);
    expect(pick(['file:dim_orders.sql']).ids).toEqual(['dim_orders__hook']);
  });

  it('the oldest manifest (postgres, dbt 1.3)', () => {
    const project = withSyncs(rawManifest('v7_openlineage-postgres'), { customers: true, orders: true, stg_customers: true });
    const pick = selector(project);
    expect(pick(['+customers']).ids).toEqual(['customers__hook', 'stg_customers__hook']);
    expect(pick(['stg_customers+']).ids).toEqual(['customers__hook', 'stg_customers__hook']);
    expect(pick(['tag:postgres']).ids).toEqual(['stg_customers__hook']);
  });

  it('a manifest without parent_map/child_map: the graph comes from depends_on', () => {
    const raw = manifestObject([
      { name: 'raw_leads', configMeta: {} },
      { name: 'leads', configMeta: { activation: hook() } },
      { name: 'scored_leads', configMeta: { activation: hook() } },
    ]) as RawManifest;
    (raw.nodes['model.shop.leads'] as Record<string, unknown>).depends_on = { nodes: ['model.shop.raw_leads'] };
    (raw.nodes['model.shop.scored_leads'] as Record<string, unknown>).depends_on = { nodes: ['model.shop.leads'] };
    const project = withSyncs(raw, {});
    const pick = selector(project);
    expect(pick(['leads+']).ids).toEqual(['leads__hook', 'scored_leads__hook']);
    expect(pick(['+scored_leads']).ids).toEqual(['leads__hook', 'scored_leads__hook']);
    expect(pick(['raw_leads+1']).ids).toEqual(['leads__hook']);
  });
});

describe('fnmatch and globMatch (Python semantics)', () => {
  it('fnmatch', () => {
    expect(fnmatch('jaffle_shop.staging.stg_orders', 'jaffle_shop.*')).toBe(true); // * crosses dots
    expect(fnmatch('stg_orders', 'stg_?rders')).toBe(true);
    expect(fnmatch('stg_orders', 'stg_[!o]rders')).toBe(false);
    expect(fnmatch('stg_orders', 'stg_[a-p]rders')).toBe(true);
    expect(fnmatch('a]b', 'a[]]b')).toBe(true);
    expect(fnmatch('a[b', 'a[b')).toBe(true); // an unclosed [ is literal
    expect(fnmatch('a.b', 'a?b')).toBe(true);
    expect(fnmatch('a+b(c)', 'a+b(c)')).toBe(true); // regex characters are literal
    expect(fnmatch('Daily', 'daily')).toBe(false);
  });

  it('globMatch', () => {
    expect(globMatch('models/marts/orders.sql', 'models/*/orders.sql')).toBe(true);
    expect(globMatch('models/marts/orders.sql', 'models/*.sql')).toBe(false); // * stays in one segment
    expect(globMatch('models/marts/orders.sql', 'models/**/*.sql')).toBe(true);
    expect(globMatch('models/orders.sql', 'models/**/orders.sql')).toBe(true);
    expect(globMatch('models\\marts\\orders.sql', './models/marts/orders.sql')).toBe(true);
  });
});
