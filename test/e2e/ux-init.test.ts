import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parseDocument } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, type ExampleProject } from '../support/example-project.js';
import { cliWith } from '../cli/support.js';

/**
 * `activate init` on the example project without activate.yml and without customer_scores'
 * activation: what it writes loads, validates, plans and runs (after a simulated `dbt parse`).
 */
let receiver: WebhookReceiver;
let project: ExampleProject;
let originalYaml: string;
const MARTS = 'models/marts/marts.yml';

beforeEach(async () => {
  receiver = await startWebhookReceiver(); // the template's secret: line is commented out
  project = await makeExampleProject({ MY_WEBHOOK_URL: receiver.url });
  await rm(join(project.dir, 'activate.yml'));
  // A project that has never used activate: no activation in its YAML or manifest.
  const path = join(project.dir, MARTS);
  originalYaml = (await readFile(path, 'utf8')).replace(/ {4}config:\n {6}meta:\n[\s\S]*?(?= {4}columns:)/g, '');
  expect(originalYaml).not.toContain('activation');
  await writeFile(path, originalYaml);
  await dbtParse();
});

afterEach(async () => {
  await receiver.close();
  await project.cleanup();
});

/** What `dbt parse` would do for our purposes: copy each model's config.meta.activation from the YAML into the manifest. */
async function dbtParse(): Promise<void> {
  const yaml = parseDocument(await readFile(join(project.dir, MARTS), 'utf8')).toJS() as {
    models: { name: string; config?: { meta?: { activation?: unknown } } }[];
  };
  const manifestPath = join(project.dir, 'target', 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  for (const model of yaml.models) {
    const node = manifest.nodes[`model.jaffle_activate.${model.name}`];
    const activation = model.config?.meta?.activation;
    if (activation === undefined) {
      delete node.config.meta.activation;
      delete node.meta.activation;
    } else {
      node.config.meta.activation = activation;
    }
  }
  await writeFile(manifestPath, JSON.stringify(manifest));
}

describe('activate init', () => {
  it('a first-time user without activate.yml is told the exact file to create, and about init', async () => {
    const plan = await project.cli('plan');
    expect(plan.code).toBe(2);
    expect(plan.stderr).toContain(`activate.yml: not found. Create ${join(project.dir, 'activate.yml')} (beside dbt_project.yml): \`activate init\``);
  });

  it('--non-interactive writes activate.yml and a meta.activation that validate, plan and run accept', async () => {
    const init = await project.cli('init', '--model', 'customer_scores', '--non-interactive');
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain('Wrote activate.yml: a webhook destination "my_webhook"; sync state in the schema "activate" of your duckdb warehouse.');
    expect(init.stdout).toContain(`Updated ${MARTS}: meta.activation for customer_scores (sync customer_scores__my_webhook).`);
    expect(init.stdout).toMatch(/export MY_WEBHOOK_URL=\.\.\..*\n.*dbt parse/);

    const config = await readFile(join(project.dir, 'activate.yml'), 'utf8');
    expect(config).toContain(`url: "{{ env_var('MY_WEBHOOK_URL') }}"`);
    expect(config).toContain('# a schema in the DuckDB database of your dbt profile');

    // The model's YAML only gained a block of lines: everything that was there is byte for byte the same.
    const yaml = await readFile(join(project.dir, MARTS), 'utf8');
    let head = 0;
    while (yaml[head] === originalYaml[head]) head++;
    const inserted = yaml.slice(head, head + yaml.length - originalYaml.length);
    expect(yaml.slice(0, head) + yaml.slice(head + inserted.length)).toBe(originalYaml);
    expect(inserted.startsWith('    config:\n      meta:\n        activation:\n')).toBe(true);
    const activation = (parseDocument(yaml).toJS() as { models: { config?: { meta?: { activation?: Record<string, unknown> } } }[] }).models[0]!.config!.meta!
      .activation!;
    expect(activation).toMatchObject({ destination: 'my_webhook', mode: 'upsert', primary_key: 'customer_id' });
    expect(Object.keys(activation.fields as object)).toContain('email');

    await dbtParse();
    const validate = await project.cli('validate');
    expect(validate.code, validate.stdout + validate.stderr).toBe(0);
    const plan = await project.cli('plan', '-s', 'customer_scores__my_webhook');
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/customer_scores__my_webhook\s+upsert\s+\+20 ~0 -0/);
    const run = await project.cli('run', '-s', 'customer_scores__my_webhook');
    expect(run.code, run.stderr).toBe(0);
    expect(receiver.deliveries.flatMap((d) => (d.json as { records: unknown[] }).records)).toHaveLength(20);
  });

  it('keeps an existing activate.yml (replaced only with --force) and never replaces an activation', async () => {
    await writeFile(join(project.dir, 'activate.yml'), 'destinations:\n  crm_webhook:\n    type: webhook\n    url: https://crm.example.com/in\n');
    const keep = await project.cli('init', '--model', 'customer_scores', '--non-interactive');
    expect(keep.code, keep.stderr).toBe(0);
    expect(keep.stdout).toContain('Kept activate.yml (it exists; --force replaces it).');
    expect(await readFile(join(project.dir, 'activate.yml'), 'utf8')).toContain('crm_webhook');
    // The sample uses the destination that is there.
    expect(await readFile(join(project.dir, MARTS), 'utf8')).toContain('destination: crm_webhook');

    const again = await project.cli('init', '--model', 'customer_scores', '--non-interactive');
    expect(again.stdout).toContain(`customer_scores already has a meta.activation in ${MARTS}; left as it is.`);

    const forced = await project.cli('init', '--force', '--destination-type', 'file', '--non-interactive');
    expect(forced.code, forced.stderr).toBe(0);
    expect(await readFile(join(project.dir, 'activate.yml'), 'utf8')).toContain('type: file');
    expect(forced.stdout).toContain('`activate init --model <name>` adds a sample meta.activation to one');
  });

  it('asks on a terminal: destination type, model, key and columns', async () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    stdin.end('webhook\ncustomer_scores\n\nemail, plan\n');
    let prompts = '';
    const init = await cliWith(project, ['init'], {
      stdin,
      stderrStream: { isTTY: true, columns: 100, rows: 30, write: () => true },
      stderr: (t) => void (prompts += t),
    });
    expect(init.code, prompts).toBe(0);
    expect(prompts).toContain('Destination type (webhook, file, postgres) [webhook]: ');
    expect(prompts).toMatch(/Models:\n\s+1\. stg_customers/);
    expect(prompts).toContain('Primary key column(s) [customer_id]: ');
    const yaml = parseDocument(await readFile(join(project.dir, MARTS), 'utf8')).toJS() as {
      models: { config?: { meta?: { activation?: Record<string, unknown> } } }[];
    };
    expect(yaml.models[0]!.config!.meta!.activation).toMatchObject({
      destination: 'my_webhook',
      primary_key: 'customer_id',
      fields: { email: 'email', plan: 'plan' },
    });
    await dbtParse();
    const run = await project.cli('run', '-s', 'customer_scores');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/customer_scores__my_webhook\s+upsert\s+\+20 ~0 -0\s+20/);
    const records = receiver.deliveries.flatMap((d) => (d.json as { records: { fields: object }[] }).records);
    expect(Object.keys(records[0]!.fields).sort()).toEqual(['email', 'plan']);
  });

  it('never asks off a terminal, and a misspelt model gets a suggestion', async () => {
    const init = await project.cli('init', '--model', 'customer_score');
    expect(init.code).toBe(2);
    expect(init.stderr).toContain('--model: no model "customer_score" in this project (did you mean "customer_scores"?)');
    const typo = await project.cli('init', '--destination-type', 'webhok');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('(did you mean "webhook"?)');
  });
});
