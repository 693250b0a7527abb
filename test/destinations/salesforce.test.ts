/**
 * The Salesforce connector against the Salesforce twin (test/twins/salesforce-twin.ts) over real
 * sockets, through the real HTTP layer: sObject Collections and Bulk API 2.0, every mode, record
 * errors, locks, OAuth renewal, the daily and concurrent limits, and validate --online.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { salesforce, type SalesforceOptions } from '../../destinations/salesforce/index.js';
import { csvLine, parseCsv } from '../../destinations/salesforce/csv.js';
import { bulkError } from '../../destinations/salesforce/results.js';
import { plainNumber, soqlLiteral } from '../../destinations/salesforce/values.js';
import type { Change, Destination, Mode, RecordResult, WriteContext } from '../../destinations/types.js';
import { DestinationError } from '../../src/errors.js';
import { createHttpClient } from '../../src/http/http-client.js';
import type { HttpClient } from '../../src/http/types.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { startSalesforceTwin, type SalesforceTwin, type SalesforceTwinOptions, type TwinRequest } from '../twins/salesforce-twin.js';

const TOKEN = '00Dtwin!initial-token';
const FAST_RETRY = { retries: 2, throttleRetries: 5, minDelayMs: 5, maxDelayMs: 20 } as const;
const CONTACT: SalesforceOptions = { object: 'Contact' };
const V = '/services/data/v62.0';

let twin: SalesforceTwin;
let http: HttpClient | undefined;
let expectViolations = false;

beforeEach(async () => {
  twin = await startSalesforceTwin();
  expectViolations = false;
});

afterEach(async () => {
  await http?.close();
  http = undefined;
  await twin.close();
  if (!expectViolations) twin.assertNoViolations();
});

async function restart(options: SalesforceTwinOptions): Promise<void> {
  await twin.close();
  twin = await startSalesforceTwin(options);
}

function connect(
  overrides: Record<string, unknown> = {},
  options: { requests?: number; log?: Logger } = {},
): Destination<SalesforceOptions> {
  const config = salesforce.config.parse({
    type: 'salesforce',
    instance_url: twin.url,
    login_url: twin.url,
    access_token: TOKEN,
    bulk_poll_seconds: 0.005,
    ...overrides,
  });
  const limits = salesforce.limits(config);
  http = createHttpClient({
    limits: { requests: options.requests ?? 10_000, perSeconds: 1, concurrency: limits.concurrency },
    retry: FAST_RETRY,
  });
  return salesforce.create(config, { http, log: options.log ?? silentLogger, name: 'crm', cwd: process.cwd() });
}

function change(key: string, fields: Record<string, unknown>, identifier: string | null, extra: Partial<Change> = {}): Change {
  return {
    operation: 'upsert',
    kind: 'added',
    key,
    hash: `h-${key}-${JSON.stringify(fields)}`,
    fields,
    identifier: identifier === null ? {} : { [identifier]: fields[identifier] },
    previous: null,
    destinationId: null,
    ...extra,
  };
}

/** A contact keyed by Customer_Id__c (a Number External ID). */
function contact(n: number, extra: Record<string, unknown> = {}): Change {
  return change(String(n), { Customer_Id__c: n, LastName: `Last ${n}`, Email: `c${n}@example.com`, ...extra }, 'Customer_Id__c');
}

function removal(key: string, destinationId: string | null, identifier: Record<string, unknown> = {}): Change {
  return {
    operation: 'delete',
    kind: 'removed',
    key,
    hash: `h-${key}`,
    fields: { ...identifier },
    identifier,
    previous: { ...identifier },
    destinationId,
  };
}

function ctx(mode: Mode = 'upsert'): WriteContext {
  return { syncId: 'contacts', runId: 'run-1', mode };
}

function contacts(from: number, count: number, extra: (n: number) => Record<string, unknown> = () => ({})): Change[] {
  return Array.from({ length: count }, (_, i) => contact(from + i, extra(from + i)));
}

function byCustomer(): Map<number, Record<string, unknown>> {
  return new Map(twin.records('Contact').map((r) => [r.Customer_Id__c as number, r]));
}

function apiRequests(): TwinRequest[] {
  return twin.requests.filter((r) => r.path.startsWith('/services/data/'));
}

function recordsOf(request: TwinRequest): Record<string, unknown>[] {
  return (request.json as { records: Record<string, unknown>[] }).records;
}

function failedResult(results: readonly RecordResult[], key: string) {
  const result = results.find((r) => r.key === key);
  if (result?.status !== 'failed') throw new Error(`record ${key} did not fail: ${JSON.stringify(result)}`);
  return result;
}

async function thrown(promise: Promise<unknown>): Promise<DestinationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DestinationError);
  return error as DestinationError;
}

