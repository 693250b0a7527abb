import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ActivateError } from '../../src/errors.js';
import { createHttpClient, HttpClientPool, HttpRetryError, type HttpClientOptions } from '../../src/http/http-client.js';
import { parseRetryAfter, retryAfterCapMs } from '../../src/http/retry-after.js';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/http/types.js';
import { inOrder, startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';

const FAST_RETRY = { minDelayMs: 10, maxDelayMs: 50 } as const;
const NO_RATE_LIMIT = { requests: 10_000, perSeconds: 1, concurrency: 16 } as const;
/** Localhost scheduling jitter allowed when comparing the receiver's timestamps. */
const TOLERANCE_MS = 50;

let receiver: WebhookReceiver;
let clients: HttpClient[] = [];

beforeEach(async () => {
  receiver = await startWebhookReceiver();
});

afterEach(async () => {
  await Promise.all(clients.map((client) => client.close()));
  clients = [];
  await receiver.close();
  receiver.assertNoViolations();
});

function client(options: Partial<HttpClientOptions> = {}): HttpClient {
  const created = createHttpClient({ limits: NO_RATE_LIMIT, retry: FAST_RETRY, ...options });
  clients.push(created);
  return created;
}

function post(on: HttpClient, extra: Partial<HttpRequest> = {}): Promise<HttpResponse> {
  return on.request({
    method: 'POST',
    url: receiver.url,
    headers: { 'content-type': 'application/json' },
    body: '{"hello":"world"}',
    ...extra,
  });
}

function gapMs(first: number, second: number): number {
  const a = receiver.deliveries[first];
  const b = receiver.deliveries[second];
  if (!a || !b) throw new Error(`missing delivery ${first} or ${second}`);
  return b.monotonicMs - a.monotonicMs;
}

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

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/nothing-here`;
}

describe('createHttpClient: responses', () => {
  it('sends the exact body and headers, and lower-cases response header names', async () => {
    receiver.respondWith(inOrder({ status: 201, headers: { 'X-Request-Id': 'abc' }, body: 'created' }));
    const response = await post(client(), { headers: { 'Content-Type': 'application/json', 'X-Token': 't' } });

    expect(response).toMatchObject({ status: 201, text: 'created' });
    expect(response.headers['x-request-id']).toBe('abc');
    const [delivery] = receiver.deliveries;
    expect(delivery?.body).toBe('{"hello":"world"}');
    expect(delivery?.headers).toMatchObject({ 'content-type': 'application/json', 'x-token': 't', 'user-agent': 'dbt-activate' });
  });

  it('resolves other 4xx as they are, without retrying', async () => {
    receiver.respondWith(inOrder({ status: 400, body: 'email is invalid' }));
    const response = await post(client());

    expect(response).toMatchObject({ status: 400, text: 'email is invalid' });
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('does not follow redirects', async () => {
    receiver.respondWith(inOrder({ status: 302, headers: { location: `${receiver.url}/elsewhere` } }));
    const response = await post(client());

    expect(response.status).toBe(302);
    expect(response.headers.location).toBe(`${receiver.url}/elsewhere`);
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('reuses one keep-alive connection for consecutive requests, whatever their status', async () => {
    receiver.respondWith(inOrder(undefined, { status: 400, body: 'no' }, { status: 503, body: 'busy' }));
    const http = client({ limits: { ...NO_RATE_LIMIT, concurrency: 1 } });
    await post(http);
    await post(http);
    await post(http);

    const ports = new Set(receiver.deliveries.map((d) => d.remotePort));
    expect(receiver.deliveries).toHaveLength(4);
    expect(ports.size).toBe(1);
  });

  it('calls prepare before every attempt and adds its headers to that attempt', async () => {
    receiver.respondWith(inOrder({ status: 500 }, { status: 500 }));
    const seen: number[] = [];
    await post(client(), {
      prepare: (attempt) => {
        seen.push(attempt);
        return { 'x-attempt': String(attempt) };
      },
    });

    expect(seen).toEqual([1, 2, 3]);
    expect(receiver.deliveries.map((d) => d.headers['x-attempt'])).toEqual(['1', '2', '3']);
  });
});

describe('createHttpClient: retries', () => {
  it('retries 5xx and then resolves with the success', async () => {
    receiver.respondWith(inOrder({ status: 500, body: 'oops' }, { status: 503 }));
    const response = await post(client());

    expect(response.status).toBe(200);
    expect(receiver.deliveries.map((d) => d.answer)).toEqual([500, 503, 200]);
    expect(new Set(receiver.deliveries.map((d) => d.body)).size).toBe(1);
  });

  it('honours Retry-After given in seconds', async () => {
    receiver.respondWith(inOrder({ status: 429, headers: { 'retry-after': '1' } }));
    const response = await post(client());

    expect(response.status).toBe(200);
    expect(gapMs(0, 1)).toBeGreaterThanOrEqual(1000 - TOLERANCE_MS);
  });

  it('backs off on a 429 whose Retry-After is 0 instead of retrying at once', async () => {
    receiver.respondWith(inOrder({ status: 429, headers: { 'retry-after': '0' } }, { status: 429, headers: { 'retry-after': '0' } }));
    const response = await post(client({ retry: { minDelayMs: 200, maxDelayMs: 400 } }));

    expect(response.status).toBe(200);
    // Equal jitter: the first wait is at least half of minDelayMs, the second half of twice that.
    expect(gapMs(0, 1)).toBeGreaterThanOrEqual(100 - TOLERANCE_MS / 2);
    expect(gapMs(1, 2)).toBeGreaterThanOrEqual(200 - TOLERANCE_MS / 2);
  });

  it('honours Retry-After given as an HTTP date, beyond maxDelayMs', async () => {
    let askedUntil = 0;
    receiver.respondWith((delivery, index) => {
      if (index > 0) return undefined;
      const date = new Date(delivery.receivedAt + 2000).toUTCString();
      askedUntil = Date.parse(date); // HTTP dates have whole seconds: between 1 and 2 s from now
      return { status: 429, headers: { 'retry-after': date } };
    });
    const response = await post(client({ retry: { minDelayMs: 10, maxDelayMs: 50 } }));

    const [first, second] = receiver.deliveries;
    expect(response.status).toBe(200);
    expect(askedUntil - first!.receivedAt).toBeGreaterThanOrEqual(1000);
    expect(second!.receivedAt).toBeGreaterThanOrEqual(askedUntil - TOLERANCE_MS);
  });

  it('does not spend the 5xx budget on 429s', async () => {
    receiver.respondWith(inOrder({ status: 429 }, { status: 429 }, { status: 429 }, { status: 500 }));
    const response = await post(client({ retry: { ...FAST_RETRY, retries: 1, throttleRetries: 5 } }));

    expect(response.status).toBe(200);
    expect(receiver.deliveries.map((d) => d.answer)).toEqual([429, 429, 429, 500, 200]);
  });

  it('gives up with HttpRetryError when the 5xx retries are used up', async () => {
    receiver.respondWith(() => ({ status: 503, body: 'down for maintenance' }));
    const error = await post(client({ retry: { ...FAST_RETRY, retries: 2 } })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(HttpRetryError);
    expect(error).toBeInstanceOf(ActivateError);
    expect(error).toMatchObject({ status: 503, attempts: 3, retryable: true, responseText: 'down for maintenance' });
    expect((error as Error).message).toContain('HTTP 503: down for maintenance');
    expect((error as Error).message).not.toContain('/hooks'); // paths may carry tokens
    expect(receiver.deliveries).toHaveLength(3);
  });

  it('gives up with HttpRetryError when the throttle retries are used up', async () => {
    receiver.respondWith(() => ({ status: 429, body: 'slow down' }));
    const error = await post(client({ retry: { ...FAST_RETRY, retries: 0, throttleRetries: 2 } })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(HttpRetryError);
    expect(error).toMatchObject({ status: 429, attempts: 3, responseText: 'slow down' });
    expect(receiver.deliveries).toHaveLength(3);
  });

  it('retries an attempt that times out', async () => {
    receiver.respondWith(inOrder({ status: 200, body: 'too late', delayMs: 1500 }));
    const response = await post(client({ timeoutMs: 200 }));

    expect(response).toMatchObject({ status: 200, text: '{"ok":true}' });
    expect(receiver.deliveries).toHaveLength(2);
  });

  it('uses the request timeout over the client default', async () => {
    receiver.respondWith(() => ({ status: 200, delayMs: 1500 }));
    const error = await post(client({ timeoutMs: 10_000, retry: { ...FAST_RETRY, retries: 1 } }), { timeoutMs: 100 }).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(HttpRetryError);
    expect(error).toMatchObject({ status: undefined, attempts: 2 });
    expect((error as Error).message).toContain('no complete response within 100 ms');
  });

  it('retries when the connection is reset', async () => {
    receiver.respondWith(inOrder({ reset: true }));
    const response = await post(client());

    expect(response.status).toBe(200);
    expect(receiver.deliveries.map((d) => d.answer)).toEqual(['reset', 200]);
  });

  it('retries refused connections, then gives up without a status', async () => {
    const error = await post(client({ retry: { ...FAST_RETRY, retries: 1 } }), { url: await closedPortUrl() }).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(HttpRetryError);
    expect(error).toMatchObject({ status: undefined, attempts: 2 });
    expect((error as Error).message).toMatch(/network error/);
  });

  it('does not retry a request that cannot be built', async () => {
    const error = await post(client(), { url: 'not a url' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ActivateError);
    expect(error).not.toBeInstanceOf(HttpRetryError);
  });
});

describe('createHttpClient: rate limit', () => {
  it('never lets the receiver see more than `requests` in any `perSeconds` window', async () => {
    const http = client({ limits: { requests: 5, perSeconds: 1, concurrency: 15 } });
    const responses = await Promise.all(Array.from({ length: 15 }, () => post(http)));

    expect(responses.every((r) => r.status === 200)).toBe(true);
    const times = receiver.deliveries.map((d) => d.monotonicMs);
    expect(busiestWindow(times, 1000 - TOLERANCE_MS)).toBeLessThanOrEqual(5);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(2000 - TOLERANCE_MS);
  });

  it('counts a window from the answer, so a request that reached the server late cannot share its window', async () => {
    receiver.respondWith(() => ({ status: 200, delayMs: 300 }));
    const http = client({ limits: { requests: 2, perSeconds: 1, concurrency: 4 } });
    await Promise.all(Array.from({ length: 4 }, () => post(http)));

    expect(gapMs(0, 1)).toBeLessThan(250);
    // The first two were answered after 300 ms: their slots come back a second after that.
    expect(gapMs(0, 2)).toBeGreaterThanOrEqual(1300 - TOLERANCE_MS);
    expect(gapMs(1, 3)).toBeGreaterThanOrEqual(1300 - TOLERANCE_MS);
  });

  it('puts retries back through the rate limit', async () => {
    receiver.respondWith((_delivery, index) => (index < 2 ? { status: 503 } : undefined));
    const http = client({ limits: { requests: 2, perSeconds: 1, concurrency: 2 } });
    await Promise.all([post(http), post(http)]);

    expect(receiver.deliveries).toHaveLength(4);
    expect(gapMs(0, 2)).toBeGreaterThanOrEqual(1000 - TOLERANCE_MS);
  });

  it('limits requests in flight to `concurrency`', async () => {
    receiver.respondWith(() => ({ status: 200, delayMs: 200 }));
    const http = client({ limits: { requests: 100, perSeconds: 1, concurrency: 2 } });
    await Promise.all(Array.from({ length: 4 }, () => post(http)));

    expect(gapMs(0, 1)).toBeLessThan(180);
    expect(gapMs(1, 2)).toBeGreaterThanOrEqual(200 - TOLERANCE_MS);
  });
});

describe('createHttpClient: abort', () => {
  it('rejects with the abort reason while a response is awaited', async () => {
    receiver.respondWith(() => ({ status: 200, delayMs: 5000 }));
    const controller = new AbortController();
    const reason = new Error('run cancelled');
    setTimeout(() => controller.abort(reason), 100);
    const started = performance.now();

    await expect(post(client(), { signal: controller.signal })).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('rejects with the abort reason while waiting to retry', async () => {
    receiver.respondWith(() => ({ status: 429, headers: { 'retry-after': '30' } }));
    const controller = new AbortController();
    const reason = new Error('run cancelled');
    setTimeout(() => controller.abort(reason), 100);

    await expect(post(client(), { signal: controller.signal })).rejects.toBe(reason);
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('sends nothing when the signal is already aborted', async () => {
    const reason = new Error('already cancelled');
    await expect(post(client(), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(receiver.deliveries).toHaveLength(0);
  });

  it('rejects requests still waiting when the client closes', async () => {
    receiver.respondWith(() => ({ status: 200, delayMs: 300 }));
    const http = client({ limits: { requests: 1, perSeconds: 10, concurrency: 1 } });
    const inFlight = post(http).catch((e: unknown) => e);
    const queued = post(http).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await http.close();

    expect(await inFlight).toMatchObject({ message: expect.stringMatching(/closed/) });
    expect(await queued).toMatchObject({ message: expect.stringMatching(/closed/) });
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('refuses requests after close()', async () => {
    const http = client();
    await http.close();
    await expect(post(http)).rejects.toThrow(/closed/);
  });
});

describe('HttpClientPool', () => {
  it('hands out one client per account key and closes them all', async () => {
    const pool = new HttpClientPool();
    const options: HttpClientOptions = { limits: NO_RATE_LIMIT, retry: FAST_RETRY };
    const a = pool.get('account-a', options);

    expect(pool.get('account-a', options)).toBe(a);
    expect(pool.get('account-b', options)).not.toBe(a);

    await a.close(); // the pool owns the client: this does not close it
    expect((await post(a)).status).toBe(200);

    await pool.closeAll();
    await expect(post(a)).rejects.toThrow(/closed/);
  });

  it('shares the rate limit between the syncs of one account', async () => {
    const pool = new HttpClientPool();
    const options: HttpClientOptions = { limits: { requests: 2, perSeconds: 1, concurrency: 4 }, retry: FAST_RETRY };
    const syncA = pool.get('crm', options);
    const syncB = pool.get('crm', options);
    try {
      await Promise.all([post(syncA), post(syncA), post(syncB)]);
    } finally {
      await pool.closeAll();
    }

    expect(gapMs(0, 2)).toBeGreaterThanOrEqual(1000 - TOLERANCE_MS);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('0', { now })).toBe(0);
    expect(parseRetryAfter(' 45 ', { now })).toBe(45_000);
  });

  it('reads an HTTP date, and a date in the past as no wait', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', { now })).toBe(10_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', { now })).toBe(0);
  });

  it('ignores what it cannot read', () => {
    for (const value of [undefined, '', '-1', '1.5', 'soon']) expect(parseRetryAfter(value, { now })).toBeUndefined();
  });

  it('caps the wait, but never below a minute', () => {
    expect(parseRetryAfter('86400', { now, capMs: retryAfterCapMs(30_000) })).toBe(60_000);
    expect(parseRetryAfter('45', { now, capMs: retryAfterCapMs(30_000) })).toBe(45_000);
    expect(retryAfterCapMs(120_000)).toBe(120_000);
  });
});

describe('createHttpClient: the connector classifies responses', () => {
  it('a response classified final is handed back at once, even a 429', async () => {
    receiver.respondWith(() => ({ status: 429, body: '{"policyName":"DAILY"}' }));
    const response = await post(client(), { classify: (r) => (r.text.includes('DAILY') ? 'final' : undefined) });
    expect(response.status).toBe(429);
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('a response classified retryable is retried after the wait it gives, as throttling', async () => {
    receiver.respondWith(inOrder({ status: 423, body: 'locked' }, { status: 423, body: 'locked' }));
    const response = await post(client({ retry: { ...FAST_RETRY, retries: 0 } }), {
      classify: (r) => (r.status === 423 ? { retryAfterMs: 200 } : undefined),
    });
    expect(response.status).toBe(200);
    expect(receiver.deliveries).toHaveLength(3);
    // retries: 0, yet it was retried: throttling has its own budget.
    expect(gapMs(0, 1)).toBeGreaterThanOrEqual(200 - TOLERANCE_MS);
    expect(gapMs(1, 2)).toBeGreaterThanOrEqual(200 - TOLERANCE_MS);
  });
});
