import { setTimeout as sleep } from 'node:timers/promises';
import { DestinationError } from '../../src/errors.js';
import { HttpRetryError } from '../../src/http/http-client.js';
import type { HttpClient } from '../../src/http/types.js';
import { didYouMean } from '../../src/suggest.js';
import type { Change, Destination, DestinationContext, DestinationDefinition, MappedField, RecordResult, WriteContext } from '../types.js';
import { apiRoot, zendeskConfigSchema, zendeskOptionsSchema, type ZendeskConfig, type ZendeskObject, type ZendeskOptions } from './config.js';
import { bigintAsString, parseJson } from '../shared/json.js';

export type { ZendeskConfig, ZendeskOptions } from './config.js';

/** Attributes a sync may write at the top level of a user; custom fields go under `user_fields.<key>`. */
export const USER_ATTRIBUTES: ReadonlySet<string> = new Set([
  'name', 'email', 'external_id', 'alias', 'details', 'notes', 'phone', 'shared_phone_number', 'locale', 'locale_id',
  'moderator', 'only_private_comments', 'organization_id', 'default_group_id', 'restricted_agent', 'role', 'custom_role_id',
  'signature', 'suspended', 'tags', 'ticket_restriction', 'time_zone', 'verified', 'remote_photo_url', 'skip_verify_email',
  'user_fields',
]);
/** Attributes a sync may write at the top level of an organization; custom fields go under `organization_fields.<key>`. */
export const ORGANIZATION_ATTRIBUTES: ReadonlySet<string> = new Set([
  'name', 'external_id', 'details', 'notes', 'domain_names', 'group_id', 'shared_tickets', 'shared_comments', 'tags',
  'organization_fields',
]);

const MASK = '****';
const EXCERPT_CHARS = 300;
const MAX_FIELD_PAGES = 20;

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Results = Map<string, RecordResult>;

/** A final answer, or a failure another run may fix (network errors or 5xx after the retries). */
type Reply =
  | { readonly kind: 'response'; readonly status: number; readonly body: unknown; readonly text: string }
  | { readonly kind: 'failed'; readonly message: string };

interface JobResult {
  readonly id?: number | string;
  readonly index?: number;
  readonly status?: string;
  readonly email?: string;
  readonly external_id?: string;
  readonly error?: string;
  readonly details?: unknown;
  readonly success?: boolean;
}

type JobOutcome = { readonly kind: 'done'; readonly results: readonly JobResult[] } | { readonly kind: 'failed'; readonly message: string; readonly retryable: boolean };

/** One record as sent. */
interface Item {
  readonly change: Change;
  readonly body: Record<string, unknown>;
}

interface FieldDefinition {
  readonly key: string;
  readonly type: string;
  readonly title?: string;
  readonly active?: boolean;
}

class ZendeskDestination implements Destination<ZendeskOptions> {
  readonly #root: string;
  readonly #http: HttpClient;
  readonly #name: string;
  readonly #config: ZendeskConfig;
  readonly #authorization: string;
  readonly #credentials: string;
  readonly #secrets: readonly string[];

  constructor(config: ZendeskConfig, context: DestinationContext) {
    this.#config = config;
    this.#root = apiRoot(config);
    this.#http = context.http;
    this.#name = context.name;
    if (config.oauth_token !== undefined) {
      this.#authorization = `Bearer ${config.oauth_token}`;
      this.#credentials = 'oauth_token';
      this.#secrets = [config.oauth_token];
    } else {
      const basic = Buffer.from(`${config.email}/token:${config.api_token}`).toString('base64');
      this.#authorization = `Basic ${basic}`;
      this.#credentials = 'email and api_token';
      this.#secrets = [config.api_token!, basic];
    }
  }

