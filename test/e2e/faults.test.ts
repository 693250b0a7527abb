import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inOrder, startWebhookReceiver, type FaultPlan, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';

let receiver: WebhookReceiver;
let project: ExampleProject;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml({ attempts: 3, extra: '    timeout_seconds: 0.3' }));
});

afterEach(async () => {
  receiver.assertNoViolations();
  await receiver.close();
  await project.cleanup();
});

/** Keys the receiver answered 2xx for. */
function acknowledged(): Set<string> {
  return new Set(
    receiver.deliveries
      .filter((d) => typeof d.answer === 'number' && d.answer < 300)
      .flatMap((d) => (d.json as { records: { key: string }[] }).records.map((r) => r.key)),
  );
}

/**
 * Every row of the model ends up delivered (in state, acknowledged by the receiver) or rejected
 * with a reason; nothing is counted as synced that the receiver did not acknowledge.
 */
async function expectNothingSilentlyDropped(): Promise<{ delivered: number; rejected: number }> {
  const model = (await project.query<{ k: string }>('SELECT CAST(customer_id AS VARCHAR) AS k FROM main.customer_scores')).map((r) => r.k);
  const state = new Set(
    (await project.query<{ record_key: string }>(`SELECT record_key FROM activate.activate_state WHERE sync_id = 'crm_contacts'`)).map((r) => r.record_key),
  );
  const rejections = await project.query<{ record_key: string; error: string }>(
    `SELECT record_key, error FROM activate.activate_rejections WHERE sync_id = 'crm_contacts'`,
  );
  const rejected = new Map(rejections.map((r) => [r.record_key, r.error]));
  const acked = acknowledged();
  for (const key of model) {
    expect(state.has(key) || rejected.has(key), `record ${key} neither delivered nor rejected`).toBe(true);
    if (rejected.has(key)) expect(rejected.get(key)!.length).toBeGreaterThan(0);
  }
  for (const key of state) expect(acked.has(key), `record ${key} in state but never acknowledged`).toBe(true);
  return { delivered: state.size, rejected: rejected.size };
}

const scenarios: [string, FaultPlan][] = [
  ['timeouts (answers slower than timeout_seconds)', inOrder({ status: 200, delayMs: 700 }, { status: 200, delayMs: 700 })],
  ['connection resets', inOrder({ reset: true }, { reset: true }, { reset: true })],
  ['a burst of 503s', inOrder(...Array.from({ length: 4 }, () => ({ status: 503, headers: { 'retry-after': '0' } })))],
  ['429 with Retry-After in seconds', inOrder({ status: 429, headers: { 'retry-after': '1' } }, { status: 429, headers: { 'retry-after': '1' } })],
  ['429 with Retry-After as an HTTP date', inOrder({ status: 429, headers: { 'retry-after': new Date(Date.now() + 1500).toUTCString() } })],
  ['429 without Retry-After', inOrder({ status: 429 }, { status: 429 }, { status: 429 })],
  ['malformed JSON in 2xx bodies', () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok": tru' })],
  ['502 and 504 from a proxy', inOrder({ status: 502, body: '<html>bad gateway' }, { status: 504 })],
];

describe('receiver faults: every record ends delivered or rejected with a reason', () => {
  it.each(scenarios)('%s', async (_name, plan) => {
    receiver.respondWith(plan);
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(await expectNothingSilentlyDropped()).toEqual({ delivered: 20, rejected: 0 });
  });

  it('a response after the timeout is retried, and the repeat carries the same webhook-id', async () => {
    receiver.respondWith(inOrder({ status: 200, delayMs: 800 }));
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code, run.stderr).toBe(0);
    const first = receiver.deliveries[0]!;
    const repeats = receiver.deliveries.filter((d) => d.headers['webhook-id'] === first.headers['webhook-id']);
    // The receiver saw the batch twice under one webhook-id, so it can drop the repeat.
    expect(repeats.length).toBeGreaterThanOrEqual(2);
    expect(new Set(repeats.map((d) => d.body.replace(/"run_id":"[^"]+"/, ''))).size).toBe(1);
    await expectNothingSilentlyDropped();
  });

  it('a batch that keeps failing is rejected with the reason, retryable, and sent again next run', async () => {
    receiver.respondWith((d) =>
      (d.json as { records: { key: string }[] }).records.some((r) => r.key === '9') ? { status: 503, body: 'maintenance' } : undefined,
    );
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code).toBe(1);
    const result = await expectNothingSilentlyDropped();
    expect(result.rejected).toBe(5);
    const [rejection] = await project.query<{ error: string; retryable: boolean }>(
      `SELECT error, retryable FROM activate.activate_rejections WHERE record_key = '9'`,
    );
    expect(rejection!.retryable).toBe(true);
    expect(rejection!.error).toMatch(/503/);

    receiver.respondWith(undefined);
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    expect(await expectNothingSilentlyDropped()).toEqual({ delivered: 20, rejected: 0 });
  });

  it('401 stops the sync with a message naming the credential, and commits nothing unacknowledged', async () => {
    receiver.respondWith(() => ({ status: 401, body: 'bad token' }));
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/ERROR/);
    expect(run.stdout).toMatch(/401|credential|refused/i);
    const [row] = await project.query<{ status: string; attempted_added: number; succeeded_added: number; aborted_added: number }>(
      `SELECT status, attempted_added, succeeded_added, aborted_added FROM activate.activate_runs WHERE sync_id = 'crm_contacts'`,
    );
    expect(row).toMatchObject({ status: 'failed', succeeded_added: 0 });
    expect(Number(row!.attempted_added) + Number(row!.aborted_added)).toBe(20);
    expect(await project.query(`SELECT 1 FROM activate.activate_state WHERE sync_id = 'crm_contacts'`)).toEqual([]);
  });
});
