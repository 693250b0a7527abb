import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import pRetry, { AbortError as StopRetrying } from 'p-retry';
import { Agent, request as undiciRequest } from 'undici';
import { ActivateError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseRetryAfter, retryAfterCapMs } from './retry-after.js';
import type { HttpClient, HttpLimits, HttpRequest, HttpResponse, RetryPolicy } from './types.js';

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 5,
  throttleRetries: 20,
  minDelayMs: 500,
  maxDelayMs: 30_000,
};
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_USER_AGENT = 'dbt-activate';

export interface HttpClientOptions {
  readonly limits: HttpLimits;
  readonly retry?: Partial<RetryPolicy>;
  /** Per-attempt timeout, from sending the request to having read the whole body. */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
  readonly log?: Logger;
}

/** The server kept failing (5xx, network errors, timeouts) or throttling (429) until the retries ran out. */
export class HttpRetryError extends ActivateError {
  readonly retryable = true;
  /** Status of the last attempt; undefined when it got no response (network error, timeout). */
  readonly status: number | undefined;
  readonly attempts: number;
  /** Body of the last response, when there was one. */
  readonly responseText: string | undefined;

  constructor(
    message: string,
    details: { readonly status?: number; readonly attempts: number; readonly responseText?: string; readonly cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.status = details.status;
    this.attempts = details.attempts;
    this.responseText = details.responseText;
  }
}

/** One attempt failed in a way that another attempt may fix. */
class TransientFailure extends Error {
  constructor(
    readonly kind: 'throttled' | 'server' | 'timeout' | 'network',
    message: string,
    readonly response?: { readonly status: number; readonly text: string; readonly retryAfterMs: number | undefined },
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** Errors in how the request was built or a dispatcher we closed: another attempt fails the same way. */
const PERMANENT_ERROR_CODES = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_INVALID_RETURN_VALUE',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_DESTROYED',
  'UND_ERR_CLOSED',
  'UND_ERR_HEADERS_OVERFLOW',
  'UND_ERR_RES_EXCEEDED_MAX_SIZE',
  'ERR_INVALID_URL',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

const BODY_EXCERPT_CHARS = 200;
/**
 * Added to every rate-limit window: timers may fire a millisecond early, and a server counts
 * arrivals with its own clock; on a fast network the answer can come back within that slack
 * (the benchmark's twin saw one 429 in three runs without it).
 */
const WINDOW_MARGIN_MS = 25;

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...definedOnly(options.retry ?? {}) };
  const defaultTimeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
  const log = options.log;
  const { limits } = options;

  // One Agent per client: its keep-alive sockets are reused by every request to the account,
  // and there are never more of them per origin than requests allowed in flight.
  const agent = new Agent({ connections: limits.concurrency });
  // In flight at once.
  const inFlight = new PQueue({ concurrency: limits.concurrency });
  // The rate limit, as `requests` slots: a request takes one before it starts and gives it back
  // `perSeconds` after its response. Counting from the start instead would let a request that
  // reached the server late (a new connection, a slow network) share a window with one sent a
  // full window after it, and the server would answer 429.
  const rateSlots = new PQueue({ concurrency: limits.requests });
  const windowMs = limits.perSeconds * 1000 + WINDOW_MARGIN_MS;
  // Aborted by close(), so requests still queued or waiting to retry reject instead of hanging.
  const closing = new AbortController();
  // Every request in flight listens on it (AbortSignal.any); many at once is expected, not a leak.
  setMaxListeners(0, closing.signal);

