import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import hubspotDefault, { hubspot, type HubSpotOptions } from '../../destinations/hubspot/index.js';
import { formatValue, type PropertyDefinition } from '../../destinations/hubspot/values.js';
import type { Change, Destination, MappedField, Mode, RecordResult, WriteContext } from '../../destinations/types.js';
import { DestinationError } from '../../src/errors.js';
import { createHttpClient } from '../../src/http/http-client.js';
import type { HttpClient, HttpLimits, RetryPolicy } from '../../src/http/types.js';
import type { Logger } from '../../src/logger.js';
import { silentLogger } from '../../src/logger.js';
import {
  MAX_INPUTS,
  dailyLimited,
  startHubSpotTwin,
  tenSecondlyLimited,
  type HubSpotTwin,
  type HubSpotTwinOptions,
  type TwinProperty,
} from '../twins/hubspot-twin.js';

const FAST_RETRY: Partial<RetryPolicy> = { minDelayMs: 5, maxDelayMs: 40, retries: 2, throttleRetries: 30 };
const TOLERANCE_MS = 25;

/** Custom contact properties of the account the tests write to. */
const CONTACT_PROPERTIES: readonly TwinProperty[] = [
  { name: 'lifetime_value', type: 'number' },
  { name: 'order_count', type: 'number' },
  { name: 'last_order_date', type: 'date' },
  { name: 'last_seen_at', type: 'datetime' },
  { name: 'is_active', type: 'bool', fieldType: 'booleancheckbox' },
  { name: 'plan', type: 'enumeration', fieldType: 'select', options: ['free', 'starter', 'pro', 'team', 'enterprise'] },
  { name: 'interests', type: 'enumeration', fieldType: 'checkbox', options: ['analytics', 'crm', 'email'] },
  { name: 'customer_key', type: 'string', hasUniqueValue: true },
  { name: 'notes', type: 'string' },
];
const CUSTOM_OBJECT = '2-777';
const CUSTOM_PROPERTIES: readonly TwinProperty[] = [
  { name: 'account_key', type: 'string', hasUniqueValue: true },
  { name: 'account_name', type: 'string' },
  { name: 'churn_risk', type: 'number' },
];

let twin: HubSpotTwin;
let http: HttpClient | undefined;
let expectViolations = false;

async function restartTwin(options: HubSpotTwinOptions = {}): Promise<void> {
  await twin?.close();
  twin = await startHubSpotTwin({ properties: { contacts: CONTACT_PROPERTIES, [CUSTOM_OBJECT]: CUSTOM_PROPERTIES }, ...options });
}

beforeEach(async () => {
  await restartTwin();
  expectViolations = false;
});

afterEach(async () => {
  await http?.close();
  http = undefined;
  await twin.close();
  if (!expectViolations) twin.assertNoViolations();
});

function connect(
  overrides: Record<string, unknown> = {},
  options: { limits?: HttpLimits; retry?: Partial<RetryPolicy>; log?: Logger } = {},
): Destination<HubSpotOptions> {
  const config = hubspot.config.parse({ type: 'hubspot', token: twin.token, base_url: twin.url, ...overrides });
  const l = hubspot.limits(config);
  http = createHttpClient({
    limits: options.limits ?? { requests: l.requests, perSeconds: l.perSeconds, concurrency: l.concurrency },
    retry: options.retry ?? FAST_RETRY,
  });
  return hubspot.create(config, { http, log: options.log ?? silentLogger, name: 'crm', cwd: process.cwd() });
}

function opts(input: Record<string, unknown> = {}): HubSpotOptions {
  return hubspot.options.parse({ object: 'contacts', ...input });
}

function ctx(mode: Mode = 'upsert'): WriteContext {
  return { syncId: 'customers__crm', runId: 'run-1', mode };
}

function added(key: string, fields: Record<string, unknown>, identifier: Record<string, unknown> = { email: fields.email ?? null }): Change {
  return { operation: 'upsert', kind: 'added', key, hash: `h${key}`, fields, identifier, previous: null, destinationId: null };
}

function removed(key: string, fields: Record<string, unknown>, destinationId: string | null, operation: Change['operation'] = 'archive'): Change {
  return { ...added(key, fields), operation, kind: 'removed', previous: fields, destinationId };
}

function contact(i: number, extra: Record<string, unknown> = {}): Change {
  return added(String(i), { email: `person${i}@example.com`, firstname: `Person ${i}`, order_count: i, ...extra });
}