  async write(batch: readonly Change[], options: ZendeskOptions, context: WriteContext): Promise<readonly RecordResult[]> {
    if (batch.length === 0) return [];
    const results: Results = new Map();
    const upserts: Item[] = [];
    const deletes: Change[] = [];
    for (const change of batch) {
      if (change.operation === 'delete') {
        deletes.push(change);
        continue;
      }
      if (change.operation === 'archive' && options.object === 'organizations') {
        throw new DestinationError(
          `zendesk destination "${this.#name}": organizations cannot be archived; use on_delete: delete or ignore for organization syncs`,
        );
      }
      const item = this.#item(change, options, results);
      if (item) upserts.push(item);
    }
    const signal = context.signal;
    await Promise.all([
      options.object === 'users' ? this.#upsertUsers(upserts, results, signal) : this.#upsertOrganizations(upserts, results, signal),
      this.#destroy(deletes, options.object, results, signal),
    ]);
    return batch.map(
      (change) =>
        results.get(change.key) ?? { key: change.key, status: 'failed', message: 'Zendesk gave no result for this record', retryable: true },
    );
  }

  async checkMapping(fields: readonly MappedField[], options: ZendeskOptions): Promise<readonly string[]> {
    const problems: string[] = [];
    const object = options.object;
    const prefix = customPrefix(object);
    const attributes = object === 'users' ? USER_ATTRIBUTES : ORGANIZATION_ATTRIBUTES;
    const identifiers = fields.filter((f) => f.isIdentifier).map((f) => f.field);
    const matchFields = object === 'users' ? ['external_id', 'email'] : ['external_id'];
    if (!identifiers.some((f) => matchFields.includes(f))) {
      problems.push(
        `${object} are matched on ${matchFields.join(' or ')}: set identifier: { ${matchFields[0]}: <column> }` +
          (identifiers.length > 0 ? ` (the identifier is ${identifiers.join(', ')})` : ''),
      );
    }
    if (object === 'organizations' && !fields.some((f) => f.field === 'name')) {
      problems.push('organizations need a name to be created: map a column to name');
    }
    const custom = fields.filter((f) => f.field.startsWith(`${prefix}.`));
    for (const field of fields) {
      if (field.field.startsWith(`${prefix}.`) || attributes.has(field.field)) continue;
      problems.push(
        `"${field.field}" is not a writable ${object === 'users' ? 'user' : 'organization'} attribute${didYouMean(field.field, attributes)}; ` +
          `custom fields are written as ${prefix}.<field key>`,
      );
    }
    if (custom.length === 0) return problems;
    const definitions = await this.#fieldDefinitions(object);
    const keys = [...definitions.keys()];
    for (const field of custom) {
      const key = field.field.slice(prefix.length + 1);
      const definition = definitions.get(key);
      if (!definition) {
        problems.push(`${field.field}: no ${object === 'users' ? 'user' : 'organization'} field with key "${key}"${didYouMean(key, keys)}; keys: ${keys.join(', ') || '(none)'}`);
        continue;
      }
      if (definition.active === false) problems.push(`${field.field}: the field "${definition.title ?? key}" is inactive in Zendesk`);
      const problem = typeProblem(definition.type, field.columnType);
      if (problem) problems.push(`${field.field} (from column ${field.column}): ${problem}`);
    }
    return problems;
  }