  async function sendOnce(request: HttpRequest, attempt: number): Promise<HttpResponse> {
    const timeoutMs = request.timeoutMs ?? defaultTimeoutMs;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout.signal]) : timeout.signal;
    const headers = lowerCaseKeys({
      'user-agent': userAgent,
      ...request.headers,
      ...request.prepare?.(attempt),
    });
    try {
      const response = await undiciRequest(request.url, {
        dispatcher: agent,
        method: request.method,
        headers,
        body: request.body,
        signal,
      });
      // Reading the body to the end is what lets undici put the socket back in the pool.
      const text = await response.body.text();
      return { status: response.statusCode, headers: flattenHeaders(response.headers), text };
    } catch (error) {
      if (request.signal?.aborted) throw new StopRetrying(asError(request.signal.reason));
      if (timeout.signal.aborted) {
        throw new TransientFailure('timeout', `no complete response within ${timeoutMs} ms`, undefined, error);
      }
      if (error instanceof TypeError || PERMANENT_ERROR_CODES.has(errorCode(error) ?? '')) {
        throw new StopRetrying(
          new ActivateError(`${request.method} ${originOf(request.url)} could not be sent: ${errorMessage(error)}`, {
            cause: error,
          }),
        );
      }
      const code = errorCode(error);
      throw new TransientFailure('network', `network error: ${errorMessage(error)}${code ? ` (${code})` : ''}`, undefined, error);
    } finally {
      clearTimeout(timer);
    }
  }

  function failIfRetryable(request: HttpRequest, response: HttpResponse): HttpResponse {
    const verdict = request.classify?.(response);
    if (verdict === 'final') return response;
    if (verdict === undefined && response.status !== 429 && response.status < 500) return response;
    const capMs = retryAfterCapMs(policy.maxDelayMs);
    const details = {
      status: response.status,
      text: response.text,
      retryAfterMs: verdict ? Math.min(verdict.retryAfterMs, capMs) : parseRetryAfter(response.headers['retry-after'], { capMs }),
    };
    const message = `HTTP ${response.status}${response.text ? `: ${response.text.slice(0, BODY_EXCERPT_CHARS)}` : ''}`;
    throw new TransientFailure(verdict || response.status === 429 ? 'throttled' : 'server', message, details);
  }

  /** Runs `task` holding a rate-limit slot and a concurrency slot; resolves as soon as it settles. */
  function withinLimits<T>(task: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      rateSlots
        .add(
          async () => {
            try {
              resolve(await inFlight.add(task, { signal }));
            } catch (error) {
              reject(error);
            }
            // The slot stays taken for a window after the answer. The timer keeps the process
            // alive (requests may be waiting for the slot); close() ends the wait.
            await sleep(windowMs, undefined, { signal: closing.signal }).catch(() => {});
          },
          { signal },
        )
        // Aborted while waiting for a slot: the task never ran.
        .catch(reject);
    });
  }

  async function send(original: HttpRequest): Promise<HttpResponse> {
    const signal = original.signal ? AbortSignal.any([original.signal, closing.signal]) : closing.signal;
    signal.throwIfAborted();
    const request: HttpRequest = { ...original, signal };
    let attempts = 0;
    let throttledRetries = 0;
    let waitBeforeNextAttemptMs = 0;

    const attempt = async (attemptNumber: number): Promise<HttpResponse> => {
      if (waitBeforeNextAttemptMs > 0) {
        await sleep(waitBeforeNextAttemptMs, undefined, { signal: request.signal });
      }
      // Every attempt, retries included, takes its turn in the account's rate limit.
      return withinLimits(async () => {
        attempts += 1;
        return failIfRetryable(request, await sendOnce(request, attemptNumber));
      }, request.signal);
    };

    try {
      return await pRetry(attempt, {
        // The budgets are enforced in shouldRetry; p-retry's loop must not end on its own.
        retries: Number.POSITIVE_INFINITY,
        // The wait is taken at the start of the next attempt (it may come from Retry-After).
        minTimeout: 0,
        signal: request.signal,
        // Throttling is the server pacing us, not the request failing: it leaves `retries` alone.
        shouldConsumeRetry: ({ error }) => !(error instanceof TransientFailure && error.kind === 'throttled'),
        shouldRetry: ({ error, retriesConsumed }) => {
          if (!(error instanceof TransientFailure) || request.signal?.aborted) return false;
          let backoffStep: number;
          if (error.kind === 'throttled') {
            if (throttledRetries >= policy.throttleRetries) return false;
            throttledRetries += 1;
            backoffStep = throttledRetries;
          } else {
            if (retriesConsumed >= policy.retries) return false;
            backoffStep = retriesConsumed + 1;
          }
          // "Retry-After: 0" gives no pacing: retrying at once would hammer a server that is
          // throttling us, and burn the whole throttle budget in a few milliseconds.
          waitBeforeNextAttemptMs = error.response?.retryAfterMs || backoffWithJitterMs(backoffStep, policy);
          log?.debug(`retrying ${request.method} ${originOf(request.url)} in ${waitBeforeNextAttemptMs} ms`, {
            attempt: attempts,
            reason: error.message.slice(0, BODY_EXCERPT_CHARS),
          });
          return true;
        },
      });
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason;
      if (error instanceof TransientFailure) {
        const what = error.kind === 'throttled' ? 'still throttled' : 'failed';
        throw new HttpRetryError(
          `${request.method} ${originOf(request.url)} ${what} after ${attempts} attempts: ${error.message}`,
          { status: error.response?.status, attempts, responseText: error.response?.text, cause: error.cause },
        );
      }
      throw error;
    }
  }

  return {
    request: send,
    /** Rejects requests still queued, waiting to retry or in flight, then closes the sockets. */
    async close() {
      if (closing.signal.aborted) return;
      closing.abort(new ActivateError('the HTTP client is closed'));
      await agent.close();
    },
  };
}

/**
 * Exponential backoff with "equal jitter": between half and all of min * 2^(step-1), capped,
 * so clients that failed together do not retry together.
 */
function backoffWithJitterMs(step: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** (step - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * One HTTP client per destination account, so every sync writing to the same account shares
 * its rate limit and connections. The pool owns the clients: `close()` on a client it handed
 * out does nothing; `closeAll()` closes them all.
 */
export class HttpClientPool {
  readonly #clients = new Map<string, { readonly client: HttpClient; readonly handle: HttpClient }>();

  /**
   * `accountKey` identifies the account (for example the destination name, or a hash of its
   * credential; never the credential itself). The first caller's options win for that key.
   */
  get(accountKey: string, options: HttpClientOptions): HttpClient {
    const existing = this.#clients.get(accountKey);
    if (existing) return existing.handle;
    const client = createHttpClient(options);
    const handle: HttpClient = { request: (request) => client.request(request), close: async () => {} };
    this.#clients.set(accountKey, { client, handle });
    return handle;
  }

  async closeAll(): Promise<void> {
    const clients = [...this.#clients.values()].map((entry) => entry.client);
    this.#clients.clear();
    await Promise.all(clients.map((client) => client.close()));
  }
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function lowerCaseKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

function flattenHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Scheme and host only: paths and query strings of webhook URLs often carry tokens. */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
  return typeof code === 'string' ? code : undefined;
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
