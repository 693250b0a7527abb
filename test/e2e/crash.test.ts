import { afterEach, beforeEach, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { addGeneratedCustomers, makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';

const EXTRA_ROWS = 2000;
const BATCH = 20;

let receiver: WebhookReceiver;
let project: ExampleProject;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml({ batchSize: BATCH }));
  await addGeneratedCustomers(project, EXTRA_ROWS);
});

afterEach(async () => {
  receiver.assertNoViolations();
  await receiver.close();
  await project.cleanup();
});

function acknowledgedKeys(): string[] {
  return receiver.deliveries
    .filter((d) => d.answer === 200)
    .flatMap((d) => (d.json as { records: { key: string }[] }).records.map((r) => r.key));
}

it('a run killed with SIGKILL mid-way loses nothing: the next run delivers every unacknowledged record', async () => {
  const modelKeys = (await project.query<{ k: string }>('SELECT CAST(customer_id AS VARCHAR) AS k FROM main.customer_scores')).map((r) => r.k);
  expect(modelKeys).toHaveLength(EXTRA_ROWS + 20);

  const child = project.spawnCli(['run', '-s', 'crm_contacts']);
  // Answer slowly, and kill the process once a good part of the batches were acknowledged.
  receiver.respondWith((_d, index) => {
    if (index === 30) child.kill('SIGKILL');
    return { status: 200, body: 'ok', delayMs: 15 };
  });
  const killed = await child.done;
  expect(killed.signal).toBe('SIGKILL');

  const acknowledgedBeforeCrash = new Set(acknowledgedKeys());
  expect(acknowledgedBeforeCrash.size).toBeGreaterThan(0);
  expect(acknowledgedBeforeCrash.size).toBeLessThan(modelKeys.length);

  // Nothing is counted as synced that the receiver did not acknowledge.
  const stateAfterCrash = (await project.query<{ record_key: string }>(
    `SELECT record_key FROM activate.activate_state WHERE sync_id = 'crm_contacts'`,
  )).map((r) => r.record_key);
  for (const key of stateAfterCrash) expect(acknowledgedBeforeCrash.has(key)).toBe(true);
  const [runRow] = await project.query<{ status: string }>(`SELECT status FROM activate.activate_runs WHERE sync_id = 'crm_contacts'`);
  expect(runRow!.status).toBe('running');

  // The crashed holder's lease is taken over (its process is gone) and the run completes.
  receiver.respondWith(undefined);
  const mark = receiver.deliveries.length;
  const resumed = await project.cli('run', '-s', 'crm_contacts');
  expect(resumed.code, resumed.stderr).toBe(0);

  const all = acknowledgedKeys();
  expect(new Set(all)).toEqual(new Set(modelKeys));
  const resent = receiver.deliveries.slice(mark).flatMap((d) => (d.json as { records: { key: string }[] }).records.map((r) => r.key));
  // The second run sends exactly what state did not record, and nothing recorded is sent twice.
  expect(new Set(resent)).toEqual(new Set(modelKeys.filter((k) => !stateAfterCrash.includes(k))));
  // Duplicates are bounded by what was acknowledged but not yet committed when the process died.
  const duplicates = all.length - new Set(all).size;
  expect(duplicates).toBe(acknowledgedBeforeCrash.size - stateAfterCrash.length);
  expect(duplicates).toBeLessThanOrEqual(8 * BATCH);

  const state = await project.query<{ n: number }>(`SELECT count(*) AS n FROM activate.activate_state WHERE sync_id = 'crm_contacts'`);
  expect(Number(state[0]!.n)).toBe(modelKeys.length);
  const runs = await project.query<{ status: string }>(`SELECT status FROM activate.activate_runs WHERE sync_id = 'crm_contacts' ORDER BY started_at`);
  expect(runs.map((r) => r.status)).toEqual(['abandoned', 'success']);

  const plan = await project.cli('plan', '-s', 'crm_contacts');
  expect(plan.stdout).toMatch(/crm_contacts\s+upsert\s+\+0 ~0 -0/);
});
