import { DestinationError } from '../../src/errors.js';
import { HttpRetryError } from '../../src/http/http-client.js';
import type { HttpClient, HttpResponse } from '../../src/http/types.js';
import type { Change, Destination, DestinationContext, DestinationDefinition, RecordResult, WriteContext } from '../types.js';
import { webhookConfigSchema, webhookOptionsSchema, type WebhookConfig, type WebhookOptions } from './config.js';
import { deliveryId, signatureHeader, signingKey, unixTimestamp } from './sign.js';
import { bigintAsString } from '../shared/json.js';

export type { WebhookConfig, WebhookOptions } from './config.js';

const BODY_EXCERPT_CHARS = 500;
const MASK = '****';
/** Shorter values are not masked in messages: masking "1" everywhere would garble them. */
const MIN_MASKED_LENGTH = 4;

interface WebhookRecord {
  readonly operation: Change['operation'];
  readonly key: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

class WebhookDestination implements Destination<WebhookOptions> {
  readonly #config: WebhookConfig;
  readonly #http: HttpClient;
  readonly #name: string;
  readonly #key: Buffer | undefined;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #secretValues: readonly string[];

  constructor(config: WebhookConfig, context: DestinationContext) {
    this.#config = config;
    this.#http = context.http;
    this.#name = context.name;
    this.#key = config.secret === undefined ? undefined : signingKey(config.secret);
    this.#headers = Object.fromEntries(
      Object.entries(config.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
    );
    this.#secretValues = [config.secret, ...Object.values(config.headers ?? {})]
      .filter((value): value is string => value !== undefined && value.length >= MIN_MASKED_LENGTH)
      .sort((a, b) => b.length - a.length);
  }

  async write(batch: readonly Change[], options: WebhookOptions, context: WriteContext): Promise<readonly RecordResult[]> {
    if (batch.length === 0) return [];
    const records: readonly WebhookRecord[] = batch.map(({ operation, key, fields }) => ({ operation, key, fields }));
    const body = JSON.stringify(
      { sync: context.syncId, run_id: context.runId, ...(options.object ? { object: options.object } : {}), records },
      bigintAsString,
    );
    const id = deliveryId(context.syncId, batch);
    const key = this.#key;

    let response: HttpResponse;
    try {
      response = await this.#http.request({
        method: 'POST',
        url: this.#config.url,
        headers: { ...this.#headers, 'content-type': 'application/json', 'webhook-id': id, 'idempotency-key': id },
        body,
        timeoutMs: this.#config.timeout_seconds * 1000,
        signal: context.signal,
        // A fresh timestamp (and so signature) per attempt: a retry after a long wait must not look stale.
        prepare: (): Record<string, string> => {
          const timestamp = unixTimestamp();
          return key
            ? { 'webhook-timestamp': timestamp, 'webhook-signature': signatureHeader(key, id, timestamp, body) }
            : { 'webhook-timestamp': timestamp };
        },
      });
    } catch (error) {
      if (error instanceof HttpRetryError) return failAll(batch, this.#scrub(error.message), true);
      throw error;
    }
    return this.#outcome(batch, response);
  }

  #outcome(batch: readonly Change[], response: HttpResponse): readonly RecordResult[] {
    const { status } = response;
    if (status >= 200 && status < 300) return batch.map((change) => ({ key: change.key, status: 'synced' }));

    const excerpt = this.#scrub(response.text.slice(0, BODY_EXCERPT_CHARS));
    const said = excerpt ? `: ${excerpt}` : '';
    const destination = `webhook destination "${this.#name}"`;
    if (status === 401 || status === 403) {
      throw new DestinationError(
        `${destination} refused the credentials (HTTP ${status}); check the headers and secret configured for it${said}`,
        { status },
      );
    }
    if (status === 404 || status === 410) {
      throw new DestinationError(
        `${destination}: the endpoint ${status === 410 ? 'is gone' : 'was not found'} (HTTP ${status}); stopping the sync${said}`,
        { status },
      );
    }
    if (status >= 300 && status < 400) {
      throw new DestinationError(
        `${destination}: the endpoint redirects (HTTP ${status}); redirects are not followed, set its url to the final address`,
        { status },
      );
    }
    if (status >= 400 && status < 500) return failAll(batch, `HTTP ${status}${said}`, false);
    return failAll(batch, `unexpected HTTP ${status}${said}`, true);
  }

  /** Response bodies can echo what we sent; never let a secret or header value into a message. */
  #scrub(text: string): string {
    let out = text;
    for (const value of this.#secretValues) out = out.split(value).join(MASK);
    return out;
  }
}

function failAll(batch: readonly Change[], message: string, retryable: boolean): readonly RecordResult[] {
  return batch.map((change) => ({ key: change.key, status: 'failed', message, retryable }));
}


/** POSTs each batch as one signed JSON delivery (Standard Webhooks). */
export const webhook: DestinationDefinition<WebhookConfig, WebhookOptions> = {
  type: 'webhook',
  config: webhookConfigSchema,
  options: webhookOptionsSchema,
  modes: ['upsert', 'create', 'mirror'],
  // Receivers get the operation as sent: "delete" or "archive", or an upsert of nulls for "clear".
  onDelete: ['delete', 'archive', 'clear', 'ignore'],
  secretKeys: ['secret', 'headers', 'url'],
  limits: (config) => ({
    batchSize: config.batch_size,
    concurrency: config.concurrency,
    requests: config.rate_limit.requests,
    perSeconds: config.rate_limit.per_seconds,
  }),
  create: (config, context) => new WebhookDestination(config, context),
};

export default webhook;