  /** The record as Zendesk wants it, or a rejection when it has nothing to be matched on. */
  #item(change: Change, options: ZendeskOptions, results: Results): Item | undefined {
    const prefix = customPrefix(options.object);
    const body: Record<string, unknown> = {};
    const custom: Record<string, unknown> = {};
    const values = { ...change.identifier, ...change.fields };
    for (const [field, value] of Object.entries(values)) {
      if (field.startsWith(`${prefix}.`)) custom[field.slice(prefix.length + 1)] = value;
      else body[field] = value;
    }
    if (Object.keys(custom).length > 0) body[prefix] = { ...(body[prefix] as Record<string, unknown> | undefined), ...custom };
    // Zendesk external ids are strings; a numeric key column would otherwise be sent as a number.
    if (body.external_id !== undefined && body.external_id !== null) body.external_id = String(body.external_id);
    if (change.operation === 'archive') {
      // A user who left the model is suspended: kept with their tickets, unable to sign in.
      for (const field of Object.keys(body)) if (field !== 'external_id' && field !== 'email') delete body[field];
      body.suspended = true;
    } else if (options.object === 'users' && options.verified === true) {
      body.verified = true;
    }
    const matchable =
      options.object === 'users'
        ? nonEmpty(body.external_id) || nonEmpty(body.email)
        : nonEmpty(body.external_id) || change.destinationId !== null;
    if (!matchable) {
      results.set(change.key, {
        key: change.key,
        status: 'failed',
        message: `nothing to match the ${options.object === 'users' ? 'user' : 'organization'} on: ${
          options.object === 'users' ? 'external_id and email are' : 'external_id is'
        } empty`,
        retryable: false,
        code: 'MISSING_IDENTIFIER',
      });
      return undefined;
    }
    return { change, body };
  }

  async #upsertUsers(items: readonly Item[], results: Results, signal?: AbortSignal): Promise<void> {
    if (items.length === 0) return;
    const outcome = await this.#job('POST', '/users/create_or_update_many', { users: items.map((i) => i.body) }, signal);
    if (outcome.kind === 'failed') return failAll(items.map((i) => i.change), results, outcome.message, outcome.retryable);
    mapInOrder(items, outcome.results, results);
  }

  /**
   * Organizations have no create_or_update_many: those Zendesk already gave an id to (an earlier
   * run) are updated in bulk by id (`update_many`, one job); the others, and any whose id is
   * gone, go one by one through `create_or_update`, which matches on external_id.
   */
  async #upsertOrganizations(items: readonly Item[], results: Results, signal?: AbortSignal): Promise<void> {
    if (items.length === 0) return;
    const known = items.filter((i) => i.change.destinationId !== null);
    const single = items.filter((i) => i.change.destinationId === null);
    if (known.length > 0) {
      const body = { organizations: known.map((i) => ({ ...i.body, id: Number(i.change.destinationId) })) };
      const outcome = await this.#job('PUT', '/organizations/update_many', body, signal);
      if (outcome.kind === 'failed') {
        failAll(known.map((i) => i.change), results, outcome.message, outcome.retryable);
      } else {
        const byId = new Map(outcome.results.map((r) => [String(r.id), r]));
        for (const [index, item] of known.entries()) {
          const result = outcome.results.find((r) => r.index === index) ?? byId.get(String(item.change.destinationId));
          if (result && isFailed(result) && isNotFound(result)) single.push(item);
          else settle(item.change, result, results);
        }
      }
    }
    await Promise.all(single.map((item) => this.#createOrUpdateOrganization(item, results, signal)));
  }

  async #createOrUpdateOrganization(item: Item, results: Results, signal?: AbortSignal): Promise<void> {
    const reply = await this.#request('POST', '/organizations/create_or_update', { organization: item.body }, signal);
    const key = item.change.key;
    if (reply.kind === 'failed') {
      results.set(key, { key, status: 'failed', message: reply.message, retryable: true });
      return;
    }
    if (reply.status === 200 || reply.status === 201) {
      const id = (reply.body as { organization?: { id?: unknown } } | undefined)?.organization?.id;
      results.set(key, { key, status: 'synced', ...(id === undefined || id === null ? {} : { destinationId: String(id) }) });
      return;
    }
    this.#endpointCheck(reply, '/organizations/create_or_update');
    results.set(key, {
      key,
      status: 'failed',
      message: naming(this.#describe(reply), item.change),
      retryable: reply.status >= 500,
      ...codeOf(reply.body),
    });
  }

  /** Bulk delete by Zendesk id (or external_id when no id is known); a record already gone counts as deleted. */
  async #destroy(changes: readonly Change[], object: ZendeskObject, results: Results, signal?: AbortSignal): Promise<void> {
    if (changes.length === 0) return;
    const byId = changes.filter((c) => c.destinationId !== null);
    const byExternal = changes.filter((c) => c.destinationId === null && nonEmpty(externalIdOf(c)));
    for (const c of changes) {
      if (!byId.includes(c) && !byExternal.includes(c)) {
        results.set(c.key, { key: c.key, status: 'failed', message: 'neither a Zendesk id nor an external_id is known for this record', retryable: false, code: 'MISSING_IDENTIFIER' });
      }
    }
    const run = async (group: readonly Change[], param: 'ids' | 'external_ids', idOf: (c: Change) => string) => {
      if (group.length === 0) return;
      const list = group.map(idOf).map(encodeURIComponent).join(',');
      const outcome = await this.#job('DELETE', `/${object}/destroy_many?${param}=${list}`, undefined, signal);
      if (outcome.kind === 'failed') return failAll(group, results, outcome.message, outcome.retryable);
      for (const [index, change] of group.entries()) {
        const id = idOf(change);
        const result =
          outcome.results.find((r) => r.index === index) ??
          outcome.results.find((r) => String(param === 'ids' ? r.id : r.external_id).toLowerCase() === id.toLowerCase());
        if (!result || !isFailed(result) || isNotFound(result)) {
          // Deleted; or not listed, or unknown to Zendesk: already gone.
          results.set(change.key, { key: change.key, status: 'synced' });
        } else {
          settle(change, result, results);
        }
      }
    };
    await Promise.all([
      run(byId, 'ids', (c) => c.destinationId!),
      run(byExternal, 'external_ids', (c) => String(externalIdOf(c))),
    ]);
  }

  /** Starts a background job and polls `job_statuses/{id}` until it is completed or failed. */
  async #job(method: Method, path: string, body: unknown, signal?: AbortSignal): Promise<JobOutcome> {
    const reply = await this.#request(method, path, body, signal);
    if (reply.kind === 'failed') return { kind: 'failed', message: reply.message, retryable: true };
    if (reply.status < 200 || reply.status >= 300) {
      this.#endpointCheck(reply, path);
      return { kind: 'failed', message: this.#describe(reply), retryable: reply.status >= 500 };
    }
    let job = (reply.body as { job_status?: JobStatus } | undefined)?.job_status;
    if (!job?.id) return { kind: 'failed', message: `Zendesk answered ${path} without a job_status`, retryable: true };
    const deadline = Date.now() + this.#config.job_timeout_seconds * 1000;
    const intervalMs = this.#config.job_poll_interval_seconds * 1000;
    for (;;) {
      const status = String(job.status ?? '').toLowerCase();
      if (status === 'completed') return { kind: 'done', results: Array.isArray(job.results) ? (job.results as JobResult[]) : [] };
      if (status === 'failed' || status === 'killed') {
        return { kind: 'failed', message: `Zendesk job ${job.id} ${status}${job.message ? `: ${this.#scrub(String(job.message))}` : ''}`, retryable: true };
      }
      if (Date.now() > deadline) {
        return {
          kind: 'failed',
          message: `Zendesk job ${job.id} was still ${status || 'unfinished'} after ${this.#config.job_timeout_seconds} s (job_timeout_seconds); sent again next run`,
          retryable: true,
        };
      }
      await sleep(intervalMs, undefined, signal ? { signal } : undefined);
      const poll = await this.#request('GET', `/job_statuses/${encodeURIComponent(String(job.id))}`, undefined, signal);
      if (poll.kind === 'failed') return { kind: 'failed', message: `polling job ${job.id}: ${poll.message}`, retryable: true };
      if (poll.status !== 200) return { kind: 'failed', message: `polling job ${job.id}: ${this.#describe(poll)}`, retryable: true };
      const next = (poll.body as { job_status?: JobStatus } | undefined)?.job_status;
      if (!next) return { kind: 'failed', message: `polling job ${job.id}: no job_status in the answer`, retryable: true };
      job = next;
    }
  }

  async #fieldDefinitions(object: ZendeskObject): Promise<ReadonlyMap<string, FieldDefinition>> {
    const kind = object === 'users' ? 'user_fields' : 'organization_fields';
    const definitions = new Map<string, FieldDefinition>();
    let path: string | undefined = `/${kind}`;
    for (let page = 0; path !== undefined && page < MAX_FIELD_PAGES; page++) {
      const reply = await this.#request('GET', path, undefined);
      if (reply.kind === 'failed') throw new Error(`cannot read the ${kind}: ${reply.message}`);
      if (reply.status !== 200) {
        this.#endpointCheck(reply, `/${kind}`);
        throw new Error(`cannot read the ${kind}: ${this.#describe(reply)}`);
      }
      const body = reply.body as Record<string, unknown> | undefined;
      for (const f of Array.isArray(body?.[kind]) ? (body[kind] as FieldDefinition[]) : []) {
        if (typeof f.key === 'string') definitions.set(f.key, f);
      }
      const next = body?.next_page;
      path = typeof next === 'string' && next.startsWith(this.#root) ? next.slice(this.#root.length) : undefined;
    }
    return definitions;
  }

  /**
   * Sends one request through the shared HTTP layer (which waits out 429s as Retry-After says).
   * Throws DestinationError when the sync must stop: credentials refused (401), not allowed or
   * bulk import disabled (403), or still rate limited after the 429 budget.
   */
  async #request(method: Method, path: string, body: unknown, signal?: AbortSignal): Promise<Reply> {
    let response;
    try {
      response = await this.#http.request({
        method,
        url: `${this.#root}${path}`,
        headers: {
          authorization: this.#authorization,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body, bigintAsString) }),
        timeoutMs: this.#config.timeout_seconds * 1000,
        signal,
      });
    } catch (error) {
      if (!(error instanceof HttpRetryError)) throw error;
      if (error.status === 429) {
        throw new DestinationError(
          `zendesk destination "${this.#name}": still rate limited (HTTP 429) after ${error.attempts} attempts; stopping the sync ` +
            `(what was accepted is kept). The account's per-minute API limit is shared with other integrations; ` +
            `lower rate_limit or run later. ${this.#scrub(error.message)}`,
          { status: 429, cause: error },
        );
      }
      return { kind: 'failed', message: this.#scrub(error.message) };
    }
    const parsed = parseJson(response.text);
    const reply = { kind: 'response' as const, status: response.status, body: parsed, text: response.text };
    if (response.status === 401) {
      throw new DestinationError(
        `zendesk destination "${this.#name}": Zendesk refused the credentials (HTTP 401${this.#detail(reply)}); check ${this.#credentials} in activate.yml` +
          (this.#credentials === 'oauth_token' ? '' : ' (the token must belong to that email, and token access must be enabled)'),
        { status: 401 },
      );
    }
    if (response.status === 403) {
      const detail = this.#detail(reply);
      const imports = /import/i.test(response.text);
      throw new DestinationError(
        `zendesk destination "${this.#name}": Zendesk refused ${method} ${path.split('?')[0]} (HTTP 403${detail}); ` +
          (imports
            ? 'bulk imports must be enabled for the account by Zendesk support'
            : `check that ${this.#credentials} belong${this.#credentials === 'oauth_token' ? 's' : ''} to an admin, or an agent allowed to manage ${path.includes('organization') ? 'organizations' : 'users'}`),
        { status: 403 },
      );
    }
    return reply;
  }

  /** A 404 on a bulk endpoint means a wrong subdomain or base_url: nothing will work, stop. */
  #endpointCheck(reply: { status: number; text: string; body: unknown }, path: string): void {
    if (reply.status === 404) {
      throw new DestinationError(
        `zendesk destination "${this.#name}": ${path.split('?')[0]} was not found at ${this.#root} (HTTP 404${this.#detail(reply)}); check subdomain or base_url`,
        { status: 404 },
      );
    }
  }

  #describe(reply: { status: number; text: string; body: unknown }): string {
    return `HTTP ${reply.status}${this.#detail(reply)}`;
  }

  #detail(reply: { text: string; body: unknown }): string {
    const text = this.#scrub(errorText(reply.body, reply.text));
    return text ? `: ${text}` : '';
  }

  #scrub(text: string): string {
    let out = text;
    for (const secret of this.#secrets) if (secret.length >= 4) out = out.split(secret).join(MASK);
    return out;
  }
}

