import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { webhook } from '../../destinations/webhook/index.js';
import { ConfigError, EXIT_BAD_INPUT } from '../../src/errors.js';
import { buildExposures, exposureName, ownerFromMeta, type Exposure } from '../../src/exposures/build.js';
import { parseDbtVersion } from '../../src/exposures/dbt-version.js';
import { unifiedDiff } from '../../src/exposures/diff.js';
import { renderExposuresFile } from '../../src/exposures/render.js';
import { writeExposures } from '../../src/exposures/write.js';
import { loadProject, type Project } from '../../src/project/load-project.js';
import { exposureRuleProblems } from '../support/exposure-rules.js';
import { makeTempDir, manifestsDir } from '../support/fixtures.js';
import { manifestObject, type ModelInput } from './helpers.js';

const tmp = makeTempDir('exposures');
afterAll(() => tmp.remove());
let counter = 0;

const ACTIVATE_YML = `
destinations:
  crm:
    type: webhook
    url: "{{ env_var('CRM_URL', 'https://crm.example.com/hooks/in') }}"
  audience_hook:
    type: webhook
    url: https://ads.example.com/in
`;

type RawManifest = { metadata: Record<string, unknown>; nodes: Record<string, Record<string, unknown>> };

interface ProjectInput {
  readonly models: readonly ModelInput[];
  readonly dbtVersion?: string;
  readonly activateYml?: string;
  readonly edit?: (manifest: RawManifest) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/** A dbt project on disk (dbt_project.yml, activate.yml, target/manifest.json), loaded by the real loader. */
async function makeProject(input: ProjectInput): Promise<Project> {
  const dir = join(tmp.dir, `p${++counter}`);
  mkdirSync(join(dir, 'target'), { recursive: true });
  writeFileSync(join(dir, 'dbt_project.yml'), 'name: shop\nprofile: shop\nmodel-paths: ["models"]\n');
  writeFileSync(join(dir, 'activate.yml'), input.activateYml ?? ACTIVATE_YML);
  const manifest = manifestObject(input.models) as RawManifest;
  manifest.metadata.dbt_version = input.dbtVersion ?? '1.10.6';
  input.edit?.(manifest);
  writeFileSync(join(dir, 'target', 'manifest.json'), JSON.stringify(manifest));
  return loadProject({ projectDir: dir, cwd: dir, env: input.env ?? {} });
}

const CONTACTS = {
  name: 'crm_contacts',
  destination: 'crm',
  mode: 'upsert',
  object: 'contacts',
  primary_key: 'customer_id',
  identifier: { email: 'email' },
  fields: { lifetime_value: 'ltv', churn_risk: 'churn_score' },
  owner: { name: 'Growth', email: 'growth@example.com' },
  maturity: 'high',
};
const AUDIENCE = { destination: 'audience_hook', mode: 'mirror', primary_key: ['region', 'customer_id'], fields: { email: 'email' } };

const customers: ModelInput = { name: 'customers', configMeta: { owner: 'data@example.com', activation: [CONTACTS, AUDIENCE] } };

function exposuresOf(text: string): Record<string, unknown>[] {
  return (parse(text) as { exposures: Record<string, unknown>[] }).exposures;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(EXIT_BAD_INPUT);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('exposure names', () => {
  it('are activate_<sync id> for ids made of letters, digits and underscores', () => {
    expect(exposureName('crm_contacts')).toBe('activate_crm_contacts');
    expect(exposureName('customers__crm')).toBe('activate_customers__crm');
    expect(exposureName('2024_push')).toBe('activate_2024_push');
  });

  it('replace other characters and add a hash of the id, so they stay valid, stable and distinct', () => {
    const ids = ['crm.contacts', 'crm-contacts', 'crm_contacts', 'crm..contacts', 'crm.contacts-'];
    const names = ids.map(exposureName);
    for (const name of names) expect(name).toMatch(/^[A-Za-z0-9_]+$/);
    expect(new Set(names).size).toBe(ids.length);
    expect(exposureName('crm.contacts')).toMatch(/^activate_crm_contacts_[0-9a-f]{6}$/);
    expect(exposureName('crm.contacts')).toBe(exposureName('crm.contacts'));
  });
});

describe('dbt versions', () => {
  it('are read leniently', () => {
    expect(parseDbtVersion('1.10.6')).toEqual({ major: 1, minor: 10 });
    expect(parseDbtVersion('1.5.0rc1')).toEqual({ major: 1, minor: 5 });
    expect(parseDbtVersion('1.11.0a1')).toEqual({ major: 1, minor: 11 });
    expect(parseDbtVersion('2.0.0-beta.3')).toEqual({ major: 2, minor: 0 });
    expect(parseDbtVersion('PREVIOUS')).toBeUndefined();
    expect(parseDbtVersion(undefined)).toBeUndefined();
  });
});

describe('buildExposures + renderExposuresFile', () => {
  it('writes one application exposure per sync, field by field (dbt 1.10: meta and tags under config)', async () => {
    const project = await makeProject({ models: [customers] });
    const text = renderExposuresFile(undefined, buildExposures(project), { dbtVersion: '1.10.6' });
    const file = parse(text) as Record<string, unknown>;
    expect(file.version).toBe(2);
    const [contacts, audience] = exposuresOf(text);

    expect(contacts).toEqual({
      name: 'activate_crm_contacts',
      label: 'crm_contacts (customers to crm)',
      type: 'application',
      maturity: 'high',
      description: expect.any(String),
      depends_on: ["ref('customers')"],
      owner: { name: 'Growth', email: 'growth@example.com' },
      config: {
        meta: { activate_sync: 'crm_contacts', activate_destination: 'crm', activate_mode: 'upsert' },
        tags: ['activate'],
      },
    });
    const description = contacts!.description as string;
    expect(description).toContain('`crm` (webhook)');
    expect(description).toContain('object `contacts`');
    expect(description).toContain('mode `upsert`');
    expect(description).toContain('Key: `customer_id`.');
    expect(description).toContain('- `email` from column `email` (identifier)');
    expect(description).toContain('- `lifetime_value` from column `ltv`');
    expect(description).toContain('- `churn_risk` from column `churn_score`');
    expect(description).toContain('models/marts/customers.yml');

    // The second sync: default name, composite key, owner from the model's meta.owner, default maturity.
    expect(audience).toMatchObject({
      name: 'activate_customers__audience_hook',
      type: 'application',
      maturity: 'medium',
      depends_on: ["ref('customers')"],
      owner: { email: 'data@example.com' },
      config: { meta: { activate_sync: 'customers__audience_hook', activate_mode: 'mirror' }, tags: ['activate'] },
    });
    expect(audience!.description).toContain('Key: `region`, `customer_id`.');
    expect(audience).not.toHaveProperty('url');
    expect(audience).not.toHaveProperty('meta');
    expect(audience).not.toHaveProperty('tags');

    expect(exposureRuleProblems(file, { major: 1, minor: 10 })).toEqual([]);
  });

  it('puts meta and tags at the top level for dbt before 1.10, and for an unknown version', async () => {
    for (const version of ['1.9.0', '1.5.0rc1', 'PREVIOUS']) {
      const project = await makeProject({ models: [customers], dbtVersion: version });
      const text = renderExposuresFile(undefined, buildExposures(project), { dbtVersion: version });
      const contacts = exposuresOf(text).find((e) => e.name === 'activate_crm_contacts')!;
      expect(contacts.meta).toEqual({ activate_sync: 'crm_contacts', activate_destination: 'crm', activate_mode: 'upsert' });
      expect(contacts.tags).toEqual(['activate']);
      expect(contacts).not.toHaveProperty('config');
      expect(exposureRuleProblems(parse(text), { major: 1, minor: 9 })).toEqual([]);
    }
  });

  it('takes the owner from the sync, else the model meta.owner, else activate.yml defaults.owner', async () => {
    const withDefaults = `${ACTIVATE_YML}defaults:\n  owner: { name: Data team }\n  maturity: low\n`;
    const project = await makeProject({
      activateYml: withDefaults,
      models: [
        { name: 'a', configMeta: { owner: { name: 'Analytics', email: ['a@example.com', 'b@example.com'] }, activation: { destination: 'crm', primary_key: 'id', fields: { x: 'x' } } } },
        { name: 'b', configMeta: { owner: 'Finance', activation: { destination: 'crm', primary_key: 'id', fields: { x: 'x' }, owner: { email: 'sync@example.com' } } } },
        { name: 'c', configMeta: { activation: { destination: 'crm', primary_key: 'id', fields: { x: 'x' } } } },
        { name: 'd', configMeta: { owner: '  ', activation: { destination: 'crm', primary_key: 'id', fields: { x: 'x' }, owner: {} } } },
      ],
    });
    const byModel = Object.fromEntries(buildExposures(project).map((e) => [e.syncId.split('__')[0], e]));
    expect(byModel.a!.owner).toEqual({ name: 'Analytics', email: 'a@example.com' });
    expect(byModel.b!.owner).toEqual({ email: 'sync@example.com' });
    expect(byModel.c!.owner).toEqual({ name: 'Data team' });
    expect(byModel.d!.owner).toEqual({ name: 'Data team' });
    expect(byModel.c!.maturity).toBe('low');

    expect(ownerFromMeta('Finance')).toEqual({ name: 'Finance' });
    expect(ownerFromMeta('fin@example.com')).toEqual({ email: 'fin@example.com' });
    expect(ownerFromMeta(42)).toBeUndefined();
  });

  it('refuses a sync without any owner (dbt requires one), naming where to set it', async () => {
    const project = await makeProject({ models: [{ name: 'orders', configMeta: { activation: { destination: 'crm', primary_key: 'id', fields: { x: 'x' } } } }] });
    const error = configError(() => buildExposures(project));
    expect(error.problems).toEqual([
      'models/marts/orders.yml: orders: meta.activation.owner: a dbt exposure needs an owner; set owner: { name: ..., email: ... } here, meta.owner on the model, or defaults.owner in activate.yml',
    ]);
  });

  it('requires an owner email before dbt 1.5', async () => {
    const models = [{ name: 'orders', configMeta: { activation: { destination: 'crm', primary_key: 'id', fields: { x: 'x' }, owner: { name: 'Ops' } } } }];
    const old = await makeProject({ models, dbtVersion: '1.4.3' });
    expect(configError(() => buildExposures(old)).message).toContain('dbt 1.4.3 requires an email for exposure owners');
    const newer = await makeProject({ models, dbtVersion: '1.5.0' });
    expect(buildExposures(newer)[0]!.owner).toEqual({ name: 'Ops' });
  });

  it("refers to a package's model with the package, and to a versioned model with v=", async () => {
    const project = await makeProject({
      models: [
        { name: 'pkg_model', configMeta: { activation: { destination: 'crm', primary_key: 'id', fields: { x: 'x' }, owner: { name: 'x' } } } },
        { name: 'dim_customers', configMeta: { activation: { destination: 'crm', primary_key: 'id', fields: { x: 'x' }, owner: { name: 'x' } } } },
      ],
      edit: (m) => {
        m.nodes['model.shop.pkg_model']!.package_name = 'marketing';
        m.nodes['model.shop.dim_customers']!.version = 2;
      },
    });
    const refs = Object.fromEntries(buildExposures(project).map((e) => [e.syncId, e.dependsOn]));
    expect(refs.pkg_model__crm).toEqual(["ref('marketing', 'pkg_model')"]);
    expect(refs.dim_customers__crm).toEqual(["ref('dim_customers', v=2)"]);
  });

  it("writes the destination's url when it gives one, and never one that holds a secret", async () => {
    const project = await makeProject({ models: [customers], env: { CRM_URL: 'https://crm.example.com/hooks/s3cr3t-token' } });
    const withUrl = (definitionUrl: (config: { url: string }, options: { object?: string }) => string) => ({
      ...project,
      syncs: project.syncs.map((s) => ({ ...s, destination: { ...s.destination, definition: { ...webhook, url: definitionUrl } } })),
    });
    const safe = buildExposures(withUrl((_c, o) => `https://app.crm.example.com/objects/${o.object ?? 'default'}`));
    expect(safe.find((e) => e.syncId === 'crm_contacts')!.url).toBe('https://app.crm.example.com/objects/contacts');
    const text = renderExposuresFile(undefined, safe, { dbtVersion: '1.10.6' });
    expect(exposuresOf(text).find((e) => e.name === 'activate_crm_contacts')!.url).toBe('https://app.crm.example.com/objects/contacts');
    expect(exposureRuleProblems(parse(text), { major: 1, minor: 10 })).toEqual([]);

    // A webhook's url is one of its secret keys (it often carries a token): never written.
    const leaky = buildExposures(withUrl((c) => c.url));
    expect(leaky.map((e) => e.url)).toEqual([undefined, undefined]);
    expect(renderExposuresFile(undefined, leaky, { dbtVersion: '1.10.6' })).not.toContain('example.com/hooks');
  });
});

describe('renderExposuresFile with an existing file', () => {
  const FOREIGN = `# Exposures maintained by the BI team.
version: 2

models:
  - name: customers
    description: kept as it is

exposures:
  # The weekly dashboard.
  - name: weekly_kpis
    label: Weekly KPIs
    type: dashboard
    maturity: high
    url: https://bi.example.com/d/1
    owner: { name: BI, email: bi@example.com }
    depends_on:
      - ref('orders')
    description: >
      Revenue and orders, every Monday.
  - name: activate_gone
    type: application
    owner: { name: x }
    depends_on: ["ref('customers')"]
    config: { meta: { activate_sync: gone }, tags: [activate] }
  - name: churn_notebook
    type: notebook
    owner: { email: ds@example.com }
`;

  async function exposures(): Promise<Exposure[]> {
    return buildExposures(await makeProject({ models: [customers] }));
  }

  it("keeps others' exposures, comments and keys; replaces its own; drops those whose sync is gone", async () => {
    const text = renderExposuresFile(FOREIGN, await exposures(), { dbtVersion: '1.10.6' });
    const before = parse(FOREIGN) as { exposures: Record<string, unknown>[]; models: unknown };
    const after = parse(text) as { exposures: Record<string, unknown>[]; models: unknown; version: number };
    expect(after.models).toEqual(before.models);
    expect(after.version).toBe(2);
    expect(after.exposures.map((e) => e.name)).toEqual(['weekly_kpis', 'churn_notebook', 'activate_crm_contacts', 'activate_customers__audience_hook']);
    expect(after.exposures[0]).toEqual(before.exposures[0]);
    expect(after.exposures[1]).toEqual(before.exposures[2]);
    expect(text).toContain('# Exposures maintained by the BI team.');
    expect(text).toContain('# The weekly dashboard.');
    expect(exposureRuleProblems(after, { major: 1, minor: 10 })).toEqual([]);
  });

  it('is stable: rendering its own output again returns it unchanged', async () => {
    const list = await exposures();
    const once = renderExposuresFile(FOREIGN, list, { dbtVersion: '1.10.6' });
    expect(renderExposuresFile(once, list, { dbtVersion: '1.10.6' })).toBe(once);
    const fresh = renderExposuresFile(undefined, list, { dbtVersion: '1.10.6' });
    expect(renderExposuresFile(fresh, list, { dbtVersion: '1.10.6' })).toBe(fresh);
    // In a different order, ours are replaced in place: still no change.
    const reordered = renderExposuresFile(fresh, [...list].reverse(), { dbtVersion: '1.10.6' });
    expect(reordered).toBe(fresh);
  });

  it('returns the file untouched when only its formatting differs from what it would write', async () => {
    const list = await exposures();
    const fresh = renderExposuresFile(undefined, list, { dbtVersion: '1.10.6' });
    // Same data, other layout: flow style for the tags, different indentation, a comment of the user's.
    const reformatted = fresh.replace(/tags:\n\s+- activate/g, 'tags: [activate]').replace(/^version: 2$/m, 'version: 2 # pinned');
    expect(reformatted).not.toBe(fresh);
    expect(renderExposuresFile(reformatted, list, { dbtVersion: '1.10.6' })).toBe(reformatted);
  });

  it('moves its meta and tags when the dbt version crosses 1.10', async () => {
    const list = await exposures();
    const old = renderExposuresFile(undefined, list, { dbtVersion: '1.9.0' });
    const upgraded = renderExposuresFile(old, list, { dbtVersion: '1.10.0' });
    const contacts = exposuresOf(upgraded).filter((e) => e.name === 'activate_crm_contacts');
    expect(contacts).toHaveLength(1);
    expect(contacts[0]).toHaveProperty('config.meta.activate_sync', 'crm_contacts');
    expect(contacts[0]).not.toHaveProperty('meta');
  });

  it('refuses to take the name of an exposure it did not write', async () => {
    const clash = `exposures:\n  - name: activate_crm_contacts\n    type: dashboard\n    owner: { name: BI }\n`;
    const list = await exposures();
    const error = configError(() => renderExposuresFile(clash, list, { dbtVersion: '1.10.6', display: 'models/x.yml' }));
    expect(error.message).toContain('models/x.yml: exposures[0].name: "activate_crm_contacts" is the name of the exposure for sync "crm_contacts"');
  });

  it('reports a file it cannot use', async () => {
    const list = await exposures();
    expect(configError(() => renderExposuresFile('exposures: [\n', list, { dbtVersion: '1.10.6', display: 'e.yml' })).message).toMatch(/^e\.yml: invalid YAML: .*\(line \d+, column \d+\)/);
    expect(configError(() => renderExposuresFile('- a\n- b\n', list, { dbtVersion: '1.10.6', display: 'e.yml' })).message).toContain('its top level must be a mapping');
    expect(configError(() => renderExposuresFile('exposures: {a: 1}\n', list, { dbtVersion: '1.10.6', display: 'e.yml' })).message).toBe('e.yml: exposures: must be a list');
    // Empty or comment-only files are fine.
    expect(exposuresOf(renderExposuresFile('# nothing yet\n', list, { dbtVersion: '1.10.6' }))).toHaveLength(2);
    expect(exposuresOf(renderExposuresFile('exposures:\n', list, { dbtVersion: '1.10.6' }))).toHaveLength(2);
    expect(exposuresOf(renderExposuresFile('exposures: []\n', list, { dbtVersion: '1.10.6' }))).toHaveLength(2);
  });
});

describe('writeExposures', () => {
  it('writes models/activate_exposures.yml, then changes nothing on a second run', async () => {
    const project = await makeProject({ models: [customers] });
    const first = await writeExposures(project);
    expect(first).toMatchObject({ display: 'models/activate_exposures.yml', changed: true, written: true, exposures: 2, warnings: [] });
    expect(first.path).toBe(join(project.dbt.dir, 'models', 'activate_exposures.yml'));
    expect(first.diff).toMatch(/^--- \/dev\/null\n\+\+\+ b\/models\/activate_exposures\.yml\n@@ -0,0 \+1,\d+ @@\n/);
    const text = readFileSync(first.path, 'utf8');
    const mtime = statSync(first.path).mtimeMs;

    const second = await writeExposures(project);
    expect(second).toMatchObject({ changed: false, written: false, diff: '' });
    expect(readFileSync(first.path, 'utf8')).toBe(text);
    expect(statSync(first.path).mtimeMs).toBe(mtime);
  });

  it('with check, reports a stale file with a diff and writes nothing', async () => {
    const project = await makeProject({ models: [customers] });
    const missing = await writeExposures(project, { check: true });
    expect(missing).toMatchObject({ changed: true, written: false });
    expect(readdirSync(project.dbt.dir)).not.toContain('models');

    await writeExposures(project);
    const path = join(project.dbt.dir, 'models', 'activate_exposures.yml');
    expect((await writeExposures(project, { check: true })).changed).toBe(false);

    const remapped = await makeProject({
      models: [{ name: 'customers', configMeta: { owner: 'data@example.com', activation: [{ ...CONTACTS, fields: { lifetime_value: 'ltv', churn_risk: 'churn_risk_v2' } }, AUDIENCE] } }],
    });
    const before = readFileSync(path, 'utf8');
    mkdirSync(join(remapped.dbt.dir, 'models'));
    const remappedPath = join(remapped.dbt.dir, 'models', 'activate_exposures.yml');
    writeFileSync(remappedPath, before);
    const stale = await writeExposures(remapped, { check: true });
    expect(stale).toMatchObject({ changed: true, written: false });
    expect(stale.diff).toContain('--- a/models/activate_exposures.yml\n+++ b/models/activate_exposures.yml\n@@ ');
    expect(stale.diff).toContain('\n-      - `churn_risk` from column `churn_score`\n+      - `churn_risk` from column `churn_risk_v2`\n');
    expect(readFileSync(remappedPath, 'utf8')).toBe(before);
  });

  it('resolves --output against the current directory and warns when dbt would not read it', async () => {
    const project = await makeProject({ models: [customers] });
    const result = await writeExposures(project, { output: 'exposures/out.yml' });
    expect(result.path).toBe(join(project.dbt.dir, 'exposures', 'out.yml'));
    expect(result.warnings).toEqual([
      "exposures/out.yml is not under the project's model paths (models), so dbt will not read the exposures in it",
    ]);
    const inside = await writeExposures(project, { output: 'models/marts/sync_exposures.yml' });
    expect(inside.warnings).toEqual([]);
    expect(exposuresOf(readFileSync(inside.path, 'utf8'))).toHaveLength(2);
  });

  it('warns when the last dbt parse saw an exposure of the same name in another file', async () => {
    const project = await makeProject({
      models: [customers],
      edit: (m) => {
        (m as Record<string, unknown>).exposures = {
          'exposure.shop.activate_crm_contacts': {
            unique_id: 'exposure.shop.activate_crm_contacts', resource_type: 'exposure', name: 'activate_crm_contacts', package_name: 'shop',
            original_file_path: 'models/old/exposures.yml', config: { enabled: true, meta: { activate_sync: 'crm_contacts' } },
          },
          'exposure.shop.activate_customers__audience_hook': {
            unique_id: 'exposure.shop.activate_customers__audience_hook', resource_type: 'exposure', name: 'activate_customers__audience_hook',
            package_name: 'shop', original_file_path: 'models/bi.yml', config: { enabled: true }, meta: {},
          },
          'exposure.shop.elsewhere': { name: 'weekly', original_file_path: 'models/bi.yml' },
          'exposure.shop.same_file': { name: 'activate_crm_contacts', original_file_path: 'models/activate_exposures.yml' },
        };
      },
    });
    const result = await writeExposures(project, { check: true });
    expect(result.warnings).toEqual([
      `models/old/exposures.yml already holds activate's exposure "activate_crm_contacts" (as of the last dbt parse): use --output models/old/exposures.yml, or delete that file, or dbt will refuse the duplicate name`,
      `models/bi.yml has an exposure named "activate_customers__audience_hook" (as of the last dbt parse), the name of the exposure for sync "customers__audience_hook": rename one, or dbt will refuse the duplicate name`,
    ]);
  });

  it('writes no file for a project without syncs', async () => {
    const project = await makeProject({ models: [{ name: 'plain' }] });
    expect(await writeExposures(project)).toMatchObject({ changed: false, written: false, exposures: 0 });
  });
});

describe('real manifests from every dbt version in the fixtures', () => {
  const files = readdirSync(manifestsDir).filter((f) => f.endsWith('_manifest.json')).sort();

  it.each(files)('%s: valid exposures in the right place for its dbt version', async (file) => {
    const manifest = JSON.parse(readFileSync(join(manifestsDir, file), 'utf8')) as RawManifest;
    const models = Object.values(manifest.nodes).filter((n) => n.resource_type === 'model' && (n.config as { materialized?: string }).materialized !== 'ephemeral');
    const root = (manifest.metadata.project_name as string | undefined) ?? (models[0]!.package_name as string);
    // Activate the first model of the root project and, when there is one, of another package.
    const chosen = [models.find((m) => m.package_name === root)!, models.find((m) => m.package_name !== root)].filter(Boolean) as Record<string, unknown>[];
    for (const node of chosen) {
      const config = node.config as { meta?: Record<string, unknown> };
      config.meta = { ...config.meta, activation: { destination: 'crm', primary_key: 'id', fields: { a: 'b' }, owner: { name: 'Ops', email: 'ops@example.com' } } };
    }
    const dir = join(tmp.dir, `fixture-${++counter}`);
    mkdirSync(join(dir, 'target'), { recursive: true });
    writeFileSync(join(dir, 'dbt_project.yml'), `name: ${root}\n`);
    writeFileSync(join(dir, 'activate.yml'), ACTIVATE_YML);
    writeFileSync(join(dir, 'target', 'manifest.json'), JSON.stringify(manifest));
    const project = await loadProject({ projectDir: dir, cwd: dir, env: {} });

    const result = await writeExposures(project);
    const written = parse(readFileSync(result.path, 'utf8')) as { exposures: Record<string, unknown>[] };
    const version = parseDbtVersion(manifest.metadata.dbt_version as string)!;
    expect(exposureRuleProblems(written, version)).toEqual([]);
    expect(written.exposures).toHaveLength(chosen.length);
    for (const node of chosen) {
      const exposure = written.exposures.find((e) => (e.depends_on as string[])[0]!.includes(`'${node.name as string}'`))!;
      expect(exposure.depends_on).toEqual([node.package_name === root ? `ref('${node.name}')` : `ref('${node.package_name}', '${node.name}')`]);
      const underConfig = version.major > 1 || version.minor >= 10;
      expect(exposure).toHaveProperty(underConfig ? 'config.meta.activate_sync' : 'meta.activate_sync', `${node.name}__crm`);
    }
  });
});

describe('the dbt rules the tests hold exposures to', () => {
  it('catch what dbt would reject', () => {
    const good = { name: 'ok', type: 'application', owner: { name: 'x' }, depends_on: ["ref('m')"] };
    expect(exposureRuleProblems({ exposures: [good] }, { major: 1, minor: 10 })).toEqual([]);
    const bad = [
      { ...good, name: 'has-dash' },
      { ...good, name: 'ok', type: 'app' },
      { ...good, name: 'm', maturity: 'prod' },
      { ...good, name: 'o', owner: {} },
      { ...good, name: 'd', depends_on: ['customers'] },
      { ...good, name: 't', meta: { a: 1 } },
    ];
    const problems = exposureRuleProblems({ exposures: bad }, { major: 1, minor: 10 });
    for (const [i, path] of [[0, 'name'], [1, 'type'], [2, 'maturity'], [3, 'owner'], [4, 'depends_on.0'], [5, '']] as const) {
      expect(problems.some((p) => p.startsWith(`exposures[${i}].${path}`))).toBe(true);
    }
    expect(exposureRuleProblems({ exposures: [good, good] }, { major: 1, minor: 10 })).toEqual(['exposures[1].name: "ok" is not unique']);
    expect(exposureRuleProblems({ exposures: [good] }, { major: 1, minor: 4 })[0]).toMatch(/^exposures\[0\]\.owner\.email: /);
    expect(exposureRuleProblems({ exposures: [{ ...good, config: { meta: {} } }] }, { major: 1, minor: 9 })).not.toEqual([]);
  });
});

describe('unifiedDiff', () => {
  it('prints hunks with context, and nothing for equal texts', () => {
    const a = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].join('\n') + '\n';
    const b = ['a', 'b', 'c', 'D', 'e', 'f', 'g', 'h', 'i', 'j', 'k'].join('\n') + '\n';
    expect(unifiedDiff(a, a, 'a/x', 'b/x')).toBe('');
    expect(unifiedDiff(a, b, 'a/x', 'b/x')).toBe(
      ['--- a/x', '+++ b/x', '@@ -1,10 +1,11 @@', ' a', ' b', ' c', '-d', '+D', ' e', ' f', ' g', ' h', ' i', ' j', '+k', ''].join('\n'),
    );
    const far = Array.from({ length: 30 }, (_, i) => `l${i}`);
    const changed = far.map((l, i) => (i === 2 || i === 25 ? l.toUpperCase() : l));
    const diff = unifiedDiff(far.join('\n') + '\n', changed.join('\n') + '\n', 'a', 'b');
    expect(diff.match(/^@@ .* @@$/gm)).toEqual(['@@ -1,6 +1,6 @@', '@@ -23,7 +23,7 @@']);
    expect(unifiedDiff('', 'x\ny\n', '/dev/null', 'b/f')).toBe('--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n');
  });
});
