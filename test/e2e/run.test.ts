import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';

interface SentRecord {
  readonly operation: 'upsert' | 'delete';
  readonly key: string;
  readonly fields: Record<string, unknown>;
}

const CUSTOMERS = 20;
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

/** Records the receiver accepted since delivery `from`, per sync. */
function accepted(sync: string, from = 0): SentRecord[] {
  return receiver.deliveries
    .slice(from)
    .filter((d) => typeof d.answer === 'number' && d.answer < 300)
    .filter((d) => (d.json as { sync: string }).sync === sync)
    .flatMap((d) => (d.json as { records: SentRecord[] }).records);
}

async function stateKeys(sync: string): Promise<string[]> {
  const rows = await project.query<{ record_key: string }>(
    `SELECT record_key FROM activate.activate_state WHERE sync_id = '${sync}' ORDER BY record_key`,
  );
  return rows.map((r) => r.record_key);
}

describe('activate run on the example project (DuckDB + webhook)', () => {
  it('sends every row first, nothing when unchanged, then only what changed', async () => {
    const first = await project.cli('run');
    expect(first.code, first.stderr).toBe(0);
    const contacts = accepted('crm_contacts');
    expect(contacts).toHaveLength(CUSTOMERS);
    expect(new Set(contacts.map((r) => r.key)).size).toBe(CUSTOMERS);
    expect(contacts.every((r) => r.operation === 'upsert')).toBe(true);
    const ava = contacts.find((r) => r.key === '1')!;
    expect(ava.fields).toMatchObject({ email: 'ava.thompson@example.com', first_name: 'Ava', plan: 'pro' });
    expect(typeof ava.fields.lifetime_value).toBe('number');
    expect(ava.fields.last_order_date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const atRiskRows = await project.query<{ n: number }>('SELECT count(*) AS n FROM main.at_risk_customers');
    expect(accepted(AT_RISK)).toHaveLength(Number(atRiskRows[0]!.n));
    expect(await stateKeys('crm_contacts')).toHaveLength(CUSTOMERS);

    const mark = receiver.deliveries.length;
    const second = await project.cli('run');
    expect(second.code, second.stderr).toBe(0);
    expect(receiver.deliveries.length).toBe(mark);
    expect(second.stdout).toContain('+0 ~0 -0');

    await project.sql(`UPDATE main.customer_scores SET plan = 'enterprise' WHERE customer_id = 3`);
    const third = await project.cli('run');
    expect(third.code, third.stderr).toBe(0);
    const changed = accepted('crm_contacts', mark);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({ operation: 'upsert', key: '3', fields: { plan: 'enterprise' } });
    expect(accepted(AT_RISK, mark)).toHaveLength(0);
  });

  it('deletes a removed row in mirror mode and sends nothing for it in upsert mode', async () => {
    expect((await project.cli('run')).code).toBe(0);
    const [leaving] = await project.query<{ customer_id: number; email: string }>(
      'SELECT customer_id, email FROM main.at_risk_customers ORDER BY customer_id LIMIT 1',
    );
    const key = String(leaving!.customer_id);
    await project.sql(`DELETE FROM main.at_risk_customers WHERE customer_id = ${key}`);
    await project.sql(`DELETE FROM main.customer_scores WHERE customer_id = ${key}`);
    const mark = receiver.deliveries.length;

    const run = await project.cli('run');
    expect(run.code, run.stderr).toBe(0);
    const mirrored = accepted(AT_RISK, mark);
    expect(mirrored).toEqual([{ operation: 'delete', key, fields: expect.objectContaining({ email: leaving!.email }) }]);
    expect(accepted('crm_contacts', mark)).toEqual([]);
    expect(await stateKeys(AT_RISK)).not.toContain(key);
  });

  it('keeps records of a batch that failed with 500 unsynced and sends them on the next run', async () => {
    // The batch holding customer 7 fails on every attempt; the others are accepted.
    receiver.respondWith((d) =>
      (d.json as { records: SentRecord[] }).records.some((r) => r.key === '7') ? { status: 500, body: 'boom' } : undefined,
    );
    const first = await project.cli('run', '-s', 'crm_contacts');
    expect(first.code).toBe(1);
    const failedBatch = receiver.deliveries.find((d) => d.answer === 500)!;
    const failedKeys = (failedBatch.json as { records: SentRecord[] }).records.map((r) => r.key);
    expect(failedKeys).toContain('7');
    const synced = await stateKeys('crm_contacts');
    expect(synced).toHaveLength(CUSTOMERS - failedKeys.length);
    for (const key of failedKeys) expect(synced).not.toContain(key);

    receiver.respondWith(undefined);
    const mark = receiver.deliveries.length;
    const second = await project.cli('run', '-s', 'crm_contacts');
    expect(second.code, second.stderr).toBe(0);
    expect(accepted('crm_contacts', mark).map((r) => r.key).sort()).toEqual([...failedKeys].sort());
    expect(await stateKeys('crm_contacts')).toHaveLength(CUSTOMERS);
  });

  it('records rejections from a 400 (isolating the bad record by halving its batch), exits 1, commits the rest', async () => {
    receiver.respondWith((d) =>
      (d.json as { records: SentRecord[] }).records.some((r) => r.key === '12')
        ? { status: 400, body: { error: 'invalid email for contact 12' } }
        : undefined,
    );
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('rejected 1');
    const rejections = await project.query<{ record_key: string; error: string; operation: string; retryable: boolean }>(
      `SELECT record_key, error, operation, retryable FROM activate.activate_rejections WHERE sync_id = 'crm_contacts' ORDER BY record_key`,
    );
    expect(rejections).toEqual([
      { record_key: '12', error: expect.stringContaining('invalid email for contact 12'), operation: 'upsert', retryable: false },
    ]);
    expect(await stateKeys('crm_contacts')).toHaveLength(CUSTOMERS - 1);
    const [runRow] = await project.query<{ status: string; succeeded: number; failed: number }>(
      `SELECT status, succeeded, failed FROM activate.activate_runs WHERE sync_id = 'crm_contacts'`,
    );
    expect(runRow).toMatchObject({ status: 'partial', succeeded: CUSTOMERS - 1, failed: 1 });
    // Its batch of 5 was halved (5 -> 2 -> 1 here) until record 12 was alone.
    const withTwelve = receiver.deliveries.filter((d) => (d.json as { records: SentRecord[] }).records.some((r) => r.key === '12'));
    expect(withTwelve.map((d) => (d.json as { records: SentRecord[] }).records.length)).toEqual([5, 2, 1]);

    // --max-rejections lets a run with a few rejections pass.
    const tolerant = await project.cli('run', '-s', 'crm_contacts', '--max-rejections', '1');
    expect(tolerant.code).toBe(0);
  });

  it('stops a mass delete (emptied model) before sending, and lets it through with --allow-large-changes', async () => {
    expect((await project.cli('run')).code).toBe(0);
    const before = (await stateKeys(AT_RISK)).length;
    await project.sql('DELETE FROM main.at_risk_customers');
    const mark = receiver.deliveries.length;

    const blocked = await project.cli('run', '-s', AT_RISK);
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toContain('BLOCKED');
    expect(blocked.stdout).toMatch(/empty.*mass delete/);
    expect(receiver.deliveries.length).toBe(mark);
    expect(await stateKeys(AT_RISK)).toHaveLength(before);

    const allowed = await project.cli('run', '-s', AT_RISK, '--allow-large-changes');
    expect(allowed.code, allowed.stderr).toBe(0);
    const deletes = accepted(AT_RISK, mark);
    expect(deletes).toHaveLength(before);
    expect(deletes.every((r) => r.operation === 'delete')).toBe(true);
    expect(await stateKeys(AT_RISK)).toHaveLength(0);
  });

  it('signs every delivery so an independent verifier accepts it', async () => {
    expect((await project.cli('run')).code).toBe(0);
    expect(receiver.deliveries.length).toBeGreaterThan(0);
    expect(receiver.deliveries.every((d) => d.signature === 'valid')).toBe(true);
  });

  it('plan prints the change set and neither sends nor writes', async () => {
    const plan = await project.cli('plan');
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/crm_contacts\s+upsert\s+\+20 ~0 -0/);
    expect(receiver.deliveries).toHaveLength(0);
    const tables = await project.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'activate'`);
    expect(tables).toEqual([]);
  });

  it('re-sends everything once when the mapping changes, and forgets state with --full-refresh', async () => {
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    const manifestPath = `${project.dir}/target/manifest.json`;
    const { readFile, writeFile } = await import('node:fs/promises');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const node = manifest.nodes['model.jaffle_activate.customer_scores'];
    node.config.meta.activation.fields.is_active = 'is_active';
    await writeFile(manifestPath, JSON.stringify(manifest));

    let mark = receiver.deliveries.length;
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    const resent = accepted('crm_contacts', mark);
    expect(resent).toHaveLength(CUSTOMERS);
    expect(resent.every((r) => 'is_active' in r.fields)).toBe(true);

    mark = receiver.deliveries.length;
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    expect(accepted('crm_contacts', mark)).toHaveLength(0);

    mark = receiver.deliveries.length;
    expect((await project.cli('run', '-s', 'crm_contacts', '--full-refresh')).code).toBe(0);
    expect(accepted('crm_contacts', mark)).toHaveLength(CUSTOMERS);
  });
});
