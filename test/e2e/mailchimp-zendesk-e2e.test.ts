/**
 * `activate run` from the example project (DuckDB) into the Mailchimp and Zendesk twins through
 * the CLI: full and incremental syncs, audience tagging and untagging, mirror deletes, per-record
 * rejections in activate_rejections, 429 storms, refused credentials, a hard stop mid-run that
 * keeps what was delivered, and `validate --online`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeExampleProject, type ExampleProject } from '../support/example-project.js';
import { editActivation } from '../support/manifest-edit.js';
import { startMailchimpTwin, TWIN_API_KEY, type MailchimpTwin, type MailchimpTwinOptions } from '../twins/mailchimp-twin.js';
import { startZendeskTwin, TWIN_EMAIL, TWIN_TOKEN, type ZendeskTwin, type ZendeskTwinOptions } from '../twins/zendesk-twin.js';

const CUSTOMERS = 20;
const NEWSLETTER = 'newsletter_members';
const SUPPORT = 'support_users';
const WIN_BACK = 'win_back';
const RETRY = '    retry: { attempts: 2, throttle_attempts: 40, min_delay_seconds: 0.002, max_delay_seconds: 0.02 }';

let mc: MailchimpTwin;
let zd: ZendeskTwin;
let project: ExampleProject;

function activateYml(extra: { mailchimp?: string[]; zendesk?: string[] } = {}): string {
  return [
    'destinations:',
    '  newsletter:',
    '    type: mailchimp',
    `    api_key: "{{ env_var('MAILCHIMP_API_KEY') }}"`,
    `    base_url: "{{ env_var('MAILCHIMP_URL') }}"`,
    '    batch_size: 4',
    ...withRetry(extra.mailchimp ?? []),
    '  support:',
    '    type: zendesk',
    `    base_url: "{{ env_var('ZENDESK_URL') }}"`,
    `    email: ${TWIN_EMAIL}`,
    `    api_token: "{{ env_var('ZENDESK_API_TOKEN') }}"`,
    '    batch_size: 5',
    '    job_poll_interval_seconds: 0.005',
    '    rate_limit: { requests: 10000, per_seconds: 1 }',
    ...withRetry(extra.zendesk ?? []),
    'state:',
    '  schema: activate',
    '',
  ].join('\n');
}

/** The extra lines of a destination entry, with the default retry block unless they bring their own. */
function withRetry(lines: readonly string[]): string[] {
  return [...(lines.some((l) => l.startsWith('retry:')) ? [] : [RETRY]), ...lines.map((l) => `    ${l}`)];
}

async function setUp(options: { mailchimp?: MailchimpTwinOptions; zendesk?: ZendeskTwinOptions; yml?: Parameters<typeof activateYml>[0] } = {}) {
  mc = await startMailchimpTwin(options.mailchimp);
  zd = await startZendeskTwin(options.zendesk);
  project = await makeExampleProject({
    MAILCHIMP_API_KEY: TWIN_API_KEY,
    MAILCHIMP_URL: mc.url,
    ZENDESK_URL: zd.url,
    ZENDESK_API_TOKEN: TWIN_TOKEN,
  });
  await project.writeActivateYml(activateYml(options.yml));
  await editActivation(project.dir, 'customer_scores', () => [
    {
      name: NEWSLETTER,
      destination: 'newsletter',
      mode: 'upsert',
      primary_key: 'customer_id',
      identifier: { email_address: 'email' },
      fields: { FNAME: 'first_name', LNAME: 'last_name', PLAN: 'plan', LTV: 'lifetime_value', ORDERS: 'order_count', LASTORDER: 'last_order_date', CHURN: 'churn_risk' },
      list_id: 'aud1',
      status_if_new: 'subscribed',
    },
    {
      name: SUPPORT,
      destination: 'support',
      mode: 'upsert',
      primary_key: 'customer_id',
      identifier: { external_id: 'customer_id' },
      fields: {
        email: 'email',
        name: 'first_name',
        'user_fields.plan': 'plan',
        'user_fields.lifetime_value': 'lifetime_value',
        'user_fields.order_count': 'order_count',
        'user_fields.last_order_date': 'last_order_date',
        'user_fields.is_active': 'is_active',
      },
      object: 'users',
    },
  ] as unknown as Record<string, unknown>);
  await editActivation(project.dir, 'at_risk_customers', () => ({
    name: WIN_BACK,
    destination: 'newsletter',
    mode: 'audience',
    primary_key: 'customer_id',
    identifier: { email_address: 'email' },
    fields: { CHURN: 'churn_risk' },
    list_id: 'aud1',
    status_if_new: 'transactional',
    tags: ['win_back'],
  }));
}