interface JobStatus {
  readonly id?: string;
  readonly status?: string;
  readonly message?: unknown;
  readonly results?: unknown;
}

/** Maps job results back to the records sent: by `index`, else by position, checked against external_id/email. */
function mapInOrder(items: readonly Item[], jobResults: readonly JobResult[], results: Results): void {
  const positional = jobResults.length === items.length;
  for (const [index, item] of items.entries()) {
    let result = jobResults.find((r) => r.index === index) ?? (positional ? jobResults[index] : undefined);
    if (!result || !sameRecord(result, item.body)) result = jobResults.find((r) => r.index === undefined && sameRecord(r, item.body) && identified(r));
    settle(item.change, result, results);
  }
}

function settle(change: Change, result: JobResult | undefined, results: Results): void {
  const key = change.key;
  if (!result) {
    results.set(key, { key, status: 'failed', message: 'the Zendesk job reported no result for this record', retryable: true });
  } else if (isFailed(result)) {
    const message = `${result.error ?? 'Failed'}${result.details !== undefined ? `: ${detailsText(result.details)}` : ''}`;
    results.set(key, {
      key,
      status: 'failed',
      message: naming(message, change),
      retryable: /timeout|internal|unavailable/i.test(String(result.error ?? '')),
      ...(result.error ? { code: result.error } : {}),
    });
  } else {
    results.set(key, { key, status: 'synced', ...(result.id === undefined || result.id === null ? {} : { destinationId: String(result.id) }) });
  }
}

