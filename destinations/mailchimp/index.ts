import { createHash } from 'node:crypto';
import { DestinationError } from '../../src/errors.js';
import { HttpRetryError } from '../../src/http/http-client.js';
import type { HttpClient } from '../../src/http/types.js';
import { didYouMean } from '../../src/suggest.js';
import type {
  Change,
  Destination,
  DestinationContext,
  DestinationDefinition,
  MappedField,
  Mode,
  RecordResult,
  WriteContext,
} from '../types.js';
import { apiRoot, mailchimpConfigSchema, mailchimpOptionsSchema, type MailchimpConfig, type MailchimpOptions } from './config.js';
import { convertMergeValue, type MergeField } from './values.js';
import { bigintAsString, parseJson } from '../shared/json.js';

export type { MailchimpConfig, MailchimpOptions } from './config.js';

/** Destination fields that are member properties; every other mapped field is a merge tag. */
const MEMBER_PROPERTIES = new Set(['email_address', 'language', 'vip', 'email_type']);
const EMAIL = 'email_address';
const MASK = '****';
const EXCERPT_CHARS = 300;
/** Merge fields asked for at once (Mailchimp's largest page). */
const MERGE_FIELDS_PAGE = 1000;

/** Subscriber hash: MD5 hex of the trimmed, lower-cased address (how Mailchimp keys members). */
export function subscriberHash(email: string): string {
  return createHash('md5').update(email.trim().toLowerCase(), 'utf8').digest('hex');
}

interface Member {
  readonly change: Change;
  readonly email: string;
  readonly hash: string;
}

/** A final answer, or a failure another run may fix (retries used up, throttling answered as 403). */
type Reply =
  | { readonly kind: 'response'; readonly status: number; readonly body: unknown; readonly text: string }
  | { readonly kind: 'failed'; readonly message: string };

type Results = Map<string, RecordResult>;

/** A read that another run may get through (throttled, retries used up): the records wait, the sync goes on. */
class TransientFailure extends Error {}

interface BatchError {
  readonly email_address?: string;
  readonly error?: string;
  readonly error_code?: string;
  readonly field?: string;
  readonly field_message?: string;
}

class MailchimpDestination implements Destination<MailchimpOptions> {
  readonly #root: string;
  readonly #http: HttpClient;
  readonly #name: string;
  readonly #timeoutMs: number;
  readonly #authorization: string;
  readonly #credentialKey: 'api_key' | 'oauth_token';
  readonly #secret: string;
  readonly #mergeFields = new Map<string, Promise<ReadonlyMap<string, MergeField>>>();

  constructor(config: MailchimpConfig, context: DestinationContext) {
    this.#root = apiRoot(config);
    this.#http = context.http;
    this.#name = context.name;
    this.#timeoutMs = config.timeout_seconds * 1000;
    if (config.oauth_token !== undefined) {
      this.#credentialKey = 'oauth_token';
      this.#secret = config.oauth_token;
      this.#authorization = `Bearer ${config.oauth_token}`;
    } else {
      this.#credentialKey = 'api_key';
      this.#secret = config.api_key!;
      // Any user name will do; the key is the password.
      this.#authorization = `Basic ${Buffer.from(`activate:${config.api_key}`).toString('base64')}`;
    }
  }

  async write(batch: readonly Change[], options: MailchimpOptions, context: WriteContext): Promise<readonly RecordResult[]> {
    if (batch.length === 0) return [];
    const audience = context.mode === 'audience';
    if (audience && options.tags.length === 0) {
      throw new DestinationError(
        `mailchimp destination "${this.#name}": audience mode needs tags: (e.g. tags: [win_back]); ` +
          'members of the model get them, and lose them when their row leaves the model',
      );
    }
    const results: Results = new Map();
    const upserts: Member[] = [];
    const clears: Member[] = [];
    const untags: Member[] = [];
    const archives: Member[] = [];
    const seen = new Map<string, string>();
    for (const change of batch) {
      const member = this.#member(change, results, seen);
      if (!member) continue;
      if (change.kind === 'removed' && change.operation === 'upsert') {
        // on_delete: clear -> the merge fields are blanked; in audience mode the member also leaves the audience.
        clears.push(member);
      } else if (change.operation === 'delete') {
        (audience ? untags : archives).push(member);
      } else if (change.operation === 'archive') {
        archives.push(member);
      } else {
        upserts.push(member);
      }
    }
    const signal = context.signal;
    await Promise.all([
      this.#upsert(upserts, options, context.mode, results, signal),
      this.#clear(clears, options, audience, results, signal),
      this.#untag(untags, options, results, signal),
      this.#archive(archives, options, results, signal),
    ]);
    return batch.map(
      (change) =>
        results.get(change.key) ?? { key: change.key, status: 'failed', message: 'Mailchimp gave no answer for this member', retryable: true },
    );
  }

