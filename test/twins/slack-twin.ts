/**
 * An in-process Slack twin on 127.0.0.1 for tests, built from Slack's documented behaviour
 * (../shared/reference/destination-apis.md §8; the incoming-webhook error changelog of
 * 2016-05-17; chat.postMessage's reference):
 * - incoming webhooks: POST JSON to the secret URL; `ok` (text) on success; plain-text error codes
 *   with 400 (invalid_payload, no_text), 403 (action_prohibited), 404 (no_service for a removed
 *   webhook, channel_not_found) and 410 (channel_is_archived);
 * - Web API chat.postMessage: Bearer token; JSON `{ ok: true, channel, ts, message }` or
 *   `{ ok: false, error }` (not_authed, invalid_auth, channel_not_found, not_in_channel,
 *   is_archived, no_text, msg_too_long), mostly with HTTP 200;
 * - about one message per second with a small burst (a token bucket): 429 with Retry-After
 *   (seconds), and `ratelimited` from the Web API.
 * A request the real Slack would refuse because the client is wrong (a wrong path, not JSON,
 * unknown payload keys, no text) is also recorded as a violation (assertNoViolations()).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const SLACK_TWIN_TOKEN = 'xoxb-0000000000-twin-bot-token';
const HOOK_PATH = '/services/T0TWIN/B0TWIN/twinsecret0123456789';
const MAX_TEXT = 40_000;

export interface SlackMessage {
  readonly via: 'webhook' | 'api';
  /** Channel id. */
  readonly channel: string;
  readonly text: string;
  readonly ts: string;
  readonly monotonicMs: number;
}

export interface SlackRequest {
  readonly index: number;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly json: unknown;
  readonly monotonicMs: number;
  answer: number | 'reset' | undefined;
  /** The Web API's `error`, or the webhook's error text. */
  error?: string;
}

export type ScriptedAnswer =
  | { readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly body?: unknown; readonly delayMs?: number }
  | { readonly reset: true };
export type FaultPlan = (request: SlackRequest, index: number) => ScriptedAnswer | undefined;

export interface SlackChannel {
  readonly id: string;
  archived?: boolean;
  /** Whether the bot was invited (chat.postMessage answers not_in_channel otherwise). */
  member?: boolean;
}

export interface SlackTwinOptions {
  readonly token?: string;
  /** Channels by name (without #). Default: alerts (the webhook's channel) and growth. */
  readonly channels?: Readonly<Record<string, SlackChannel>>;
  /** Token bucket: `perSecond` refill, `burst` capacity. Slack: ~1 message/second, short bursts. */
  readonly rate?: { readonly perSecond: number; readonly burst: number };
}

export interface SlackTwin {
  readonly url: string;
  /** The incoming webhook (posts to #alerts). */
  readonly webhookUrl: string;
  /** Web API base for bot-token posting. */
  readonly apiUrl: string;
  readonly token: string;
  readonly requests: readonly SlackRequest[];
  readonly messages: readonly SlackMessage[];
  readonly violations: readonly string[];
  /** Removes the incoming webhook (its URL then answers 404 no_service). */
  revokeWebhook(): void;
  archiveChannel(name: string): void;
  respondWith(plan: FaultPlan | undefined): void;
  assertNoViolations(): void;
  close(): Promise<void>;
}

const WEBHOOK_KEYS = new Set(['text', 'blocks', 'attachments', 'thread_ts', 'mrkdwn', 'unfurl_links', 'unfurl_media', 'username', 'icon_emoji', 'icon_url']);
const API_KEYS = new Set([
  'channel', 'text', 'blocks', 'attachments', 'thread_ts', 'mrkdwn', 'unfurl_links', 'unfurl_media', 'username', 'icon_emoji',
  'icon_url', 'reply_broadcast', 'parse', 'link_names', 'metadata', 'as_user',
]);

