import { z } from 'zod';
import { DestinationError } from '../../src/errors.js';
import type { HttpClient, HttpResponse } from '../../src/http/types.js';
import type { Logger } from '../../src/logger.js';
import { authFlow, type AuthFlow, type SalesforceConfig } from './config.js';
import { parseJson } from '../shared/json.js';

/** One entry of a REST error body (`[{ message, errorCode, fields }]`). */
export interface RestError {
  readonly errorCode: string;
  readonly message: string;
  readonly fields?: readonly string[];
}

export interface ApiRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Under /services/data/vXX.X (e.g. "/composite/sobjects"), or from the instance root with `fromRoot`. */
  readonly path: string;
  readonly fromRoot?: boolean;
  readonly json?: unknown;
  readonly body?: string;
  readonly contentType?: string;
  readonly accept?: string;
  readonly signal?: AbortSignal;
}

const tokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  instance_url: z.string().optional(),
});

const oauthErrorSchema = z.looseObject({ error: z.string(), error_description: z.string().optional() });

const restErrorsSchema = z.array(
  z.looseObject({
    errorCode: z.string().optional(),
    statusCode: z.string().optional(),
    message: z.string().optional(),
    fields: z.array(z.string()).optional(),
  }),
);

/** Over this share of the daily API allocation, a warning is logged once per destination. */
const USAGE_WARNING_SHARE = 0.9;
const EXCERPT_CHARS = 300;

/**
 * Authenticated calls to one Salesforce org, through the shared HTTP layer (which rate-limits
 * and retries 5xx, 429 and network errors). Adds what is Salesforce's own:
 * - the session: a configured access token, or one obtained with the refresh token or client
 *   credentials flow; on 401 INVALID_SESSION_ID a new token is obtained once (one request for
 *   all writes in flight) and the call is sent again once;
 * - the daily API allocation: 403 REQUEST_LIMIT_EXCEEDED (other than the concurrent request
 *   limit) stops the sync with a DestinationError; `Sforce-Limit-Info` is watched.
 */
export class SalesforceApi {
  readonly #config: SalesforceConfig;
  readonly #http: HttpClient;
  readonly #log: Logger;
  readonly #name: string;
  readonly #flow: AuthFlow;
  #token: string | undefined;
  #instanceUrl: string | undefined;
  #generation = 0;
  #renewing: Promise<void> | undefined;
  #warnedUsage = false;

  constructor(config: SalesforceConfig, http: HttpClient, log: Logger, name: string) {
    this.#config = config;
    this.#http = http;
    this.#log = log;
    this.#name = name;
    this.#flow = authFlow(config);
    this.#token = config.access_token;
    this.#instanceUrl = config.instance_url;
  }

  get apiVersion(): string {
    return this.#config.api_version;
  }

  /** `Salesforce destination "name"`, for messages. */
  get label(): string {
    return `Salesforce destination "${this.#name}"`;
  }

  async send(request: ApiRequest): Promise<HttpResponse> {
    let session = await this.#session(request.signal);
    let response = await this.#sendWith(session, request);
    if (response.status === 401) {
      const first = describeErrors(response);
      if (this.#flow === 'access_token') {
        throw new DestinationError(
          `${this.label}: Salesforce refused the access token (${first}); it expired or was revoked. ` +
            'Set a fresh access_token, or configure refresh_token and client_id (or client_id and client_secret) so activate can renew it',
          { status: 401 },
        );
      }
      await this.#renew(session.generation, first, request.signal);
      session = await this.#session(request.signal);
      response = await this.#sendWith(session, request);
      if (response.status === 401) {
        throw new DestinationError(
          `${this.label}: Salesforce refused a freshly issued access token too (${describeErrors(response)}); ` +
            'check that the connected app and its user may use the API',
          { status: 401 },
        );
      }
    }
    this.#watchUsage(response);
    if (response.status === 403) {
      const errors = restErrors(response.text);
      if (errors.some((e) => e.errorCode === 'REQUEST_LIMIT_EXCEEDED') && !isConcurrencyLimit(response)) {
        throw new DestinationError(
          `${this.label}: the org's API request limit is used up (${describeErrors(response)}` +
            `${response.headers['sforce-limit-info'] ? `; ${response.headers['sforce-limit-info']}` : ''}). ` +
            'What was delivered is kept; the rest is sent by the next run once the rolling 24-hour allocation allows',
          { status: 403 },
        );
      }
    }
    return response;
  }

  /** The URL of a path under /services/data/vXX.X of the current instance (for messages and content URLs). */
  dataPath(path: string): string {
    return `/services/data/v${this.#config.api_version}${path}`;
  }

