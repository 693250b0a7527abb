import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
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
  await receiver.close();
  await project.cleanup();
});

/** A run_results.json for `dbt build` in which one test of customer_scores failed. */
async function writeRunResults(options: { invocationId?: string; which?: string } = {}): Promise<void> {
  const manifest = JSON.parse(await readFile(join(project.dir, 'target', 'manifest.json'), 'utf8'));
  const failingTest = Object.values(manifest.nodes as Record<string, { unique_id: string; resource_type: string; attached_node?: string }>).find(
    (n) => n.resource_type === 'test' && n.attached_node === 'model.jaffle_activate.customer_scores',
  )!;
  const results = Object.values(manifest.nodes as Record<string, { unique_id: string; resource_type: string }>)
    .filter((n) => n.resource_type === 'model' || n.resource_type === 'test')
    .map((n) => ({
      unique_id: n.unique_id,
      status: n.unique_id === failingTest.unique_id ? 'fail' : n.resource_type === 'test' ? 'pass' : 'success',
      failures: n.unique_id === failingTest.unique_id ? 2 : 0,
      message: null,
      timing: [],
      thread_id: 'Thread-1',
      execution_time: 0.1,
      adapter_response: {},
    }));
  await writeFile(
    join(project.dir, 'target', 'run_results.json'),
    JSON.stringify({
      metadata: {
        dbt_schema_version: 'https://schemas.getdbt.com/dbt/run-results/v6.json',
        dbt_version: manifest.metadata.dbt_version,
        generated_at: new Date().toISOString(),
        invocation_id: options.invocationId ?? manifest.metadata.invocation_id,
        env: {},
      },
      results,
      elapsed_time: 1,
      args: { which: options.which ?? 'build' },
    }),
  );
}

function syncsReceived(): Set<string> {
  return new Set(receiver.deliveries.map((d) => (d.json as { sync: string }).sync));
}

it('a failed test of the model in the same dbt build skips its syncs and fails the run; others still run', async () => {
  await writeRunResults();
  const run = await project.cli('run');
  expect(run.code).toBe(1);
  expect(run.stdout).toMatch(/crm_contacts\s.*SKIPPED \(dbt's verdict\)/);
  expect(run.stdout).toMatch(/test \S+ failed in dbt build \(2 failing rows\)/);
  expect(run.stdout).toContain('SKIP=1');
  expect(syncsReceived()).toEqual(new Set(['at_risk_customers__crm_webhook']));

  const tolerated = await project.cli('run', '--skip-failed-models-ok');
  expect(tolerated.code).toBe(0);
  expect(syncsReceived().has('crm_contacts')).toBe(false);
});

it('results of another invocation are stale: ignored with a warning', async () => {
  await writeRunResults({ invocationId: '00000000-0000-0000-0000-000000000000' });
  const run = await project.cli('run');
  expect(run.code, run.stderr).toBe(0);
  expect(run.stderr).toMatch(/stale/i);
  expect(syncsReceived().has('crm_contacts')).toBe(true);
});

it('results of `dbt docs generate` are not mistaken for a build', async () => {
  await writeRunResults({ which: 'generate' });
  const run = await project.cli('run');
  expect(run.code, run.stderr).toBe(0);
  expect(syncsReceived().has('crm_contacts')).toBe(true);
});

it('plan predicts the same: the skipped sync is reported, nothing is planned for it', async () => {
  await writeRunResults();
  const plan = await project.cli('plan', '--json');
  expect(plan.code).toBe(1);
  const report = JSON.parse(plan.stdout) as { dbtVerdict: { verdict: string }; syncs: { id: string; status: string }[] };
  expect(report.dbtVerdict.verdict).toBe('applied');
  expect(report.syncs.map((s) => [s.id, s.status])).toEqual([
    ['crm_contacts', 'skipped'],
    ['at_risk_customers__crm_webhook', 'planned'],
  ]);
});
