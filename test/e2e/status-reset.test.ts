import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';

const AT_RISK = 'at_risk_customers__crm_webhook';
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

function syncsIn(from: number): string[] {
  return [...new Set(receiver.deliveries.slice(from).map((d) => (d.json as { sync: string }).sync))];
}

describe('activate status', () => {
  it('says a sync never ran before any state exists, and writes nothing', async () => {
    const status = await project.cli('status', '--json');
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual([
      expect.objectContaining({ id: 'crm_contacts', syncedRecords: 0, runs: [], openRejections: 0 }),
      expect.objectContaining({ id: AT_RISK, syncedRecords: 0, runs: [], openRejections: 0 }),
    ]);
    expect(await project.query(`SELECT 1 FROM information_schema.schemata WHERE schema_name = 'activate'`)).toEqual([]);
  });

  it('shows the last runs, open rejections and the records synced, per sync', async () => {
    receiver.respondWith((d) =>
      (d.json as { records: { key: string }[] }).records.some((r) => r.key === '12') ? { status: 400, body: 'bad email' } : undefined,
    );
    await project.cli('run', '-s', 'crm_contacts');
    receiver.respondWith(undefined);
    await project.sql(`UPDATE main.customer_scores SET plan = 'team' WHERE customer_id = 3`);
    await project.cli('run', '-s', 'crm_contacts');

    const text = await project.cli('status', '-s', 'crm_contacts');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('crm_contacts: 20 records synced, 0 open rejections');
    expect(text.stdout).toMatch(/success\s+\+1 ~1 -0\s+delivered 2\s+rejected 0/);
    expect(text.stdout).toMatch(/partial\s+\+20 ~0 -0\s+delivered 19\s+rejected 1/);

    receiver.respondWith(() => ({ status: 400, body: 'bad email' }));
    await project.sql(`UPDATE main.customer_scores SET plan = 'pro' WHERE customer_id = 4`);
    await project.cli('run', '-s', 'crm_contacts');
    const json = JSON.parse((await project.cli('status', '-s', 'crm_contacts', '--json', '--runs', '1')).stdout);
    expect(json[0]).toMatchObject({ id: 'crm_contacts', openRejections: 1, runs: [expect.objectContaining({ status: 'partial' })] });
    expect(json[0].rejectionSamples[0]).toMatchObject({ record_key: '4', error: expect.stringContaining('bad email') });
  });
});

describe('activate reset', () => {
  it('without --yes says what it would forget and changes nothing (exit 2)', async () => {
    await project.cli('run');
    const dry = await project.cli('reset', 'crm_contacts');
    expect(dry.code).toBe(2);
    expect(dry.stderr).toContain('Would forget 20 synced records of crm_contacts.');
    const [row] = await project.query<{ n: number }>(`SELECT count(*) AS n FROM activate.activate_state WHERE sync_id = 'crm_contacts'`);
    expect(Number(row!.n)).toBe(20);
  });

  it('with --yes forgets one sync, whose next run sends every row again while the other sends nothing', async () => {
    await project.cli('run');
    const reset = await project.cli('reset', 'crm_contacts', '--yes');
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain('Forgot 20 synced records of crm_contacts');
    const mark = receiver.deliveries.length;
    expect((await project.cli('run')).code).toBe(0);
    expect(syncsIn(mark)).toEqual(['crm_contacts']);
  });

  it('an unknown sync id is bad input with a suggestion', async () => {
    const reset = await project.cli('reset', 'crm_contcts', '--yes');
    expect(reset.code).toBe(2);
    expect(reset.stderr).toContain('no sync "crm_contcts" in this project (did you mean "crm_contacts"?)');
  });
});

describe('--fail-fast', () => {
  it('stops the syncs after the first failure; without it the others still run', async () => {
    receiver.respondWith((d) => ((d.json as { sync: string }).sync === 'crm_contacts' ? { status: 401, body: 'no' } : undefined));
    const fast = await project.cli('run', '--fail-fast');
    expect(fast.code).toBe(1);
    expect(syncsIn(0)).toEqual(['crm_contacts']);
    const [cancelled] = await project.query<{ status: string; aborted_added: number }>(
      `SELECT status, aborted_added FROM activate.activate_runs WHERE sync_id = '${AT_RISK}'`,
    );
    expect(cancelled!.status).toBe('cancelled');
    expect(Number(cancelled!.aborted_added)).toBeGreaterThan(0);

    const mark = receiver.deliveries.length;
    const all = await project.cli('run');
    expect(all.code).toBe(1);
    expect(syncsIn(mark)).toContain(AT_RISK);
  });
});
