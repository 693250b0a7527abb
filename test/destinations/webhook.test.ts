import { createHmac, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Change, Destination, RecordResult, WriteContext } from '../../destinations/types.js';
import webhookDefault, { webhook, type WebhookOptions } from '../../destinations/webhook/index.js';
import { DestinationError } from '../../src/errors.js';
import { createHttpClient } from '../../src/http/http-client.js';
import type { HttpClient } from '../../src/http/types.js';
import { silentLogger } from '../../src/logger.js';
import { inOrder, startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';

const RAW_SECRET = 'shh-this-is-the-signing-secret';
const TOKEN = 'Bearer tok_live_1234567890';
const FAST_RETRY = { minDelayMs: 10, maxDelayMs: 50, retries: 2 } as const;

let receiver: WebhookReceiver;
let http: HttpClient | undefined;
let expectViolations = false;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: RAW_SECRET });
  expectViolations = false;
});

afterEach(async () => {
  await http?.close();
  http = undefined;
  await receiver.close();
  if (!expectViolations) receiver.assertNoViolations();
});

function connect(overrides: Record<string, unknown> = {}): Destination<WebhookOptions> {
  const config = webhook.config.parse({
    type: 'webhook',
    url: receiver.url,
    secret: RAW_SECRET,
    headers: { Authorization: TOKEN },
    ...overrides,
  });
  const { requests, perSeconds, concurrency } = webhook.limits(config);
  http = createHttpClient({ limits: { requests, perSeconds, concurrency }, retry: FAST_RETRY });
  return webhook.create(config, { http, log: silentLogger, name: 'crm_hook', cwd: process.cwd() });
}

function upsert(key: string, fields: Record<string, unknown>, hash = `hash-${key}-${JSON.stringify(fields)}`): Change {
  return { operation: 'upsert', kind: 'added', key, hash, fields, identifier: { id: key }, previous: null, destinationId: null };
}

function remove(key: string, lastSent: Record<string, unknown>): Change {
  return { ...upsert(key, lastSent), operation: 'delete', kind: 'removed', previous: lastSent };
}

function context(runId = 'run-1', syncId = 'model.shop.customers::crm_hook'): WriteContext {
  return { syncId, runId, mode: 'mirror' };
}

const BATCH: readonly Change[] = [
  upsert('1', { email: 'ada@example.com', plan: 'pro' }),
  upsert('2', { email: 'bob@example.com', plan: 'free' }),
  remove('3', { email: 'cy@example.com', plan: 'free' }),
];

function onlyDelivery() {
  expect(receiver.deliveries).toHaveLength(1);
  return receiver.deliveries[0]!;
}

function hmacBase64(key: Buffer, signedContent: string): string {
  return createHmac('sha256', key).update(signedContent).digest('base64');
}

describe('webhook destination: delivery', () => {
  it('POSTs the batch as one JSON delivery with the documented shape and the user headers', async () => {
    const results = await connect().write(BATCH, {}, context());

    const delivery = onlyDelivery();
    expect(delivery.method).toBe('POST');
    expect(delivery.path).toBe('/hooks');
    expect(delivery.headers['content-type']).toBe('application/json');
    expect(delivery.headers.authorization).toBe(TOKEN);
    expect(delivery.json).toEqual({
      sync: 'model.shop.customers::crm_hook',
      run_id: 'run-1',
      records: [
        { operation: 'upsert', key: '1', fields: { email: 'ada@example.com', plan: 'pro' } },
        { operation: 'upsert', key: '2', fields: { email: 'bob@example.com', plan: 'free' } },
        { operation: 'delete', key: '3', fields: { email: 'cy@example.com', plan: 'free' } },
      ],
    });
    expect(results).toEqual<RecordResult[]>([
      { key: '1', status: 'synced' },
      { key: '2', status: 'synced' },
      { key: '3', status: 'synced' },
    ]);
  });

  it('echoes the object option in the payload', async () => {
    await connect().write(BATCH.slice(0, 1), { object: 'contacts' }, context());
    expect(onlyDelivery().json).toMatchObject({ object: 'contacts' });
  });

  it('sends 64-bit integers as exact strings', async () => {
    await connect().write([upsert('1', { big: 9007199254740993n }, 'hash-big')], {}, context());
    expect(onlyDelivery().body).toContain('"big":"9007199254740993"');
  });

  it('sends nothing for an empty batch', async () => {
    expect(await connect().write([], {}, context())).toEqual([]);
    expect(receiver.deliveries).toHaveLength(0);
  });
});

