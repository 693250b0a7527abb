import { afterEach, beforeEach, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { addGeneratedCustomers, makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';

let receiver: WebhookReceiver;
let project: ExampleProject;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml({ batchSize: 3 }));
  await addGeneratedCustomers(project, 300);
  await project.sql(`INSERT INTO main.at_risk_customers SELECT customer_id, email, first_name, plan, lifetime_value, last_order_date, 0.9 FROM main.customer_scores WHERE customer_id >= 1000`);
});

afterEach(async () => {
  receiver.assertNoViolations();
  await receiver.close();
  await project.cleanup();
});

it('--threads 2 delivers two syncs at once, their checkpoints taking turns on the state connection', async () => {
  for (let round = 0; round < 3; round++) {
    await project.sql(`UPDATE main.customer_scores SET order_count = order_count + 1; UPDATE main.at_risk_customers SET churn_risk = churn_risk - 0.0001`);
    const run = await project.cli('run', '--threads', '2');
    expect(run.code, run.stderr).toBe(0);
    const counts = await project.query<{ sync_id: string; n: number }>(
      `SELECT sync_id, count(*) AS n FROM activate.activate_state GROUP BY sync_id ORDER BY sync_id`,
    );
    expect(counts.map((c) => [c.sync_id, Number(c.n)])).toEqual([
      ['at_risk_customers__crm_webhook', 308],
      ['crm_contacts', 320],
    ]);
  }
  // Both syncs were in flight at the same time.
  const bySync = (sync: string) => receiver.deliveries.filter((d) => (d.json as { sync: string }).sync === sync).map((d) => d.monotonicMs);
  const contacts = bySync('crm_contacts');
  const atRisk = bySync('at_risk_customers__crm_webhook');
  expect(Math.min(...atRisk)).toBeLessThan(Math.max(...contacts));
  expect(Math.min(...contacts)).toBeLessThan(Math.max(...atRisk));
});