describe('salesforce: upsert through sObject Collections', () => {
  it('PATCHes the documented collection with Salesforce value formats and returns the record Ids', async () => {
    const destination = connect();
    const batch = [
      contact(1, {
        FirstName: 'Zoë "Z", O\'Brien',
        Last_Order_Date__c: '2025-06-30',
        Last_Seen_At__c: '2025-06-30T12:34:56.123456Z',
        Interests__c: ['a', 'c'],
        Is_Active__c: true,
        Lifetime_Value__c: '12345678901234.56',
        Plan__c: null,
      }),
      contact(2, { Order_Count__c: 3 }),
    ];
    const results = await destination.write(batch, CONTACT, ctx());

    const [request] = apiRequests();
    expect(request).toMatchObject({ method: 'PATCH', path: `${V}/composite/sobjects/Contact/Customer_Id__c` });
    expect(request!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request!.json).toMatchObject({ allOrNone: false });
    expect(recordsOf(request!)[0]).toEqual({
      attributes: { type: 'Contact' },
      Customer_Id__c: 1,
      LastName: 'Last 1',
      Email: 'c1@example.com',
      FirstName: 'Zoë "Z", O\'Brien',
      Last_Order_Date__c: '2025-06-30',
      Last_Seen_At__c: '2025-06-30T12:34:56.123Z',
      Interests__c: 'a;c',
      Is_Active__c: true,
      Lifetime_Value__c: '12345678901234.56',
      Plan__c: null,
    });
    const stored = byCustomer();
    expect(results).toEqual([
      { key: '1', status: 'synced', destinationId: stored.get(1)!.Id },
      { key: '2', status: 'synced', destinationId: stored.get(2)!.Id },
    ]);
    expect(stored.get(1)).toMatchObject({ Last_Seen_At__c: '2025-06-30T12:34:56.123Z', Interests__c: 'a;c', Plan__c: null });

    // Again: the same records are updated, not duplicated, and keep their Ids.
    const again = await destination.write([contact(1, { FirstName: 'Ada' })], CONTACT, ctx());
    expect(again).toEqual([{ key: '1', status: 'synced', destinationId: stored.get(1)!.Id }]);
    expect(twin.records('Contact')).toHaveLength(2);
    expect(byCustomer().get(1)).toMatchObject({ FirstName: 'Ada', Last_Order_Date__c: '2025-06-30' });
  });

  it('sends 450 records as requests of at most 200, in order', async () => {
    const results = await connect({ concurrency: 2 }).write(contacts(1, 450), CONTACT, ctx());

    expect(twin.writeRequests().map((r) => recordsOf(r).length).sort((a, b) => b - a)).toEqual([200, 200, 50]);
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(results.map((r) => r.key)).toEqual(Array.from({ length: 450 }, (_, i) => String(i + 1)));
    expect(twin.records('Contact')).toHaveLength(450);
  });

  it('maps per-record errors to the right key with Salesforce\'s error code, not retryable', async () => {
    const batch = [
      contact(1),
      contact(2, { Email: 'not-an-email' }),
      change('3', { Customer_Id__c: 3, Email: 'c3@example.com' }, 'Customer_Id__c'), // new, no LastName
      contact(4, { Plan__c: 'platinum' }),
      contact(5),
    ];
    const results = await connect().write(batch, CONTACT, ctx());

    expect(results.map((r) => [r.key, r.status])).toEqual([
      ['1', 'synced'],
      ['2', 'failed'],
      ['3', 'failed'],
      ['4', 'failed'],
      ['5', 'synced'],
    ]);
    expect(failedResult(results, '2')).toMatchObject({ code: 'INVALID_EMAIL_ADDRESS', retryable: false });
    expect(failedResult(results, '2').message).toContain('invalid email address: not-an-email');
    expect(failedResult(results, '2').message).toContain('Contact Customer_Id__c = 2');
    expect(failedResult(results, '3')).toMatchObject({ code: 'REQUIRED_FIELD_MISSING', retryable: false });
    expect(failedResult(results, '3').message).toMatch(/Required fields are missing: \[LastName\] \[LastName\]/);
    expect(failedResult(results, '4')).toMatchObject({ code: 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', retryable: false });
    expect([...byCustomer().keys()].sort()).toEqual([1, 5]);
    expect(twin.writeRequests()).toHaveLength(1);
  });

  it('gives records failing the same rule distinct messages, so the engine never splits their batch', async () => {
    twin.rule('Contact', () => ({ statusCode: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Region is required', fields: [] }));
    const results = await connect().write(contacts(1, 4), CONTACT, ctx());
    const messages = results.map((r) => (r.status === 'failed' ? r.message : ''));
    expect(new Set(messages).size).toBe(4);
    expect(results.every((r) => r.status === 'failed' && r.code === 'FIELD_CUSTOM_VALIDATION_EXCEPTION')).toBe(true);
  });

  it('isolates a record whose value the JSON parser refuses (400 for the whole request) by halving the request', async () => {
    const batch = contacts(1, 8, (n) => (n === 3 ? { Churn_Risk__c: 'high' } : { Churn_Risk__c: n / 10 }));
    const results = await connect().write(batch, CONTACT, ctx());

    expect(failedResult(results, '3')).toMatchObject({ code: 'JSON_PARSER_ERROR', retryable: false });
    expect(results.filter((r) => r.status === 'synced')).toHaveLength(7);
    expect([...byCustomer().keys()].sort((a, b) => a - b)).toEqual([1, 2, 4, 5, 6, 7, 8]);
    // 8 refused -> 1-4 refused -> 1-2 fine, 3-4 refused -> 3 refused, 4 fine; then 5-8 fine.
    expect(twin.writeRequests().map((r) => recordsOf(r).length)).toEqual([8, 4, 2, 2, 1, 1, 4]);
  });

  it('answers empty and repeated identifier values without sending them', async () => {
    const batch = [
      contact(1),
      change('2', { Customer_Id__c: null, LastName: 'Nobody' }, 'Customer_Id__c'),
      change('3', { Customer_Id__c: 1, LastName: 'Again' }, 'Customer_Id__c'),
    ];
    const results = await connect().write(batch, CONTACT, ctx());
    expect(results[0]).toMatchObject({ status: 'synced' });
    expect(results[1]).toMatchObject({ status: 'failed', code: 'MISSING_ARGUMENT', retryable: false });
    expect(results[2]).toMatchObject({ status: 'failed', code: 'DUPLICATE_EXTERNAL_ID', retryable: false });
    expect(recordsOf(twin.writeRequests()[0]!)).toHaveLength(1);
  });

  it('stops the sync when the mapping is wrong: an unknown field, an identifier that is not an External ID, none, or Id', async () => {
    const destination = connect();
    const unknown = await thrown(destination.write([contact(1, { Favourite_Colour__c: 'blue' })], CONTACT, ctx()));
    expect(unknown.message).toMatch(/INVALID_FIELD: No such column 'Favourite_Colour__c' on sobject of type Contact/);

    const byEmail = await thrown(
      destination.write([change('1', { Email: 'a@example.com', LastName: 'A' }, 'Email')], CONTACT, ctx()),
    );
    expect(byEmail.message).toMatch(/Email is not an External ID/);

    const none = await thrown(destination.write([change('1', { LastName: 'A' }, null)], CONTACT, ctx()));
    expect(none.message).toMatch(/needs exactly one identifier field .*none is mapped/);

    const byId = await thrown(destination.write([change('1', { Id: '003000000000001AAA' }, 'Id')], CONTACT, ctx()));
    expect(byId.message).toMatch(/mode: update/);
    expect(twin.records('Contact')).toHaveLength(0);
  });

  it('sends a record refused with UNABLE_TO_LOCK_ROW once more, and fails it as retryable if still locked', async () => {
    twin.lock('Contact', (v) => v.Customer_Id__c === 2, 1);
    const once = await connect().write(contacts(1, 3), CONTACT, ctx());
    expect(once.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.writeRequests().map((r) => recordsOf(r).map((c) => c.Customer_Id__c))).toEqual([[1, 2, 3], [2]]);

    twin.lock('Contact', (v) => v.Customer_Id__c === 5, 5);
    const stuck = await connect().write(contacts(4, 3), CONTACT, ctx());
    expect(failedResult(stuck, '5')).toMatchObject({ code: 'UNABLE_TO_LOCK_ROW', retryable: true });
    expect(stuck.filter((r) => r.status === 'synced')).toHaveLength(2);

    const noRetry = await connect({ lock_retries: 0 }).write([contact(5)], CONTACT, ctx());
    expect(noRetry[0]).toMatchObject({ status: 'failed', code: 'UNABLE_TO_LOCK_ROW' });
    expect(twin.writeRequests()).toHaveLength(2 + 2 + 1);
  });
});

describe('salesforce: Bulk API 2.0', () => {
  it('sends a batch at the threshold as one ingest job and matches the shuffled results back by external id', async () => {
    twin.seed('Contact', { Customer_Id__c: 7, LastName: 'Seeded', FirstName: 'Kept', Email: 'old@example.com' });
    const tricky = 'Zoë "Z", O\'Brien\nÅngström – 東京 🚀';
    const batch = contacts(1, 25, (n) => ({
      Churn_Risk__c: n / 100,
      Last_Order_Date__c: '2025-06-30',
      Last_Seen_At__c: '2025-06-30T12:34:56.999999Z',
      Is_Active__c: n % 2 === 0,
      Description: n === 4 ? tricky : ` padded ${n} `,
      Plan__c: n === 9 ? null : 'pro',
    }));
    batch[10] = contact(11, { Email: 'broken' });
    // A partial record: its FirstName column is empty, so Salesforce leaves the seeded value alone.
    batch[6] = change('7', { Customer_Id__c: 7, Email: 'new@example.com' }, 'Customer_Id__c');
    const results = await connect({ bulk_threshold: 20, batch_size: 100 }).write(batch, CONTACT, ctx());

    const [job, ...others] = twin.jobs();
    expect(others).toEqual([]);
    expect(job).toMatchObject({ object: 'Contact', operation: 'upsert', state: 'JobComplete', rows: 25 });
    expect(job!.polls).toBeGreaterThanOrEqual(3);
    const flow = apiRequests().map((r) => `${r.method} ${r.path.replace(job!.id, 'JOB')}`);
    expect(flow[0]).toBe(`POST ${V}/jobs/ingest`);
    expect(flow[1]).toBe(`PUT ${V}/jobs/ingest/JOB/batches`);
    expect(flow[2]).toBe(`PATCH ${V}/jobs/ingest/JOB`);
    expect(flow.filter((f) => f === `GET ${V}/jobs/ingest/JOB`).length).toBe(job!.polls);
    expect(flow.slice(-2)).toEqual([`GET ${V}/jobs/ingest/JOB/successfulResults`, `GET ${V}/jobs/ingest/JOB/failedResults`]);
    const created = apiRequests()[0]!.json;
    expect(created).toEqual({ object: 'Contact', operation: 'upsert', externalIdFieldName: 'Customer_Id__c', contentType: 'CSV', lineEnding: 'LF', columnDelimiter: 'COMMA' });
    expect(apiRequests()[1]!.headers['content-type']).toBe('text/csv');

    const stored = byCustomer();
    for (const result of results) {
      if (result.key === '11') continue;
      expect(result).toEqual({ key: result.key, status: 'synced', destinationId: stored.get(Number(result.key))!.Id });
    }
    expect(failedResult(results, '11')).toMatchObject({ code: 'INVALID_EMAIL_ADDRESS', retryable: false });
    expect(failedResult(results, '11').message).toContain('invalid email address: broken');
    expect(stored.get(4)).toMatchObject({ Description: tricky, Is_Active__c: true, Last_Seen_At__c: '2025-06-30T12:34:56.999Z' });
    expect(stored.get(5)).toMatchObject({ Description: ' padded 5 ', Is_Active__c: false, Churn_Risk__c: 0.05 });
    expect(stored.get(9)!.Plan__c).toBeNull();
    expect(stored.get(7)).toMatchObject({ FirstName: 'Kept', LastName: 'Seeded', Email: 'new@example.com' });
    expect(stored.size).toBe(24);
  });

  it('uses sObject Collections below the threshold and never with bulk_threshold: false', async () => {
    await connect({ bulk_threshold: 20, batch_size: 100 }).write(contacts(1, 19), CONTACT, ctx());
    await connect({ bulk_threshold: false, batch_size: 100 }).write(contacts(20, 30), CONTACT, ctx());
    expect(twin.jobs()).toEqual([]);
    expect(twin.records('Contact')).toHaveLength(49);
  });

  it('keeps the results of a job that failed part-way and fails the unprocessed records as retryable', async () => {
    twin.failNextJob(10, 'InternalServerError : batch retried too many times');
    const results = await connect({ bulk_threshold: 5 }).write(contacts(1, 25), CONTACT, ctx());

    expect(twin.jobs()[0]).toMatchObject({ state: 'Failed' });
    const stored = byCustomer();
    expect(stored.size).toBe(10);
    for (const result of results) {
      if (stored.has(Number(result.key))) {
        expect(result).toEqual({ key: result.key, status: 'synced', destinationId: stored.get(Number(result.key))!.Id });
      } else {
        expect(result).toMatchObject({ status: 'failed', retryable: true });
        expect(result.status === 'failed' && result.message).toContain('InternalServerError : batch retried too many times');
      }
    }
  });

  it('fails records as retryable when a job\'s results cannot be read, keeping those that could', async () => {
    twin.respondWith((r) => (r.path.endsWith('/failedResults') ? { status: 500, body: 'down' } : undefined));
    const results = await connect({ bulk_threshold: 5 }).write(contacts(1, 6, (n) => (n === 2 ? { Email: 'bad' } : {})), CONTACT, ctx());
    expect(results.filter((r) => r.status === 'synced')).toHaveLength(5);
    expect(failedResult(results, '2')).toMatchObject({ retryable: true });
    expect(failedResult(results, '2').message).toMatch(/its results could not be read \(cannot read failedResults: .*HTTP 500/);
  });

  it('stops the sync when a job fails without processing anything (an unknown field)', async () => {
    const error = await thrown(connect({ bulk_threshold: 5 }).write(contacts(1, 6, () => ({ Nope__c: 1 })), CONTACT, ctx()));
    expect(error.message).toMatch(/failed without processing any record: InvalidBatch : Field name not found : Nope__c/);
  });

  it('inserts (create), updates and deletes in bulk too, matching results back', async () => {
    const destination = connect({ bulk_threshold: 5 });
    const created = await destination.write(
      Array.from({ length: 6 }, (_, i) => change(`n${i}`, { LastName: i === 2 ? 'Same' : `New ${i}`, FirstName: i === 3 ? 'Same' : 'x', Email: i === 5 ? 'bad' : `n${i}@example.com` }, null)),
      CONTACT,
      ctx('create'),
    );
    const ids = new Map(twin.records('Contact').map((r) => [r.Email, r.Id]));
    expect(created.filter((r) => r.status === 'synced')).toHaveLength(5);
    for (let i = 0; i < 5; i++) expect(created[i]).toEqual({ key: `n${i}`, status: 'synced', destinationId: ids.get(`n${i}@example.com`) });
    expect(created[5]).toMatchObject({ status: 'failed', code: 'INVALID_EMAIL_ADDRESS' });

    const updated = await destination.write(
      Array.from({ length: 5 }, (_, i) => change(`n${i}`, { Id: ids.get(`n${i}@example.com`), FirstName: `Updated ${i}` }, 'Id')),
      CONTACT,
      ctx('update'),
    );
    expect(updated.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.records('Contact').map((r) => r.FirstName).sort()).toEqual(['Updated 0', 'Updated 1', 'Updated 2', 'Updated 3', 'Updated 4']);

    const gone = ids.get('n0@example.com') as string;
    await destination.write([removal('n0', gone)], CONTACT, ctx('mirror'));
    const deleted = await destination.write(
      Array.from({ length: 5 }, (_, i) => removal(`n${i}`, ids.get(`n${i}@example.com`) as string)),
      CONTACT,
      ctx('mirror'),
    );
    expect(deleted.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.records('Contact')).toHaveLength(0);
    expect(twin.jobs().map((j) => j.operation)).toEqual(['insert', 'update', 'delete']);
  });
});

describe('salesforce: update, create and mirror', () => {
  it('update finds records by their identifier with SOQL and updates them by Id, never creating any', async () => {
    const ada = twin.seed('Contact', { LastName: 'Lovelace', Email: 'Ada@Example.com' });
    twin.seed('Contact', { LastName: 'Twin A', Email: 'twin@example.com' });
    twin.seed('Contact', { LastName: 'Twin B', Email: 'twin@example.com' });
    const batch = [
      change('1', { Email: 'ada@example.com', FirstName: 'Ada', Rank__c: 1 }, 'Email'),
      change('2', { Email: "o'hara@example.com", FirstName: 'Scarlett' }, 'Email'),
      change('3', { Email: 'twin@example.com', FirstName: 'Which' }, 'Email'),
    ];
    const results = await connect().write(batch, CONTACT, ctx('update'));

    expect(results).toEqual([
      { key: '1', status: 'synced', destinationId: ada },
      { key: '2', status: 'skipped', reason: "no Contact Email = o'hara@example.com in Salesforce (update mode never creates records)" },
      expect.objectContaining({ key: '3', status: 'failed', code: 'DUPLICATE_EXTERNAL_ID', retryable: false }),
    ]);
    const [describe, query, update] = apiRequests();
    expect(describe!.path).toBe(`${V}/sobjects/Contact/describe`);
    expect(query!.method).toBe('GET');
    expect(query!.query.get('q')).toBe(
      "SELECT Id, Email FROM Contact WHERE Email IN ('ada@example.com','o\\'hara@example.com','twin@example.com')",
    );
    expect(update).toMatchObject({ method: 'PATCH', path: `${V}/composite/sobjects` });
    expect(recordsOf(update!)).toEqual([{ attributes: { type: 'Contact' }, id: ada, FirstName: 'Ada', Rank__c: 1 }]);
    expect(twin.records('Contact').find((r) => r.Id === ada)).toMatchObject({ FirstName: 'Ada', Email: 'Ada@Example.com' });
    expect(twin.records('Contact')).toHaveLength(3);
  });

  it('looks records up by a Text External ID with quoted literals even when the column is a number (from the describe)', async () => {
    const acme = twin.seed('Account', { Name: 'Acme', Account_Key__c: '42' });
    const results = await connect().write([change('42', { Account_Key__c: 42, AnnualRevenue: 10 }, 'Account_Key__c')], { object: 'Account' }, ctx('update'));
    expect(results).toEqual([{ key: '42', status: 'synced', destinationId: acme }]);
    const [describe, query] = apiRequests();
    expect(describe!.path).toBe(`${V}/sobjects/Account/describe`);
    expect(query!.query.get('q')).toBe("SELECT Id, Account_Key__c FROM Account WHERE Account_Key__c IN ('42')");
  });

  it('update with identifier Id updates by the given Id without a lookup', async () => {
    const id = twin.seed('Contact', { LastName: 'Byid' });
    const results = await connect().write([change('1', { Id: id, FirstName: 'Given' }, 'Id')], CONTACT, ctx('update'));
    expect(results).toEqual([{ key: '1', status: 'synced', destinationId: id }]);
    expect(apiRequests().map((r) => r.method)).toEqual(['PATCH']);
  });

  it('create POSTs new records and returns their Ids; an Id field is refused', async () => {
    const destination = connect();
    const results = await destination.write(
      [change('a', { LastName: 'One', Email: 'one@example.com' }, null), change('b', { LastName: 'Two' }, null)],
      CONTACT,
      ctx('create'),
    );
    const [request] = apiRequests();
    expect(request).toMatchObject({ method: 'POST', path: `${V}/composite/sobjects` });
    expect(recordsOf(request!)[0]).toEqual({ attributes: { type: 'Contact' }, LastName: 'One', Email: 'one@example.com' });
    const ids = twin.records('Contact').map((r) => r.Id);
    expect(results).toEqual([
      { key: 'a', status: 'synced', destinationId: ids[0] },
      { key: 'b', status: 'synced', destinationId: ids[1] },
    ]);
    const error = await thrown(destination.write([change('c', { Id: ids[0], LastName: 'X' }, null)], CONTACT, ctx('create')));
    expect(error.message).toMatch(/field Id cannot be sent with mode create/);
  });

  it('mirror deletes by the stored Id; an already deleted record counts as done; no Id: found by identifier', async () => {
    const destination = connect();
    const upserted = await destination.write(contacts(1, 4), CONTACT, ctx('mirror'));
    const idOf = (key: string) => (upserted.find((r) => r.key === key) as { destinationId: string }).destinationId;
    await destination.write([removal('1', idOf('1'))], CONTACT, ctx('mirror'));

    const results = await destination.write(
      [
        removal('1', idOf('1')), // already deleted
        removal('2', idOf('2')),
        removal('3', null, { Customer_Id__c: 3 }), // no stored Id: looked up
        removal('9', null, { Customer_Id__c: 9 }), // never in Salesforce
      ],
      CONTACT,
      ctx('mirror'),
    );
    expect(results.map((r) => [r.key, r.status])).toEqual([
      ['1', 'synced'],
      ['2', 'synced'],
      ['3', 'synced'],
      ['9', 'synced'],
    ]);
    expect([...byCustomer().keys()]).toEqual([4]);
    const deletes = apiRequests().filter((r) => r.method === 'DELETE');
    expect(deletes.map((r) => r.query.get('ids')!.split(','))).toEqual([[idOf('1')], [idOf('1'), idOf('2'), idOf('3')]]);
    expect(deletes.every((r) => r.query.get('allOrNone') === 'false' && r.path === `${V}/composite/sobjects`)).toBe(true);
  });

  it('deletes 250 records in requests of at most 200 ids', async () => {
    const destination = connect();
    const upserted = await destination.write(contacts(1, 250), CONTACT, ctx('mirror'));
    const removals = upserted.map((r) => removal(r.key, (r as { destinationId: string }).destinationId));
    const results = await destination.write(removals, CONTACT, ctx('mirror'));
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(
      apiRequests()
        .filter((r) => r.method === 'DELETE')
        .map((r) => r.query.get('ids')!.split(',').length)
        .sort((a, b) => b - a),
    ).toEqual([200, 50]);
    expect(twin.records('Contact')).toHaveLength(0);
  });
});

describe('salesforce: authentication', () => {
  const OAUTH = { clientId: 'consumer-key', clientSecret: 'consumer-secret-value', refreshToken: 'refresh-token-value' };

  it('on INVALID_SESSION_ID renews the token once with the refresh token (one request for writes in flight) and sends again', async () => {
    await restart({ oauth: OAUTH, latencyMs: 5 });
    const destination = connect({ refresh_token: OAUTH.refreshToken, client_id: OAUTH.clientId, client_secret: OAUTH.clientSecret });
    await destination.write([contact(1)], CONTACT, ctx());
    twin.expireTokens();

    const results = await Promise.all([1, 2, 3].map((n) => destination.write([contact(10 + n)], CONTACT, ctx())));
    expect(results.flat().every((r) => r.status === 'synced')).toBe(true);
    expect(twin.tokenRequests).toBe(1);
    const token = twin.requests.find((r) => r.path === '/services/oauth2/token')!;
    expect(Object.fromEntries(new URLSearchParams(token.body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: OAUTH.refreshToken,
      client_id: OAUTH.clientId,
      client_secret: OAUTH.clientSecret,
    });
    const writes = twin.writeRequests();
    expect(writes.filter((r) => r.status === 401)).toHaveLength(3);
    expect(writes.filter((r) => r.status === 200)).toHaveLength(4);
    expect(twin.records('Contact')).toHaveLength(4);
  });

  it('fails with a clear message when the refresh token is refused, naming no secret', async () => {
    await restart({ oauth: OAUTH });
    twin.revokeRefreshToken();
    const destination = connect({ refresh_token: OAUTH.refreshToken, client_id: OAUTH.clientId, client_secret: OAUTH.clientSecret });
    twin.expireTokens();
    const error = await thrown(destination.write([contact(1)], CONTACT, ctx()));
    expect(error.message).toContain('Salesforce refused the session (INVALID_SESSION_ID: Session expired or invalid)');
    expect(error.message).toContain('invalid_grant: expired access/refresh token');
    expect(error.message).toContain('check refresh_token, client_id and client_secret');
    for (const secret of [TOKEN, OAUTH.refreshToken, OAUTH.clientSecret]) expect(error.message).not.toContain(secret);
    expect(twin.tokenRequests).toBe(1);
  });

  it('fails at once when an access token alone is refused (nothing to renew it with)', async () => {
    twin.expireTokens();
    const error = await thrown(connect().write([contact(1)], CONTACT, ctx()));
    expect(error.message).toMatch(/refused the access token \(INVALID_SESSION_ID: Session expired or invalid\); it expired or was revoked/);
    expect(twin.tokenRequests).toBe(0);
  });

  it('fails when a freshly issued token is refused too, after one renewal', async () => {
    await restart({ oauth: OAUTH });
    twin.respondWith((r) => (r.path.startsWith('/services/data/') ? { status: 401, body: [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }] } : undefined));
    const destination = connect({ refresh_token: OAUTH.refreshToken, client_id: OAUTH.clientId, client_secret: OAUTH.clientSecret });
    const error = await thrown(destination.write([contact(1)], CONTACT, ctx()));
    expect(error.message).toMatch(/refused a freshly issued access token too/);
    expect(twin.tokenRequests).toBe(1);
    expect(apiRequests()).toHaveLength(2);
  });

  it('client credentials: gets a token on first use and follows the instance_url the token response names', async () => {
    await restart({ oauth: { clientId: 'cc-key', clientSecret: 'cc-secret', clientCredentials: true }, moveInstanceOnToken: true });
    const config = { access_token: undefined, instance_url: undefined, login_url: twin.url, client_id: 'cc-key', client_secret: 'cc-secret' };
    const results = await connect(config).write([contact(1)], CONTACT, ctx());
    expect(results[0]).toMatchObject({ status: 'synced' });
    const token = twin.requests[0]!;
    expect(new URLSearchParams(token.body).get('grant_type')).toBe('client_credentials');
    const moved = Number(new URL(twin.movedUrl!).port);
    expect(apiRequests().map((r) => r.port)).toEqual([moved]);
  });
});

describe('salesforce: limits', () => {
  it('stops the sync on the daily API limit (403 REQUEST_LIMIT_EXCEEDED), keeping what was accepted before', async () => {
    await restart({ dailyLimit: 2 });
    const destination = connect();
    expect((await destination.write(contacts(1, 3), CONTACT, ctx()))[0]).toMatchObject({ status: 'synced' });
    expect((await destination.write(contacts(4, 3), CONTACT, ctx()))[0]).toMatchObject({ status: 'synced' });
    const error = await thrown(destination.write(contacts(7, 3), CONTACT, ctx()));
    expect(error.message).toMatch(/API request limit is used up \(REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded\.; api-usage=2\/2\)/);
    expect(error.message).toMatch(/What was delivered is kept/);
    expect(twin.records('Contact')).toHaveLength(6);
    // No retry burned on it: one refused request.
    expect(apiRequests().filter((r) => r.status === 403)).toHaveLength(1);
  });

  it('keeps the results of requests answered before the daily limit ran out mid-write, and stops at the next write', async () => {
    await restart({ dailyLimit: 2 });
    const destination = connect({ concurrency: 1 });
    const results = await destination.write(contacts(1, 450), CONTACT, ctx());
    const stored = byCustomer();
    expect(stored.size).toBe(400);
    for (const r of results) {
      if (stored.has(Number(r.key))) expect(r).toEqual({ key: r.key, status: 'synced', destinationId: stored.get(Number(r.key))!.Id });
      else expect(r).toMatchObject({ status: 'failed', retryable: true, message: expect.stringMatching(/^not sent: .*REQUEST_LIMIT_EXCEEDED/) });
    }
    const before = twin.requests.length;
    const error = await thrown(destination.write(contacts(500, 1), CONTACT, ctx()));
    expect(error.message).toMatch(/API request limit is used up/);
    expect(twin.requests.length).toBe(before);
  });

  it('stays within the org\'s concurrent request limit: no request refused, nothing lost', async () => {
    await restart({ maxConcurrent: 2, latencyMs: 15 });
    const destination = connect({ concurrency: 2 });
    const results = (await Promise.all([0, 1, 2].map((i) => destination.write(contacts(i * 500 + 1, 500), CONTACT, ctx())))).flat();
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.peakConcurrency).toBe(2);
    expect(apiRequests().every((r) => r.status === 200)).toBe(true);
    expect(twin.records('Contact')).toHaveLength(1500);
  });

  it('over the concurrent limit, refused requests fail their records as retryable and nothing is reported synced that is not stored', async () => {
    await restart({ maxConcurrent: 1, latencyMs: 15 });
    const destination = connect({ concurrency: 4 });
    const results = await destination.write(contacts(1, 800), CONTACT, ctx());
    const refused = results.filter((r) => r.status === 'failed');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => r.status === 'failed' && r.retryable && r.code === 'REQUEST_LIMIT_EXCEEDED')).toBe(true);
    const stored = byCustomer();
    for (const r of results) expect(stored.has(Number(r.key))).toBe(r.status === 'synced');

    // The next attempt (the next run) within the limit delivers the rest.
    const retried = await connect({ concurrency: 1 }).write(contacts(1, 800).filter((c) => refused.some((r) => r.key === c.key)), CONTACT, ctx());
    expect(retried.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.records('Contact')).toHaveLength(800);
  });

  it('survives 503 bursts through the HTTP layer\'s retries', async () => {
    let n = 0;
    twin.respondWith((r) => (r.method === 'PATCH' && n++ < 2 ? { status: 503, body: [{ errorCode: 'SERVER_UNAVAILABLE', message: 'try later' }] } : undefined));
    const results = await connect().write(contacts(1, 3), CONTACT, ctx());
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.writeRequests().map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('fails records as retryable when 5xx outlast the retries', async () => {
    twin.respondWith((r) => (r.method === 'PATCH' ? { status: 500, body: 'oops' } : undefined));
    const results = await connect().write(contacts(1, 3), CONTACT, ctx());
    expect(results.every((r) => r.status === 'failed' && r.retryable)).toBe(true);
    expect(twin.writeRequests()).toHaveLength(FAST_RETRY.retries + 1);
  });

  it('warns once when the org has used 90% of its daily API requests', async () => {
    await restart({ dailyLimit: 10 });
    const warnings: string[] = [];
    const log: Logger = { ...silentLogger, warn: (m) => void warnings.push(m) };
    const destination = connect({}, { log });
    for (let i = 0; i < 10; i++) await destination.write([contact(i + 1)], CONTACT, ctx());
    expect(warnings).toEqual(['Salesforce destination "crm": 9 of the org\'s 10 daily API requests are used']);
  });
});

describe('salesforce twin: refuses what the real API would', () => {
  it('flags a date not in YYYY-MM-DD (400 JSON_PARSER_ERROR) and a dateTime with more than milliseconds', async () => {
    expectViolations = true;
    const results = await connect().write([contact(1, { Last_Order_Date__c: '06/30/2025' })], CONTACT, ctx());
    expect(results[0]).toMatchObject({ status: 'failed', code: 'JSON_PARSER_ERROR' });
    expect(twin.violations).toEqual([expect.stringContaining('date field Last_Order_Date__c got "06/30/2025", not YYYY-MM-DD')]);

    const raw = await rawRequest('PATCH', `${V}/composite/sobjects/Contact/Customer_Id__c`, {
      allOrNone: false,
      records: [{ attributes: { type: 'Contact' }, Customer_Id__c: 2, LastName: 'X', Last_Seen_At__c: '2025-06-30T12:00:00.123456Z' }],
    });
    expect(raw.status).toBe(400);
    expect(twin.violations[1]).toMatch(/dateTime field Last_Seen_At__c/);
  });

  it('flags more than 200 records in a collection, a wrong path and a record carrying an Id in an upsert', async () => {
    expectViolations = true;
    const records = Array.from({ length: 201 }, (_, i) => ({ attributes: { type: 'Contact' }, Customer_Id__c: i, LastName: 'X' }));
    expect((await rawRequest('PATCH', `${V}/composite/sobjects/Contact/Customer_Id__c`, { records })).status).toBe(400);
    expect((await rawRequest('PATCH', `${V}/composite/sobject/Contact`, { records: [] })).status).toBe(404);
    expect(
      (await rawRequest('PATCH', `${V}/composite/sobjects/Contact/Customer_Id__c`, { records: [{ attributes: { type: 'Contact' }, Id: '003000000000001AAA', Customer_Id__c: 1 }] })).status,
    ).toBe(400);
    expect(twin.violations).toEqual([
      expect.stringContaining('201 records in one sObject Collections request'),
      expect.stringContaining('no such resource'),
      expect.stringContaining('carries an Id in a upsert'),
    ]);
    expect(() => twin.assertNoViolations()).toThrow(/real API would refuse/);
  });
});

describe('salesforce: activate validate --online (checkMapping)', () => {
  const mapped = (field: string, columnType: string | undefined, isIdentifier = false) => ({ field, column: field.toLowerCase(), columnType, isIdentifier });

  it('accepts a mapping that fits the object', async () => {
    const problems = await connect().checkMapping!(
      [
        mapped('Customer_Id__c', 'INTEGER', true),
        mapped('LastName', 'VARCHAR'),
        mapped('email', 'VARCHAR'),
        mapped('Lifetime_Value__c', 'DECIMAL(18,2)'),
        mapped('Order_Count__c', 'BIGINT'),
        mapped('Last_Order_Date__c', 'DATE'),
        mapped('Last_Seen_At__c', 'TIMESTAMP WITH TIME ZONE'),
        mapped('Is_Active__c', 'BOOLEAN'),
        mapped('Rank__c', 'DECIMAL(10,0)'),
        mapped('Description', undefined),
      ],
      CONTACT,
    );
    expect(problems).toEqual([]);
    expect(apiRequests().map((r) => `${r.method} ${r.path}`)).toEqual([`GET ${V}/sobjects/Contact/describe`]);
  });

  it('reports a missing object, unknown and read-only fields, identifiers that cannot match and types that do not fit', async () => {
    const destination = connect();
    expect(await destination.checkMapping!([mapped('Name', 'VARCHAR')], { object: 'Contcat' })).toEqual([
      'object Contcat does not exist in Salesforce, or the API user cannot see it',
    ]);
    const problems = await destination.checkMapping!(
      [
        mapped('FirstName', 'VARCHAR', true),
        mapped('LastNme', 'VARCHAR'),
        mapped('Score_Formula__c', 'DOUBLE'),
        mapped('Name', 'VARCHAR'),
        mapped('MailingAddress', 'VARCHAR'),
        mapped('Last_Order_Date__c', 'TIMESTAMP'),
        mapped('Last_Seen_At__c', 'DATE'),
        mapped('Rank__c', 'DOUBLE'),
        mapped('Is_Active__c', 'DATE'),
        mapped('Id', 'VARCHAR'),
      ],
      CONTACT,
    );
    expect(problems).toEqual([
      'identifier Contact.FirstName cannot match records: use Id, an External ID field or a unique field Salesforce can look records up by',
      'field LastNme does not exist on Contact (did you mean "LastName"?) (use field API names; custom fields end in __c)',
      'field Contact.Score_Formula__c is read-only (a formula or roll-up field) and cannot be written',
      'field Contact.Name is read-only (a formula or roll-up field) and cannot be written',
      'field Contact.MailingAddress is read-only (a system or read-only field) and cannot be written',
      'field Contact.MailingAddress is a compound address field; map its parts (e.g. MailingCity, MailingPostalCode) instead',
      'column last_order_date__c (TIMESTAMP) does not fit Contact.Last_Order_Date__c (date); cast the column to date',
      'column last_seen_at__c (DATE) does not fit Contact.Last_Seen_At__c (datetime); cast the column to a timestamp',
      'column rank__c (DOUBLE) does not fit Contact.Rank__c (int); round or cast the column to an integer',
      'column is_active__c (DATE) does not fit Contact.Is_Active__c (boolean)',
      'Contact.Id cannot be written; map it under identifier: to update records by their Salesforce Id (mode: update)',
    ]);
  });
});

describe('salesforce: configuration', () => {
  const parse = (entry: Record<string, unknown>) => salesforce.config.safeParse({ type: 'salesforce', ...entry });
  const messages = (entry: Record<string, unknown>) => {
    const result = parse(entry);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('accepts the three ways to authenticate and fills in defaults', () => {
    const token = parse({ instance_url: 'https://acme.my.salesforce.com/', access_token: 't' });
    expect(token.success && token.data).toMatchObject({
      instance_url: 'https://acme.my.salesforce.com',
      login_url: 'https://login.salesforce.com',
      api_version: '62.0',
      concurrency: 4,
      lock_retries: 1,
    });
    expect(parse({ refresh_token: 'r', client_id: 'c' }).success).toBe(true);
    expect(parse({ client_id: 'c', client_secret: 's', login_url: 'https://acme.my.salesforce.com' }).success).toBe(true);
    for (const version of [61, '61.0', 'v61.0']) {
      const parsed = parse({ instance_url: 'https://a.my.salesforce.com', access_token: 't', api_version: version });
      expect(parsed.success && parsed.data.api_version).toBe('61.0');
    }
  });

  it('explains what is missing or wrong', () => {
    expect(messages({})).toEqual([expect.stringMatching(/^access_token: set access_token \(with instance_url\), or refresh_token with client_id/)]);
    expect(messages({ access_token: 't' })).toEqual([expect.stringMatching(/^instance_url: is required with access_token/)]);
    expect(messages({ refresh_token: 'r' })).toContain("client_id: the refresh token flow needs client_id (the connected app's consumer key)");
    expect(messages({ client_id: 'c', client_secret: 's' })).toEqual([expect.stringMatching(/^login_url: the client credentials flow does not work with login.salesforce.com/)]);
    expect(messages({ instance_url: 'https://a.my.salesforce.com', access_token: 't', api_version: '39.0' })).toEqual([
      expect.stringMatching(/^api_version: must be an API version such as "62.0" \(46.0 or later\)/),
    ]);
    expect(messages({ instance_url: 'https://a.my.salesforce.com', access_token: 't', batch_size: 500, bulk_threshold: 1000 })).toEqual([
      expect.stringMatching(/^bulk_threshold: is above batch_size \(500\)/),
    ]);
    expect(messages({ instance_url: 'https://a.my.salesforce.com', access_token: 't', retry: { attempts: 1 } })).toEqual([expect.stringMatching(/Unrecognized key/)]);
  });

  it('declares its limits, modes, secrets and a link to the object', () => {
    const config = salesforce.config.parse({ type: 'salesforce', instance_url: 'https://acme.my.salesforce.com', access_token: 't' });
    expect(salesforce.limits(config)).toEqual({ batchSize: 10_000, concurrency: 4, requests: 20, perSeconds: 1 });
    expect(salesforce.limits({ ...config, bulk_threshold: false })).toMatchObject({ batchSize: 2_000 });
    expect(salesforce.limits({ ...config, bulk_threshold: 50_000 })).toMatchObject({ batchSize: 50_000 });
    expect(salesforce.secretKeys).toEqual(['access_token', 'refresh_token', 'client_secret']);
    expect(salesforce.modes).toEqual(['upsert', 'update', 'create', 'mirror']);
    expect(salesforce.url!(config, { object: 'Contact' })).toBe('https://acme.my.salesforce.com/lightning/o/Contact/list');
    expect(salesforce.options.safeParse({}).success).toBe(false);
    expect(salesforce.options.safeParse({ object: 'My_Object__c' }).success).toBe(true);
  });
});

describe('salesforce: CSV and values', () => {
  it('writes RFC 4180 lines and reads them back', () => {
    const fields = ['plain', 'a,b', 'say "hi"', 'two\nlines', ' padded ', '', '#N/A', 'Ångström 東京 🚀'];
    expect(parseCsv(csvLine(fields) + csvLine(['x']))).toEqual([fields, ['x']]);
    expect(csvLine(['a,b', 'say "hi"'])).toBe('"a,b","say ""hi"""\n');
  });

  it('reads Bulk sf__Error cells, prints numbers without exponents and quotes SOQL text', () => {
    expect(bulkError('REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --')).toEqual({
      statusCode: 'REQUIRED_FIELD_MISSING',
      message: 'Required fields are missing: [LastName]',
      fields: ['LastName'],
    });
    expect(bulkError('UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--')).toEqual({
      statusCode: 'UNABLE_TO_LOCK_ROW',
      message: 'unable to obtain exclusive access to this record',
    });
    expect(bulkError('something odd')).toEqual({ statusCode: 'UNKNOWN_ERROR', message: 'something odd' });
    expect([1e21, 1e-7, 0.1, -2.5e-8].map(plainNumber)).toEqual(['1000000000000000000000', '0.0000001', '0.1', '-0.000000025']);
    expect(soqlLiteral("o'hara\\x")).toBe("'o\\'hara\\\\x'");
    expect(soqlLiteral(42)).toBe('42');
  });
});

async function rawRequest(method: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(`${twin.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}