describe('webhook destination: signing', () => {
  it('signs "id.timestamp.body" with HMAC-SHA256 of a raw secret (Standard Webhooks)', async () => {
    await connect().write(BATCH, {}, context());

    const { headers, body } = onlyDelivery();
    const id = headers['webhook-id']!;
    const timestamp = headers['webhook-timestamp']!;
    expect(id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(5);
    const expected = hmacBase64(Buffer.from(RAW_SECRET, 'utf8'), `${id}.${timestamp}.${body}`);
    expect(headers['webhook-signature']).toBe(`v1,${expected}`);
    expect(onlyDelivery().signature).toBe('valid');
  });

  it('uses the decoded bytes of a whsec_ secret as the key', async () => {
    const keyBytes = randomBytes(32);
    const secret = `whsec_${keyBytes.toString('base64')}`;
    await receiver.close();
    receiver = await startWebhookReceiver({ secret });

    await connect({ secret }).write(BATCH, {}, context());

    const { headers, body } = onlyDelivery();
    const signedContent = `${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`;
    expect(headers['webhook-signature']).toBe(`v1,${hmacBase64(keyBytes, signedContent)}`);
    expect(headers['webhook-signature']).not.toBe(`v1,${hmacBase64(Buffer.from(secret, 'utf8'), signedContent)}`);
  });

  it('signs every retry so that the receiver can verify it', async () => {
    receiver.respondWith(inOrder({ status: 500 }, { status: 503 }));
    await connect().write(BATCH, {}, context());

    expect(receiver.deliveries.map((d) => d.signature)).toEqual(['valid', 'valid', 'valid']);
    expect(new Set(receiver.deliveries.map((d) => d.headers['webhook-id'])).size).toBe(1);
  });

  it('sends no signature without a secret', async () => {
    await receiver.close();
    receiver = await startWebhookReceiver();
    await connect({ secret: undefined }).write(BATCH, {}, context());

    const { headers } = onlyDelivery();
    expect(headers['webhook-id']).toMatch(/^msg_/);
    expect(headers['webhook-timestamp']).toMatch(/^\d+$/);
    expect(headers['webhook-signature']).toBeUndefined();
  });

  it('is caught by the receiver when the timestamp is outside its tolerance', async () => {
    expectViolations = true;
    http = createHttpClient({ limits: { requests: 10, perSeconds: 1, concurrency: 1 }, retry: FAST_RETRY });
    const body = '{"records":[]}';
    const id = 'msg_replayed';
    const timestamp = String(Math.floor(Date.now() / 1000) - 3600);
    const signature = `v1,${hmacBase64(Buffer.from(RAW_SECRET, 'utf8'), `${id}.${timestamp}.${body}`)}`;
    const response = await http.request({
      method: 'POST',
      url: receiver.url,
      headers: { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature },
      body,
    });

    expect(response.status).toBe(401);
    expect(receiver.violations).toEqual([expect.stringMatching(/webhook-timestamp is 360[01] s away from now/)]);
  });

  it('is caught by the receiver when signed with another secret', async () => {
    expectViolations = true;
    const error = await connect({ secret: 'not-the-receivers-secret' })
      .write(BATCH, {}, context())
      .catch((e: unknown) => e);

    expect(receiver.violations).toHaveLength(1);
    expect(receiver.violations[0]).toMatch(/no v1 signature matches/);
    expect(() => receiver.assertNoViolations()).toThrow(/violations/);
    expect(error).toBeInstanceOf(DestinationError);
  });
});

describe('webhook destination: delivery id', () => {
  it('is the same for the same batch content in another run, and is sent as idempotency-key', async () => {
    const destination = connect();
    await destination.write(BATCH, {}, context('run-1'));
    await destination.write(BATCH, {}, context('run-2'));

    const [first, second] = receiver.deliveries;
    expect(first!.json).toMatchObject({ run_id: 'run-1' });
    expect(second!.json).toMatchObject({ run_id: 'run-2' });
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(first!.headers['idempotency-key']).toBe(first!.headers['webhook-id']);
    expect(second!.duplicate).toBe(true);
  });

  it('differs when a record, its hash, its operation or the sync differs', async () => {
    const destination = connect();
    const changedHash = [upsert('1', { email: 'ada@example.com', plan: 'enterprise' }), ...BATCH.slice(1)];
    const changedOperation = [...BATCH.slice(0, 2), { ...BATCH[2]!, operation: 'upsert' as const }];
    await destination.write(BATCH, {}, context());
    await destination.write(changedHash, {}, context());
    await destination.write(changedOperation, {}, context());
    await destination.write(BATCH.slice(0, 2), {}, context());
    await destination.write(BATCH, {}, context('run-1', 'model.shop.customers::other_hook'));

    const ids = receiver.deliveries.map((d) => d.headers['webhook-id']);
    expect(new Set(ids).size).toBe(5);
  });
});

describe('webhook destination: outcomes', () => {
  it('marks every record failed, not retryable, with the status and body on other 4xx', async () => {
    receiver.respondWith(inOrder({ status: 422, body: 'email is invalid' }));
    const results = await connect().write(BATCH, {}, context());

    expect(results).toEqual(
      BATCH.map((change) => ({ key: change.key, status: 'failed', message: 'HTTP 422: email is invalid', retryable: false })),
    );
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('keeps only the first 500 characters of the body in the message', async () => {
    receiver.respondWith(inOrder({ status: 400, body: 'x'.repeat(2000) }));
    const [result] = await connect().write(BATCH.slice(0, 1), {}, context());

    expect(result).toMatchObject({ status: 'failed', message: `HTTP 400: ${'x'.repeat(500)}` });
  });

  it('marks every record failed and retryable when 5xx outlast the retries', async () => {
    receiver.respondWith(() => ({ status: 500, body: 'internal error' }));
    const results = await connect().write(BATCH, {}, context());

    expect(receiver.deliveries).toHaveLength(FAST_RETRY.retries + 1);
    for (const result of results) {
      expect(result).toMatchObject({ status: 'failed', retryable: true });
      expect(result.status === 'failed' && result.message).toContain('HTTP 500: internal error');
    }
  });

  it('syncs after the receiver throttled it with 429', async () => {
    receiver.respondWith(inOrder({ status: 429, headers: { 'retry-after': '0' } }));
    const results = await connect().write(BATCH, {}, context());

    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(receiver.records()).toHaveLength(BATCH.length);
  });

  it('waits out the receiver rate limit (429 with Retry-After) and then syncs', async () => {
    await receiver.close();
    receiver = await startWebhookReceiver({ secret: RAW_SECRET, rateLimit: { requests: 2, perMs: 1000 } });
    const destination = connect();
    const results = await Promise.all(BATCH.map((change) => destination.write([change], {}, context())));

    expect(results.flat().every((r) => r.status === 'synced')).toBe(true);
    expect(receiver.deliveries.map((d) => d.answer)).toEqual([200, 200, 429, 200]);
    expect(receiver.deliveries[2]!.headers['webhook-id']).toBe(receiver.deliveries[3]!.headers['webhook-id']);
    expect(receiver.records()).toHaveLength(BATCH.length);
  });

  it('fails records that exceed what the receiver accepts per request', async () => {
    await receiver.close();
    receiver = await startWebhookReceiver({ secret: RAW_SECRET, maxRecordsPerRequest: 2 });
    const results = await connect().write(BATCH, {}, context());

    expect(results[0]).toMatchObject({ status: 'failed', retryable: false, message: expect.stringMatching(/^HTTP 413: /) });
  });

  it('stops the sync on 401 without putting the secret or header values in the message', async () => {
    receiver.respondWith(inOrder({ status: 401, body: `token ${TOKEN} refused; secret ${RAW_SECRET} unknown` }));
    const error = await connect().write(BATCH, {}, context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DestinationError);
    expect(error).toMatchObject({ status: 401 });
    const message = (error as Error).message;
    expect(message).toContain('crm_hook');
    expect(message).toMatch(/refused the credentials/);
    expect(message).not.toContain(TOKEN);
    expect(message).not.toContain('tok_live_1234567890');
    expect(message).not.toContain(RAW_SECRET);
  });

  it('stops the sync when the endpoint is gone (410) or missing (404)', async () => {
    receiver.respondWith(inOrder({ status: 410 }, { status: 404 }));
    const destination = connect();

    const gone = await destination.write(BATCH, {}, context()).catch((e: unknown) => e);
    const missing = await destination.write(BATCH, {}, context()).catch((e: unknown) => e);

    expect(gone).toBeInstanceOf(DestinationError);
    expect(gone).toMatchObject({ status: 410, message: expect.stringMatching(/gone/) });
    expect(missing).toBeInstanceOf(DestinationError);
    expect(missing).toMatchObject({ status: 404, message: expect.stringMatching(/not found/) });
  });

  it('does not follow a redirect and stops the sync', async () => {
    receiver.respondWith(inOrder({ status: 301, headers: { location: 'http://127.0.0.1:1/elsewhere' } }));
    await expect(connect().write(BATCH, {}, context())).rejects.toBeInstanceOf(DestinationError);
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('rejects with the abort reason when the run is cancelled', async () => {
    receiver.respondWith(() => ({ status: 200, delayMs: 5000 }));
    const controller = new AbortController();
    const reason = new Error('cancelled');
    setTimeout(() => controller.abort(reason), 50);

    await expect(connect().write(BATCH, {}, { ...context(), signal: controller.signal })).rejects.toBe(reason);
  });
});

describe('webhook destination: definition', () => {
  it('is the default export too, with its modes and secret keys', () => {
    expect(webhookDefault).toBe(webhook);
    expect(webhook.type).toBe('webhook');
    expect(webhook.modes).toEqual(['upsert', 'create', 'mirror']);
    expect(webhook.secretKeys).toEqual(['secret', 'headers', 'url']);
  });

  it('fills in defaults and derives its limits from the config', () => {
    const config = webhook.config.parse({ type: 'webhook', url: 'https://hooks.example.com/in' });
    expect(config).toMatchObject({ batch_size: 100, timeout_seconds: 30, concurrency: 4, rate_limit: { requests: 10, per_seconds: 1 } });
    expect(webhook.limits(config)).toEqual({ batchSize: 100, concurrency: 4, requests: 10, perSeconds: 1 });

    const tuned = webhook.config.parse({
      type: 'webhook',
      url: 'https://hooks.example.com/in',
      batch_size: 500,
      concurrency: 8,
      rate_limit: { requests: 50, per_seconds: 10 },
    });
    expect(webhook.limits(tuned)).toEqual({ batchSize: 500, concurrency: 8, requests: 50, perSeconds: 10 });
  });

  it.each([
    ['a URL that is not http(s)', { url: 'ftp://hooks.example.com/in' }, ['url']],
    ['something that is not a URL', { url: 'hooks dot example' }, ['url']],
    ['an unknown key', { retries: 3 }, []],
    ['a whsec_ secret that is not base64', { secret: 'whsec_not base64!' }, ['secret']],
    ['a batch size of 0', { batch_size: 0 }, ['batch_size']],
    ['too much concurrency', { concurrency: 65 }, ['concurrency']],
    ['a non-string header value', { headers: { 'x-n': 1 } }, ['headers', 'x-n']],
    ['an unknown rate_limit key', { rate_limit: { requests: 1, per_seconds: 1, burst: 2 } }, ['rate_limit']],
  ])('rejects %s', (_what, overrides, path) => {
    const result = webhook.config.safeParse({ type: 'webhook', url: 'https://hooks.example.com/in', ...overrides });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(path);
  });

  it('accepts no options or an object name, and nothing else', () => {
    expect(webhook.options.safeParse({}).success).toBe(true);
    expect(webhook.options.safeParse({ object: 'contacts' }).success).toBe(true);
    expect(webhook.options.safeParse({ objekt: 'contacts' }).success).toBe(false);
  });
});
