import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Destination, MappedField } from '../../destinations/types.js';
import { webhook } from '../../destinations/webhook/index.js';
import { loadProject, type Project } from '../../src/project/load-project.js';
import { validateProject } from '../../src/validate/validate.js';
import { editActivation } from '../support/manifest-edit.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';

const CONTACTS = 'customer_scores/crm_contacts';
const RELATION = '"warehouse"."main"."customer_scores"';

let receiver: WebhookReceiver;
let project: ExampleProject;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml());
});

afterEach(async () => {
  // validate sends nothing and writes nothing: no request, no state tables.
  expect(receiver.deliveries).toHaveLength(0);
  if (existsSync(project.databasePath)) {
    const tables = await project.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'activate'`);
    expect(tables).toEqual([]);
  }
  await receiver.close();
  await project.cleanup();
});

async function deleteWarehouse(): Promise<void> {
  await rm(project.databasePath, { force: true });
  await rm(`${project.databasePath}.wal`, { force: true });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The library entry point, with the same environment and directory as the CLI in these tests. */
function validate(options: { online?: boolean; project?: Project } = {}) {
  return validateProject({
    ...options,
    projectOptions: { cwd: project.dir, env: { PATH: process.env.PATH, HOME: project.dir, ...project.env } },
  });
}

async function loaded(): Promise<Project> {
  return loadProject({ cwd: project.dir, env: { PATH: process.env.PATH, HOME: project.dir, ...project.env } });
}

async function editJson(path: string, edit: (json: Record<string, unknown>) => void): Promise<void> {
  const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  edit(json);
  await writeFile(path, JSON.stringify(json));
}

describe('activate validate', () => {
  it('a clean project: no problems, exit 0', async () => {
    const run = await project.cli('validate');
    expect(run.stdout).toBe('No problems: 2 syncs checked.\n');
    expect(run.code).toBe(0);
    expect(await validate()).toEqual({ problems: [], syncs: ['crm_contacts', 'at_risk_customers__crm_webhook'], notes: [] });

    const selected = await project.cli('validate', '-s', 'crm_contacts', '--json');
    expect(selected.code).toBe(0);
    expect(JSON.parse(selected.stdout)).toEqual({ problems: [], syncs: ['crm_contacts'], notes: [] });
  });

  it('a mapped column missing from the model in the warehouse', async () => {
    await project.sql('ALTER TABLE main.customer_scores RENAME COLUMN churn_risk TO churn_rsk');
    const run = await project.cli('validate');
    expect(run.stdout).toBe(
      `${CONTACTS}: fields.churn_risk: column "churn_risk" does not exist in ${RELATION} (did you mean "churn_rsk"?)\n` +
        '1 problem (2 syncs checked).\n',
    );
    expect(run.code).toBe(2);
  });

  it('a key or identifier column that is missing, and one whose type cannot fit', async () => {
    await project.sql(`ALTER TABLE main.customer_scores ADD COLUMN profile STRUCT(email VARCHAR, verified BOOLEAN)`);
    await project.sql(`ALTER TABLE main.customer_scores ADD COLUMN segments VARCHAR[]`);
    await project.sql(`ALTER TABLE main.customer_scores ADD COLUMN attributes MAP(VARCHAR, VARCHAR)`);
    await editActivation(project.dir, 'customer_scores', (a) => ({
      ...a,
      primary_key: ['customer_id', 'segments', 'region'],
      identifier: { email: 'profile', external_id: 'attributes' },
      // Structured values are fine as plain fields: the webhook sends them as JSON.
      fields: { ...(a.fields as object), profile: 'profile' },
    }));
    const run = await project.cli('validate');
    expect(run.code).toBe(2);
    expect(run.stdout.split('\n').slice(0, -2)).toEqual([
      `${CONTACTS}: primary_key[1]: column "segments" is a LIST (VARCHAR[]); a primary key must be scalar values (text, numbers, dates)`,
      `${CONTACTS}: primary_key[2]: column "region" does not exist in ${RELATION}`,
      `${CONTACTS}: identifier.email: column "profile" is a STRUCT (STRUCT(email VARCHAR, verified BOOLEAN)); a destination match field takes one scalar value`,
      `${CONTACTS}: identifier.external_id: column "attributes" is a MAP (MAP(VARCHAR, VARCHAR)); a destination match field takes one scalar value`,
    ]);
    expect(run.stdout).toContain('4 problems (2 syncs checked).');
  });

  it("types declared in the model's YAML (data_type) count too", async () => {
    await editJson(join(project.dir, 'target', 'manifest.json'), (m) => {
      const node = (m.nodes as Record<string, { columns: Record<string, { data_type: string | null }> }>)['model.jaffle_activate.customer_scores']!;
      node.columns.email!.data_type = 'json';
    });
    // Every column is documented and typed: the warehouse is not even needed.
    await deleteWarehouse();
    const { problems } = await validate();
    expect(problems).toEqual([`${CONTACTS}: identifier.email: column "email" is a JSON (json); a destination match field takes one scalar value`]);
  });

  it('uses target/catalog.json when dbt wrote one, instead of the warehouse', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, fields: { ...(a.fields as object), segment: 'segment_v2' } }));
    const columns = {
      CUSTOMER_ID: { type: 'INTEGER', index: 1, name: 'CUSTOMER_ID', comment: null },
      EMAIL: { type: 'STRUCT(address VARCHAR)', index: 2, name: 'EMAIL', comment: null },
      SEGMENT_V1: { type: 'VARCHAR', index: 3, name: 'SEGMENT_V1', comment: null },
    };
    await writeFile(
      join(project.dir, 'target', 'catalog.json'),
      JSON.stringify({ metadata: { dbt_schema_version: 'https://schemas.getdbt.com/dbt/catalog/v1.json' }, nodes: { 'model.jaffle_activate.customer_scores': { columns } }, sources: {}, errors: null }),
    );
    await deleteWarehouse();
    const { problems } = await validate();
    // Documented columns (first_name, ...) exist even though this catalog lacks them; segment_v2 is in neither.
    expect(problems).toEqual([
      `${CONTACTS}: identifier.email: column "email" is a STRUCT (STRUCT(address VARCHAR)); a destination match field takes one scalar value`,
      `${CONTACTS}: fields.segment: column "segment_v2" does not exist in ${RELATION} (according to target/catalog.json; \`dbt docs generate\` refreshes it) (did you mean "SEGMENT_V1"?)`,
    ]);
  });

  it('a catalog.json that is not one is reported and then ignored', async () => {
    await writeFile(join(project.dir, 'target', 'catalog.json'), '{"nodes": ');
    const { problems } = await validate();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^target\/catalog\.json: is not valid JSON \(.*\); run `dbt docs generate` to write it again, or delete it$/);
  });

  it('a warehouse that cannot be reached is a problem only when a column could not be checked otherwise', async () => {
    await deleteWarehouse();
    // Every mapped column is documented in the model's YAML: nothing left to ask the warehouse.
    expect((await validate()).problems).toEqual([]);

    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, fields: { ...(a.fields as object), segment: 'segment' } }));
    const run = await project.cli('validate');
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(
      new RegExp(`^${CONTACTS}: model: cannot check its columns: the warehouse cannot be reached \\(jaffle_activate\\.dev\\): .*DuckDB file .*warehouse\\.duckdb does not exist`),
    );
  });

  it('a model that was not built is reported by name', async () => {
    await project.sql('DROP TABLE main.customer_scores');
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, fields: { ...(a.fields as object), segment: 'segment' } }));
    const { problems } = await validate();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${escape(CONTACTS)}: model: cannot check its columns: ${escape(RELATION)} cannot be read in duckdb \\(profile jaffle_activate, target dev, warehouse\\): DuckDB: Catalog Error: Table with name customer_scores does not exist!\\. Run \`dbt build\` for it first\\.$`));
  });

  it('an environment variable that is not set (activate.yml or profiles.yml)', async () => {
    delete project.env.ACTIVATE_WEBHOOK_URL;
    const run = await project.cli('validate');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('activate.yml: destinations.crm_webhook.url: environment variable ACTIVATE_WEBHOOK_URL is not set and has no default');
    expect((await validate()).problems).toEqual([
      'activate.yml: destinations.crm_webhook.url: environment variable ACTIVATE_WEBHOOK_URL is not set and has no default (line 4, column 10)',
    ]);

    project.env.ACTIVATE_WEBHOOK_URL = receiver.url;
    const profiles = join(project.dir, 'profiles.yml');
    await writeFile(profiles, (await readFile(profiles, 'utf8')).replace('path: warehouse.duckdb', `path: "{{ env_var('WAREHOUSE_PATH') }}"`));
    const problems = (await validate()).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/profiles\.yml: jaffle_activate\.outputs\.dev\.path: environment variable WAREHOUSE_PATH is not set and has no default \(line \d+, column \d+\)$/);
    expect((await project.cli('validate')).code).toBe(2);
  });

  it('a destination that does not exist, or whose config does not validate', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, destination: 'crm_webhok' }));
    await project.writeActivateYml(webhookActivateYml({ extra: '  broken:\n    type: webhook\n    url: not a url\n  other:\n    type: hubspott' }));
    const { problems } = await validate();
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^activate\.yml: destinations\.broken\.url: must be an http:\/\/ or https:\/\/ URL/),
        expect.stringMatching(/^activate\.yml: destinations\.other\.type: unknown destination type "hubspott"/),
      ]),
    );
    await project.writeActivateYml(webhookActivateYml());
    const unknown = (await validate()).problems;
    expect(unknown).toEqual([expect.stringContaining('models/marts/marts.yml: customer_scores: meta.activation.destination: unknown destination "crm_webhok" (did you mean "crm_webhook"?)')]);
    const run = await project.cli('validate');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown destination "crm_webhok"');
  });

  it('a manifest or meta.activation that does not follow the schema', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, mode: 'upsurt', primary_key: [] }));
    const { problems } = await validate();
    expect(problems).toEqual([
      expect.stringMatching(/^models\/marts\/marts\.yml: customer_scores: meta\.activation: mode: .*"upsert"/),
      expect.stringMatching(/^models\/marts\/marts\.yml: customer_scores: meta\.activation: primary_key: /),
    ]);

    await writeFile(join(project.dir, 'target', 'manifest.json'), JSON.stringify({ metadata: {}, nodes: [] }));
    const manifest = await validate();
    expect(manifest.problems.length).toBeGreaterThan(0);
    for (const p of manifest.problems) expect(p).toMatch(/^target\/manifest\.json: /);
    expect((await project.cli('validate')).code).toBe(2);
  });

  it('--online asks destinations that can check a mapping, and says which cannot', async () => {
    const run = await project.cli('validate', '--online');
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('crm_webhook (webhook) has no online check; its mapping was checked offline only');

    // A destination whose connector can check mappings: what it is given, and how its answers are reported.
    const seen: MappedField[][] = [];
    const base = await loaded();
    const checking = {
      ...webhook,
      create: (config: Parameters<typeof webhook.create>[0], context: Parameters<typeof webhook.create>[1]) => {
        const destination: Destination<unknown> = webhook.create(config, context) as Destination<unknown>;
        return {
          write: destination.write.bind(destination),
          async checkMapping(fields: readonly MappedField[]) {
            seen.push([...fields]);
            return fields.some((f) => f.field === 'churn_risk') ? ['property "churn_risk" does not exist on contacts'] : [];
          },
        };
      },
    };
    const withCheck: Project = { ...base, syncs: base.syncs.map((s) => ({ ...s, destination: { ...s.destination, definition: checking } })) };
    const result = await validateProject({ project: withCheck, online: true });
    expect(result.problems).toEqual([
      `${CONTACTS}: destination: crm_webhook: property "churn_risk" does not exist on contacts`,
      'at_risk_customers/at_risk_customers__crm_webhook: destination: crm_webhook: property "churn_risk" does not exist on contacts',
    ]);
    const contacts = seen[0]!;
    expect(contacts.find((f) => f.field === 'email')).toEqual({ field: 'email', column: 'email', columnType: 'VARCHAR', isIdentifier: true });
    expect(contacts.find((f) => f.field === 'lifetime_value')).toMatchObject({ column: 'lifetime_value', isIdentifier: false });
    expect(contacts.find((f) => f.field === 'lifetime_value')!.columnType).toMatch(/^DECIMAL/);
    // Offline, the same project has no problems.
    expect((await validateProject({ project: withCheck })).problems).toEqual([]);
  });
});
