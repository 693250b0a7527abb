/** Shared by the UX tests: a fixed scenario on the example project, and output normalisation. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { main, type CliIO } from '../../src/cli/main.js';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, repoRoot, webhookActivateYml, WEBHOOK_SECRET, type CliResult, type ExampleProject } from '../support/example-project.js';
import { editActivation } from '../support/manifest-edit.js';

export interface Scenario {
  readonly project: ExampleProject;
  readonly receiver: WebhookReceiver;
  close(): Promise<void>;
}

/**
 * The example project after a first run, then changed so that a plan has one of each outcome:
 * - crm_contacts (upsert): customer 3 changed plan, customer 21 is new: +1 ~1 -0, planned;
 * - plan_changes (mirror, safety.max_changes: 1): +1 ~1 -1 (customer 5 left the model): blocked;
 * - at_risk_customers__crm_webhook: a test on its model failed in the same dbt build: skipped.
 */
export async function fixedScenario(): Promise<Scenario> {
  const receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  const project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml());
  await editActivation(project.dir, 'customer_scores', (a) => [
    a,
    { name: 'plan_changes', destination: 'crm_webhook', mode: 'mirror', primary_key: 'customer_id', fields: { plan: 'plan' }, safety: { max_changes: 1 } },
  ] as unknown as Record<string, unknown>);
  const first = await project.cli('run', '--allow-large-changes');
  if (first.code !== 0) throw new Error(`first run failed: ${first.stderr}`);
  await project.sql(`UPDATE main.customer_scores SET plan = 'enterprise' WHERE customer_id = 3`);
  await project.sql(
    `INSERT INTO main.customer_scores (customer_id, email, first_name, last_name, plan, lifetime_value, order_count, last_order_date, churn_risk, is_active)
     VALUES (21, 'zoe.martin@example.com', 'Zoe', 'Martin', 'free', 0, 0, NULL, 0.1, false)`,
  );
  await project.sql('DELETE FROM main.customer_scores WHERE customer_id = 5');
  await writeFailingTestResults(project.dir, 'test.jaffle_activate.not_null_at_risk_customers_customer_id.cc3c52ec58');
  return {
    project,
    receiver,
    async close() {
      await receiver.close();
      await project.cleanup();
    },
  };
}

/** run_results.json of `dbt build` for the manifest's invocation, where one test failed. */
export async function writeFailingTestResults(dir: string, failingTest: string): Promise<void> {
  const manifest = JSON.parse(await readFile(join(dir, 'target', 'manifest.json'), 'utf8'));
  const results = Object.values(manifest.nodes as Record<string, { unique_id: string; resource_type: string }>)
    .filter((n) => n.resource_type === 'model' || n.resource_type === 'test')
    .map((n) => ({
      unique_id: n.unique_id,
      status: n.unique_id === failingTest ? 'fail' : n.resource_type === 'test' ? 'pass' : 'success',
      failures: n.unique_id === failingTest ? 2 : 0,
      message: null,
      timing: [],
      thread_id: 'Thread-1',
      execution_time: 0.1,
      adapter_response: {},
    }));
  await writeFile(
    join(dir, 'target', 'run_results.json'),
    JSON.stringify({
      metadata: {
        dbt_schema_version: 'https://schemas.getdbt.com/dbt/run-results/v6.json',
        dbt_version: manifest.metadata.dbt_version,
        generated_at: '2025-08-07T09:15:00Z',
        invocation_id: manifest.metadata.invocation_id,
        env: {},
      },
      results,
      elapsed_time: 1,
      args: { which: 'build' },
    }),
  );
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Times (always under 10 s here) and run ids vary between runs; everything else must not. */
export function normaliseText(text: string): string {
  return text.replace(/\b\d\.\ds\b/g, '0.0s').replace(UUID, '<run-id>');
}

/** The JSON output with its varying values fixed. */
export function normaliseJson(text: string): string {
  const report = JSON.parse(text) as { syncs: { runId: string | null; seconds: number }[] };
  for (const s of report.syncs) {
    if (s.runId) s.runId = '<run-id>';
    s.seconds = 0;
  }
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** The JSON Schema published in docs/json-output.md (the block under "## JSON Schema"). */
export async function documentedSchema(): Promise<Record<string, unknown>> {
  const doc = await readFile(join(repoRoot, 'docs', 'json-output.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## JSON Schema'));
  const block = /```json\n([\s\S]*?)\n```/.exec(section);
  if (!block) throw new Error('docs/json-output.md has no JSON Schema block');
  return JSON.parse(block[1]!) as Record<string, unknown>;
}

/** Validates a value against docs/json-output.md's schema; the errors, or [] when valid. */
export async function schemaErrors(value: unknown): Promise<string[]> {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const validate = ajv.compile(await documentedSchema());
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** Runs the CLI in this process with extra IO (a fake terminal, stdin, env). */
export async function cliWith(project: ExampleProject, args: readonly string[], io: Partial<CliIO> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { PATH: process.env.PATH, HOME: project.dir, ...project.env },
    cwd: project.dir,
    ...io,
  });
  return { code, stdout, stderr };
}