/**
 * A record's rejection names the record (external_id, else email), so that records refused for
 * the same reason do not read as one refusal of the whole request (which the engine would split).
 */
function naming(message: string, change: Change): string {
  const externalId = change.identifier.external_id ?? change.fields.external_id;
  const email = change.fields.email ?? change.identifier.email;
  const who = nonEmpty(externalId) ? `external_id ${String(externalId)}` : nonEmpty(email) ? String(email) : undefined;
  return who === undefined || message.includes(who) ? message : `${message} (${who})`;
}

function isFailed(result: JobResult): boolean {
  return String(result.status ?? '').toLowerCase() === 'failed' || result.success === false || (result.error !== undefined && result.status === undefined);
}

function isNotFound(result: JobResult): boolean {
  return /not ?found/i.test(`${result.error ?? ''} ${detailsText(result.details ?? '')}`);
}

/** True when the result names the same record (or names none to compare with). */
function sameRecord(result: JobResult, body: Record<string, unknown>): boolean {
  if (result.external_id !== undefined && result.external_id !== null && nonEmpty(body.external_id)) {
    return String(result.external_id).toLowerCase() === String(body.external_id).toLowerCase();
  }
  if (typeof result.email === 'string' && typeof body.email === 'string') return result.email.toLowerCase() === body.email.trim().toLowerCase();
  return true;
}

