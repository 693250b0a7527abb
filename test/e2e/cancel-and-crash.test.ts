import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prng } from '../support/prng.js';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { addGeneratedCustomers, makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';
import { editActivation } from '../support/manifest-edit.js';

const BATCH = 20;
const EXTRA_ROWS = 1500;
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

interface Delivered {
  readonly operation: string;
  readonly key: string;
  readonly fields: Record<string, unknown>;
}

function acknowledgedRecords(from = 0, to?: number): Delivered[] {
  return receiver.deliveries
    .slice(from, to)
    .filter((d) => d.answer === 200)
    .flatMap((d) => (d.json as { records: Delivered[] }).records);
}

/** What the receiver holds after applying every acknowledged delivery in order. */
function receiverView(): Map<string, Record<string, unknown>> {
  const view = new Map<string, Record<string, unknown>>();
  for (const r of acknowledgedRecords()) {
    if (r.operation === 'delete') view.delete(r.key);
    else view.set(r.key, r.fields);
  }
  return view;
}

async function modelView(): Promise<Map<string, Record<string, unknown>>> {
  const rows = await project.query<Record<string, unknown>>(
    'SELECT customer_id, email, first_name, last_name, plan, lifetime_value, order_count, last_order_date, churn_risk FROM main.customer_scores',
  );
  return new Map(rows.map(({ customer_id, ...fields }) => [String(customer_id), fields]));
}

async function stateKeys(): Promise<string[]> {
  const rows = await project.query<{ record_key: string }>(`SELECT record_key FROM activate.activate_state WHERE sync_id = 'crm_contacts'`);
  return rows.map((r) => r.record_key);
}

describe('clean stops', () => {
  it('SIGTERM mid-run: in-flight batches commit, the run row says cancelled with the aborted counts, exit 130', async () => {
    const child = project.spawnCli(['run', '-s', 'crm_contacts']);
    receiver.respondWith((_d, index) => {
      if (index === 12) child.kill('SIGTERM');
      return { status: 200, body: 'ok', delayMs: 20 };
    });
    const done = await child.done;
    expect(done.code, done.stderr).toBe(130);
    expect(done.stderr).toContain('SIGTERM: stopping');

    const [run] = await project.query<Record<string, number | string>>(
      `SELECT status, planned_added, attempted_added, succeeded_added, failed_added, aborted_added FROM activate.activate_runs WHERE sync_id = 'crm_contacts'`,
    );
    expect(run!.status).toBe('cancelled');
    const planned = Number(run!.planned_added);
    expect(planned).toBe(EXTRA_ROWS + 20);
    expect(Number(run!.aborted_added)).toBe(planned - Number(run!.attempted_added));
    expect(Number(run!.aborted_added)).toBeGreaterThan(0);
    // Batches in flight were allowed to finish: every acknowledged record is committed, nothing more.
    const acked = new Set(acknowledgedRecords().map((r) => r.key));
    const state = await stateKeys();
    expect(new Set(state)).toEqual(acked);
    expect(state.length).toBe(Number(run!.succeeded_added));

    receiver.respondWith(undefined);
    const mark = receiver.deliveries.length;
    const resumed = await project.cli('run', '-s', 'crm_contacts');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(acknowledgedRecords(mark)).toHaveLength(planned - state.length);
    expect(receiverView()).toEqual(await modelView());
  });
});

describe('crash at random points', () => {
  it('30 seeded SIGKILLs: after each, a clean run leaves the receiver equal to the model and state consistent', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, mode: 'mirror', safety: { max_deletes: '100%' } }));
    const random = prng(20261121);
    for (let round = 0; round < 30; round++) {
      // Some rows change, some leave, some arrive, so every round has adds, changes and deletes.
      const base = 1000 + Math.floor(random() * (EXTRA_ROWS - 200));
      await project.sql(
        `UPDATE main.customer_scores SET order_count = order_count + 1 WHERE customer_id BETWEEN ${base} AND ${base + 60};
         DELETE FROM main.customer_scores WHERE customer_id BETWEEN ${base + 100} AND ${base + 110};
         INSERT INTO main.customer_scores (customer_id, email, first_name, last_name, plan, lifetime_value, order_count, last_order_date, churn_risk, is_active)
         SELECT 100000 + ${round * 100} + i, 'new' || ${round} || '_' || i || '@example.com', 'N', 'M', 'pro', 1.25, 0, NULL, 0.1, false FROM range(20) t(i)`,
      );
      const killAt = Math.floor(random() * 8);
      const mark = receiver.deliveries.length;
      const child = project.spawnCli(['run', '-s', 'crm_contacts']);
      receiver.respondWith((_d, index) => {
        if (index - mark === killAt) child.kill('SIGKILL');
        return { status: 200, body: 'ok', delayMs: 10 };
      });
      await child.done;
      receiver.respondWith(undefined);

      // Nothing counted as synced that was not acknowledged.
      const acked = new Set(acknowledgedRecords().map((r) => r.key));
      for (const key of await stateKeys()) expect(acked.has(key), `round ${round}: ${key} in state, never acknowledged`).toBe(true);

      const afterCrash = receiver.deliveries.length;
      const clean = await project.cli('run', '-s', 'crm_contacts');
      expect(clean.code, `round ${round}: ${clean.stderr}`).toBe(0);
      const model = await modelView();
      expect(receiverView(), `round ${round}`).toEqual(model);
      expect(new Set(await stateKeys())).toEqual(new Set(model.keys()));
      // Duplicates are bounded by what was in flight or awaiting a checkpoint when the process died.
      const crashed = new Set(acknowledgedRecords(mark, afterCrash).map((r) => r.key));
      const resent = acknowledgedRecords(afterCrash).filter((r) => crashed.has(r.key));
      expect(resent.length, `round ${round}`).toBeLessThanOrEqual(4 * BATCH);
    }
  }, 240_000);
});