  async checkMapping(fields: readonly MappedField[], options: MailchimpOptions): Promise<readonly string[]> {
    const problems: string[] = [];
    if (!fields.some((f) => f.field === EMAIL)) {
      problems.push(
        `map the email column to ${EMAIL} (identifier: { ${EMAIL}: <column> }): members are keyed by the MD5 of the lower-cased address`,
      );
    }
    const mergeFields = await this.#mergeFieldsOf(options.list_id);
    const tags = [...mergeFields.keys()];
    const mapped = new Set<string>();
    for (const field of fields) {
      if (MEMBER_PROPERTIES.has(field.field)) continue;
      mapped.add(field.field);
      const definition = mergeFields.get(field.field);
      if (!definition) {
        problems.push(
          `"${field.field}" is not a merge field of audience ${options.list_id}${didYouMean(field.field, tags)}; ` +
            `its merge tags: ${tags.join(', ') || '(none)'}; member properties: ${[...MEMBER_PROPERTIES].join(', ')}`,
        );
        continue;
      }
      const problem = typeProblem(definition, field.columnType);
      if (problem) problems.push(`${field.field} (from column ${field.column}): ${problem}`);
    }
    if (!options.skip_merge_validation) {
      for (const definition of mergeFields.values()) {
        if (definition.required && !mapped.has(definition.tag)) {
          problems.push(
            `merge field ${definition.tag} ("${definition.name}") is required by the audience and not mapped; map it or set skip_merge_validation: true`,
          );
        }
      }
    }
    return problems;
  }

