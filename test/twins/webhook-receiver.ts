/**
 * An in-process webhook receiver on 127.0.0.1 for tests: real sockets, every delivery
 * recorded, Standard Webhooks signatures verified over the raw bytes, and a scriptable
 * fault plan (status codes, Retry-After, slow answers, connection resets, rate limits).
 *
 * Verification is written here from the spec with node:crypto, independently of the
 * connector's signing code, so a bug there cannot hide itself.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Delivery {
  /** 0-based position among all requests the receiver got. */
  readonly index: number;
  readonly method: string;
  readonly path: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly rawBody: Buffer;
  readonly body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
  /** Wall clock (ms since epoch), to compare with HTTP dates. */
  readonly receivedAt: number;
  /** Monotonic clock (performance.now()), to measure gaps between requests. */
  readonly monotonicMs: number;
  /** Client port of the connection: equal ports mean a reused keep-alive socket. */
  readonly remotePort: number | undefined;
  /** `not-checked` when the receiver has no secret. */
  readonly signature: 'valid' | 'invalid' | 'missing' | 'not-checked';
  /** True when an earlier delivery with the same webhook-id was answered 2xx. */
  readonly duplicate: boolean;
  /** What the receiver answered: a status, `reset` for a destroyed socket, undefined while pending. */
  readonly answer: number | 'reset' | undefined;
}

export type ScriptedAnswer =
  | {
      readonly status: number;
      readonly headers?: Readonly<Record<string, string>>;
      /** A string is sent as is; anything else as JSON. */
      readonly body?: unknown;
      /** Wait this long before answering (to go past a client's timeout). */
      readonly delayMs?: number;
    }
  | { readonly reset: true; readonly delayMs?: number };

/** Returns the answer for a delivery, or undefined to let the receiver answer normally. */
export type FaultPlan = (delivery: Delivery, index: number) => ScriptedAnswer | undefined;

export interface WebhookReceiverOptions {
  /** Verify signatures with this secret: a raw string or `whsec_<base64>`. */
  readonly secret?: string;
  /** Accepted distance between webhook-timestamp and the receiver's clock. Default 300 s. */
  readonly toleranceSeconds?: number;
  /** Answer 429 with Retry-After (seconds) beyond `requests` per `perMs` (sliding window). */
  readonly rateLimit?: { readonly requests: number; readonly perMs: number };
  /** Answer 413 when a delivery's `records` array is longer. */
  readonly maxRecordsPerRequest?: number;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly deliveries: readonly Delivery[];
  /** Problems that must fail the test: bad signatures, stale timestamps, malformed ids. */
  readonly violations: readonly string[];
  /** Records of the deliveries answered 2xx, in arrival order (all deliveries with includeRejected). */
  records(options?: { readonly includeRejected?: boolean }): readonly unknown[];
  respondWith(plan: FaultPlan | undefined): void;
  assertNoViolations(): void;
  close(): Promise<void>;
}

/** A fault plan answering the n-th delivery with the n-th answer, then normally. */
export function inOrder(...answers: ReadonlyArray<ScriptedAnswer | undefined>): FaultPlan {
  return (_delivery, index) => answers[index];
}

type MutableDelivery = { -readonly [K in keyof Delivery]: Delivery[K] };

