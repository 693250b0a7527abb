/**
 * The Mailchimp connector against the Mailchimp twin (test/twins/mailchimp-twin.ts) through the
 * real HTTP layer on 127.0.0.1: request shapes, per-member results, existing members' status,
 * audience tagging, removals, throttling and credential failures.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mailchimp, subscriberHash, type MailchimpOptions } from '../../destinations/mailchimp/index.js';
import { apiRoot } from '../../destinations/mailchimp/config.js';
import type { Change, Destination, Mode, RecordResult } from '../../destinations/types.js';
import { DestinationError } from '../../src/errors.js';
import { createHttpClient } from '../../src/http/http-client.js';
import type { HttpClient } from '../../src/http/types.js';
import { silentLogger } from '../../src/logger.js';
import { md5Email, startMailchimpTwin, TWIN_API_KEY, TWIN_LIST_ID, type MailchimpTwin, type MailchimpTwinOptions } from '../twins/mailchimp-twin.js';

const FAST_RETRY = { minDelayMs: 2, maxDelayMs: 20, retries: 2, throttleRetries: 30 } as const;

let twin: MailchimpTwin;
let http: HttpClient | undefined;

beforeEach(async () => {
  twin = await startMailchimpTwin();
});

afterEach(async () => {
  await http?.close();
  http = undefined;
  await twin.close();
  twin.assertNoViolations();
});

async function restart(options: MailchimpTwinOptions): Promise<void> {
  await twin.close();
  twin = await startMailchimpTwin(options);
}

function connect(overrides: Record<string, unknown> = {}, retry: Record<string, number> = FAST_RETRY): Destination<MailchimpOptions> {
  const config = mailchimp.config.parse({ type: 'mailchimp', api_key: TWIN_API_KEY, base_url: twin.url, ...overrides });
  const { requests, perSeconds, concurrency } = mailchimp.limits(config);
  http = createHttpClient({ limits: { requests: requests * 100, perSeconds, concurrency }, retry });
  return mailchimp.create(config, { http, log: silentLogger, name: 'newsletter', cwd: process.cwd() });
}

function options(extra: Record<string, unknown> = {}): MailchimpOptions {
  return mailchimp.options.parse({ list_id: TWIN_LIST_ID, status_if_new: 'subscribed', ...extra });
}

function upsert(key: string, fields: Record<string, unknown>, kind: Change['kind'] = 'added'): Change {
  return {
    operation: 'upsert',
    kind,
    key,
    hash: `h-${key}-${JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`,
    fields,
    identifier: { email_address: fields.email_address },
    previous: null,
    destinationId: null,
  };
}

function removal(key: string, lastSent: Record<string, unknown>, operation: Change['operation'] = 'delete'): Change {
  return { ...upsert(key, lastSent, 'removed'), operation, previous: lastSent, destinationId: md5Email(String(lastSent.email_address)) };
}

function ctx(mode: Mode = 'upsert') {
  return { syncId: 'customers__newsletter', runId: 'run-1', mode };
}

function customers(n: number, from = 1): Change[] {
  return Array.from({ length: n }, (_, i) =>
    upsert(String(from + i), { email_address: `user${from + i}@shop.test`, FNAME: `User${from + i}`, LTV: (from + i) * 10 }),
  );
}

const batchRequests = () => twin.requests.filter((r) => r.method === 'POST' && /^\/3\.0\/lists\/aud1\/?$/.test(r.path));

describe('mailchimp: adding and updating members', () => {
  it('adds new members with one batch request, converting values to the merge fields formats', async () => {
    const results = await connect().write(
      [
        upsert('1', { email_address: ' Ada@Example.org ', FNAME: 'Ada', LTV: 120.5, LASTORDER: '2024-07-01', BDAY: '1990-03-09', ORDERS: 3n, PLAN: 'pro' }),
        upsert('2', { email_address: 'bob@example.org', FNAME: 'Bob', LNAME: null, LTV: 0, LASTORDER: null, vip: true, language: 'fr' }),
      ],
      options(),
      ctx(),
    );

    expect(results).toEqual<RecordResult[]>([
      { key: '1', status: 'synced', destinationId: md5Email('ada@example.org') },
      { key: '2', status: 'synced', destinationId: md5Email('bob@example.org') },
    ]);
    const batches = batchRequests();
    expect(batches).toHaveLength(1);
    expect(batches[0]!.json).toEqual({
      update_existing: false,
      members: [
        {
          email_address: 'Ada@Example.org',
          status: 'subscribed',
          merge_fields: { FNAME: 'Ada', LTV: 120.5, LASTORDER: '07/01/2024', BDAY: '03/09', ORDERS: '3', PLAN: 'pro' },
        },
        { email_address: 'bob@example.org', status: 'subscribed', vip: true, language: 'fr', merge_fields: { FNAME: 'Bob', LNAME: '', LTV: 0, LASTORDER: '' } },
      ],
    });
    expect(batches[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`activate:${TWIN_API_KEY}`).toString('base64')}`);
    expect(twin.member('ada@example.org')).toMatchObject({ status: 'subscribed', merge_fields: { FNAME: 'Ada', LASTORDER: '07/01/2024' } });
    // The merge fields are read once per destination, not per batch.
    await connect().write(customers(2), options(), ctx());
    expect(twin.requests.filter((r) => r.path.endsWith('/merge-fields'))).toHaveLength(2);
  });

  it('keys members by the MD5 of the trimmed, lower-cased address', () => {
    expect(subscriberHash('  Ada@Example.ORG ')).toBe(md5Email('ada@example.org'));
    // RFC 1321 test vector: MD5("abc").
    expect(subscriberHash(' ABC ')).toBe('900150983cd24fb0d6963f7d28e17f72');
  });

  it('updates existing members without touching their status, and tags them', async () => {
    twin.seedMember({ email: 'ann@example.org', status: 'unsubscribed', merge_fields: { FNAME: 'Ann', LNAME: 'Old' } });
    twin.seedMember({ email: 'carl@example.org', status: 'transactional' });

    const results = await connect().write(
      [
        upsert('1', { email_address: 'ann@example.org', LNAME: 'New' }, 'changed'),
        upsert('2', { email_address: 'carl@example.org', FNAME: 'Carl' }),
        upsert('3', { email_address: 'dee@example.org', FNAME: 'Dee' }),
      ],
      options({ status_if_new: 'pending', tags: ['dbt', 'vip'] }),
      ctx(),
    );

    expect(results.map((r) => r.status)).toEqual(['synced', 'synced', 'synced']);
    expect(twin.member('ann@example.org')).toMatchObject({ status: 'unsubscribed', merge_fields: { FNAME: 'Ann', LNAME: 'New' }, tags: ['dbt', 'vip'] });
    expect(twin.member('carl@example.org')).toMatchObject({ status: 'transactional', merge_fields: { FNAME: 'Carl' }, tags: ['dbt', 'vip'] });
    expect(twin.member('dee@example.org')).toMatchObject({ status: 'pending', tags: ['dbt', 'vip'] });
    const puts = twin.requests.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => r.path).sort()).toEqual(
      [md5Email('ann@example.org'), md5Email('carl@example.org')].map((h) => `/3.0/lists/aud1/members/${h}`).sort(),
    );
    for (const put of puts) {
      expect(put.json).not.toHaveProperty('status');
      expect(put.json).toMatchObject({ status_if_new: 'pending' });
    }
    const tagCalls = twin.requests.filter((r) => r.path.endsWith('/tags'));
    expect(tagCalls.map((r) => r.json)).toEqual([
      { tags: [{ name: 'dbt', status: 'active' }, { name: 'vip', status: 'active' }] },
      { tags: [{ name: 'dbt', status: 'active' }, { name: 'vip', status: 'active' }] },
    ]);
    expect(tagCalls.every((r) => r.answer === 204)).toBe(true);
  });

  it('with update_existing_status sends one batch with update_existing: true, which sets every status', async () => {
    twin.seedMember({ email: 'ann@example.org', status: 'pending' });
    const results = await connect().write(
      [upsert('1', { email_address: 'ann@example.org', FNAME: 'Ann' }), upsert('2', { email_address: 'ben@example.org' })],
      options({ update_existing_status: true, tags: ['dbt'] }),
      ctx(),
    );
    expect(results.map((r) => r.status)).toEqual(['synced', 'synced']);
    expect(twin.requests.filter((r) => r.method !== 'GET')).toHaveLength(1);
    expect(batchRequests()[0]!.json).toMatchObject({ update_existing: true });
    expect(twin.member('ann@example.org')).toMatchObject({ status: 'subscribed', tags: ['dbt'], merge_fields: { FNAME: 'Ann' } });
  });

  it('create mode leaves existing members as they are', async () => {
    twin.seedMember({ email: 'ann@example.org', status: 'unsubscribed', merge_fields: { FNAME: 'Ann' } });
    const results = await connect().write(
      [upsert('1', { email_address: 'ann@example.org', FNAME: 'Changed' }), upsert('2', { email_address: 'ben@example.org' })],
      options(),
      ctx('create'),
    );
    expect(results.map((r) => r.status)).toEqual(['synced', 'synced']);
    expect(twin.member('ann@example.org')).toMatchObject({ status: 'unsubscribed', merge_fields: { FNAME: 'Ann' } });
    expect(twin.requests.filter((r) => r.method === 'PUT')).toHaveLength(0);
  });

  it('sends skip_merge_validation when asked, so a required merge field may be missing', async () => {
    await restart({ lists: { aud1: { mergeFields: [{ tag: 'FNAME', type: 'text', required: true }] } } });
    const [strict] = await connect().write([upsert('1', { email_address: 'a@example.org' })], options(), ctx());
    expect(strict).toMatchObject({ status: 'failed', retryable: false, message: expect.stringContaining('FNAME') });
    const [lenient] = await connect().write([upsert('1', { email_address: 'a@example.org' })], options({ skip_merge_validation: true }), ctx());
    expect(lenient).toMatchObject({ status: 'synced' });
    expect(batchRequests().at(-1)!.query.get('skip_merge_validation')).toBe('true');
  });
});

describe('mailchimp: per-member rejections', () => {
  it("maps each member's errors[] entry back to its record key and accepts the others", async () => {
    const results = await connect().write(
      [
        upsert('10', { email_address: 'good@example.org', FNAME: 'Good' }),
        upsert('11', { email_address: 'not-an-email', FNAME: 'Bad' }),
        upsert('12', { email_address: 'someone@fake-domain.invalid' }),
        upsert('13', { email_address: 'plan@example.org', PLAN: 'platinum' }),
        upsert('14', { email_address: null }),
        upsert('15', { email_address: 'GOOD@example.org' }),
      ],
      options(),
      ctx(),
    );
    const byKey = new Map(results.map((r) => [r.key, r]));
    expect(byKey.get('10')).toMatchObject({ status: 'synced' });
    expect(byKey.get('11')).toMatchObject({ status: 'failed', retryable: false, code: 'ERROR_GENERIC', message: expect.stringContaining('not-an-email') });
    expect(byKey.get('12')).toMatchObject({ status: 'failed', retryable: false, message: expect.stringContaining('looks fake or invalid') });
    expect(byKey.get('13')).toMatchObject({ status: 'failed', retryable: false, message: expect.stringContaining('PLAN') });
    expect(byKey.get('14')).toMatchObject({ status: 'failed', retryable: false, code: 'MISSING_EMAIL' });
    expect(byKey.get('15')).toMatchObject({ status: 'failed', retryable: false, code: 'DUPLICATE_EMAIL', message: expect.stringContaining('record 10') });
    expect(twin.members().map((m) => m.email_address)).toEqual(['good@example.org']);
  });

  it('names the member in each rejection, so that members refused for one reason are not split as a refused batch', async () => {
    const results = await connect().write(
      [upsert('1', { email_address: 'a@example.org', NOPE: 'x' }), upsert('2', { email_address: 'b@example.org', NOPE: 'y' })],
      options(),
      ctx(),
    );
    expect(results).toEqual([
      expect.objectContaining({ status: 'failed', message: 'Your merge fields were invalid. (NOPE: This merge field does not exist in the audience.) (a@example.org)' }),
      expect.objectContaining({ status: 'failed', message: 'Your merge fields were invalid. (NOPE: This merge field does not exist in the audience.) (b@example.org)' }),
    ]);
  });

  it('rejects a PUT of an existing member with the field Mailchimp names', async () => {
    twin.seedMember({ email: 'ann@example.org', status: 'subscribed' });
    const [result] = await connect().write([upsert('7', { email_address: 'ann@example.org', LASTORDER: 'yesterday' }, 'changed')], options(), ctx());
    expect(result).toMatchObject({ key: '7', status: 'failed', retryable: false, code: 'Invalid Resource', message: expect.stringContaining('LASTORDER') });
  });
});

describe('mailchimp: removals', () => {
  it('audience mode: a row leaving the model untags the member, who stays in the audience', async () => {
    const d = connect();
    const ann = { email_address: 'ann@example.org', FNAME: 'Ann' };
    await d.write([upsert('1', ann), upsert('2', { email_address: 'bo@example.org' })], options({ tags: ['win_back'] }), ctx('audience'));
    expect(twin.member('ann@example.org')!.tags).toEqual(['win_back']);

    const results = await d.write([removal('1', ann), removal('9', { email_address: 'never@example.org' })], options({ tags: ['win_back'] }), ctx('audience'));
    expect(results).toEqual([
      { key: '1', status: 'synced' },
      { key: '9', status: 'synced' },
    ]);
    expect(twin.member('ann@example.org')).toMatchObject({ tags: [], archived: false, status: 'subscribed' });
    expect(twin.member('bo@example.org')!.tags).toEqual(['win_back']);
  });

  it('a changed address moves the record: the old member leaves the audience (untag) or the mirror (archive)', async () => {
    const d = connect();
    const tags = options({ tags: ['win_back'] });
    await d.write([upsert('1', { email_address: 'old@example.org' }), upsert('2', { email_address: 'keep@example.org' })], tags, ctx('audience'));
    const moved: Change = { ...upsert('1', { email_address: 'new@example.org' }, 'changed'), destinationId: md5Email('old@example.org') };
    const [result] = await d.write([moved], tags, ctx('audience'));
    expect(result).toEqual({ key: '1', status: 'synced', destinationId: md5Email('new@example.org') });
    expect(twin.member('old@example.org')).toMatchObject({ tags: [], archived: false });
    expect(twin.member('new@example.org')).toMatchObject({ tags: ['win_back'] });

    const again: Change = { ...upsert('2', { email_address: 'kept@example.org' }, 'changed'), destinationId: md5Email('keep@example.org') };
    expect((await d.write([again], options(), ctx('mirror')))[0]).toMatchObject({ status: 'synced' });
    expect(twin.member('keep@example.org')).toMatchObject({ archived: true });
    // Upsert mode leaves the old member alone.
    const upserted: Change = { ...upsert('3', { email_address: 'b@example.org' }, 'changed'), destinationId: md5Email('new@example.org') };
    await d.write([upserted], options(), ctx('upsert'));
    expect(twin.member('new@example.org')).toMatchObject({ archived: false, tags: ['win_back'] });
  });

  it('audience mode with on_delete: archive archives the member', async () => {
    const d = connect();
    const ann = { email_address: 'ann@example.org' };
    await d.write([upsert('1', ann)], options({ tags: ['win_back'] }), ctx('audience'));
    const [result] = await d.write([removal('1', ann, 'archive')], options({ tags: ['win_back'] }), ctx('audience'));
    expect(result).toEqual({ key: '1', status: 'synced' });
    expect(twin.member('ann@example.org')).toMatchObject({ archived: true });
  });

  it('audience mode without tags stops before sending anything', async () => {
    await expect(connect().write(customers(1), options(), ctx('audience'))).rejects.toThrow(/audience mode needs tags/);
    expect(twin.requests).toHaveLength(0);
  });

  it('mirror mode archives removed members (DELETE); one already gone counts as done', async () => {
    const d = connect();
    await d.write(customers(2), options(), ctx('mirror'));
    const results = await d.write(
      [removal('1', { email_address: 'user1@shop.test' }), removal('5', { email_address: 'gone@shop.test' })],
      options(),
      ctx('mirror'),
    );
    expect(results.map((r) => r.status)).toEqual(['synced', 'synced']);
    expect(twin.member('user1@shop.test')).toMatchObject({ archived: true });
    expect(twin.member('user2@shop.test')).toMatchObject({ archived: false });
    expect(twin.requests.filter((r) => r.method === 'DELETE')).toHaveLength(2);
  });

  it('on_delete: clear blanks the merge fields it had sent (PATCH) and leaves the status alone', async () => {
    const d = connect();
    await d.write([upsert('1', { email_address: 'ann@example.org', FNAME: 'Ann', LTV: 5 })], options(), ctx('mirror'));
    const cleared: Change = { ...removal('1', { email_address: 'ann@example.org', FNAME: null, LTV: null }), operation: 'upsert' };
    const [result] = await d.write([cleared], options(), ctx('mirror'));
    expect(result).toEqual({ key: '1', status: 'synced' });
    expect(twin.requests.find((r) => r.method === 'PATCH')!.json).toEqual({ merge_fields: { FNAME: '', LTV: '' } });
    expect(twin.member('ann@example.org')).toMatchObject({ status: 'subscribed', merge_fields: { FNAME: '', LTV: '' } });
  });
});

describe('mailchimp: throttling and limits', () => {
  it('survives a 429 storm from the 10-connection gate with every member delivered and no batch over 500', async () => {
    // Fewer connections than the connector uses: the gate refuses the excess with 429.
    await restart({ maxConnections: 4, latencyMs: 2 });
    // Existing members take a PUT and a tags call each: many concurrent requests.
    for (let i = 451; i <= 550; i++) twin.seedMember({ email: `user${i}@shop.test`, status: 'subscribed' });
    // And a few 429s on top, as another integration on the account would cause.
    twin.respondWith((r) => (r.index % 7 === 3 ? { status: 429, body: { title: 'Too Many Requests', status: 429 } } : undefined));
    const d = connect();
    const batches = [customers(500, 1), customers(500, 501), customers(200, 1001)];
    const results = (await Promise.all(batches.map((b) => d.write(b, options({ tags: ['dbt'] }), ctx())))).flat();

    expect(results.filter((r) => r.status !== 'synced')).toEqual([]);
    expect(twin.gateRejections).toBeGreaterThan(0);
    expect(twin.maxBatchMembers).toBe(500);
    expect(twin.members().filter((m) => m.tags.includes('dbt'))).toHaveLength(1200);
    expect(twin.member('user1@shop.test')).toMatchObject({ merge_fields: { FNAME: 'User1', LTV: 10 } });
  });

  it('never has more than 10 requests in flight with the default concurrency', async () => {
    await restart({ latencyMs: 5 });
    for (let i = 1; i <= 300; i++) twin.seedMember({ email: `user${i}@shop.test`, status: 'subscribed' });
    const d = connect();
    const results = (await Promise.all([d.write(customers(300), options(), ctx()), d.write(customers(100, 301), options(), ctx())])).flat();
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.maxInFlight).toBeLessThanOrEqual(10);
    expect(twin.maxInFlight).toBeGreaterThan(1);
    expect(twin.gateRejections).toBe(0);
    expect(() => mailchimp.config.parse({ type: 'mailchimp', api_key: TWIN_API_KEY, concurrency: 11 })).toThrow();
    expect(() => mailchimp.config.parse({ type: 'mailchimp', api_key: TWIN_API_KEY, batch_size: 501 })).toThrow();
  });

  it('treats a bodyless 403 as throttling: the records fail as retryable and the sync goes on', async () => {
    await restart({ maxConnections: 0, throttleAnswer: 'bodyless-403' });
    const results = await connect().write(customers(2), options(), ctx());
    expect(results).toEqual([
      expect.objectContaining({ key: '1', status: 'failed', retryable: true, message: expect.stringContaining('403 with no body') }),
      expect.objectContaining({ key: '2', status: 'failed', retryable: true }),
    ]);
  });

  it('stops the sync when still throttled after the 429 budget', async () => {
    twin.respondWith(() => ({ status: 429, body: { title: 'Too Many Requests', status: 429 } }));
    const write = connect({}, { ...FAST_RETRY, throttleRetries: 3 }).write(customers(2), options(), ctx());
    await expect(write).rejects.toBeInstanceOf(DestinationError);
    await expect(write).rejects.toThrow(/still throttled \(HTTP 429\) after 4 attempts/);
  });
});

describe('mailchimp: credentials and configuration', () => {
  it('stops the sync on a refused key, naming the setting and never the key', async () => {
    twin.revokeCredentials();
    const error = await connect().write(customers(1), options(), ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    const message = (error as Error).message;
    expect(message).toContain('HTTP 401');
    expect(message).toContain('API Key Invalid');
    expect(message).toContain('check api_key');
    expect(message).not.toContain(TWIN_API_KEY);
    expect(message).not.toContain(TWIN_API_KEY.split('-')[0]);
  });

  it('treats a 403 with an explanation as a refusal', async () => {
    twin.respondWith(() => ({ status: 403, body: { title: 'Forbidden', status: 403, detail: 'User does not have access to the requested operation' } }));
    await expect(connect().write(customers(1), options(), ctx())).rejects.toThrow(/refused the credentials \(HTTP 403: Forbidden/);
  });

  it('accepts an OAuth token as a bearer token', async () => {
    await restart({ oauthToken: 'oauth-token-1234' });
    const [result] = await connect({ api_key: undefined, oauth_token: 'oauth-token-1234', server: 'us21' }).write(customers(1), options(), ctx());
    expect(result).toMatchObject({ status: 'synced' });
    expect(twin.requests[0]!.headers.authorization).toBe('Bearer oauth-token-1234');
  });

  it('stops on an unknown audience with the list_id to check', async () => {
    await expect(connect().write(customers(1), options({ list_id: 'nope' }), ctx())).rejects.toThrow(/audience list_id "nope" was not found/);
  });

  it('reads the data center from the key unless base_url or server says otherwise', () => {
    const parse = (entry: Record<string, unknown>) => mailchimp.config.parse({ type: 'mailchimp', ...entry });
    expect(apiRoot(parse({ api_key: 'abc123-us21' }))).toBe('https://us21.api.mailchimp.com/3.0');
    expect(apiRoot(parse({ api_key: 'abc123-us21', server: 'us6' }))).toBe('https://us6.api.mailchimp.com/3.0');
    expect(apiRoot(parse({ api_key: 'abc123', base_url: 'http://127.0.0.1:9/3.0/' }))).toBe('http://127.0.0.1:9/3.0');
    const noDc = mailchimp.config.safeParse({ type: 'mailchimp', api_key: 'secretkeywithoutdc' });
    expect(noDc.success).toBe(false);
    expect(JSON.stringify(noDc.error)).not.toContain('secretkeywithoutdc');
    expect(mailchimp.config.safeParse({ type: 'mailchimp', oauth_token: 'tok-1234' }).success).toBe(false);
    expect(mailchimp.config.safeParse({ type: 'mailchimp', api_key: 'a-us1', oauth_token: 'b' }).success).toBe(false);
    expect(mailchimp.options.safeParse({ list_id: 'aud1' }).success).toBe(false);
    expect(mailchimp.options.safeParse({ list_id: 'aud1', status_if_new: 'unsubscribed' }).success).toBe(false);
    expect(mailchimp.secretKeys).toEqual(['api_key', 'oauth_token']);
  });
});

describe('mailchimp: validate --online (checkMapping)', () => {
  it('reports unknown merge fields, unmapped required fields, incompatible column types and a missing email', async () => {
    await restart({
      lists: {
        aud1: {
          mergeFields: [
            { tag: 'FNAME', type: 'text' },
            { tag: 'LTV', type: 'number' },
            { tag: 'COMPANY', name: 'Company', type: 'text', required: true },
            { tag: 'SIGNUP', type: 'date' },
          ],
        },
      },
    });
    const problems = await connect().checkMapping!(
      [
        { field: 'FNAM', column: 'first_name', columnType: 'VARCHAR', isIdentifier: false },
        { field: 'LTV', column: 'last_order_date', columnType: 'DATE', isIdentifier: false },
        { field: 'SIGNUP', column: 'order_count', columnType: 'BIGINT', isIdentifier: false },
        { field: 'language', column: 'lang', columnType: 'VARCHAR', isIdentifier: false },
      ],
      options(),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^map the email column to email_address/),
      expect.stringMatching(/"FNAM" is not a merge field of audience aud1 \(did you mean "FNAME"\?\)/),
      'LTV (from column last_order_date): merge field type is number; the column is DATE',
      'SIGNUP (from column order_count): merge field type is date; the column is BIGINT (map a DATE column)',
      expect.stringMatching(/merge field COMPANY \("Company"\) is required/),
    ]);
    const fine = await connect().checkMapping!(
      [
        { field: 'email_address', column: 'email', columnType: 'VARCHAR', isIdentifier: true },
        { field: 'FNAME', column: 'first_name', columnType: undefined, isIdentifier: false },
      ],
      options({ skip_merge_validation: true }),
    );
    expect(fine).toEqual([]);
    expect(twin.requests.every((r) => r.method === 'GET')).toBe(true);
  });
});
