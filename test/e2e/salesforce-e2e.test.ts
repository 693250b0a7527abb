/**
 * `activate run` from the example project (DuckDB) into the Salesforce twin, through the CLI:
 * Contacts upserted on a Number External ID, Accounts mirrored, run after run; rejections, the
 * daily API limit, token renewal, Bulk API 2.0, the concurrent limit and validate --online.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeExampleProject, type ExampleProject } from '../support/example-project.js';
import { editActivation } from '../support/manifest-edit.js';
import { startSalesforceTwin, type SalesforceTwin, type SalesforceTwinOptions, type TwinRequest } from '../twins/salesforce-twin.js';

const CUSTOMERS = 20;
const TOKEN = '00Dtwin!initial-token';
const OAUTH = { clientId: 'activate-consumer-key', clientSecret: 'consumer-secret-e2e', refreshToken: 'refresh-token-e2e' };

let twin: SalesforceTwin;
let project: ExampleProject;

function activateYml(lines: readonly string[] = []): string {
  return [
    'destinations:',
    '  crm:',
    '    type: salesforce',
    `    instance_url: "{{ env_var('SF_INSTANCE_URL') }}"`,
    `    login_url: "{{ env_var('SF_INSTANCE_URL') }}"`,
    `    access_token: "{{ env_var('SF_ACCESS_TOKEN') }}"`,
    '    bulk_poll_seconds: 0.01',
    '    rate_limit: { requests: 1000, per_seconds: 1 }',
    '    retry: { attempts: 2, min_delay_seconds: 0.01, max_delay_seconds: 0.05 }',
    ...lines.map((line) => `    ${line}`),
    'state:',
    '  schema: activate',
    '',
  ].join('\n');
}

async function setUp(twinOptions: SalesforceTwinOptions, yml: readonly string[]): Promise<void> {
  await twin?.close();
  twin = await startSalesforceTwin(twinOptions);
  project.env.SF_INSTANCE_URL = twin.url;
  await project.writeActivateYml(activateYml(yml));
}

beforeEach(async () => {
  twin = await startSalesforceTwin();
  project = await makeExampleProject({ SF_INSTANCE_URL: twin.url, SF_ACCESS_TOKEN: TOKEN });
  await project.writeActivateYml(activateYml(['batch_size: 5', 'concurrency: 2']));
  await editActivation(project.dir, 'customer_scores', () => ({
    name: 'crm_contacts',
    destination: 'crm',
    mode: 'upsert',
    primary_key: 'customer_id',
    identifier: { Customer_Id__c: 'customer_id' },
    fields: {
      Email: 'email',
      FirstName: 'first_name',
      LastName: 'last_name',
      Plan__c: 'plan',
      Lifetime_Value__c: 'lifetime_value',
      Order_Count__c: 'order_count',
      Last_Order_Date__c: 'last_order_date',
      Churn_Risk__c: 'churn_risk',
      Is_Active__c: 'is_active',
    },
    object: 'Contact',
  }));
  await editActivation(project.dir, 'at_risk_customers', () => ({
    name: 'win_back',
    destination: 'crm',
    mode: 'mirror',
    primary_key: 'customer_id',
    identifier: { Account_Key__c: 'customer_id' },
    fields: { Name: 'email', AnnualRevenue: 'lifetime_value' },
    object: 'Account',
  }));
});

afterEach(async () => {
  twin.assertNoViolations();
  await twin.close();
  await project.cleanup();
});

async function state(sync: string): Promise<Map<string, string | null>> {
  const rows = await project.query<{ record_key: string; destination_id: string | null }>(
    `SELECT record_key, destination_id FROM activate.activate_state WHERE sync_id = '${sync}'`,
  );
  return new Map(rows.map((r) => [r.record_key, r.destination_id]));
}

function contactsById(): Map<number, Record<string, unknown>> {
  return new Map(twin.records('Contact').map((r) => [r.Customer_Id__c as number, r]));
}

function sentRecords(requests: readonly TwinRequest[]): Record<string, unknown>[] {
  return requests.flatMap((r) => (r.json as { records?: Record<string, unknown>[] } | undefined)?.records ?? []);
}

describe('activate run into Salesforce (twin)', () => {
  it('syncs everything, then nothing, then only the changed field; mirror deletes by the stored Id', async () => {
    const first = await project.cli('run');
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const contacts = contactsById();
    expect(contacts.size).toBe(CUSTOMERS);
    const [ava] = await project.query<Record<string, unknown>>('SELECT * FROM main.customer_scores WHERE customer_id = 1');
    expect(contacts.get(1)).toMatchObject({
      Email: ava!.email,
      FirstName: 'Ava',
      LastName: 'Thompson',
      Plan__c: ava!.plan,
      Lifetime_Value__c: Number(ava!.lifetime_value),
      Last_Order_Date__c: ava!.last_order_date,
      Is_Active__c: ava!.is_active,
    });
    const contactState = await state('crm_contacts');
    expect(contactState.size).toBe(CUSTOMERS);
    for (const [key, id] of contactState) expect(id).toBe(contacts.get(Number(key))!.Id);
    const atRisk = await project.query<{ customer_id: number }>('SELECT customer_id FROM main.at_risk_customers ORDER BY customer_id');
    expect(twin.records('Account')).toHaveLength(atRisk.length);
    expect(twin.writeRequests().every((r) => sentRecords([r]).length <= 5)).toBe(true);

    const mark = twin.requests.length;
    const second = await project.cli('run');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('+0 ~0 -0');
    expect(twin.requests.length).toBe(mark);

    await project.sql(`UPDATE main.customer_scores SET plan = 'enterprise' WHERE customer_id = 3`);
    const leaving = atRisk[0]!.customer_id;
    await project.sql(`DELETE FROM main.at_risk_customers WHERE customer_id = ${leaving}`);
    const accountId = twin.records('Account').find((a) => a.Account_Key__c === String(leaving))!.Id as string;
    const third = await project.cli('run');
    expect(third.code, third.stderr + third.stdout).toBe(0);
    const changes = twin.writeRequests().filter((r) => r.index >= mark);
    // A changed record carries its identifier and the changed field only (partial update).
    expect(sentRecords(changes)).toEqual([{ attributes: { type: 'Contact' }, Customer_Id__c: 3, Plan__c: 'enterprise' }]);
    const deletes = changes.filter((r) => r.method === 'DELETE');
    expect(deletes.map((r) => r.query.get('ids'))).toEqual([accountId]);
    expect(contactsById().get(3)).toMatchObject({ Plan__c: 'enterprise', FirstName: 'Mia' });
    expect(twin.records('Account').map((a) => a.Id)).not.toContain(accountId);
    expect((await state('win_back')).has(String(leaving))).toBe(false);
  });

  it('records a rejected record under its own key with Salesforce\'s code, commits the rest, and sends only it next time', async () => {
    twin.rule('Contact', (v) =>
      v.Customer_Id__c === 12 ? { statusCode: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Churn risk needs review', fields: ['Churn_Risk__c'] } : undefined,
    );
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('rejected 1');
    const rejections = await project.query<{ record_key: string; error_code: string; error: string; retryable: boolean }>(
      `SELECT record_key, error_code, error, retryable FROM activate.activate_rejections WHERE sync_id = 'crm_contacts'`,
    );
    expect(rejections).toEqual([
      {
        record_key: '12',
        error_code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION',
        error: 'FIELD_CUSTOM_VALIDATION_EXCEPTION: Churn risk needs review [Churn_Risk__c] (Contact Customer_Id__c = 12)',
        retryable: false,
      },
    ]);
    expect((await state('crm_contacts')).size).toBe(CUSTOMERS - 1);
    expect(contactsById().has(12)).toBe(false);
    // One batch, one request: per-record errors never make the engine split a batch.
    expect(twin.writeRequests().filter((r) => sentRecords([r]).some((c) => c.Customer_Id__c === 12))).toHaveLength(1);

    twin.clearRules();
    const mark = twin.requests.length;
    const again = await project.cli('run', '-s', 'crm_contacts');
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(sentRecords(twin.writeRequests().filter((r) => r.index >= mark)).map((c) => c.Customer_Id__c)).toEqual([12]);
    expect(twin.records('Contact')).toHaveLength(CUSTOMERS);
  });

  it('stops at the daily API limit keeping what was delivered, and the next run sends only the rest', async () => {
    await setUp({ dailyLimit: 2 }, ['batch_size: 5', 'concurrency: 1']);
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(/REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded/);
    const delivered = contactsById();
    expect(delivered.size).toBe(10);
    const committed = await state('crm_contacts');
    expect([...committed.keys()].map(Number).sort((a, b) => a - b)).toEqual([...delivered.keys()].sort((a, b) => a - b));
    const [runRow] = await project.query<{ status: string; message: string }>(
      `SELECT status, message FROM activate.activate_runs WHERE sync_id = 'crm_contacts'`,
    );
    expect(runRow!.status).toBe('failed');
    expect(runRow!.message).toMatch(/What was delivered is kept/);

    twin.setDailyLimit(1000);
    const mark = twin.requests.length;
    const next = await project.cli('run', '-s', 'crm_contacts');
    expect(next.code, next.stderr + next.stdout).toBe(0);
    const resent = sentRecords(twin.writeRequests().filter((r) => r.index >= mark)).map((c) => c.Customer_Id__c as number);
    expect(resent.sort((a, b) => a - b)).toEqual(Array.from({ length: CUSTOMERS }, (_, i) => i + 1).filter((n) => !delivered.has(n)));
    expect(contactsById().size).toBe(CUSTOMERS);
  });

  it('renews an expired token with the refresh token; a revoked refresh token fails the run with a clear message and no secret', async () => {
    await setUp({ oauth: OAUTH }, ['batch_size: 5', 'concurrency: 2', `refresh_token: "{{ env_var('SF_REFRESH_TOKEN') }}"`, `client_id: ${OAUTH.clientId}`, `client_secret: "{{ env_var('SF_CLIENT_SECRET') }}"`]);
    project.env.SF_REFRESH_TOKEN = OAUTH.refreshToken;
    project.env.SF_CLIENT_SECRET = OAUTH.clientSecret;
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);

    twin.expireTokens();
    await project.sql(`UPDATE main.customer_scores SET plan = 'enterprise'`);
    const renewed = await project.cli('run', '-s', 'crm_contacts');
    expect(renewed.code, renewed.stderr + renewed.stdout).toBe(0);
    expect(twin.tokenRequests).toBe(1);
    expect(twin.records('Contact').every((c) => c.Plan__c === 'enterprise')).toBe(true);

    twin.expireTokens();
    twin.revokeRefreshToken();
    await project.sql(`UPDATE main.customer_scores SET plan = 'team'`);
    const refused = await project.cli('run', '-s', 'crm_contacts');
    expect(refused.code).toBe(1);
    const output = refused.stdout + refused.stderr;
    expect(output).toMatch(/no access token could be obtained with the refresh token flow .*invalid_grant: expired access\/refresh token/);
    expect(twin.tokenRequests).toBe(2);
    for (const secret of [TOKEN, OAUTH.refreshToken, OAUTH.clientSecret]) expect(output).not.toContain(secret);
    const stored = await project.query<{ text: string }>(
      `SELECT coalesce(string_agg(message, ' '), '') AS text FROM activate.activate_runs`,
    );
    for (const secret of [TOKEN, OAUTH.refreshToken, OAUTH.clientSecret]) expect(stored[0]!.text).not.toContain(secret);
    expect(twin.records('Contact').every((c) => c.Plan__c === 'enterprise')).toBe(true);
  });

  it('sends large writes through Bulk API 2.0 jobs and small ones through Collections', async () => {
    await setUp({ bulkPolls: 3 }, ['batch_size: 10', 'bulk_threshold: 10', 'concurrency: 2']);
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(twin.jobs()).toEqual([
      expect.objectContaining({ operation: 'upsert', state: 'JobComplete', rows: 10 }),
      expect.objectContaining({ operation: 'upsert', state: 'JobComplete', rows: 10 }),
    ]);
    expect(twin.jobs().every((j) => j.polls >= 4)).toBe(true);
    const contacts = contactsById();
    expect(contacts.size).toBe(CUSTOMERS);
    for (const [key, id] of await state('crm_contacts')) expect(id).toBe(contacts.get(Number(key))!.Id);

    await project.sql(`UPDATE main.customer_scores SET first_name = 'Changed' WHERE customer_id IN (2, 5)`);
    expect((await project.cli('run', '-s', 'crm_contacts')).code).toBe(0);
    expect(twin.jobs()).toHaveLength(2);
    expect(contactsById().get(5)).toMatchObject({ FirstName: 'Changed', LastName: contacts.get(5)!.LastName });
  });

  it('survives the org\'s concurrent request limit and 503s: no request refused, nothing lost', async () => {
    await setUp({ maxConcurrent: 2, latencyMs: 10 }, ['batch_size: 3', 'concurrency: 2']);
    let unavailable = 0;
    twin.respondWith((r) => (r.method === 'PATCH' && unavailable++ < 2 ? { status: 503, body: [{ errorCode: 'SERVER_UNAVAILABLE', message: 'busy' }] } : undefined));
    // Both syncs share the org's HTTP client (and so its concurrency). Not --threads 2: two syncs
    // committing at once on DuckDB's one state connection collide (an engine issue, reported).
    const run = await project.cli('run');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(twin.peakConcurrency).toBeLessThanOrEqual(2);
    expect(twin.requests.filter((r) => r.status === 403)).toHaveLength(0);
    expect(twin.requests.filter((r) => r.status === 503)).toHaveLength(2);
    expect(contactsById().size).toBe(CUSTOMERS);
    expect((await state('crm_contacts')).size).toBe(CUSTOMERS);
  });

  it('validate --online checks the mapping against the object\'s describe and sends no record', async () => {
    const good = await project.cli('validate', '--online');
    expect(good.code, good.stdout + good.stderr).toBe(0);

    await editActivation(project.dir, 'customer_scores', (a) => ({
      ...a,
      fields: { ...(a.fields as Record<string, string>), Last_Name: 'last_name', Last_Seen_At__c: 'last_order_date' },
    }));
    const bad = await project.cli('validate', '--online');
    expect(bad.code).toBe(2);
    const output = bad.stdout + bad.stderr;
    expect(output).toContain('field Last_Name does not exist on Contact (did you mean "LastName"?)');
    expect(output).toMatch(/column last_order_date \(DATE\) does not fit Contact\.Last_Seen_At__c \(datetime\)/);
    expect(twin.writeRequests()).toHaveLength(0);
    expect(twin.requests.every((r) => r.method === 'GET' && r.path.endsWith('/describe'))).toBe(true);
  });
});