/** Switches the Zendesk sync of customer_scores to another mode. */
async function supportMode(mode: string, extra: Record<string, unknown> = {}): Promise<void> {
  await editActivation(project.dir, 'customer_scores', (a) => (a.name === SUPPORT ? { ...a, mode, ...extra } : a));
}

afterEach(async () => {
  await mc?.close();
  await zd?.close();
  await project?.cleanup();
  mc.assertNoViolations();
  zd.assertNoViolations();
});

async function stateKeys(sync: string): Promise<string[]> {
  const rows = await project.query<{ record_key: string }>(`SELECT record_key FROM activate.activate_state WHERE sync_id = '${sync}' ORDER BY record_key`);
  return rows.map((r) => r.record_key).sort((a, b) => Number(a) - Number(b));
}

async function atRiskIds(): Promise<number[]> {
  const rows = await project.query<{ customer_id: number }>('SELECT customer_id FROM main.at_risk_customers ORDER BY customer_id');
  return rows.map((r) => Number(r.customer_id));
}

const output = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`;

describe('activate run into Mailchimp and Zendesk', () => {
  it('syncs everything first, nothing when unchanged, then only what changed', async () => {
    await setUp();
    const first = await project.cli('run');
    expect(first.code, output(first)).toBe(0);
    expect(mc.members().filter((m) => !m.archived)).toHaveLength(CUSTOMERS);
    const noah = mc.member('noah.kim@example.com')!;
    expect(noah).toMatchObject({ status: 'subscribed', merge_fields: { FNAME: 'Noah', LNAME: 'Kim', PLAN: 'team' } });
    expect(noah.merge_fields.LASTORDER === '' || /^\d{2}\/\d{2}\/\d{4}$/.test(String(noah.merge_fields.LASTORDER))).toBe(true);
    const atRisk = await atRiskIds();
    expect(atRisk.length).toBeGreaterThan(0);
    expect(mc.members().filter((m) => m.tags.includes('win_back'))).toHaveLength(atRisk.length);
    expect(zd.users()).toHaveLength(CUSTOMERS);
    expect(zd.user('4')).toMatchObject({ email: 'noah.kim@example.com', name: 'Noah', user_fields: { plan: 'team' } });
    expect(await stateKeys(NEWSLETTER)).toHaveLength(CUSTOMERS);
    expect(await stateKeys(SUPPORT)).toHaveLength(CUSTOMERS);
    // Zendesk ids are kept as destination ids.
    const [row] = await project.query<{ destination_id: string }>(`SELECT destination_id FROM activate.activate_state WHERE sync_id = '${SUPPORT}' AND record_key = '4'`);
    expect(row!.destination_id).toBe(String(zd.user('4')!.id));
    expect(mc.maxBatchMembers).toBeLessThanOrEqual(4);
    expect(zd.maxRecordsPerRequest).toBeLessThanOrEqual(5);

    const mcMark = mc.requests.length;
    const zdMark = zd.requests.length;
    const second = await project.cli('run');
    expect(second.code, output(second)).toBe(0);
    expect(mc.requests.length).toBe(mcMark);
    expect(zd.requests.length).toBe(zdMark);

    await project.sql(`UPDATE main.customer_scores SET plan = 'enterprise' WHERE customer_id = 3`);
    const third = await project.cli('run');
    expect(third.code, output(third)).toBe(0);
    expect(mc.member('mia.rodriguez@example.com')).toMatchObject({ status: 'subscribed', merge_fields: { PLAN: 'enterprise', FNAME: 'Mia' } });
    const zdSent = zd.requests.slice(zdMark).filter((r) => r.method === 'POST');
    expect(zdSent.map((r) => r.json)).toEqual([{ users: [{ external_id: '3', 'user_fields': { plan: 'enterprise' } }] }]);
    const mcBatches = mc.requests.slice(mcMark).filter((r) => r.method === 'POST' && r.path === '/3.0/lists/aud1');
    expect(mcBatches.map((r) => (r.json as { members: unknown[] }).members)).toEqual([
      [{ email_address: 'mia.rodriguez@example.com', status: 'subscribed', merge_fields: { PLAN: 'enterprise' } }],
    ]);
    expect(zd.user('3')).toMatchObject({ name: 'Mia', user_fields: { plan: 'enterprise' } });
  });

  it('audience: a member leaving the model is untagged and stays in the audience; Zendesk mirror deletes the user', async () => {
    await setUp();
    await supportMode('mirror');
    expect((await project.cli('run')).code).toBe(0);
    const [leaving, staying] = await atRiskIds();
    const [who] = await project.query<{ email: string }>(`SELECT email FROM main.customer_scores WHERE customer_id = ${leaving}`);
    expect(mc.member(who!.email)!.tags).toEqual(['win_back']);

    await project.sql(`DELETE FROM main.at_risk_customers WHERE customer_id = ${leaving}`);
    await project.sql(`DELETE FROM main.customer_scores WHERE customer_id = 20`);
    const run = await project.cli('run');
    expect(run.code, output(run)).toBe(0);
    expect(mc.member(who!.email)).toMatchObject({ tags: [], archived: false, status: 'subscribed' });
    if (staying !== undefined) {
      const [kept] = await project.query<{ email: string }>(`SELECT email FROM main.customer_scores WHERE customer_id = ${staying}`);
      expect(mc.member(kept!.email)!.tags).toEqual(['win_back']);
    }
    expect(await stateKeys(WIN_BACK)).not.toContain(String(leaving));
    // The newsletter sync is upsert: customer 20 stays a member; the Zendesk mirror deletes the user by id.
    expect(mc.member('daniel.costa@example.com')).toMatchObject({ archived: false });
    expect(zd.user('20')).toBeUndefined();
    expect(zd.users()).toHaveLength(CUSTOMERS - 1);
    expect(zd.requests.some((r) => r.method === 'DELETE' && r.path === '/api/v2/users/destroy_many' && r.query.has('ids'))).toBe(true);
    expect(await stateKeys(SUPPORT)).not.toContain('20');
  });

  it('records per-member and per-user rejections under their keys, commits the rest, and resends them once fixed', async () => {
    await setUp();
    await project.sql(`UPDATE main.customer_scores SET email = 'liam@fake-domain.invalid' WHERE customer_id = 2`);
    await project.sql(`UPDATE main.customer_scores SET first_name = NULL WHERE customer_id = 12`);
    const run = await project.cli('run', '-s', NEWSLETTER, SUPPORT);
    expect(run.code).toBe(1);
    const rejections = await project.query<{ sync_id: string; record_key: string; error: string; error_code: string | null; retryable: boolean }>(
      'SELECT sync_id, record_key, error, error_code, retryable FROM activate.activate_rejections ORDER BY sync_id, record_key',
    );
    expect(rejections).toEqual([
      { sync_id: NEWSLETTER, record_key: '2', error: expect.stringContaining('looks fake or invalid'), error_code: 'ERROR_GENERIC', retryable: false },
      { sync_id: SUPPORT, record_key: '12', error: expect.stringContaining('Name: is too short'), error_code: 'RecordInvalid', retryable: false },
    ]);
    expect(await stateKeys(NEWSLETTER)).toHaveLength(CUSTOMERS - 1);
    expect(await stateKeys(NEWSLETTER)).not.toContain('2');
    expect(await stateKeys(SUPPORT)).not.toContain('12');
    expect(await stateKeys(SUPPORT)).toHaveLength(CUSTOMERS - 1);

    await project.sql(`UPDATE main.customer_scores SET email = 'liam.carter@example.com' WHERE customer_id = 2`);
    await project.sql(`UPDATE main.customer_scores SET first_name = 'James' WHERE customer_id = 12`);
    const zdMark = zd.requests.length;
    const again = await project.cli('run', '-s', NEWSLETTER, SUPPORT);
    expect(again.code, output(again)).toBe(0);
    expect(await stateKeys(NEWSLETTER)).toHaveLength(CUSTOMERS);
    expect(await stateKeys(SUPPORT)).toHaveLength(CUSTOMERS);
    const resent = zd.requests.slice(zdMark).filter((r) => r.method === 'POST').flatMap((r) => (r.json as { users: { external_id: string }[] }).users);
    // 12 was never accepted: all of it; 2 was (with the fake address): only the changed email.
    expect(resent.sort((a, b) => Number(a.external_id) - Number(b.external_id))).toEqual([
      { external_id: '2', email: 'liam.carter@example.com' },
      expect.objectContaining({ external_id: '12', name: 'James', email: 'james.obrien@example.com' }),
    ]);
    expect(mc.member('liam.carter@example.com')).toMatchObject({ status: 'subscribed', merge_fields: { FNAME: 'Liam' } });
    const left = await project.query<{ n: number }>('SELECT count(*) AS n FROM activate.activate_rejections');
    expect(Number(left[0]!.n)).toBe(0);
  });

  it('survives 429 storms from both APIs with nothing lost and no request over the limits', async () => {
    await setUp({
      mailchimp: { maxConnections: 2, latencyMs: 2 },
      zendesk: { rateLimit: { requests: 3, perMs: 40, retryAfterSeconds: 0, textPlain: true }, pollsToComplete: 2 },
      yml: { mailchimp: ['concurrency: 10'], zendesk: ['concurrency: 4'] },
    });
    // Besides the limits above (which bite when requests overlap), every third request is throttled.
    mc.respondWith((r) => (r.index % 3 === 1 ? { status: 429, body: { title: 'Too Many Requests', status: 429 } } : undefined));
    zd.respondWith((r) => (r.index % 3 === 1 ? { status: 429, body: 'Rate limit exceeded', headers: { 'retry-after': '0' } } : undefined));
    const run = await project.cli('run', '-s', NEWSLETTER, SUPPORT);
    expect(run.code, output(run)).toBe(0);
    expect(mc.requests.filter((r) => r.answer === 429).length).toBeGreaterThan(2);
    expect(zd.throttled).toBeGreaterThan(2);
    expect(mc.members()).toHaveLength(CUSTOMERS);
    expect(zd.users()).toHaveLength(CUSTOMERS);
    expect(mc.maxBatchMembers).toBeLessThanOrEqual(4);
    expect(zd.maxRecordsPerRequest).toBeLessThanOrEqual(5);
    expect(await stateKeys(NEWSLETTER)).toHaveLength(CUSTOMERS);
    expect(await stateKeys(SUPPORT)).toHaveLength(CUSTOMERS);
  });

  it('stops a sync whose credentials are refused, with a clear message and no secret in it', async () => {
    await setUp();
    project.env.MAILCHIMP_API_KEY = 'ffffffffffffffffffffffffffffffff-us21';
    project.env.ZENDESK_API_TOKEN = 'wrong-token-123456';
    const run = await project.cli('run', '-s', NEWSLETTER, SUPPORT);
    expect(run.code).toBe(1);
    const text = output(run);
    expect(text).toContain('check api_key');
    expect(text).toContain('check email and api_token');
    expect(text).not.toContain('ffffffffffffffffffffffffffffffff');
    expect(text).not.toContain('wrong-token-123456');
    expect(await stateKeys(NEWSLETTER)).toEqual([]);
    expect(await stateKeys(SUPPORT)).toEqual([]);
    const runs = await project.query<{ sync_id: string; status: string; message: string }>('SELECT sync_id, status, message FROM activate.activate_runs ORDER BY sync_id');
    expect(runs).toEqual([
      { sync_id: NEWSLETTER, status: 'failed', message: expect.stringContaining('refused the credentials (HTTP 401') },
      { sync_id: SUPPORT, status: 'failed', message: expect.stringContaining('refused the credentials (HTTP 401') },
    ]);
  });

  it('a hard stop mid-run (key revoked, rate limit exhausted) keeps exactly what was delivered; the next run sends the rest', async () => {
    await setUp({ yml: { mailchimp: ['concurrency: 1'], zendesk: ['concurrency: 1', 'retry: { attempts: 1, throttle_attempts: 2, min_delay_seconds: 0.002, max_delay_seconds: 0.01 }'] } });
    // Mailchimp: the key is revoked after two batches; Zendesk: the account's limit runs out after two jobs.
    let batches = 0;
    mc.respondWith((r) =>
      r.method === 'POST' && r.path === '/3.0/lists/aud1' && ++batches > 2
        ? { status: 401, body: { title: 'API Key Invalid', status: 401, detail: 'Your API key may be invalid.' } }
        : undefined,
    );
    let jobs = 0;
    zd.respondWith((r) =>
      r.method === 'POST' && r.path === '/api/v2/users/create_or_update_many' && ++jobs > 2
        ? { status: 429, body: 'Rate limit exceeded', headers: { 'retry-after': '0' } }
        : undefined,
    );
    const run = await project.cli('run', '-s', NEWSLETTER, SUPPORT);
    expect(run.code).toBe(1);
    expect(output(run)).toContain('still rate limited (HTTP 429)');
    const delivered = mc.members().map((m) => m.email_address);
    expect(delivered).toHaveLength(8);
    expect(await stateKeys(NEWSLETTER)).toHaveLength(8);
    expect(zd.users()).toHaveLength(10);
    expect(await stateKeys(SUPPORT)).toEqual(zd.users().map((u) => u.external_id!).sort((a, b) => Number(a) - Number(b)));

    mc.respondWith(undefined);
    zd.respondWith(undefined);
    const mcMark = mc.requests.length;
    const zdMark = zd.requests.length;
    const again = await project.cli('run', '-s', NEWSLETTER, SUPPORT);
    expect(again.code, output(again)).toBe(0);
    const resentEmails = mc.requests
      .slice(mcMark)
      .filter((r) => r.method === 'POST')
      .flatMap((r) => (r.json as { members: { email_address: string }[] }).members.map((m) => m.email_address));
    expect(resentEmails).toHaveLength(CUSTOMERS - 8);
    expect(resentEmails.some((e) => delivered.includes(e))).toBe(false);
    const resentUsers = zd.requests.slice(zdMark).filter((r) => r.method === 'POST').flatMap((r) => (r.json as { users: unknown[] }).users);
    expect(resentUsers).toHaveLength(CUSTOMERS - 10);
    expect(mc.members()).toHaveLength(CUSTOMERS);
    expect(zd.users()).toHaveLength(CUSTOMERS);
  });

  it('validate --online asks Mailchimp and Zendesk whether the mapped fields exist', async () => {
    await setUp();
    const ok = await project.cli('validate', '--online');
    expect(ok.code, output(ok)).toBe(0);
    await editActivation(project.dir, 'customer_scores', (a) =>
      a.name === NEWSLETTER
        ? { ...a, fields: { ...(a.fields as object), FNAM: 'first_name' } }
        : { ...a, fields: { ...(a.fields as object), 'user_fields.plann': 'plan' } },
    );
    const bad = await project.cli('validate', '--online');
    expect(bad.code).toBe(2);
    expect(output(bad)).toContain('"FNAM" is not a merge field of audience aud1 (did you mean "FNAME"?)');
    expect(output(bad)).toContain('user_fields.plann: no user field with key "plann" (did you mean "plan"?)');
    expect(mc.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(zd.requests.every((r) => r.method === 'GET')).toBe(true);
  });
});
