import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';

let receiver: WebhookReceiver;
let project: ExampleProject;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml());
});

afterEach(async () => {
  // Whatever the bad input, nothing reaches the destination.
  expect(receiver.deliveries).toHaveLength(0);
  await receiver.close();
  await project.cleanup();
});

async function runRows(): Promise<number> {
  const tables = await project.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = 'activate' AND table_name = 'activate_runs'`);
  if (tables.length === 0) return 0;
  const rows = await project.query<{ n: number }>('SELECT count(*) AS n FROM activate.activate_runs');
  return Number(rows[0]!.n);
}

async function editManifest(edit: (manifest: { nodes: Record<string, { config: { meta: Record<string, unknown> } }> }) => void) {
  const path = join(project.dir, 'target', 'manifest.json');
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  edit(manifest);
  await writeFile(path, JSON.stringify(manifest));
}

describe('bad input exits 2 with a message naming the file and the thing, and sends nothing', () => {
  it('duplicate primary keys', async () => {
    await project.sql('INSERT INTO main.customer_scores SELECT * FROM main.customer_scores WHERE customer_id = 5');
    const run = await project.cli('run');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('models/marts/marts.yml: customer_scores: meta.activation.primary_key');
    expect(run.stderr).toMatch(/duplicated keys: 5 \(2 rows\)/);
    expect(run.stderr).toContain('nothing was sent');
    expect(await runRows()).toBe(0);
  });

  it('null primary keys', async () => {
    await project.sql('UPDATE main.customer_scores SET customer_id = NULL WHERE customer_id IN (4, 6)');
    const run = await project.cli('run');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/marts\.yml: customer_scores: meta\.activation\.primary_key: 2 of 20 rows of customer_scores have a null customer_id/);
    expect(await runRows()).toBe(0);
  });

  it('a mapped column missing from the model', async () => {
    await project.sql('ALTER TABLE main.customer_scores RENAME COLUMN churn_risk TO churn_rsk');
    const run = await project.cli('run');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'models/marts/marts.yml: customer_scores: meta.activation.fields.churn_risk: column "churn_risk" does not exist in "warehouse"."main"."customer_scores" (did you mean "churn_rsk"?)',
    );
    expect(await runRows()).toBe(0);
  });

  it('a missing environment variable', async () => {
    delete project.env.ACTIVATE_WEBHOOK_URL;
    const run = await project.cli('run');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('activate.yml: destinations.crm_webhook.url: environment variable ACTIVATE_WEBHOOK_URL is not set');
  });

  it('an unknown destination name in meta.activation', async () => {
    await editManifest((m) => {
      (m.nodes['model.jaffle_activate.customer_scores']!.config.meta.activation as { destination: string }).destination = 'crm_webhok';
    });
    const run = await project.cli('run');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'models/marts/marts.yml: customer_scores: meta.activation.destination: unknown destination "crm_webhok" (did you mean "crm_webhook"?)',
    );
  });

  it('a malformed activate.yml', async () => {
    await project.writeActivateYml('destinations:\n  crm_webhook:\n    type: webhook\n    url: [unclosed\n');
    const run = await project.cli('run');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/activate\.yml: invalid YAML: .*\(line \d+, column \d+\)/);
  });

  it('an activate.yml with wrong values lists every problem at once', async () => {
    await project.writeActivateYml(
      'destinations:\n  crm_webhook:\n    type: webhook\n    url: not-a-url\n    batch_size: -1\n  other:\n    type: webhok\nstate: { schema: activate }\n',
    );
    const run = await project.cli('plan');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/activate\.yml: destinations\.crm_webhook\.url: .*\(line 4, column \d+\)/);
    expect(run.stderr).toContain('activate.yml: destinations.crm_webhook.batch_size');
    expect(run.stderr).toContain('activate.yml: destinations.other.type: unknown destination type "webhok" (did you mean "webhook"?)');
  });

  it('a corrupt manifest.json, through the real binary', async () => {
    const path = join(project.dir, 'target', 'manifest.json');
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, text.length / 2));
    const run = await project.spawnCli(['run']).done;
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('target/manifest.json: is not valid JSON');
    expect(run.stderr).toContain('dbt parse');
    expect(run.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  it('a missing manifest.json says to run dbt first', async () => {
    const run = await project.cli('run', '--target-path', 'no_such_target');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no_such_target/manifest.json: not found. Run `dbt parse` or `dbt build` first');
  });

  it('an unknown flag', async () => {
    const run = await project.cli('run', '--no-such-flag');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown option '--no-such-flag'");
  });
});