  /** Email and subscriber hash of a change, or a rejection when it has no usable address. */
  #member(change: Change, results: Results, seen: Map<string, string>): Member | undefined {
    const raw = change.fields[EMAIL] ?? change.identifier[EMAIL];
    const email = typeof raw === 'string' ? raw.trim() : '';
    if (email === '' && !(change.kind === 'removed' && change.destinationId)) {
      results.set(change.key, {
        key: change.key,
        status: 'failed',
        message: `no ${EMAIL}: map the email column to ${EMAIL} (the value was ${raw === null || raw === undefined ? 'null' : 'empty'})`,
        retryable: false,
        code: 'MISSING_EMAIL',
      });
      return undefined;
    }
    // A removal targets the member that was sent, whose hash the destination id holds.
    const hash = change.kind === 'removed' && change.destinationId ? change.destinationId : subscriberHash(email);
    const other = seen.get(hash);
    if (other !== undefined) {
      results.set(change.key, {
        key: change.key,
        status: 'failed',
        message: `record ${other} in the same batch has the same email address; Mailchimp keeps one member per address`,
        retryable: false,
        code: 'DUPLICATE_EMAIL',
      });
      return undefined;
    }
    seen.set(hash, change.key);
    return { change, email, hash };
  }

  async #upsert(members: readonly Member[], options: MailchimpOptions, mode: Mode, results: Results, signal?: AbortSignal): Promise<void> {
    if (members.length === 0) return;
    let mergeFields: ReadonlyMap<string, MergeField>;
    try {
      mergeFields = await this.#mergeFieldsOf(options.list_id, signal);
    } catch (error) {
      if (error instanceof TransientFailure) return failAll(members, results, error.message, true);
      throw error;
    }
    const updateAll = options.update_existing_status && mode !== 'create';
    const payload = members.map((m) => ({
      ...this.#memberBody(m, mergeFields),
      status: options.status_if_new,
      ...(options.tags.length > 0 ? { tags: options.tags } : {}),
    }));
    const reply = await this.#request(
      'POST',
      `/lists/${encodeURIComponent(options.list_id)}${this.#query(options)}`,
      { members: payload, update_existing: updateAll },
      signal,
    );
    if (reply.kind === 'failed') return failAll(members, results, reply.message, true);
    if (reply.status === 404) throw this.#listMissing(options.list_id, reply);
    if (reply.status !== 200) return failAll(members, results, this.#problem(reply), reply.status >= 500, codeOf(reply));

    const body = (reply.body ?? {}) as { new_members?: unknown; updated_members?: unknown; errors?: unknown };
    const accepted = new Set<string>();
    for (const list of [body.new_members, body.updated_members]) {
      for (const m of arrayOf(list)) {
        const address = (m as { email_address?: unknown }).email_address;
        if (typeof address === 'string') accepted.add(address.trim().toLowerCase());
      }
    }
    const errors = new Map<string, BatchError>();
    for (const e of arrayOf(body.errors) as BatchError[]) {
      if (typeof e.email_address === 'string') errors.set(e.email_address.trim().toLowerCase(), e);
    }
    const existing: Member[] = [];
    for (const member of members) {
      const address = member.email.toLowerCase();
      const error = errors.get(address);
      if (error && !isContactExists(error)) {
        results.set(member.change.key, {
          key: member.change.key,
          status: 'failed',
          message: naming(this.#scrub(describeBatchError(error)), member.email),
          retryable: false,
          ...(error.error_code ? { code: error.error_code } : {}),
        });
      } else if (accepted.has(address)) {
        results.set(member.change.key, { key: member.change.key, status: 'synced', destinationId: member.hash });
      } else if (!updateAll) {
        // Already a member: `update_existing: false` left it alone, status included.
        existing.push(member);
      } else {
        results.set(member.change.key, {
          key: member.change.key,
          status: 'failed',
          message: 'Mailchimp did not report this member as created, updated or rejected',
          retryable: true,
        });
      }
    }
    if (mode === 'create') {
      // Create mode never overwrites: the member is there, which is what the sync asked for.
      for (const member of existing) results.set(member.change.key, { key: member.change.key, status: 'synced', destinationId: member.hash });
      return;
    }
    await Promise.all(existing.map((member) => this.#updateExisting(member, mergeFields, options, results, signal)));
    if (mode === 'audience' || mode === 'mirror') {
      const moved = members.filter(
        (m) => m.change.destinationId !== null && m.change.destinationId !== m.hash && results.get(m.change.key)?.status === 'synced',
      );
      await Promise.all(moved.map((member) => this.#retire(member, mode, options, results, signal)));
    }
  }

  /**
   * The record's address changed, so it is another member now. The member under the old address
   * leaves the audience (untagged) or the mirror (archived), as a removed record would.
   */
  async #retire(member: Member, mode: 'audience' | 'mirror', options: MailchimpOptions, results: Results, signal?: AbortSignal): Promise<void> {
    const old: Member = { ...member, hash: member.change.destinationId! };
    const reply =
      mode === 'audience'
        ? await this.#setTags(old, options, 'inactive', signal)
        : await this.#request('DELETE', this.#memberPath(options.list_id, old.hash), undefined, signal);
    if (!this.#settled(old, reply, results, { goneIsDone: true, listId: options.list_id })) {
      const failure = results.get(member.change.key) as { message: string; retryable: boolean };
      results.set(member.change.key, {
        key: member.change.key,
        status: 'failed',
        message: `the new address was sent, but the member under the old one could not be ${mode === 'audience' ? 'untagged' : 'archived'}: ${failure.message}`,
        retryable: true,
      });
    }
  }

  /** `PUT` without `status`: merge fields change, the member's own subscription status does not. */
  async #updateExisting(
    member: Member,
    mergeFields: ReadonlyMap<string, MergeField>,
    options: MailchimpOptions,
    results: Results,
    signal?: AbortSignal,
  ): Promise<void> {
    const reply = await this.#request(
      'PUT',
      `${this.#memberPath(options.list_id, member.hash)}${this.#query(options)}`,
      { ...this.#memberBody(member, mergeFields), status_if_new: options.status_if_new },
      signal,
    );
    if (!this.#settled(member, reply, results, { listId: options.list_id })) return;
    if (options.tags.length > 0) {
      const tagged = await this.#setTags(member, options, 'active', signal);
      if (!this.#settled(member, tagged, results, { listId: options.list_id })) return;
    }
    results.set(member.change.key, { key: member.change.key, status: 'synced', destinationId: member.hash });
  }

  async #clear(members: readonly Member[], options: MailchimpOptions, audience: boolean, results: Results, signal?: AbortSignal): Promise<void> {
    await Promise.all(
      members.map(async (member) => {
        const blank = Object.fromEntries(
          Object.keys(member.change.fields)
            .filter((field) => !MEMBER_PROPERTIES.has(field))
            .map((tag) => [tag, '']),
        );
        if (Object.keys(blank).length > 0) {
          const reply = await this.#request('PATCH', this.#memberPath(options.list_id, member.hash), { merge_fields: blank }, signal);
          if (!this.#settled(member, reply, results, { goneIsDone: true, listId: options.list_id })) return;
        }
        if (audience) {
          const reply = await this.#setTags(member, options, 'inactive', signal);
          if (!this.#settled(member, reply, results, { goneIsDone: true, listId: options.list_id })) return;
        }
        results.set(member.change.key, { key: member.change.key, status: 'synced' });
      }),
    );
  }

  async #untag(members: readonly Member[], options: MailchimpOptions, results: Results, signal?: AbortSignal): Promise<void> {
    await Promise.all(
      members.map(async (member) => {
        const reply = await this.#setTags(member, options, 'inactive', signal);
        if (this.#settled(member, reply, results, { goneIsDone: true, listId: options.list_id })) {
          results.set(member.change.key, { key: member.change.key, status: 'synced' });
        }
      }),
    );
  }

  /** `DELETE` on a member archives it in Mailchimp (it can be re-added later); permanent deletion is never used. */
  async #archive(members: readonly Member[], options: MailchimpOptions, results: Results, signal?: AbortSignal): Promise<void> {
    await Promise.all(
      members.map(async (member) => {
        const reply = await this.#request('DELETE', this.#memberPath(options.list_id, member.hash), undefined, signal);
        if (this.#settled(member, reply, results, { goneIsDone: true, listId: options.list_id })) {
          results.set(member.change.key, { key: member.change.key, status: 'synced' });
        }
      }),
    );
  }

  #setTags(member: Member, options: MailchimpOptions, status: 'active' | 'inactive', signal?: AbortSignal): Promise<Reply> {
    return this.#request(
      'POST',
      `${this.#memberPath(options.list_id, member.hash)}/tags`,
      { tags: options.tags.map((name) => ({ name, status })) },
      signal,
    );
  }

  /**
   * True when the member call succeeded (2xx, or 404 where a missing member means the work is
   * done); otherwise records the member's rejection and returns false.
   */
  #settled(member: Member, reply: Reply, results: Results, how: { goneIsDone?: boolean; listId: string }): boolean {
    const key = member.change.key;
    if (reply.kind === 'failed') {
      results.set(key, { key, status: 'failed', message: reply.message, retryable: true });
      return false;
    }
    if (reply.status >= 200 && reply.status < 300) return true;
    if (reply.status === 404 && how.goneIsDone) return true;
    if (reply.status === 404) throw this.#listMissing(how.listId, reply);
    results.set(key, { key, status: 'failed', message: naming(this.#problem(reply), member.email), retryable: reply.status >= 500, ...codeField(reply) });
    return false;
  }

  #memberBody(member: Member, mergeFields: ReadonlyMap<string, MergeField>): Record<string, unknown> {
    const body: Record<string, unknown> = { email_address: member.email };
    const merge: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(member.change.fields)) {
      if (field === EMAIL) continue;
      if (MEMBER_PROPERTIES.has(field)) {
        if (value !== null && value !== undefined) body[field] = value;
      } else {
        merge[field] = convertMergeValue(value, mergeFields.get(field));
      }
    }
    if (Object.keys(merge).length > 0) body.merge_fields = merge;
    return body;
  }

  #mergeFieldsOf(listId: string, signal?: AbortSignal): Promise<ReadonlyMap<string, MergeField>> {
    let cached = this.#mergeFields.get(listId);
    if (!cached) {
      cached = this.#fetchMergeFields(listId, signal);
      this.#mergeFields.set(listId, cached);
      // A failed look-up is asked again next time rather than cached.
      cached.catch(() => this.#mergeFields.delete(listId));
    }
    return cached;
  }

  async #fetchMergeFields(listId: string, signal?: AbortSignal): Promise<ReadonlyMap<string, MergeField>> {
    const reply = await this.#request('GET', `/lists/${encodeURIComponent(listId)}/merge-fields?count=${MERGE_FIELDS_PAGE}`, undefined, signal);
    if (reply.kind === 'failed') throw new TransientFailure(`cannot read the merge fields of audience ${listId}: ${reply.message}`);
    if (reply.status === 404) throw this.#listMissing(listId, reply);
    if (reply.status !== 200) {
      throw new DestinationError(`mailchimp destination "${this.#name}": cannot read the merge fields of audience ${listId}: ${this.#problem(reply)}`, {
        status: reply.status,
      });
    }
    const fields = new Map<string, MergeField>();
    for (const f of arrayOf((reply.body as { merge_fields?: unknown } | null)?.merge_fields) as MergeField[]) {
      if (typeof f.tag === 'string') fields.set(f.tag, f);
    }
    return fields;
  }

  /**
   * Sends one request through the shared HTTP layer. Throws DestinationError when the whole sync
   * must stop: credentials refused (401, or 403 with an explanation), or still throttled after
   * the 429 budget. A bodyless 403 is Mailchimp's throttling answer at high volume, not a
   * refusal: the records of that call fail as retryable and are sent again next run.
   */
  async #request(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body: unknown, signal?: AbortSignal): Promise<Reply> {
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
        timeoutMs: this.#timeoutMs,
        signal,
      });
    } catch (error) {
      if (!(error instanceof HttpRetryError)) throw error;
      const said = this.#scrub(error.message);
      if (error.status === 429) {
        throw new DestinationError(
          `mailchimp destination "${this.#name}": still throttled (HTTP 429) after ${error.attempts} attempts; stopping the sync ` +
            `(what was accepted is kept). Another integration may be using the account's 10 connections; lower concurrency. ${said}`,
          { status: 429, cause: error },
        );
      }
      return { kind: 'failed', message: said };
    }
    const text = response.text;
    const parsed = parseJson(text);
    if (response.status === 401) throw this.#refused(401, text);
    if (response.status === 403) {
      if (text.trim() === '') {
        return {
          kind: 'failed',
          message: 'Mailchimp answered HTTP 403 with no body, which it does when throttling; sent again next run (lower concurrency if this repeats)',
        };
      }
      throw this.#refused(403, text);
    }
    return { kind: 'response', status: response.status, body: parsed, text };
  }

  #refused(status: number, text: string): DestinationError {
    const detail = this.#scrub(problemText(parseJson(text), text));
    return new DestinationError(
      `mailchimp destination "${this.#name}": Mailchimp refused the credentials (HTTP ${status}${detail ? `: ${detail}` : ''}); ` +
        `check ${this.#credentialKey} in activate.yml${this.#credentialKey === 'api_key' ? ' (the whole key, with its -<dc> suffix)' : ' and server'}`,
      { status },
    );
  }

  #listMissing(listId: string, reply: { text: string; body: unknown }): DestinationError {
    return new DestinationError(
      `mailchimp destination "${this.#name}": audience list_id "${listId}" was not found (HTTP 404${this.#detail(reply)}); ` +
        'check list_id (Audience settings > Audience name and defaults > Audience ID)',
      { status: 404 },
    );
  }

  #problem(reply: { status: number; text: string; body: unknown }): string {
    return `HTTP ${reply.status}${this.#detail(reply)}`;
  }

  #detail(reply: { text: string; body: unknown }): string {
    const text = this.#scrub(problemText(reply.body, reply.text));
    return text ? `: ${text}` : '';
  }

  #memberPath(listId: string, hash: string): string {
    return `/lists/${encodeURIComponent(listId)}/members/${hash}`;
  }

  #query(options: MailchimpOptions): string {
    return options.skip_merge_validation ? '?skip_merge_validation=true' : '';
  }

  #scrub(text: string): string {
    return this.#secret.length >= 4 ? text.split(this.#secret).join(MASK) : text;
  }
}