export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const deliveries: MutableDelivery[] = [];
  const violations: string[] = [];
  const acceptedIds = new Set<string>();
  const rateWindow: number[] = [];
  const pendingTimers = new Set<NodeJS.Timeout>();
  const key = options.secret === undefined ? undefined : keyFromSecret(options.secret);
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  let plan: FaultPlan | undefined;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
    req.on('error', () => {});
  });

  function handle(req: IncomingMessage, res: ServerResponse, rawBody: Buffer): void {
    const headers = lowerCaseHeaders(req);
    const body = rawBody.toString('utf8');
    const webhookId = headers['webhook-id'];
    const delivery: MutableDelivery = {
      index: deliveries.length,
      method: req.method ?? '',
      path: req.url ?? '',
      headers,
      rawBody,
      body,
      json: parseJson(body),
      receivedAt: Date.now(),
      monotonicMs: performance.now(),
      remotePort: req.socket.remotePort,
      signature: 'not-checked',
      duplicate: webhookId !== undefined && acceptedIds.has(webhookId),
      answer: undefined,
    };
    deliveries.push(delivery);

    if (key) {
      const problem = verify(key, headers, rawBody, toleranceSeconds);
      delivery.signature = problem === undefined ? 'valid' : headers['webhook-signature'] ? 'invalid' : 'missing';
      if (problem !== undefined) {
        violations.push(`delivery ${delivery.index}: ${problem}`);
        answer(delivery, res, { status: 401, body: { error: problem } });
        return;
      }
    }

    const scripted = plan?.(delivery, delivery.index);
    if (scripted) {
      answer(delivery, res, scripted);
      return;
    }

    if (options.rateLimit) {
      const now = delivery.monotonicMs;
      while (rateWindow.length > 0 && rateWindow[0]! <= now - options.rateLimit.perMs) rateWindow.shift();
      if (rateWindow.length >= options.rateLimit.requests) {
        const waitMs = rateWindow[0]! + options.rateLimit.perMs - now;
        const retryAfter = String(Math.max(1, Math.ceil(waitMs / 1000)));
        answer(delivery, res, { status: 429, headers: { 'retry-after': retryAfter }, body: { error: 'rate limited' } });
        return;
      }
      rateWindow.push(now);
    }

    const recordCount = recordsOf(delivery.json).length;
    if (options.maxRecordsPerRequest !== undefined && recordCount > options.maxRecordsPerRequest) {
      answer(delivery, res, {
        status: 413,
        body: { error: `too many records: ${recordCount} > ${options.maxRecordsPerRequest}` },
      });
      return;
    }

    answer(delivery, res, { status: 200, body: { ok: true } });
  }

  function answer(delivery: MutableDelivery, res: ServerResponse, scripted: ScriptedAnswer): void {
    const send = () => {
      if (res.destroyed || res.writableEnded) return;
      if ('reset' in scripted) {
        delivery.answer = 'reset';
        res.socket?.destroy();
        return;
      }
      delivery.answer = scripted.status;
      const webhookId = delivery.headers['webhook-id'];
      if (scripted.status >= 200 && scripted.status < 300 && webhookId !== undefined) acceptedIds.add(webhookId);
      const text =
        scripted.body === undefined ? '' : typeof scripted.body === 'string' ? scripted.body : JSON.stringify(scripted.body);
      res.writeHead(scripted.status, {
        ...(typeof scripted.body === 'string' || scripted.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...scripted.headers,
      });
      res.end(text);
    };
    if (!scripted.delayMs) {
      send();
      return;
    }
    const timer = setTimeout(() => {
      pendingTimers.delete(timer);
      send();
    }, scripted.delayMs);
    pendingTimers.add(timer);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hooks`,
    deliveries,
    violations,
    records: ({ includeRejected = false } = {}) =>
      deliveries
        .filter((d) => includeRejected || (typeof d.answer === 'number' && d.answer >= 200 && d.answer < 300))
        .flatMap((d) => recordsOf(d.json)),
    respondWith: (next) => {
      plan = next;
    },
    assertNoViolations: () => {
      if (violations.length > 0) throw new Error(`webhook receiver saw violations:\n${violations.join('\n')}`);
    },
    close: async () => {
      for (const timer of pendingTimers) clearTimeout(timer);
      pendingTimers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Standard Webhooks verification; returns what is wrong, or undefined when the delivery verifies. */
function verify(
  key: Buffer,
  headers: Readonly<Record<string, string>>,
  rawBody: Buffer,
  toleranceSeconds: number,
): string | undefined {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) return 'missing webhook-id, webhook-timestamp or webhook-signature';
  if (id.includes('.') || timestamp.includes('.')) return 'webhook-id and webhook-timestamp must not contain "."';
  if (!/^\d+$/.test(timestamp)) return `webhook-timestamp is not unix seconds: ${timestamp}`;
  const skew = Math.abs(Date.now() / 1000 - Number(timestamp));
  if (skew > toleranceSeconds) return `webhook-timestamp is ${Math.round(skew)} s away from now`;

  const signedContent = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), rawBody]);
  const expected = createHmac('sha256', key).update(signedContent).digest();
  for (const entry of signatures.split(' ')) {
    const [version, encoded] = entry.split(',', 2);
    if (version !== 'v1' || !encoded) continue;
    const given = Buffer.from(encoded, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  }
  return 'no v1 signature matches the body';
}

function keyFromSecret(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

function lowerCaseHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function recordsOf(json: unknown): readonly unknown[] {
  if (typeof json !== 'object' || json === null) return [];
  const records = (json as { records?: unknown }).records;
  return Array.isArray(records) ? records : [];
}