  async #sendWith(session: { token: string; instanceUrl: string }, request: ApiRequest): Promise<HttpResponse> {
    const path = request.fromRoot ? request.path : this.dataPath(request.path);
    const body = request.json !== undefined ? JSON.stringify(request.json) : request.body;
    const contentType = request.json !== undefined ? 'application/json' : request.contentType;
    return this.#http.request({
      method: request.method,
      url: `${session.instanceUrl}${path.startsWith('/') ? '' : '/'}${path}`,
      headers: {
        authorization: `Bearer ${session.token}`,
        accept: request.accept ?? 'application/json',
        ...(contentType ? { 'content-type': contentType } : {}),
      },
      body,
      timeoutMs: this.#config.timeout_seconds * 1000,
      signal: request.signal,
    });
  }

  async #session(signal: AbortSignal | undefined): Promise<{ token: string; instanceUrl: string; generation: number }> {
    if (this.#token === undefined) await this.#renew(this.#generation, undefined, signal);
    const instanceUrl = this.#instanceUrl;
    if (instanceUrl === undefined) {
      throw new DestinationError(`${this.label}: no instance_url is configured and the token response named none`);
    }
    return { token: this.#token!, instanceUrl, generation: this.#generation };
  }

  /** Gets a new token unless another call already did since `staleGeneration`. */
  async #renew(staleGeneration: number, refusal: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    if (this.#generation !== staleGeneration && this.#token !== undefined) return;
    this.#renewing ??= this.#obtainToken(refusal, signal).finally(() => {
      this.#renewing = undefined;
    });
    await this.#renewing;
  }

  async #obtainToken(refusal: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    const config = this.#config;
    const form = new URLSearchParams();
    if (this.#flow === 'refresh_token') {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', config.refresh_token!);
    } else {
      form.set('grant_type', 'client_credentials');
    }
    form.set('client_id', config.client_id!);
    if (config.client_secret !== undefined) form.set('client_secret', config.client_secret);
    const flowName = this.#flow === 'refresh_token' ? 'refresh token flow' : 'client credentials flow';
    const why = refusal ? `Salesforce refused the session (${refusal}) and ` : '';

    const response = await this.#http.request({
      method: 'POST',
      url: `${config.login_url}/services/oauth2/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      timeoutMs: config.timeout_seconds * 1000,
      signal,
    });
    const json = parseJson(response.text);
    const token = tokenResponseSchema.safeParse(json);
    if (response.status !== 200 || !token.success) {
      const oauth = oauthErrorSchema.safeParse(json);
      const said = oauth.success
        ? `${oauth.data.error}${oauth.data.error_description ? `: ${oauth.data.error_description}` : ''}`
        : `HTTP ${response.status}`;
      const check =
        this.#flow === 'refresh_token'
          ? 'check refresh_token, client_id and client_secret (a refresh token is revoked when the connected app policy or the user says so)'
          : 'check client_id and client_secret, that the connected app enables the client credentials flow with a run-as user, and that login_url is your My Domain URL';
      throw new DestinationError(
        `${this.label}: ${why}no access token could be obtained with the ${flowName} at ${config.login_url} (${said}); ${check}`,
        { status: response.status },
      );
    }
    this.#token = token.data.access_token;
    if (token.data.instance_url) this.#instanceUrl = token.data.instance_url.replace(/\/+$/, '');
    this.#generation += 1;
    this.#log.debug(`${this.label}: obtained an access token (${flowName})`);
  }

  #watchUsage(response: HttpResponse): void {
    if (this.#warnedUsage) return;
    const info = response.headers['sforce-limit-info'];
    const match = info ? /api-usage=(\d+)\/(\d+)/.exec(info) : null;
    if (!match) return;
    const used = Number(match[1]);
    const limit = Number(match[2]);
    if (limit > 0 && used / limit >= USAGE_WARNING_SHARE) {
      this.#warnedUsage = true;
      this.#log.warn(`${this.label}: ${used} of the org's ${limit} daily API requests are used`);
    }
  }
}

/** The REST error list of a response body, whatever shape it came in. */
export function restErrors(text: string): RestError[] {
  const json = parseJson(text);
  const list = restErrorsSchema.safeParse(Array.isArray(json) ? json : [json]);
  if (!list.success) return [];
  return list.data
    .filter((e) => e.errorCode !== undefined || e.statusCode !== undefined || e.message !== undefined)
    .map((e) => ({ errorCode: e.errorCode ?? e.statusCode ?? 'UNKNOWN_ERROR', message: e.message ?? '', fields: e.fields }));
}

/** "CODE: message" of a response's first error, or its status and an excerpt. */
export function describeErrors(response: HttpResponse): string {
  const errors = restErrors(response.text);
  if (errors.length > 0) return errors.map((e) => `${e.errorCode}: ${e.message}`).join('; ');
  const excerpt = response.text.slice(0, EXCERPT_CHARS).trim();
  return `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`;
}

/**
 * 403 REQUEST_LIMIT_EXCEEDED for too many concurrent long-running requests
 * ("ConcurrentPerOrgLongTxn Limit exceeded"), which passes, unlike the daily allocation.
 */
export function isConcurrencyLimit(response: HttpResponse): boolean {
  if (response.status !== 403) return false;
  return restErrors(response.text).some((e) => e.errorCode === 'REQUEST_LIMIT_EXCEEDED' && /concurren/i.test(e.message));
}

export { parseJson };