/** A problem-details body as one line: `title: detail (field: message; ...)`. */
function problemText(body: unknown, text: string): string {
  if (body && typeof body === 'object') {
    const p = body as { title?: unknown; detail?: unknown; errors?: unknown };
    const parts = [p.title, p.detail].filter((x): x is string => typeof x === 'string' && x.length > 0);
    const fieldErrors = arrayOf(p.errors)
      .map((e) => {
        const { field, message } = e as { field?: unknown; message?: unknown };
        return typeof message === 'string' ? (typeof field === 'string' && field ? `${field}: ${message}` : message) : undefined;
      })
      .filter((x): x is string => x !== undefined);
    const main = parts.join(': ');
    if (main || fieldErrors.length > 0) return `${main}${fieldErrors.length > 0 ? ` (${fieldErrors.join('; ')})` : ''}`;
  }
  return text.trim().slice(0, EXCERPT_CHARS);
}

function codeOf(reply: { body: unknown }): string | undefined {
  const title = (reply.body as { title?: unknown } | null)?.title;
  return typeof title === 'string' && title ? title : undefined;
}

function codeField(reply: { body: unknown }): { code?: string } {
  const code = codeOf(reply);
  return code === undefined ? {} : { code };
}

/**
 * A member's rejection names the member, so that members refused for the same reason do not
 * read as one refusal of the whole batch (which the engine would split to isolate).
 */