const batchRequests = () => twin.requests.filter((r) => r.path.includes('/batch/'));
const synced = (results: readonly RecordResult[]) => results.filter((r) => r.status === 'synced').map((r) => r.key);

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

describe('hubspot: upsert', () => {
  it('upserts a batch by idProperty in one request, values as HubSpot strings, and returns the HubSpot ids', async () => {
    const destination = connect();
    const batch = [
      added('1', {
        email: 'ada@example.com',
        firstname: 'Ada',
        lifetime_value: 1234.5,
        order_count: 3,
        last_order_date: '2025-06-01',
        last_seen_at: '2025-06-30T12:34:56.789123Z',
        is_active: true,
        interests: ['analytics', 'crm'],
        notes: null,
        plan: 'pro',
      }),
      added('2', { email: 'Bob@Example.com', firstname: 'Bob', is_active: false, lifetime_value: 0 }),
    ];
    const results = await destination.write(batch, opts(), ctx());

    const [properties, upsert] = twin.requests;
    expect(properties).toMatchObject({ method: 'GET', path: '/crm/v3/properties/contacts' });
    expect(upsert).toMatchObject({ method: 'POST', path: '/crm/v3/objects/contacts/batch/upsert', inputs: 2, answer: 200 });
    expect(upsert!.headers.authorization).toBe(`Bearer ${twin.token}`);
    expect(upsert!.json).toEqual({
      inputs: [
        {
          idProperty: 'email',
          id: 'ada@example.com',
          objectWriteTraceId: '0',
          properties: {
            email: 'ada@example.com',
            firstname: 'Ada',
            lifetime_value: '1234.5',
            order_count: '3',
            last_order_date: String(Date.UTC(2025, 5, 1)),
            last_seen_at: String(Date.parse('2025-06-30T12:34:56.789Z')),
            is_active: 'true',
            interests: 'analytics;crm',
            notes: '',
            plan: 'pro',
          },
        },
        {
          idProperty: 'email',
          id: 'Bob@Example.com',
          objectWriteTraceId: '1',
          properties: { email: 'Bob@Example.com', firstname: 'Bob', is_active: 'false', lifetime_value: '0' },
        },
      ],
    });
    const ada = twin.find('contacts', 'email', 'ada@example.com')!;
    const bob = twin.find('contacts', 'email', 'bob@example.com')!;
    expect(results).toEqual<RecordResult[]>([
      { key: '1', status: 'synced', destinationId: ada.id },
      { key: '2', status: 'synced', destinationId: bob.id },
    ]);
    expect(bob.properties.email).toBe('bob@example.com');
  });

  it('updates the same record on the next upsert (partial properties leave the others alone)', async () => {
    const destination = connect();
    const [first] = await destination.write([added('1', { email: 'ada@example.com', firstname: 'Ada', plan: 'pro' })], opts(), ctx());
    const [second] = await destination.write([added('1', { email: 'ADA@example.com', plan: 'team' })], opts(), ctx());

    expect(second).toEqual(first);
    expect(twin.records('contacts')).toHaveLength(1);
    expect(twin.records('contacts')[0]!.properties).toMatchObject({ firstname: 'Ada', plan: 'team' });
    // The property definitions are read once per destination.
    expect(twin.requests.filter((r) => r.method === 'GET')).toHaveLength(1);
  });

  it('sends dates as YYYY-MM-DD and datetimes as ISO 8601 with date_format: iso', async () => {
    await connect().write(
      [added('1', { email: 'a@example.com', last_order_date: '2025-06-30T18:00:00Z', last_seen_at: '2025-06-30T12:00:00.5Z' })],
      opts({ date_format: 'iso' }),
      ctx(),
    );
    const input = (batchRequests()[0]!.json as { inputs: { properties: Record<string, string> }[] }).inputs[0]!;
    expect(input.properties).toMatchObject({ last_order_date: '2025-06-30', last_seen_at: '2025-06-30T12:00:00.500Z' });
    expect(twin.records('contacts')[0]!.properties.last_order_date).toBe('2025-06-30');
  });

  it('upserts custom objects by a unique property, on the date-versioned paths when asked', async () => {
    const destination = connect({ api_version: '2026-03' });
    const results = await destination.write(
      [added('7', { account_key: 'A-7', account_name: 'Acme', churn_risk: 0.91 }, { account_key: 'A-7' })],
      opts({ object: CUSTOM_OBJECT }),
      ctx('mirror'),
    );
    expect(twin.requests.map((r) => r.path)).toEqual([`/crm/properties/2026-03/${CUSTOM_OBJECT}`, `/crm/objects/2026-03/${CUSTOM_OBJECT}/batch/upsert`]);
    expect(results).toEqual([{ key: '7', status: 'synced', destinationId: twin.find(CUSTOM_OBJECT, 'account_key', 'A-7')!.id }]);
  });

  it('sends a full batch of 100 in one request', async () => {
    const batch = Array.from({ length: MAX_INPUTS }, (_, i) => contact(i + 1));
    const results = await connect().write(batch, opts(), ctx());
    expect(batchRequests().map((r) => r.inputs)).toEqual([100]);
    expect(synced(results)).toHaveLength(100);
    expect(twin.records('contacts')).toHaveLength(100);
  });

  it('is caught by the twin when a request carries more than 100 inputs or a non-string value', async () => {
    expectViolations = true;
    http = createHttpClient({ limits: { requests: 10, perSeconds: 1, concurrency: 1 }, retry: FAST_RETRY });
    const post = (inputs: unknown[]) =>
      http!.request({
        method: 'POST',
        url: `${twin.url}/crm/v3/objects/contacts/batch/upsert`,
        headers: { authorization: `Bearer ${twin.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ inputs }),
      });
    const tooMany = await post(Array.from({ length: 101 }, (_, i) => ({ idProperty: 'email', id: `p${i}@x.io`, properties: {} })));
    const numeric = await post([{ idProperty: 'email', id: 'a@x.io', properties: { order_count: 3 } }]);
    const wrongPath = await http.request({ method: 'POST', url: `${twin.url}/crm/v3/contacts/batch/upsert`, headers: { authorization: `Bearer ${twin.token}` } });

    expect([tooMany.status, numeric.status, wrongPath.status]).toEqual([400, 400, 404]);
    expect(twin.violations).toEqual([
      expect.stringContaining('101 inputs in one request; HubSpot allows 100'),
      expect.stringContaining('properties.order_count is 3 (number); property values are strings'),
      expect.stringContaining('no such HubSpot endpoint'),
    ]);
  });

  it('fails a record without identifier, and the later of two records naming the same contact, without sending them', async () => {
    const results = await connect().write(
      [added('1', { email: 'ada@example.com' }), added('2', { email: null, firstname: 'X' }), added('3', { email: 'ADA@example.com' })],
      opts(),
      ctx(),
    );
    expect(results).toEqual([
      expect.objectContaining({ key: '2', status: 'failed', retryable: false, code: 'EMPTY_IDENTIFIER' }),
      expect.objectContaining({ key: '3', status: 'failed', retryable: false, code: 'DUPLICATE_IDENTIFIER', message: expect.stringContaining('record 1') }),
      expect.objectContaining({ key: '1', status: 'synced' }),
    ]);
    expect(batchRequests()[0]!.inputs).toBe(1);
  });
});

describe('hubspot: per-record errors', () => {
  const mixed = () => [
    added('1', { email: 'good@example.com', plan: 'pro' }),
    added('2', { email: 'not-an-email', plan: 'pro' }),
    added('3', { email: 'ok@example.com', plan: 'platinum' }),
    added('4', { email: 'late@example.com', last_order_date: 1_719_705_600 }),
    added('5', { email: 'fine@example.com', order_count: 2 }),
  ];

  it('maps the errors of a 207 back to the keys of the inputs that failed', async () => {
    const results = await connect().write(mixed(), opts(), ctx());

    expect(batchRequests()).toHaveLength(1);
    expect(batchRequests()[0]!.answer).toBe(207);
    const byKey = Object.fromEntries(results.map((r) => [r.key, r]));
    expect(byKey['1']).toMatchObject({ status: 'synced' });
    expect(byKey['5']).toMatchObject({ status: 'synced' });
    expect(byKey['2']).toMatchObject({ status: 'failed', retryable: false, code: 'INVALID_EMAIL', message: expect.stringContaining('not-an-email is invalid') });
    expect(byKey['3']).toMatchObject({ status: 'failed', code: 'INVALID_OPTION', message: expect.stringContaining('platinum') });
    expect(byKey['4']).toMatchObject({ status: 'failed', code: 'INVALID_DATE', message: expect.stringContaining('not midnight') });
    expect(twin.records('contacts').map((r) => r.properties.email).sort()).toEqual(['fine@example.com', 'good@example.com']);
  });

  it('marks the whole batch failed with one message when HubSpot refuses it as a whole (the engine then halves it)', async () => {
    await restartTwin({ partialFailure: 'whole-batch' });
    const results = await connect().write(mixed(), opts(), ctx());
    const messages = new Set(results.map((r) => (r.status === 'failed' ? `${r.message}|${r.retryable}|${r.code}` : 'synced')));
    expect(messages.size).toBe(1);
    expect(results[0]).toMatchObject({ status: 'failed', retryable: false, code: 'INVALID_EMAIL', message: expect.stringContaining('HTTP 400') });
    expect(twin.records('contacts')).toHaveLength(0);
  });

  it('pauses at least 2 s after 423 Locked and tries the same request again', async () => {
    const locked = { status: 423, body: { status: 'error', message: 'Locked', category: 'LOCKED' } };
    let upserts = 0;
    twin.respondWith((r) => (r.path.endsWith('/batch/upsert') && upserts++ === 0 ? locked : undefined));
    const results = await connect().write([contact(1), contact(2)], opts(), ctx());
    expect(synced(results)).toEqual(['1', '2']);
    const tries = batchRequests().filter((r) => r.path.endsWith('/batch/upsert'));
    expect(tries).toHaveLength(2);
    expect(tries[1]!.monotonicMs - tries[0]!.monotonicMs).toBeGreaterThanOrEqual(2_000 - TOLERANCE_MS);
  });

  it('marks records failed and retryable when 423 Locked outlasts the throttle budget', async () => {
    twin.respondWith((r) => (r.path.endsWith('/batch/upsert') ? { status: 423, body: { status: 'error', message: 'Locked', category: 'LOCKED' } } : undefined));
    const results = await connect({}, { retry: { ...FAST_RETRY, throttleRetries: 1 } }).write([contact(1), contact(2)], opts(), ctx());
    expect(results.every((r) => r.status === 'failed' && r.retryable)).toBe(true);
  });

  it('marks records failed and retryable when 5xx outlast the retries', async () => {
    twin.respondWith((r) => (r.path.endsWith('/batch/upsert') ? { status: 502, body: 'bad gateway' } : undefined));
    const results = await connect().write([contact(1)], opts(), ctx());
    expect(results).toEqual([expect.objectContaining({ status: 'failed', retryable: true, message: expect.stringContaining('HTTP 502') })]);
    expect(batchRequests()).toHaveLength(3);
  });
});

describe('hubspot: update and create modes', () => {
  it('update finds records by idProperty (batch read), updates them by id, and never creates one', async () => {
    const ada = twin.seed('contacts', { email: 'ada@example.com', firstname: 'Ada' });
    const results = await connect().write(
      [added('1', { email: 'ADA@example.com', plan: 'enterprise' }), added('2', { email: 'nobody@example.com', plan: 'free' })],
      opts(),
      ctx('update'),
    );

    expect(batchRequests().map((r) => r.path.split('/').pop())).toEqual(['read', 'update']);
    expect(batchRequests()[0]!.json).toEqual({ idProperty: 'email', properties: ['email'], inputs: [{ id: 'ADA@example.com' }, { id: 'nobody@example.com' }] });
    expect(batchRequests()[1]!.json).toEqual({ inputs: [{ id: ada.id, objectWriteTraceId: '0', properties: { email: 'ADA@example.com', plan: 'enterprise' } }] });
    expect(results).toEqual([
      { key: '2', status: 'skipped', reason: expect.stringContaining('nobody@example.com; update mode never creates') },
      { key: '1', status: 'synced', destinationId: ada.id },
    ]);
    expect(twin.records('contacts')).toHaveLength(1);
    expect(ada.properties.plan).toBe('enterprise');
  });

  it('update matches on hs_object_id directly, without reading first', async () => {
    const deal = twin.seed('deals', { dealname: 'Big one', dealstage: 'qualifiedtobuy', pipeline: 'default' });
    const results = await connect().write(
      [added('d1', { hs_object_id: deal.id, dealstage: 'closedwon', amount: 5000 }, { hs_object_id: deal.id })],
      opts({ object: 'deals' }),
      ctx('update'),
    );
    expect(batchRequests().map((r) => r.path)).toEqual(['/crm/v3/objects/deals/batch/update']);
    expect(results).toEqual([{ key: 'd1', status: 'synced', destinationId: deal.id }]);
    expect(deal.properties).toMatchObject({ dealstage: 'closedwon', amount: '5000' });
  });

  it('create sends objectWriteTraceIds and maps a conflict (207) back to its key', async () => {
    twin.seed('contacts', { email: 'taken@example.com' });
    const results = await connect().write(
      [added('1', { email: 'new@example.com' }), added('2', { email: 'taken@example.com' }), added('3', { email: 'other@example.com' })],
      opts(),
      ctx('create'),
    );
    expect(batchRequests()[0]).toMatchObject({ path: '/crm/v3/objects/contacts/batch/create', answer: 207 });
    expect(results).toEqual([
      { key: '1', status: 'synced', destinationId: twin.find('contacts', 'email', 'new@example.com')!.id },
      expect.objectContaining({ key: '2', status: 'failed', retryable: false, code: 'CONFLICT', message: expect.stringContaining('already exists') }),
      { key: '3', status: 'synced', destinationId: twin.find('contacts', 'email', 'other@example.com')!.id },
    ]);
  });

  it('create reports missing required deal properties per record', async () => {
    const results = await connect().write(
      [added('1', { dealname: 'A', dealstage: 'closedwon', pipeline: 'default' }, {}), added('2', { dealname: 'B' }, {})],
      opts({ object: 'deals' }),
      ctx('create'),
    );
    expect(results[0]).toMatchObject({ status: 'synced' });
    expect(results[1]).toMatchObject({ status: 'failed', code: 'REQUIRED_PROPERTY', message: expect.stringContaining('dealstage') });
  });
});

describe('hubspot: mirror removals', () => {
  it('archives removed records by the HubSpot id kept from earlier answers', async () => {
    const a = twin.seed('contacts', { email: 'a@example.com' });
    const b = twin.seed('contacts', { email: 'b@example.com' });
    const results = await connect().write([removed('1', { email: 'a@example.com' }, a.id), removed('2', { email: 'b@example.com' }, b.id)], opts(), ctx('mirror'));

    expect(batchRequests().map((r) => [r.path, r.json])).toEqual([['/crm/v3/objects/contacts/batch/archive', { inputs: [{ id: a.id }, { id: b.id }] }]]);
    expect(batchRequests()[0]!.answer).toBe(204);
    expect(results.map((r) => [r.key, r.status])).toEqual([
      ['1', 'synced'],
      ['2', 'synced'],
    ]);
    expect(twin.archived('contacts').map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
  });

  it('looks up the id of a removed record without a stored id, and counts one HubSpot no longer has as done', async () => {
    const a = twin.seed('contacts', { email: 'a@example.com' });
    const results = await connect().write(
      [removed('1', { email: 'A@example.com' }, null, 'delete'), removed('2', { email: 'gone@example.com' }, null, 'delete')],
      opts(),
      ctx('mirror'),
    );
    expect(batchRequests().map((r) => r.path.split('/').pop())).toEqual(['read', 'archive']);
    expect(batchRequests()[1]!.json).toEqual({ inputs: [{ id: a.id }] });
    expect(results.map((r) => [r.key, r.status])).toEqual([
      ['2', 'synced'],
      ['1', 'synced'],
    ]);
    expect(twin.records('contacts')).toHaveLength(0);
  });

  it('on_delete: clear empties the mapped properties of records HubSpot has, and never creates one', async () => {
    const a = twin.seed('contacts', { email: 'a@example.com', plan: 'pro', firstname: 'A' });
    const clear = (key: string, email: string): Change => ({
      ...removed(key, { email, plan: null }, null),
      operation: 'upsert',
      fields: { email, plan: null },
    });
    const results = await connect().write([clear('1', 'a@example.com'), clear('2', 'gone@example.com')], opts(), ctx('mirror'));

    expect(batchRequests().map((r) => r.path.split('/').pop())).toEqual(['read', 'update']);
    expect(results.map((r) => [r.key, r.status])).toEqual([
      ['2', 'synced'],
      ['1', 'synced'],
    ]);
    expect(a.properties).toEqual({ email: 'a@example.com', firstname: 'A' });
    expect(twin.records('contacts')).toHaveLength(1);
  });
});

describe('hubspot: the mapping is checked before anything is sent', () => {
  it('stops on a property the object does not have, with a suggestion', async () => {
    const error = await connect()
      .write([added('1', { email: 'a@example.com', lifetime_valu: 3 })], opts(), ctx())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as Error).message).toMatch(/contacts has no property "lifetime_valu" \(did you mean "lifetime_value"\?\)/);
    expect(batchRequests()).toHaveLength(0);
  });

  it('stops on a read-only property and on an identifier that is not unique', async () => {
    const readOnly = await connect()
      .write([added('1', { email: 'a@example.com', createdate: '2025-01-01' })], opts(), ctx())
      .catch((e: unknown) => e);
    expect((readOnly as Error).message).toMatch(/"createdate" of contacts is read-only/);
    const notUnique = await connect()
      .write([added('1', { firstname: 'A' }, { firstname: 'A' })], opts(), ctx())
      .catch((e: unknown) => e);
    expect((notUnique as Error).message).toMatch(/cannot be matched on "firstname": it is not a unique-value property/);
    expect(batchRequests()).toHaveLength(0);
  });

  it('stops when the identifier maps more than one property', async () => {
    const error = await connect()
      .write([added('1', { email: 'a@example.com', customer_key: 'k' }, { email: 'a@example.com', customer_key: 'k' })], opts(), ctx())
      .catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/exactly one entry.*it maps email, customer_key/);
  });

  it('stops on an object type HubSpot does not know', async () => {
    const error = await connect()
      .write([contact(1)], opts({ object: 'contactz' }), ctx())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as Error).message).toMatch(/Unable to infer object type from: contactz/);
  });

  it('writes without the definitions when the token may not read them (formatting values by shape)', async () => {
    await restartTwin({ missingScopes: ['crm.schemas.contacts.read'] });
    const warnings: string[] = [];
    const log: Logger = { ...silentLogger, warn: (m) => void warnings.push(m) };
    const results = await connect({}, { log }).write(
      [added('1', { email: 'a@example.com', last_order_date: '2025-06-30', order_count: 2, is_active: true })],
      opts(),
      ctx(),
    );
    expect(results).toEqual([expect.objectContaining({ status: 'synced' })]);
    expect(warnings).toEqual([expect.stringContaining('cannot read the contacts property definitions (HTTP 403)')]);
    expect(twin.records('contacts')[0]!.properties).toMatchObject({ last_order_date: String(Date.UTC(2025, 5, 30)), order_count: '2', is_active: 'true' });
  });

  it('skips reading definitions with check_properties: false', async () => {
    await connect().write([contact(1)], opts({ check_properties: false }), ctx());
    expect(twin.requests.map((r) => r.method)).toEqual(['POST']);
  });
});

describe('hubspot: credentials and limits', () => {
  it('stops with a message naming the token, never its value, on 401', async () => {
    const error = await connect({ token: 'pat-na1-wrong-token-value' })
      .write([contact(1)], opts(), ctx())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as DestinationError).status).toBe(401);
    expect((error as Error).message).toMatch(/HubSpot destination "crm" refused the credentials \(HTTP 401\).*token/);
    expect((error as Error).message).not.toContain('pat-na1-wrong-token-value');
    expect(twin.records('contacts')).toHaveLength(0);
  });

  it('stops naming the missing scope on 403', async () => {
    await restartTwin({ missingScopes: ['crm.objects.contacts.write'] });
    const error = await connect()
      .write([contact(1)], opts(), ctx())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as Error).message).toMatch(/HTTP 403 MISSING_SCOPES.*crm\.objects\.contacts\.write/);
  });

  it('survives a storm of 429s with nothing lost, never going over the rate limit', async () => {
    const limit = { requests: 5, intervalMs: 500 };
    await restartTwin({ rateLimit: limit });
    // Besides its own limit, the twin throttles every third write request.
    twin.respondWith((r, i) => (r.method === 'POST' && i % 3 === 1 ? tenSecondlyLimited(limit.requests) : undefined));
    const destination = connect({}, { limits: { requests: limit.requests, perSeconds: limit.intervalMs / 1000, concurrency: 4 } });
    const batches = Array.from({ length: 8 }, (_, b) => Array.from({ length: 50 }, (_, i) => contact(b * 50 + i + 1)));

    const results = (await Promise.all(batches.map((batch) => destination.write(batch, opts(), ctx())))).flat();

    expect(synced(results)).toHaveLength(400);
    expect(twin.records('contacts')).toHaveLength(400);
    expect(twin.requests.filter((r) => r.answer === 429).length).toBeGreaterThanOrEqual(3);
    expect(busiestWindow(twin.requests.map((r) => r.monotonicMs), limit.intervalMs - TOLERANCE_MS)).toBeLessThanOrEqual(limit.requests);
    expect(Math.max(...twin.requests.map((r) => r.inputs ?? 0))).toBeLessThanOrEqual(MAX_INPUTS);
  });

  it('stops before the next request once the daily quota is used up (X-HubSpot-RateLimit-Daily-Remaining: 0)', async () => {
    await restartTwin({ dailyLimit: 3 });
    const destination = connect();
    const first = await destination.write([contact(1)], opts(), ctx()); // properties + upsert
    const second = await destination.write([contact(2)], opts(), ctx()); // upsert: the last request of the day
    const third = await destination.write([contact(3)], opts(), ctx()).catch((e: unknown) => e);

    expect(synced([...first, ...second])).toEqual(['1', '2']);
    expect(third).toBeInstanceOf(DestinationError);
    expect((third as Error).message).toMatch(/daily API limit is used up \(X-HubSpot-RateLimit-Daily-Remaining is 0\).*committed/);
    expect(twin.requests).toHaveLength(3);
    expect(twin.requests.some((r) => r.answer === 429)).toBe(false);
  });

  it('stops the sync on a 429 with policyName DAILY', async () => {
    twin.respondWith((r) => (r.path.endsWith('/batch/upsert') ? dailyLimited() : undefined));
    const destination = connect({}, { retry: { ...FAST_RETRY, throttleRetries: 2 } });
    const error = await destination.write([contact(1)], opts(), ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as Error).message).toMatch(/daily API limit is used up \(HubSpot answered 429 with policyName DAILY\)/);
    // Once stopped, nothing more is sent.
    const count = twin.requests.length;
    await expect(destination.write([contact(2)], opts(), ctx())).rejects.toBeInstanceOf(DestinationError);
    expect(twin.requests).toHaveLength(count);
  });

  it('stops early with daily_reserve, leaving quota to other integrations', async () => {
    await restartTwin({ dailyLimit: 10 });
    const destination = connect({ daily_reserve: 8 });
    await destination.write([contact(1)], opts(), ctx());
    await expect(destination.write([contact(2)], opts(), ctx())).rejects.toThrow(/Daily-Remaining is 8 \(daily_reserve: 8\)/);
  });
});

describe('hubspot: validate --online (checkMapping)', () => {
  const field = (name: string, column: string, columnType: string | undefined, isIdentifier = false): MappedField => ({
    field: name,
    column,
    columnType,
    isIdentifier,
  });

  it('finds nothing wrong with a mapping that fits', async () => {
    const problems = await connect().checkMapping!(
      [
        field('email', 'email', 'VARCHAR', true),
        field('lifetime_value', 'ltv', 'DECIMAL(18,2)'),
        field('last_order_date', 'last_order_date', 'DATE'),
        field('is_active', 'is_active', 'BOOLEAN'),
        field('plan', 'plan', 'VARCHAR'),
        field('interests', 'interests', 'VARCHAR[]'),
        field('notes', 'notes', undefined),
      ],
      opts(),
    );
    expect(problems).toEqual([]);
    expect(batchRequests()).toHaveLength(0);
  });

  it('reports missing, read-only, non-unique and ill-fitting properties', async () => {
    const problems = await connect().checkMapping!(
      [
        field('firstname', 'first_name', 'VARCHAR', true),
        field('lifetime_valu', 'ltv', 'DECIMAL(18,2)'),
        field('createdate', 'created', 'TIMESTAMP'),
        field('order_count', 'order_count', 'DATE'),
        field('is_active', 'is_active', 'TIMESTAMP'),
        field('plan', 'plans', 'VARCHAR[]'),
      ],
      opts(),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^identifier\.firstname: "firstname" is not a unique-value property of contacts.*use email or a property created with "unique values"/),
      'fields.lifetime_valu: contacts has no property "lifetime_valu" (did you mean "lifetime_value"?)',
      expect.stringMatching(/^fields\.createdate: property "createdate" of contacts is read-only/),
      'fields.order_count: a date column cannot fill a HubSpot number property (column order_count is DATE)',
      'fields.is_active: a timestamp column cannot fill a HubSpot checkbox (true/false) property (column is_active is TIMESTAMP)',
      expect.stringMatching(/^fields\.plan: a list column fills only multiple-checkbox properties/),
    ]);
  });

  it('says when the token cannot read the definitions', async () => {
    await restartTwin({ missingScopes: ['crm.schemas.contacts.read'] });
    const problems = await connect().checkMapping!([field('email', 'email', 'VARCHAR', true)], opts());
    expect(problems).toEqual([expect.stringContaining('cannot read the contacts property definitions (HTTP 403)')]);
  });
});

describe('hubspot: definition and values', () => {
  it('exports the definition as default and declares what the engine needs', () => {
    expect(hubspotDefault).toBe(hubspot);
    expect(hubspot.modes).toEqual(['upsert', 'update', 'create', 'mirror']);
    expect(hubspot.partialUpdates).toBe(true);
    expect(hubspot.onDelete).toEqual(expect.arrayContaining(['archive', 'delete']));
    expect(hubspot.secretKeys).toEqual(['token']);
  });

  it('takes its default rate from the tier, 100 inputs per batch at most', () => {
    const parse = (extra: Record<string, unknown>) => hubspot.config.parse({ type: 'hubspot', token: 't', ...extra });
    expect(hubspot.limits(parse({}))).toEqual({ batchSize: 100, concurrency: 4, requests: 100, perSeconds: 10 });
    expect(hubspot.limits(parse({ tier: 'professional' }))).toMatchObject({ requests: 190, perSeconds: 10 });
    expect(hubspot.limits(parse({ tier: 'api_limit_increase' }))).toMatchObject({ requests: 250 });
    expect(parse({}).base_url).toBe('https://api.hubapi.com');
    expect(parse({ base_url: 'http://127.0.0.1:9/' }).base_url).toBe('http://127.0.0.1:9');
    expect(hubspot.config.safeParse({ type: 'hubspot', token: 't', batch_size: 101 }).success).toBe(false);
    expect(hubspot.config.safeParse({ type: 'hubspot', token: 't', rate_limit: { requests: 1, per_seconds: 1 } }).success).toBe(false);
    expect(hubspot.config.safeParse({ type: 'hubspot' }).success).toBe(false);
    expect(hubspot.options.safeParse({ object: 'Contacts!' }).success).toBe(false);
    expect(hubspot.options.safeParse({}).success).toBe(false);
  });

  it('links exposures to the object in HubSpot when the portal id is known', () => {
    const config = hubspot.config.parse({ type: 'hubspot', token: 't', portal_id: 123 });
    expect(hubspot.url!(config, opts())).toBe('https://app.hubspot.com/contacts/123/objects/0-1/views/all/list');
    expect(hubspot.url!(config, opts({ object: '2-777' }))).toBe('https://app.hubspot.com/contacts/123/objects/2-777/views/all/list');
    expect(hubspot.url!(hubspot.config.parse({ type: 'hubspot', token: 't' }), opts())).toBeUndefined();
  });

  it('formats values by property type', () => {
    const def = (type: string, fieldType = ''): PropertyDefinition => ({ name: 'p', type, fieldType, hasUniqueValue: false, readOnly: false, options: [] });
    const midnight = String(Date.UTC(2025, 5, 30));
    expect(formatValue('2025-06-30', def('date'), 'epoch_ms')).toBe(midnight);
    expect(formatValue('2025-06-30T23:59:59Z', def('date'), 'epoch_ms')).toBe(midnight);
    expect(formatValue('2025-06-30T23:59:59.123456Z', def('datetime'), 'iso')).toBe('2025-06-30T23:59:59.123Z');
    expect(formatValue('2025-06-30', def('string'), 'epoch_ms')).toBe('2025-06-30');
    expect(formatValue('2025-06-30', undefined, 'epoch_ms')).toBe(midnight);
    expect(formatValue(1e21, def('number'), 'epoch_ms')).toBe('1000000000000000000000');
    expect(formatValue('9007199254740993', def('number'), 'epoch_ms')).toBe('9007199254740993');
    expect(formatValue(1, def('enumeration', 'booleancheckbox'), 'epoch_ms')).toBe('true');
    expect(formatValue(['a', null, 'b'], def('enumeration', 'checkbox'), 'epoch_ms')).toBe('a;b');
    expect(formatValue({ a: 1 }, def('string'), 'epoch_ms')).toBe('{"a":1}');
    expect(formatValue(null, def('string'), 'epoch_ms')).toBe('');
  });
});

describe('hubspot: mapping errors HubSpot finds itself', () => {
  it('stops the sync (instead of halving every batch) when HubSpot says a property does not exist', async () => {
    const error = await connect()
      .write([contact(1), contact(2, { favourite_colour: 'blue' })], opts({ check_properties: false }), ctx())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as Error).message).toMatch(/HubSpot refused the mapping \(HTTP 400 VALIDATION_ERROR\).*favourite_colour.*activate validate --online/);
    expect(batchRequests()).toHaveLength(1);
  });
});
