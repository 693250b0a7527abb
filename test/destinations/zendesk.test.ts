/**
 * The Zendesk connector against the Zendesk twin (test/twins/zendesk-twin.ts) through the real
 * HTTP layer on 127.0.0.1: bulk jobs polled to completion, results mapped back to records,
 * organizations, deletes and suspensions, Retry-After, the job limit and credential failures.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiRoot } from '../../destinations/zendesk/config.js';
import { zendesk, type ZendeskOptions } from '../../destinations/zendesk/index.js';
import type { Change, Destination, Mode, RecordResult } from '../../destinations/types.js';
import { DestinationError } from '../../src/errors.js';
import { createHttpClient } from '../../src/http/http-client.js';
import type { HttpClient } from '../../src/http/types.js';
import { silentLogger } from '../../src/logger.js';
import { startZendeskTwin, TWIN_EMAIL, TWIN_TOKEN, type ZendeskTwin, type ZendeskTwinOptions } from '../twins/zendesk-twin.js';

const FAST_RETRY = { minDelayMs: 2, maxDelayMs: 20, retries: 2, throttleRetries: 40 } as const;

let twin: ZendeskTwin;
let http: HttpClient | undefined;

beforeEach(async () => {
  twin = await startZendeskTwin();
});

afterEach(async () => {
  await http?.close();
  http = undefined;
  await twin.close();
  twin.assertNoViolations();
});

async function restart(options: ZendeskTwinOptions): Promise<void> {
  await twin.close();
  twin = await startZendeskTwin(options);
}

function connect(overrides: Record<string, unknown> = {}, retry: Record<string, number> = FAST_RETRY): Destination<ZendeskOptions> {
  const config = zendesk.config.parse({
    type: 'zendesk',
    base_url: twin.url,
    email: TWIN_EMAIL,
    api_token: TWIN_TOKEN,
    job_poll_interval_seconds: 0.005,
    ...overrides,
  });
  const { concurrency } = zendesk.limits(config);
  http = createHttpClient({ limits: { requests: 10_000, perSeconds: 1, concurrency }, retry });
  return zendesk.create(config, { http, log: silentLogger, name: 'support', cwd: process.cwd() });
}

const USERS: ZendeskOptions = zendesk.options.parse({ object: 'users' });
const ORGS: ZendeskOptions = zendesk.options.parse({ object: 'organizations' });

function upsert(key: string, fields: Record<string, unknown>, identifier: Record<string, unknown> = { external_id: fields.external_id }, destinationId: string | null = null): Change {
  return { operation: 'upsert', kind: destinationId ? 'changed' : 'added', key, hash: `h-${key}-${JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`, fields, identifier, previous: null, destinationId };
}

function removal(key: string, lastSent: Record<string, unknown>, destinationId: string | null, operation: Change['operation'] = 'delete'): Change {
  return { ...upsert(key, lastSent, { external_id: lastSent.external_id }, destinationId), kind: 'removed', operation, previous: lastSent };
}

function ctx(mode: Mode = 'upsert') {
  return { syncId: 'customers__support', runId: 'run-1', mode };
}

function people(n: number, from = 1): Change[] {
  return Array.from({ length: n }, (_, i) => {
    const id = from + i;
    return upsert(String(id), { external_id: id, name: `Customer ${id}`, email: `c${id}@shop.test`, 'user_fields.order_count': id });
  });
}

const polls = () => twin.requests.filter((r) => r.path.includes('/job_statuses/'));

describe('zendesk users: create_or_update_many', () => {
  it('sends one job per batch, polls it to completion and maps the results back in order', async () => {
    twin.seedUser({ name: 'Old Name', email: 'ada@shop.test' });
    const results = await connect().write(
      [
        upsert('1', { external_id: 1, email: 'ada@shop.test', name: 'Ada', 'user_fields.plan': 'pro', 'user_fields.lifetime_value': 120.5, 'user_fields.last_order_date': '2024-07-01', 'user_fields.is_active': true }),
        upsert('2', { external_id: 2, email: 'bob@shop.test', name: 'Bob', phone: null, 'user_fields.order_count': 9007199254740993n }),
      ],
      USERS,
      ctx(),
    );

    const ada = twin.user('ada@shop.test')!;
    const bob = twin.user('2')!;
    expect(results).toEqual<RecordResult[]>([
      { key: '1', status: 'synced', destinationId: String(ada.id) },
      { key: '2', status: 'synced', destinationId: String(bob.id) },
    ]);
    const post = twin.requests.find((r) => r.method === 'POST')!;
    expect(post.path).toBe('/api/v2/users/create_or_update_many');
    expect(post.headers.authorization).toBe(`Basic ${Buffer.from(`${TWIN_EMAIL}/token:${TWIN_TOKEN}`).toString('base64')}`);
    expect(post.json).toEqual({
      users: [
        { external_id: '1', email: 'ada@shop.test', name: 'Ada', user_fields: { plan: 'pro', lifetime_value: 120.5, last_order_date: '2024-07-01', is_active: true } },
        { external_id: '2', email: 'bob@shop.test', name: 'Bob', phone: null, user_fields: { order_count: '9007199254740993' } },
      ],
    });
    // queued -> working -> working -> completed: the job took several polls.
    expect(polls().length).toBeGreaterThanOrEqual(3);
    expect(ada).toMatchObject({ name: 'Ada', external_id: '1', user_fields: { plan: 'pro', is_active: true } });
    expect(bob.user_fields).toEqual({ order_count: '9007199254740993' });
  });

  it('maps results by index when the job gives one, and by external_id or email when the order is off', async () => {
    await restart({ resultIndex: true });
    const first = await connect().write(people(3), USERS, ctx());
    expect(first.map((r) => r.status)).toEqual(['synced', 'synced', 'synced']);
    // A job whose results come back reversed and without index: matched on the identity they carry.
    twin.respondWith((r) =>
      r.path.includes('/job_statuses/')
        ? {
            status: 200,
            body: {
              job_status: {
                id: 'J1', status: 'completed', total: 3, progress: 3,
                results: [
                  { id: 3, status: 'Updated', external_id: '3' },
                  { status: 'Failed', external_id: '2', error: 'RecordInvalid', details: 'Name: is too short' },
                  { id: 1, status: 'Updated', email: 'c1@shop.test' },
                ],
              },
            },
          }
        : undefined,
    );
    const results = await connect().write(people(3), USERS, ctx());
    expect(results).toEqual([
      { key: '1', status: 'synced', destinationId: '1' },
      { key: '2', status: 'failed', retryable: false, code: 'RecordInvalid', message: 'RecordInvalid: Name: is too short (external_id 2)' },
      { key: '3', status: 'synced', destinationId: '3' },
    ]);
  });

  it('turns Failed results into rejections of the right records and accepts the rest', async () => {
    const results = await connect().write(
      [
        upsert('1', { external_id: 1, name: 'Ok', email: 'ok@shop.test' }),
        upsert('2', { external_id: 2, name: 'Bad email', email: 'not an email' }),
        upsert('3', { external_id: 3, email: 'noname@shop.test' }),
        upsert('4', { external_id: 4, name: 'Bad decimal', 'user_fields.lifetime_value': 'lots' }),
        upsert('5', { external_id: null, email: null, name: 'Nobody' }, { external_id: null }),
        upsert('6', { external_id: 6, name: 'Also ok', email: 'ok6@shop.test' }),
      ],
      USERS,
      ctx(),
    );
    const byKey = new Map(results.map((r) => [r.key, r]));
    expect(byKey.get('1')).toMatchObject({ status: 'synced' });
    expect(byKey.get('2')).toMatchObject({ status: 'failed', retryable: false, code: 'RecordInvalid', message: expect.stringContaining('not properly formatted') });
    expect(byKey.get('3')).toMatchObject({ status: 'failed', retryable: false, message: expect.stringContaining('Name: is too short') });
    expect(byKey.get('4')).toMatchObject({ status: 'failed', retryable: false, message: expect.stringContaining('"lots" is not a valid decimal value') });
    expect(byKey.get('5')).toMatchObject({ status: 'failed', retryable: false, code: 'MISSING_IDENTIFIER' });
    expect(byKey.get('6')).toMatchObject({ status: 'synced' });
    expect(twin.users().map((u) => u.external_id).sort()).toEqual(['1', '6']);
    // The record without an identifier was never sent.
    expect((twin.requests[0]!.json as { users: unknown[] }).users).toHaveLength(5);
  });

  it('names the record in each rejection, so that records refused for one reason are not split as a refused batch', async () => {
    const results = await connect().write([upsert('1', { external_id: 1 }), upsert('2', { external_id: 2 })], USERS, ctx());
    expect(results.map((r) => (r as { message: string }).message)).toEqual([
      'RecordInvalid: Name: is too short (minimum is 1 character) (external_id 1)',
      'RecordInvalid: Name: is too short (minimum is 1 character) (external_id 2)',
    ]);
  });

  it('sends verified: true when asked', async () => {
    await connect().write(people(1), { object: 'users', verified: true }, ctx());
    await connect().write(people(1, 2), USERS, ctx());
    expect((twin.requests.filter((r) => r.method === 'POST')[1]!.json as { users: Record<string, unknown>[] }).users[0]).not.toHaveProperty('verified');
    expect((twin.requests[0]!.json as { users: Record<string, unknown>[] }).users[0]).toMatchObject({ verified: true });
  });
});

describe('zendesk organizations', () => {
  it('creates unknown organizations one by one, then updates known ones in bulk by id', async () => {
    const d = connect();
    const acme = { external_id: 'acme', name: 'Acme', 'organization_fields.tier': 'gold', 'organization_fields.arr': 1200 };
    const globex = { external_id: 'globex', name: 'Globex' };
    const first = await d.write([upsert('acme', acme), upsert('globex', globex)], ORGS, ctx());
    const acmeId = String(twin.organization('acme')!.id);
    const globexId = String(twin.organization('globex')!.id);
    expect(first).toEqual([
      { key: 'acme', status: 'synced', destinationId: acmeId },
      { key: 'globex', status: 'synced', destinationId: globexId },
    ]);
    expect(twin.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /api/v2/organizations/create_or_update',
      'POST /api/v2/organizations/create_or_update',
    ]);
    expect(twin.requests[0]!.json).toEqual({ organization: { external_id: 'acme', name: 'Acme', organization_fields: { tier: 'gold', arr: 1200 } } });

    const mark = twin.requests.length;
    const second = await d.write(
      [upsert('acme', { external_id: 'acme', 'organization_fields.tier': 'platinum' }, undefined, acmeId), upsert('globex', { ...globex, notes: 'vip' }, undefined, globexId)],
      ORGS,
      ctx(),
    );
    expect(second.map((r) => r.status)).toEqual(['synced', 'synced']);
    const bulk = twin.requests.slice(mark).find((r) => r.method === 'PUT')!;
    expect(bulk.path).toBe('/api/v2/organizations/update_many');
    expect(bulk.json).toEqual({
      organizations: [
        { external_id: 'acme', organization_fields: { tier: 'platinum' }, id: Number(acmeId) },
        { external_id: 'globex', name: 'Globex', notes: 'vip', id: Number(globexId) },
      ],
    });
    expect(twin.organization('acme')).toMatchObject({ name: 'Acme', organization_fields: { tier: 'platinum', arr: 1200 } });
  });

  it('re-creates an organization whose id is gone, and rejects a duplicate name with its code', async () => {
    const d = connect();
    await d.write([upsert('acme', { external_id: 'acme', name: 'Acme' })], ORGS, ctx());
    const oldId = String(twin.organization('acme')!.id);
    twin.removeOrganization('acme');
    twin.seedOrganization({ name: 'Initech' });
    const results = await d.write(
      [upsert('acme', { external_id: 'acme', name: 'Acme' }, undefined, oldId), upsert('ini', { external_id: 'ini', name: 'initech' })],
      ORGS,
      ctx(),
    );
    expect(results[0]).toEqual({ key: 'acme', status: 'synced', destinationId: String(twin.organization('acme')!.id) });
    expect(results[0]).not.toMatchObject({ destinationId: oldId });
    expect(results[1]).toMatchObject({ key: 'ini', status: 'failed', retryable: false, code: 'DuplicateValue', message: expect.stringContaining('has already been taken') });
  });

  it('refuses to archive organizations', async () => {
    await expect(connect().write([removal('acme', { external_id: 'acme', name: 'Acme' }, '5', 'archive')], ORGS, ctx('mirror'))).rejects.toThrow(
      /organizations cannot be archived/,
    );
  });
});

describe('zendesk removals (mirror)', () => {
  it('deletes removed users in bulk by Zendesk id (or external_id), an unknown one counting as gone', async () => {
    const d = connect();
    const [one, two] = await d.write(people(3), USERS, ctx('mirror'));
    const results = await d.write(
      [
        removal('1', { external_id: 1 }, (one as { destinationId: string }).destinationId),
        removal('2', { external_id: 2 }, (two as { destinationId: string }).destinationId),
        removal('3', { external_id: '3' }, null),
        removal('9', { external_id: 9 }, '424242'),
      ],
      USERS,
      ctx('mirror'),
    );
    expect(results.map((r) => r.status)).toEqual(['synced', 'synced', 'synced', 'synced']);
    expect(twin.users()).toEqual([]);
    const deletes = twin.requests.filter((r) => r.method === 'DELETE');
    expect(deletes.map((r) => [...r.query.keys()][0]).sort()).toEqual(['external_ids', 'ids']);
  });

  it('on_delete: archive suspends the user', async () => {
    const d = connect();
    await d.write(people(1), USERS, ctx('mirror'));
    const [result] = await d.write([removal('1', { external_id: 1, name: 'Customer 1', email: 'c1@shop.test' }, null, 'archive')], USERS, ctx('mirror'));
    expect(result).toMatchObject({ status: 'synced' });
    expect(twin.user('1')).toMatchObject({ suspended: true, name: 'Customer 1' });
    expect((twin.requests.filter((r) => r.method === 'POST').at(-1)!.json as { users: unknown[] }).users).toEqual([{ external_id: '1', email: 'c1@shop.test', suspended: true }]);
  });

  it('deletes organizations by id', async () => {
    const d = connect();
    const [created] = await d.write([upsert('acme', { external_id: 'acme', name: 'Acme' })], ORGS, ctx('mirror'));
    const [removed] = await d.write([removal('acme', { external_id: 'acme', name: 'Acme' }, (created as { destinationId: string }).destinationId)], ORGS, ctx('mirror'));
    expect(removed).toEqual({ key: 'acme', status: 'synced' });
    expect(twin.organizations()).toEqual([]);
  });
});

describe('zendesk: rate limits and jobs', () => {
  it('honours Retry-After on 429 (JSON and text/plain) and loses nothing', async () => {
    await restart({ rateLimit: { requests: 4, perMs: 800, retryAfterSeconds: 1, textPlain: true } });
    const d = connect();
    const results = (await Promise.all([d.write(people(100, 1), USERS, ctx()), d.write(people(50, 101), USERS, ctx())])).flat();
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.throttled).toBeGreaterThan(0);
    expect(twin.users()).toHaveLength(150);
    // The twin lists any retry sent before its Retry-After as a violation (checked in afterEach).
  });

  it('backs off on a 429 without a usable Retry-After', async () => {
    let throttles = 0;
    twin.respondWith((r) => (r.method === 'POST' && throttles++ < 3 ? { status: 429, body: 'Too Many Requests', headers: { 'retry-after': 'soon' } } : undefined));
    const results = await connect().write(people(2), USERS, ctx());
    expect(results.map((r) => r.status)).toEqual(['synced', 'synced']);
    expect(twin.requests.filter((r) => r.method === 'POST').map((r) => r.answer)).toEqual([429, 429, 429, 200]);
  });

  it('survives a 429 storm with nothing lost and no request over 100 records', async () => {
    await restart({ rateLimit: { requests: 6, perMs: 60, retryAfterSeconds: 0 } });
    // Ten writers and their job polls share a 6-per-60 ms window answered with Retry-After: 0, so
    // one request may be throttled many times in a row; the budget is sized for the storm.
    const d = connect({ concurrency: 10 }, { ...FAST_RETRY, throttleRetries: 1_000 });
    const batches = Array.from({ length: 10 }, (_, i) => people(100, i * 100 + 1));
    const results = (await Promise.all(batches.map((b) => d.write(b, USERS, ctx())))).flat();
    expect(results.filter((r) => r.status !== 'synced')).toEqual([]);
    expect(twin.throttled).toBeGreaterThan(0);
    expect(twin.maxRecordsPerRequest).toBe(100);
    expect(twin.users()).toHaveLength(1000);
    expect(() => zendesk.config.parse({ type: 'zendesk', subdomain: 'acme', oauth_token: 't', batch_size: 101 })).toThrow();
  });

  it('waits when the account has too many unfinished jobs (429 TooManyJobs)', async () => {
    await restart({ maxJobs: 2, pollsToComplete: 4 });
    // Jobs finish only as they are polled, so how many refusals a POST meets depends on the
    // machine's speed; the test is about waiting, not about that budget.
    const d = connect({ concurrency: 6 }, { ...FAST_RETRY, throttleRetries: 1000 });
    const results = (await Promise.all(Array.from({ length: 6 }, (_, i) => d.write(people(10, i * 10 + 1), USERS, ctx())))).flat();
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.throttled).toBeGreaterThan(0);
    expect(twin.maxOpenJobs).toBe(2);
  });

  it('fails the records of a failed job as retryable', async () => {
    twin.respondWith((r) => (r.path.includes('/job_statuses/') ? { status: 200, body: { job_status: { id: 'J9', status: 'failed', message: 'Internal error' } } } : undefined));
    const results = await connect().write(people(2), USERS, ctx());
    expect(results).toEqual([
      { key: '1', status: 'failed', retryable: true, message: 'Zendesk job J9 failed: Internal error' },
      { key: '2', status: 'failed', retryable: true, message: 'Zendesk job J9 failed: Internal error' },
    ]);
  });

  it('gives up on a job that does not finish in job_timeout_seconds, records retryable', async () => {
    await restart({ pollsToComplete: 1_000_000 });
    const results = await connect({ job_timeout_seconds: 0.05 }).write(people(1), USERS, ctx());
    expect(results[0]).toMatchObject({ status: 'failed', retryable: true, message: expect.stringContaining('job_timeout_seconds') });
  });

  it('stops the sync when still rate limited after the 429 budget', async () => {
    twin.respondWith(() => ({ status: 429, body: 'Rate limit exceeded', headers: { 'retry-after': '0' } }));
    const write = connect({}, { ...FAST_RETRY, throttleRetries: 2 }).write(people(1), USERS, ctx());
    await expect(write).rejects.toBeInstanceOf(DestinationError);
    await expect(write).rejects.toThrow(/still rate limited \(HTTP 429\) after 3 attempts/);
  });
});

describe('zendesk: credentials and configuration', () => {
  it('stops the sync on refused credentials, naming them and never the token', async () => {
    twin.revokeCredentials();
    const error = await connect().write(people(1), USERS, ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    const message = (error as Error).message;
    expect(message).toMatch(/refused the credentials \(HTTP 401: Couldn't authenticate you\); check email and api_token/);
    expect(message).not.toContain(TWIN_TOKEN);
  });

  it('accepts an OAuth token as a bearer token', async () => {
    await restart({ oauthToken: 'zd-oauth-abcdef' });
    const [result] = await connect({ email: undefined, api_token: undefined, oauth_token: 'zd-oauth-abcdef' }).write(people(1), USERS, ctx());
    expect(result).toMatchObject({ status: 'synced' });
    expect(twin.requests[0]!.headers.authorization).toBe('Bearer zd-oauth-abcdef');
  });

  it('says when bulk import is not enabled for the account', async () => {
    await restart({ bulkImportDisabled: true });
    await expect(connect().write(people(1), USERS, ctx())).rejects.toThrow(/HTTP 403: Forbidden: Data imports are not enabled.*enabled for the account by Zendesk support/);
  });

  it('stops on a wrong base_url', async () => {
    await expect(connect({ base_url: `${twin.url}/nope` }).write(people(1), USERS, ctx())).rejects.toThrow(/not found at .*check subdomain or base_url/);
    // The twin lists the wrong path; it was sent on purpose here.
    expect(twin.violations).toEqual([expect.stringContaining('no such endpoint')]);
    (twin.violations as string[]).length = 0;
  });

  it('builds the API root from the subdomain and checks the credential keys', () => {
    const parse = (entry: Record<string, unknown>) => zendesk.config.safeParse({ type: 'zendesk', ...entry });
    expect(apiRoot(zendesk.config.parse({ type: 'zendesk', subdomain: 'acme', email: 'a@b.c', api_token: 'tok1' }))).toBe('https://acme.zendesk.com/api/v2');
    expect(apiRoot(zendesk.config.parse({ type: 'zendesk', base_url: 'http://127.0.0.1:9/api/v2/', oauth_token: 'tok1' }))).toBe('http://127.0.0.1:9/api/v2');
    expect(parse({ subdomain: 'acme', api_token: 'tok1' }).success).toBe(false);
    expect(parse({ subdomain: 'acme', email: 'a@b.c' }).success).toBe(false);
    expect(parse({ subdomain: 'acme', email: 'a@b.c', api_token: 't', oauth_token: 'o' }).success).toBe(false);
    expect(parse({ email: 'a@b.c', api_token: 't' }).success).toBe(false);
    expect(parse({ subdomain: 'acme.zendesk.com', oauth_token: 'o' }).success).toBe(false);
    expect(zendesk.options.safeParse({ object: 'tickets' }).success).toBe(false);
    expect(zendesk.secretKeys).toEqual(['api_token', 'oauth_token']);
  });
});

describe('zendesk: validate --online (checkMapping)', () => {
  it('reports attributes and custom fields that do not exist, inactive fields, type mismatches and a missing identifier', async () => {
    const problems = await connect().checkMapping!(
      [
        { field: 'email', column: 'email', columnType: 'VARCHAR', isIdentifier: false },
        { field: 'phon', column: 'phone', columnType: 'VARCHAR', isIdentifier: false },
        { field: 'user_fields.plann', column: 'plan', columnType: 'VARCHAR', isIdentifier: false },
        { field: 'user_fields.legacy_score', column: 'score', columnType: 'INTEGER', isIdentifier: false },
        { field: 'user_fields.order_count', column: 'lifetime_value', columnType: 'DECIMAL(18,2)', isIdentifier: false },
        { field: 'user_fields.is_active', column: 'is_active', columnType: 'BOOLEAN', isIdentifier: false },
        { field: 'user_fields.last_order_date', column: 'last_order_date', columnType: 'DATE', isIdentifier: false },
      ],
      USERS,
    );
    expect(problems).toEqual([
      'users are matched on external_id or email: set identifier: { external_id: <column> }',
      expect.stringMatching(/^"phon" is not a writable user attribute \(did you mean "phone"\?\); custom fields are written as user_fields\.<field key>$/),
      expect.stringMatching(/^user_fields\.plann: no user field with key "plann" \(did you mean "plan"\?\)/),
      'user_fields.legacy_score: the field "Legacy" is inactive in Zendesk',
      'user_fields.order_count (from column lifetime_value): field type is integer; the column is DECIMAL(18,2) (decimals are refused)',
    ]);
    const orgProblems = await connect().checkMapping!(
      [
        { field: 'external_id', column: 'account_id', columnType: 'VARCHAR', isIdentifier: true },
        { field: 'organization_fields.arr', column: 'arr', columnType: 'DOUBLE', isIdentifier: false },
      ],
      ORGS,
    );
    expect(orgProblems).toEqual(['organizations need a name to be created: map a column to name']);
    expect(twin.requests.every((r) => r.method === 'GET')).toBe(true);
  });
});