function identified(result: JobResult): boolean {
  return (result.external_id !== undefined && result.external_id !== null) || typeof result.email === 'string';
}

function failAll(changes: readonly Change[], results: Results, message: string, retryable: boolean): void {
  for (const c of changes) results.set(c.key, { key: c.key, status: 'failed', message, retryable });
}

function customPrefix(object: ZendeskObject): 'user_fields' | 'organization_fields' {
  return object === 'users' ? 'user_fields' : 'organization_fields';
}

function externalIdOf(change: Change): unknown {
  return change.identifier.external_id ?? change.fields.external_id;
}

function nonEmpty(value: unknown): boolean {
  return value !== undefined && value !== null && String(value).trim() !== '';
}

/** Zendesk error bodies: `{ error, description, details: { field: [{ description, error }] } }`, `{ error: { title, message } }`, or text. */
function errorText(body: unknown, text: string): string {
  if (body && typeof body === 'object') {
    const b = body as { error?: unknown; description?: unknown; details?: unknown };
    const parts: string[] = [];
    if (typeof b.error === 'string') parts.push(b.error);
    else if (b.error && typeof b.error === 'object') {
      const { title, message } = b.error as { title?: unknown; message?: unknown };
      parts.push(...[title, message].filter((x): x is string => typeof x === 'string'));
    }
    if (typeof b.description === 'string') parts.push(b.description);
    if (b.details !== undefined) parts.push(detailsText(b.details));
    if (parts.length > 0) return parts.join(': ');
  }
  return text.trim().slice(0, EXCERPT_CHARS);
}

