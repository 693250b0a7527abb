/**
 * `activate run` on the example project (DuckDB) against the HubSpot twin: customer_scores
 * upserted as contacts (matched on email), at_risk_customers mirrored into a custom object
 * (matched on a unique property, archived when they leave the model).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeExampleProject, type ExampleProject } from '../support/example-project.js';
import { editActivation } from '../support/manifest-edit.js';
import { startHubSpotTwin, tenSecondlyLimited, type HubSpotTwin, type HubSpotTwinOptions, type TwinProperty } from '../twins/hubspot-twin.js';

const CUSTOMERS = 20;
const CONTACTS_SYNC = 'crm_contacts';
const AT_RISK_SYNC = 'at_risk_accounts';
const AT_RISK_OBJECT = '2-777';

const CONTACT_PROPERTIES: readonly TwinProperty[] = [
  { name: 'lifetime_value', type: 'number' },
  { name: 'order_count', type: 'number' },
  { name: 'last_order_date', type: 'date' },
  { name: 'churn_risk', type: 'number' },
  { name: 'plan', type: 'enumeration', fieldType: 'select', options: ['free', 'starter', 'pro', 'team', 'enterprise'] },
];
const AT_RISK_PROPERTIES: readonly TwinProperty[] = [
  { name: 'customer_key', type: 'string', hasUniqueValue: true },
  { name: 'email', type: 'string' },
  { name: 'churn_risk', type: 'number' },
];

let twin: HubSpotTwin;
let project: ExampleProject;
let expectViolations = false;

async function startTwin(options: HubSpotTwinOptions = {}): Promise<void> {
  twin = await startHubSpotTwin({ properties: { contacts: CONTACT_PROPERTIES, [AT_RISK_OBJECT]: AT_RISK_PROPERTIES }, ...options });
  project.env.HUBSPOT_URL = twin.url;
  project.env.HUBSPOT_TOKEN = twin.token;
}

function activateYml(options: { concurrency?: number; extra?: string } = {}): string {
  return [
    'destinations:',
    '  hubspot:',
    '    type: hubspot',
    `    token: "{{ env_var('HUBSPOT_TOKEN') }}"`,
    `    base_url: "{{ env_var('HUBSPOT_URL') }}"`,
    '    tier: starter',
    '    batch_size: 5',
    `    concurrency: ${options.concurrency ?? 2}`,
    // The real limit is 100 per 10 s; the twin's is scaled down to keep the tests fast.
    '    rate_limit: { requests: 20, per_seconds: 1 }',
    '    retry: { attempts: 1, throttle_attempts: 20, min_delay_seconds: 0.01, max_delay_seconds: 0.05 }',
    ...(options.extra ? [options.extra] : []),
    'state:',
    '  schema: activate',
    '',
  ].join('\n');
}

beforeEach(async () => {
  project = await makeExampleProject();
  await startTwin({ rateLimit: { requests: 20, intervalMs: 1000 } });
  expectViolations = false;
  await project.writeActivateYml(activateYml());
  await editActivation(project.dir, 'customer_scores', (a) => ({
    name: CONTACTS_SYNC,
    destination: 'hubspot',
    object: 'contacts',
    mode: 'upsert',
    primary_key: 'customer_id',
    identifier: { email: 'email' },
    fields: {
      firstname: 'first_name',
      lastname: 'last_name',
      lifetime_value: 'lifetime_value',
      order_count: 'order_count',
      last_order_date: 'last_order_date',
      churn_risk: 'churn_risk',
      plan: 'plan',
    },
    safety: a.safety,
  }));
  await editActivation(project.dir, 'at_risk_customers', () => ({
    name: AT_RISK_SYNC,
    destination: 'hubspot',
    object: AT_RISK_OBJECT,
    mode: 'mirror',
    on_delete: 'archive',
    primary_key: 'customer_id',
    identifier: { customer_key: 'customer_id' },
    fields: { email: 'email', churn_risk: 'churn_risk' },
  }));
});

afterEach(async () => {
  await twin.close();
  await project.cleanup();
  if (!expectViolations) twin.assertNoViolations();
});

/** Most arrivals within any window of `windowMs` starting at an arrival. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j < sorted.length && sorted[j]! < sorted[i]! + windowMs) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

async function stateRows(sync: string): Promise<{ record_key: string; destination_id: string | null }[]> {
  return project.query(`SELECT record_key, destination_id FROM activate.activate_state WHERE sync_id = '${sync}' ORDER BY record_key`);
}

const writes = (from = 0, op?: string) =>
  twin.requests.slice(from).filter((r) => r.method === 'POST' && (op === undefined || r.path.endsWith(`/batch/${op}`)));
const sentInputs = (from = 0, op = 'upsert') =>
  writes(from, op).flatMap((r) => (r.answer === 200 || r.answer === 207 ? (r.json as { inputs: { id: string; properties: Record<string, string> }[] }).inputs : []));

describe('activate run → HubSpot', () => {
  it('upserts every contact, then nothing when unchanged, then only the changed properties', async () => {
    const first = await project.cli('run', '-s', CONTACTS_SYNC);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const contacts = twin.records('contacts');
    expect(contacts).toHaveLength(CUSTOMERS);
    const noah = twin.find('contacts', 'email', 'noah.kim@example.com')!;
    expect(noah.properties).toMatchObject({ email: 'noah.kim@example.com', firstname: 'Noah', lastname: 'Kim', plan: 'team' });
    const [ava] = await project.query<{ lifetime_value: unknown; last_order_date: string }>(
      `SELECT CAST(lifetime_value AS VARCHAR) AS lifetime_value, CAST(last_order_date AS VARCHAR) AS last_order_date FROM main.customer_scores WHERE customer_id = 1`,
    );
    const avaRecord = twin.find('contacts', 'email', 'ava.thompson@example.com')!;
    expect(Number(avaRecord.properties.lifetime_value)).toBe(Number(ava!.lifetime_value));
    expect(avaRecord.properties.last_order_date).toBe(String(Date.parse(`${ava!.last_order_date}T00:00:00Z`)));
    // HubSpot's ids are kept in state for later (mirror archives use them).
    const state = await stateRows(CONTACTS_SYNC);
    expect(state).toHaveLength(CUSTOMERS);
    expect(new Set(state.map((r) => r.destination_id))).toEqual(new Set(contacts.map((c) => c.id)));
    expect(writes().every((r) => (r.inputs ?? 0) <= 5)).toBe(true);

    const mark = twin.requests.length;
    const second = await project.cli('run', '-s', CONTACTS_SYNC);
    expect(second.code, second.stderr).toBe(0);
    expect(twin.requests.length).toBe(mark);
    expect(second.stdout).toContain('+0 ~0 -0');

    await project.sql(`UPDATE main.customer_scores SET plan = 'enterprise' WHERE customer_id = 3`);
    const third = await project.cli('run', '-s', CONTACTS_SYNC);
    expect(third.code, third.stderr).toBe(0);
    const sent = sentInputs(mark);
    expect(sent).toEqual([{ idProperty: 'email', id: 'mia.rodriguez@example.com', objectWriteTraceId: '0', properties: { email: 'mia.rodriguez@example.com', plan: 'enterprise' } }]);
    expect(twin.records('contacts')).toHaveLength(CUSTOMERS);
    expect(twin.find('contacts', 'email', 'mia.rodriguez@example.com')!.properties).toMatchObject({ plan: 'enterprise', firstname: 'Mia' });
  });

  it('mirrors a custom object: archives records that left the model by their stored id, or looks the id up', async () => {
    const first = await project.cli('run', '-s', AT_RISK_SYNC);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const atRisk = await project.query<{ customer_id: number }>('SELECT customer_id FROM main.at_risk_customers ORDER BY customer_id');
    expect(twin.records(AT_RISK_OBJECT)).toHaveLength(atRisk.length);
    expect(atRisk.length).toBeGreaterThanOrEqual(2);

    // One leaves: archived by the id HubSpot gave on the first run, no lookup needed.
    const [one, two] = atRisk.map((r) => String(r.customer_id));
    const oneId = twin.find(AT_RISK_OBJECT, 'customer_key', one!)!.id;
    await project.sql(`DELETE FROM main.at_risk_customers WHERE customer_id = ${one}`);
    let mark = twin.requests.length;
    const second = await project.cli('run', '-s', AT_RISK_SYNC);
    expect(second.code, second.stderr + second.stdout).toBe(0);
    expect(writes(mark).map((r) => [r.path.split('/').pop(), r.json])).toEqual([['archive', { inputs: [{ id: oneId }] }]]);
    expect(twin.archived(AT_RISK_OBJECT).map((r) => r.id)).toEqual([oneId]);
    expect((await stateRows(AT_RISK_SYNC)).map((r) => r.record_key)).not.toContain(one);

    // Another leaves, its id lost (state from before ids were kept): found by customer_key, then archived.
    await project.sql(`UPDATE activate.activate_state SET destination_id = NULL WHERE sync_id = '${AT_RISK_SYNC}' AND record_key = '${two}'`);
    const twoId = twin.find(AT_RISK_OBJECT, 'customer_key', two!)!.id;
    await project.sql(`DELETE FROM main.at_risk_customers WHERE customer_id = ${two}`);
    mark = twin.requests.length;
    const third = await project.cli('run', '-s', AT_RISK_SYNC);
    expect(third.code, third.stderr + third.stdout).toBe(0);
    expect(writes(mark).map((r) => r.path.split('/').pop())).toEqual(['read', 'archive']);
    expect(writes(mark, 'archive')[0]!.json).toEqual({ inputs: [{ id: twoId }] });
    expect(twin.records(AT_RISK_OBJECT)).toHaveLength(atRisk.length - 2);
  });

  it('records a rejected contact under its own key with HubSpot\'s code, commits the others, and exits 1', async () => {
    await project.sql(`UPDATE main.customer_scores SET email = 'not-an-email' WHERE customer_id = 12`);
    const run = await project.cli('run', '-s', CONTACTS_SYNC);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('rejected 1');
    const rejections = await project.query<{ record_key: string; error_code: string; error: string; retryable: boolean }>(
      `SELECT record_key, error_code, error, retryable FROM activate.activate_rejections WHERE sync_id = '${CONTACTS_SYNC}'`,
    );
    expect(rejections).toEqual([
      { record_key: '12', error_code: 'INVALID_EMAIL', error: expect.stringContaining('not-an-email is invalid'), retryable: false },
    ]);
    expect(await stateRows(CONTACTS_SYNC)).toHaveLength(CUSTOMERS - 1);
    expect(twin.records('contacts')).toHaveLength(CUSTOMERS - 1);
    // Its batch was not halved: the 207 named the failed input.
    expect(writes().filter((r) => (r.json as { inputs: { id: string }[] }).inputs.some((i) => i.id === 'not-an-email'))).toHaveLength(1);

    // Fixed in the warehouse: the next run sends only that contact.
    await project.sql(`UPDATE main.customer_scores SET email = 'fixed@example.com' WHERE customer_id = 12`);
    const mark = twin.requests.length;
    const again = await project.cli('run', '-s', CONTACTS_SYNC);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(sentInputs(mark).map((i) => i.id)).toEqual(['fixed@example.com']);
    expect(await stateRows(CONTACTS_SYNC)).toHaveLength(CUSTOMERS);
  });

  it('survives a storm of 429s (no Retry-After, as HubSpot sends them) with nothing lost', async () => {
    // The first six writes (first attempts and retries alike) are throttled.
    let throttled = 0;
    twin.respondWith((r) => (r.method === 'POST' && throttled < 6 ? (throttled++, tenSecondlyLimited()) : undefined));
    const run = await project.cli('run', '-s', CONTACTS_SYNC);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(twin.requests.filter((r) => r.answer === 429)).toHaveLength(6);
    // Retries go back through the rate limit: never more than rate_limit (20 per second) reach HubSpot.
    expect(busiestWindow(twin.requests.map((r) => r.monotonicMs), 1000 - 25)).toBeLessThanOrEqual(20);
    expect(twin.records('contacts')).toHaveLength(CUSTOMERS);
    expect(await stateRows(CONTACTS_SYNC)).toHaveLength(CUSTOMERS);
    expect(Math.max(...writes().map((r) => r.inputs ?? 0))).toBeLessThanOrEqual(5);
  });

  it('stops the sync on a refused token, naming the setting and never the value', async () => {
    project.env.HUBSPOT_TOKEN = 'pat-na1-this-token-is-wrong';
    const run = await project.cli('run', '-s', CONTACTS_SYNC);
    expect(run.code).toBe(1);
    const output = run.stdout + run.stderr;
    expect(output).toMatch(/refused the credentials \(HTTP 401\).*token/);
    expect(output).not.toContain('pat-na1-this-token-is-wrong');
    expect(await stateRows(CONTACTS_SYNC)).toHaveLength(0);
    const [runRow] = await project.query<{ status: string; message: string }>(
      `SELECT status, message FROM activate.activate_runs WHERE sync_id = '${CONTACTS_SYNC}'`,
    );
    expect(runRow!.status).toBe('failed');
    expect(runRow!.message).not.toContain('pat-na1-this-token-is-wrong');
  });

  it('stops at the daily limit with what was delivered committed, and sends the rest on the next day', async () => {
    await twin.close();
    // The properties read and two batches of 5 fit in the day's quota.
    await startTwin({ dailyLimit: 3 });
    await project.writeActivateYml(activateYml({ concurrency: 1 }));
    const run = await project.cli('run', '-s', CONTACTS_SYNC);
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(/daily API limit is used up/);
    const delivered = twin.records('contacts').map((c) => c.properties.email).sort();
    expect(delivered).toHaveLength(10);
    const state = await stateRows(CONTACTS_SYNC);
    expect(state).toHaveLength(10);
    const [runRow] = await project.query<{ status: string; succeeded: number }>(
      `SELECT status, succeeded FROM activate.activate_runs WHERE sync_id = '${CONTACTS_SYNC}'`,
    );
    expect(runRow).toMatchObject({ status: 'failed', succeeded: 10 });

    // A new day (a fresh quota on the same account data): only the 10 others are sent.
    const kept = twin.records('contacts').map((c) => ({ ...c.properties }));
    await twin.close();
    await startTwin();
    for (const properties of kept) twin.seed('contacts', properties);
    const next = await project.cli('run', '-s', CONTACTS_SYNC);
    expect(next.code, next.stderr + next.stdout).toBe(0);
    const resent = sentInputs().map((i) => i.id.toLowerCase());
    expect(resent).toHaveLength(CUSTOMERS - 10);
    expect(resent.filter((email) => delivered.includes(email))).toEqual([]);
    expect(twin.records('contacts')).toHaveLength(CUSTOMERS);
  });

  it('validate --online reports properties HubSpot does not have, before anything is sent', async () => {
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, fields: { ...(a.fields as object), lifetime_valu: 'lifetime_value' } }));
    const run = await project.cli('validate', '--online', '-s', CONTACTS_SYNC);
    expect(run.code).toBe(2);
    expect(run.stdout + run.stderr).toContain(
      'destination: hubspot: fields.lifetime_valu: contacts has no property "lifetime_valu" (did you mean "lifetime_value"?)',
    );
    expect(writes()).toHaveLength(0);

    await editActivation(project.dir, 'customer_scores', (a) => {
      const fields = { ...(a.fields as Record<string, string>) };
      delete fields.lifetime_valu;
      return { ...a, fields };
    });
    const clean = await project.cli('validate', '--online');
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
  });
});