function naming(message: string, email: string): string {
  return email === '' || message.toLowerCase().includes(email.toLowerCase()) ? message : `${message} (${email})`;
}

function describeBatchError(error: BatchError): string {
  const main = error.error ?? 'rejected by Mailchimp';
  const field = error.field ? ` (${error.field}${error.field_message ? `: ${error.field_message}` : ''})` : '';
  return `${main}${field}`;
}

function isContactExists(error: BatchError): boolean {
  return error.error_code === 'ERROR_CONTACT_EXISTS' || /already a list member/i.test(error.error ?? '');
}

function failAll(members: readonly Member[], results: Results, message: string, retryable: boolean, code?: string): void {
  for (const m of members) {
    results.set(m.change.key, { key: m.change.key, status: 'failed', message, retryable, ...(code ? { code } : {}) });
  }
}

function typeProblem(field: MergeField, columnType: string | undefined): string | undefined {
  if (!columnType) return undefined;
  const type = columnType.toLowerCase();
  const temporal = /^(date|time|timestamp|interval)/.test(type);
  const bool = /^bool/.test(type);
  const numeric = /^(tinyint|smallint|int|integer|bigint|hugeint|ubigint|uinteger|usmallint|utinyint|decimal|numeric|double|float|real|number)/.test(type);
  if (field.type === 'number' && (temporal || bool)) return `merge field type is number; the column is ${columnType}`;
  if ((field.type === 'date' || field.type === 'birthday') && (numeric || bool)) {
    return `merge field type is ${field.type}; the column is ${columnType} (map a DATE column)`;
  }
  return undefined;
}

function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}



/**
 * Mailchimp audience members: batch add/update (500 per request), merge fields, tags, and an
 * `audience` mode that tags members while their row is in the model and untags (or archives)
 * them when it leaves.
 */
export const mailchimp: DestinationDefinition<MailchimpConfig, MailchimpOptions> = {
  type: 'mailchimp',
  config: mailchimpConfigSchema,
  options: mailchimpOptionsSchema,
  modes: ['upsert', 'create', 'mirror', 'audience'],
  // Merge fields left out of a request keep their values.
  partialUpdates: true,
  // delete and archive both archive the member (Mailchimp's DELETE); in audience mode delete untags.
  onDelete: ['delete', 'archive', 'clear', 'ignore'],
  secretKeys: ['api_key', 'oauth_token'],
  limits: (config) => ({
    batchSize: config.batch_size,
    concurrency: config.concurrency,
    // Mailchimp limits connections, not requests per second; this only keeps bursts sane.
    requests: 100,
    perSeconds: 1,
  }),
  create: (config, context) => new MailchimpDestination(config, context),
};

export default mailchimp;