function detailsText(details: unknown): string {
  if (typeof details === 'string') return details;
  if (details && typeof details === 'object') {
    const lines: string[] = [];
    for (const [field, value] of Object.entries(details)) {
      const entries = Array.isArray(value) ? value : [value];
      for (const entry of entries) {
        const { description, error } = (entry ?? {}) as { description?: unknown; error?: unknown };
        lines.push(typeof description === 'string' ? `${description}${typeof error === 'string' ? ` (${error})` : ''}` : `${field}: ${JSON.stringify(entry)}`);
      }
    }
    return lines.join('; ');
  }
  return String(details);
}

function codeOf(body: unknown): { code?: string } {
  const error = (body as { error?: unknown } | undefined)?.error;
  if (typeof error === 'string') {
    // The specific reason (DuplicateValue) is more useful than RecordInvalid.
    const detail = Object.values(((body as { details?: Record<string, unknown> }).details ?? {}) as Record<string, unknown>)
      .flatMap((v) => (Array.isArray(v) ? v : []))
      .map((e) => (e as { error?: unknown }).error)
      .find((e): e is string => typeof e === 'string');
    return { code: detail ?? error };
  }
  return {};
}

function typeProblem(fieldType: string, columnType: string | undefined): string | undefined {
  if (!columnType) return undefined;
  const type = columnType.toLowerCase();
  const temporal = /^(date|time|timestamp|interval)/.test(type);
  const bool = /^bool/.test(type);
  const numeric = /^(tinyint|smallint|int|integer|bigint|hugeint|ubigint|uinteger|usmallint|utinyint|decimal|numeric|double|float|real|number)/.test(type);
  if ((fieldType === 'integer' || fieldType === 'decimal') && (temporal || bool)) return `field type is ${fieldType}; the column is ${columnType}`;
  if (fieldType === 'integer' && /^(decimal|numeric|double|float|real)/.test(type)) return `field type is integer; the column is ${columnType} (decimals are refused)`;
  if (fieldType === 'checkbox' && !bool) return `field type is checkbox; the column is ${columnType} (map a BOOLEAN column)`;
  if (fieldType === 'date' && (numeric || bool)) return `field type is date; the column is ${columnType} (map a DATE column)`;
  return undefined;
}



/**
 * Zendesk Support users (`create_or_update_many`, 100 per job) and organizations (bulk update by
 * id, else `create_or_update`), with custom `user_fields` / `organization_fields`. Every bulk call
 * is a background job, polled until it completes, whose per-record results are mapped back.
 */
export const zendesk: DestinationDefinition<ZendeskConfig, ZendeskOptions> = {
  type: 'zendesk',
  config: zendeskConfigSchema,
  options: zendeskOptionsSchema,
  modes: ['upsert', 'mirror'],
  // Attributes and custom fields left out of a request keep their values.
  partialUpdates: true,
  // delete: bulk delete; archive: suspend the user (organizations have no archive).
  onDelete: ['delete', 'archive', 'ignore'],
  secretKeys: ['api_token', 'oauth_token'],
  limits: (config) => ({
    batchSize: config.batch_size,
    concurrency: config.concurrency,
    // The smallest current plan's per-minute limit (Team); raise it with rate_limit: for larger plans.
    requests: 200,
    perSeconds: 60,
  }),
  create: (config, context) => new ZendeskDestination(config, context),
};

export default zendesk;
