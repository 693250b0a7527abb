import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';
import { editActivation } from '../support/manifest-edit.js';

interface SentRecord {
  readonly operation: string;
  readonly key: string;
  readonly fields: Record<string, unknown>;
}

const AT_RISK = 'at_risk_customers__crm_webhook';
let receiver: WebhookReceiver;
let project: ExampleProject;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml());
});

afterEach(async () => {
  receiver.assertNoViolations();
  await receiver.close();
  await project.cleanup();
});

function sent(sync: string, from: number): SentRecord[] {
  return receiver.deliveries
    .slice(from)
    .filter((d) => (d.json as { sync: string }).sync === sync)
    .flatMap((d) => (d.json as { records: SentRecord[] }).records);
}

describe('field-level care', () => {
  it('update_fields: changed sends the identifier and only the fields that changed', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, update_fields: 'changed' }));
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    const mark = receiver.deliveries.length;
    await project.sql(`UPDATE main.customer_scores SET plan = 'team' WHERE customer_id = 3`);
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    expect(sent('crm_contacts', mark)).toEqual([
      { operation: 'upsert', key: '3', fields: { email: 'mia.rodriguez@example.com', plan: 'team' } },
    ]);
    // State keeps the full record, so a later change is compared with everything that was sent.
    const [row] = await project.query<{ sent_values: string }>(
      `SELECT sent_values FROM activate.activate_state WHERE sync_id = 'crm_contacts' AND record_key = '3'`,
    );
    expect(JSON.parse(row!.sent_values)).toMatchObject({ plan: 'team', first_name: 'Mia', last_name: 'Rodriguez' });
  });

  it('skip_nulls never sends a null; with update_fields: changed a change to null alone sends nothing', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, skip_nulls: true, update_fields: 'changed' }));
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    const first = sent('crm_contacts', 0);
    expect(first).toHaveLength(20);
    for (const record of first) for (const value of Object.values(record.fields)) expect(value).not.toBeNull();
    // Customer 20 has no orders: last_order_date is null in the warehouse and absent from the payload.
    expect(first.find((r) => r.key === '20')!.fields).not.toHaveProperty('last_order_date');

    const mark = receiver.deliveries.length;
    await project.sql('UPDATE main.customer_scores SET churn_risk = NULL WHERE customer_id = 3');
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code).toBe(0);
    expect(sent('crm_contacts', mark)).toEqual([]);
    expect(run.stdout).toMatch(/~1/);
    const again = await project.cli('plan', '-s', 'crm_contacts');
    expect(again.stdout).toMatch(/\+0 ~0 -0/);
  });

  it('skip_nulls with full records sends the changed record without the null', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, skip_nulls: true }));
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    const mark = receiver.deliveries.length;
    await project.sql('UPDATE main.customer_scores SET churn_risk = NULL WHERE customer_id = 3');
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    const [record] = sent('crm_contacts', mark);
    expect(record!.key).toBe('3');
    expect(record!.fields).not.toHaveProperty('churn_risk');
    expect(record!.fields.plan).toBe('pro');
  });

  it('skip_nulls for chosen fields keeps other nulls', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, skip_nulls: ['churn_risk'] }));
    await project.sql('UPDATE main.customer_scores SET churn_risk = NULL WHERE customer_id = 20');
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    const fields = sent('crm_contacts', 0).find((r) => r.key === '20')!.fields;
    expect(fields).not.toHaveProperty('churn_risk');
    expect(fields.last_order_date).toBeNull();
  });
});

describe('on_delete for mirror syncs', () => {
  async function removeOne(onDelete: string): Promise<{ key: string; records: SentRecord[] }> {
    await editActivation(project.dir, 'at_risk_customers', (a) => ({ ...a, on_delete: onDelete }));
    expect((await project.cli('run', '-s', AT_RISK)).code).toBe(0);
    const [row] = await project.query<{ customer_id: number }>('SELECT customer_id FROM main.at_risk_customers ORDER BY customer_id LIMIT 1');
    const key = String(row!.customer_id);
    await project.sql(`DELETE FROM main.at_risk_customers WHERE customer_id = ${key}`);
    const mark = receiver.deliveries.length;
    const run = await project.cli('run', '-s', AT_RISK);
    expect(run.code, run.stderr).toBe(0);
    const state = await project.query(`SELECT 1 FROM activate.activate_state WHERE sync_id = '${AT_RISK}' AND record_key = '${key}'`);
    expect(state).toEqual([]);
    return { key, records: sent(AT_RISK, mark) };
  }

  it('delete sends a delete with the fields last sent', async () => {
    const { key, records } = await removeOne('delete');
    expect(records).toEqual([{ operation: 'delete', key, fields: expect.objectContaining({ email: expect.any(String) }) }]);
  });

  it('archive sends an archive', async () => {
    const { key, records } = await removeOne('archive');
    expect(records.map((r) => [r.operation, r.key])).toEqual([['archive', key]]);
  });

  it('clear sends an upsert setting the mapped fields to null', async () => {
    const { key, records } = await removeOne('clear');
    expect(records).toEqual([{ operation: 'upsert', key, fields: { email: null, churn_risk: null } }]);
  });

  it('ignore sends nothing and forgets the record', async () => {
    const { records } = await removeOne('ignore');
    expect(records).toEqual([]);
  });

  it('an on_delete the destination does not support, or outside a mirror, is bad input', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, on_delete: 'archive' }));
    const run = await project.cli('plan');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('customer_scores: meta.activation.on_delete: applies to records leaving a mirror; mode is upsert');
  });
});