export async function startSlackTwin(options: SlackTwinOptions = {}): Promise<SlackTwin> {
  const token = options.token ?? SLACK_TWIN_TOKEN;
  const rate = options.rate ?? { perSecond: 1, burst: 3 };
  const channels = new Map<string, SlackChannel>(
    Object.entries(options.channels ?? { alerts: { id: 'C0ALERTS', member: true }, growth: { id: 'C0GROWTH', member: true } }),
  );
  const webhookChannel = [...channels.values()][0]!;
  const requests: SlackRequest[] = [];
  const messages: SlackMessage[] = [];
  const violations: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let webhookRevoked = false;
  let plan: FaultPlan | undefined;
  let tokens = rate.burst;
  let refilledAt = performance.now();
  let tsCounter = 0;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => {});
  });

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    const path = new URL(req.url ?? '/', 'http://twin').pathname;
    const request: SlackRequest = {
      index: requests.length,
      method: req.method ?? '',
      path,
      headers,
      body,
      json: parseJson(body),
      monotonicMs: performance.now(),
      answer: undefined,
    };
    requests.push(request);
    const violation = (text: string) => violations.push(`request ${request.index} (${request.method} ${request.path}): ${text}`);

    const scripted = plan?.(request, request.index);
    if (scripted) return answerScripted(res, request, scripted);

    if (path === HOOK_PATH) return webhook(request, res, violation);
    if (path === '/api/chat.postMessage') return postMessage(request, res, violation);
    violation('no such Slack endpoint');
    return text(res, request, 404, 'no_service');
  }

  /** Takes a token from the bucket, or says how many seconds until one is there. */
  function throttle(): number | undefined {
    const now = performance.now();
    tokens = Math.min(rate.burst, tokens + ((now - refilledAt) / 1000) * rate.perSecond);
    refilledAt = now;
    if (tokens >= 1) {
      tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - tokens) / rate.perSecond));
  }

  function webhook(request: SlackRequest, res: ServerResponse, violation: (text: string) => void): void {
    if (request.method !== 'POST') {
      violation('an incoming webhook takes POST');
      return text(res, request, 405, 'invalid_payload');
    }
    if (webhookRevoked) return text(res, request, 404, 'no_service');
    if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
      violation(`content-type is ${request.headers['content-type'] ?? 'missing'}, not application/json`);
      return text(res, request, 400, 'invalid_payload');
    }
    const payload = request.json;
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      violation('the body is not a JSON object');
      return text(res, request, 400, 'invalid_payload');
    }
    for (const key of Object.keys(payload)) {
      if (!WEBHOOK_KEYS.has(key)) violation(`unknown payload key "${key}"${key === 'channel' ? ' (an app webhook posts to its own channel)' : ''}`);
    }
    const message = (payload as { text?: unknown }).text;
    if (typeof message !== 'string' || message.trim() === '') {
      violation('no text');
      return text(res, request, 400, 'no_text');
    }
    if (message.length > MAX_TEXT) {
      violation(`text of ${message.length} characters`);
      return text(res, request, 400, 'invalid_payload');
    }
    if (webhookChannel.archived) return text(res, request, 410, 'channel_is_archived');
    const wait = throttle();
    if (wait !== undefined) return text(res, request, 429, 'rate_limited', { 'retry-after': String(wait) });
    messages.push({ via: 'webhook', channel: webhookChannel.id, text: message, ts: nextTs(), monotonicMs: request.monotonicMs });
    text(res, request, 200, 'ok');
  }

  function postMessage(request: SlackRequest, res: ServerResponse, violation: (text: string) => void): void {
    if (request.method !== 'POST') {
      violation('chat.postMessage takes POST');
      return api(res, request, 405, { ok: false, error: 'invalid_request' });
    }
    const auth = request.headers.authorization;
    if (auth === undefined) return api(res, request, 200, { ok: false, error: 'not_authed' });
    if (auth !== `Bearer ${token}`) return api(res, request, 200, { ok: false, error: 'invalid_auth' });
    const contentType = request.headers['content-type'] ?? '';
    if (!/^application\/json\b/.test(contentType)) {
      violation(`content-type is ${contentType || 'missing'}; JSON bodies need application/json`);
      return api(res, request, 200, { ok: false, error: 'invalid_arguments' });
    }
    const payload = request.json;
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      violation('the body is not a JSON object');
      return api(res, request, 200, { ok: false, error: 'invalid_json' });
    }
    for (const key of Object.keys(payload)) if (!API_KEYS.has(key)) violation(`unknown argument "${key}"`);
    const { channel: name, text: message } = payload as { channel?: unknown; text?: unknown };
    if (typeof name !== 'string' || name === '') {
      violation('no channel');
      return api(res, request, 200, { ok: false, error: 'channel_not_found' });
    }
    if (typeof message !== 'string' || message.trim() === '') {
      violation('no text');
      return api(res, request, 200, { ok: false, error: 'no_text' });
    }
    if (message.length > MAX_TEXT) return api(res, request, 200, { ok: false, error: 'msg_too_long' });
    const channel = channelByName(name);
    if (!channel) return api(res, request, 200, { ok: false, error: 'channel_not_found' });
    if (channel.archived) return api(res, request, 200, { ok: false, error: 'is_archived' });
    if (channel.member === false) return api(res, request, 200, { ok: false, error: 'not_in_channel' });
    const wait = throttle();
    if (wait !== undefined) return api(res, request, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(wait) });
    const ts = nextTs();
    messages.push({ via: 'api', channel: channel.id, text: message, ts, monotonicMs: request.monotonicMs });
    const warning = /charset=utf-8/i.test(contentType) ? {} : { warning: 'missing_charset', response_metadata: { warnings: ['missing_charset'] } };
    api(res, request, 200, { ok: true, channel: channel.id, ts, message: { type: 'message', text: message, ts, bot_id: 'B0TWIN' }, ...warning });
  }

  function channelByName(name: string): SlackChannel | undefined {
    const bare = name.replace(/^#/, '');
    return channels.get(bare) ?? [...channels.values()].find((c) => c.id === name);
  }

  function nextTs(): string {
    tsCounter += 1;
    return `${Math.floor(Date.now() / 1000)}.${String(tsCounter).padStart(6, '0')}`;
  }

  function text(res: ServerResponse, request: SlackRequest, status: number, body: string, headers: Record<string, string> = {}): void {
    request.answer = status;
    if (status !== 200) request.error = body;
    res.writeHead(status, { 'content-type': 'text/html', ...headers });
    res.end(body);
  }

  function api(res: ServerResponse, request: SlackRequest, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
    request.answer = status;
    if (body.ok === false) request.error = String(body.error);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  }

  function answerScripted(res: ServerResponse, request: SlackRequest, scripted: ScriptedAnswer): void {
    const go = () => {
      if (res.destroyed || res.writableEnded) return;
      if ('reset' in scripted) {
        request.answer = 'reset';
        res.socket?.destroy();
        return;
      }
      request.answer = scripted.status;
      const body = scripted.body === undefined ? '' : typeof scripted.body === 'string' ? scripted.body : JSON.stringify(scripted.body);
      res.writeHead(scripted.status, scripted.headers ?? {});
      res.end(body);
    };
    const delayMs = 'reset' in scripted ? 0 : (scripted.delayMs ?? 0);
    if (delayMs === 0) return go();
    const timer = setTimeout(() => {
      timers.delete(timer);
      go();
    }, delayMs);
    timers.add(timer);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    webhookUrl: `${url}${HOOK_PATH}`,
    apiUrl: `${url}/api`,
    token,
    requests,
    messages,
    violations,
    revokeWebhook: () => {
      webhookRevoked = true;
    },
    archiveChannel: (name) => {
      const channel = channelByName(name);
      if (channel) channel.archived = true;
    },
    respondWith: (next) => {
      plan = next;
    },
    assertNoViolations: () => {
      if (violations.length > 0) throw new Error(`the Slack twin saw requests the real API would refuse:\n${violations.join('\n')}`);
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
