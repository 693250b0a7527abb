import { DestinationError } from '../../src/errors.js';
import { HttpRetryError } from '../../src/http/http-client.js';
import type { HttpClient, HttpResponse } from '../../src/http/types.js';
import type { Logger } from '../../src/logger.js';
import type { Change, Destination, DestinationContext, DestinationDefinition, MappedField, RecordResult, WriteContext } from '../types.js';
import { slackConfigSchema, slackOptionsSchema, type SlackConfig, type SlackOptions } from './config.js';
import { renderTemplate, templateSyntaxError, unknownNames } from './template.js';
import { parseJson } from '../shared/json.js';

export type { SlackConfig, SlackOptions } from './config.js';

/** Variables a row template has besides the mapped fields. */
const ROW_VARIABLES = ['_key', '_kind', '_previous', '_row'];
/** Variables of a summary title. */
const TITLE_VARIABLES = ['count', 'sync', 'kind'];
const DEFAULT_TITLES: Readonly<Record<Change['kind'], string>> = {
  added: "{{ count }} new {{ 'row' if count == 1 else 'rows' }} in {{ sync }}",
  changed: "{{ count }} changed {{ 'row' if count == 1 else 'rows' }} in {{ sync }}",
  removed: "{{ count }} {{ 'row' if count == 1 else 'rows' }} left {{ sync }}",
};
/** A summary stays well under Slack's 40,000-character cap and readable in a channel. */
const SUMMARY_MAX_CHARS = 3500;
const BODY_EXCERPT_CHARS = 200;
const MASK = '****';

/** chat.postMessage errors that mean the token is not good for posting at all. */
const TOKEN_ERRORS = new Set([
  'not_authed',
  'invalid_auth',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'no_permission',
  'missing_scope',
  'not_allowed_token_type',
  'team_access_not_granted',
  'ekm_access_denied',
  'org_login_required',
]);
/** Errors that mean nothing can be posted to this channel (or through this webhook). */
const CHANNEL_ERRORS = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'channel_is_archived',
  'action_prohibited',
  'posting_to_general_channel_denied',
  'restricted_action',
  'restricted_action_read_only_channel',
  'restricted_action_thread_only_channel',
  'restricted_action_non_threadable_channel',
  'team_not_found',
  'no_service',
  'no_service_id',
  'no_team',
  'team_disabled',
  'invalid_token',
]);
/** Slack's own trouble: the message may go through later. */
const TRANSIENT_ERRORS = new Set(['ratelimited', 'rate_limited', 'fatal_error', 'internal_error', 'service_unavailable', 'request_timeout', 'rollup_error']);

interface Failure {
  readonly message: string;
  readonly retryable: boolean;
  readonly code?: string;
}

type Posted = { readonly ok: true; readonly id?: string } | { readonly ok: false; readonly failure: Failure };

class SlackDestination implements Destination<SlackOptions> {
  readonly #config: SlackConfig;
  readonly #http: HttpClient;
  readonly #log: Logger;
  readonly #name: string;
  readonly #warned = new Set<string>();
  /** A stop that happened after some messages of a batch were posted: the next write throws it. */
  #fatal: DestinationError | undefined;

  constructor(config: SlackConfig, context: DestinationContext) {
    this.#config = config;
    this.#http = context.http;
    this.#log = context.log;
    this.#name = context.name;
  }

  async write(batch: readonly Change[], options: SlackOptions, context: WriteContext): Promise<readonly RecordResult[]> {
    if (this.#fatal) throw this.#fatal;
    if (batch.length === 0) return [];
    const channel = this.#channel(options);
    const results: RecordResult[] = [];
    for (const kind of ['removed', 'changed', 'added'] as const) {
      const group = batch.filter((change) => change.kind === kind);
      if (group.length === 0) continue;
      const template = rowTemplate(options, kind);
      if (template === undefined) {
        // Nothing to say about this kind of change: it is done without a message.
        results.push(...group.map((change) => ({ key: change.key, status: 'synced' as const })));
        continue;
      }
      this.#warnUnknown(template, group);
      const posted = options.summary
        ? await this.#postSummary(group, template, options, kind, channel, context, results.length > 0)
        : await this.#postEach(group, template, channel, context, results.length > 0);
      results.push(...posted);
      if (this.#fatal) {
        const rest = batch.filter((change) => !results.some((r) => r.key === change.key));
        results.push(...rest.map((change) => failed(change.key, { message: `not posted: ${this.#fatal!.message}`, retryable: true })));
        break;
      }
    }
    return results;
  }

  /** `activate validate --online`: the templates read only mapped fields (Slack has no fields to ask about). */
  async checkMapping(fields: readonly MappedField[], options: SlackOptions): Promise<readonly string[]> {
    const problems: string[] = [];
    const available = [...fields.map((f) => f.field), ...ROW_VARIABLES];
    const templates: [string, string | undefined, readonly string[]][] = [
      ['message', options.message, available],
      ['changed_message', options.changed_message, available],
      ['removed_message', options.removed_message, available],
      ['summary_title', options.summary_title, TITLE_VARIABLES],
      ['changed_summary_title', options.changed_summary_title, TITLE_VARIABLES],
      ['removed_summary_title', options.removed_summary_title, TITLE_VARIABLES],
    ];
    for (const [key, source, names] of templates) {
      if (source === undefined) continue;
      const syntax = templateSyntaxError(source);
      if (syntax) {
        problems.push(`${key}: is not a valid template: ${syntax}`);
        continue;
      }
      const unknown = unknownNames(source, names);
      if (unknown.length > 0) {
        problems.push(
          `${key}: uses ${unknown.map((n) => `{{ ${n} }}`).join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not ` +
            `${key.endsWith('title') ? 'a summary variable' : 'a mapped field'}; available: ${names.join(', ')}`,
        );
      }
    }
    try {
      this.#channel(options);
    } catch (error) {
      if (error instanceof DestinationError) problems.push(error.message);
      else throw error;
    }
    return problems;
  }

  // ---- messages -------------------------------------------------------------------------

  async #postEach(group: readonly Change[], template: string, channel: string | undefined, context: WriteContext, postedBefore: boolean) {
    const results: RecordResult[] = [];
    for (const [index, change] of group.entries()) {
      if (context.signal?.aborted) {
        results.push(...group.slice(index).map((c) => failed(c.key, { message: 'not posted: the run was cancelled', retryable: true })));
        break;
      }
      const text = this.#render(template, rowContext(change));
      let posted: Posted;
      try {
        posted = await this.#post(text, channel, context.signal);
      } catch (error) {
        if (context.signal?.aborted) {
          results.push(...group.slice(index).map((c) => failed(c.key, { message: 'not posted: the run was cancelled', retryable: true })));
          break;
        }
        // Nothing posted yet in this write: stop now. Otherwise keep what was posted and stop at the next write.
        if (!(error instanceof DestinationError) || (index === 0 && !postedBefore)) throw error;
        this.#fatal = error;
        results.push(...group.slice(index).map((c) => failed(c.key, { message: `not posted: ${error.message}`, retryable: true })));
        break;
      }
      results.push(posted.ok ? synced(change.key, posted.id) : failed(change.key, posted.failure));
    }
    return results;
  }

  async #postSummary(
    group: readonly Change[],
    template: string,
    options: SlackOptions,
    kind: Change['kind'],
    channel: string | undefined,
    context: WriteContext,
    postedBefore: boolean,
  ) {
    const title = this.#render(titleTemplate(options, kind), { count: group.length, sync: context.syncId, kind });
    const lines: string[] = [];
    let length = title.length;
    for (const change of group) {
      if (lines.length >= options.max_lines) break;
      const line = this.#render(template, rowContext(change));
      if (length + line.length + 1 > SUMMARY_MAX_CHARS && lines.length > 0) break;
      lines.push(line);
      length += line.length + 1;
    }
    const more = group.length - lines.length;
    const text = [title, ...lines, ...(more > 0 ? [`…and ${more} more`] : [])].join('\n');
    let posted: Posted;
    try {
      posted = await this.#post(text, channel, context.signal);
    } catch (error) {
      if (!(error instanceof DestinationError) || !postedBefore) throw error;
      this.#fatal = error;
      return group.map((c) => failed(c.key, { message: `not posted: ${error.message}`, retryable: true }));
    }
    return group.map((change) => (posted.ok ? synced(change.key, posted.id) : failed(change.key, posted.failure)));
  }

  #render(template: string, context: Readonly<Record<string, unknown>>): string {
    try {
      return renderTemplate(template, context);
    } catch (error) {
      throw new DestinationError(`Slack destination "${this.#name}": cannot render the message template: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }

  /** A name the template reads that no record of the batch has renders empty: say so once. */
  #warnUnknown(template: string, group: readonly Change[]): void {
    const names = new Set(ROW_VARIABLES);
    for (const change of group) for (const field of Object.keys(change.fields)) names.add(field);
    for (const name of unknownNames(template, names)) {
      if (this.#warned.has(name)) continue;
      this.#warned.add(name);
      this.#log.warn(`Slack destination "${this.#name}": the message template uses {{ ${name} }}, which is not a mapped field; it renders empty`);
    }
  }

  #channel(options: SlackOptions): string | undefined {
    if (this.#config.webhook_url !== undefined) {
      if (options.channel !== undefined) {
        throw new DestinationError(
          `Slack destination "${this.#name}": channel: ${options.channel} cannot be used with an incoming webhook, which posts to the channel chosen when it was created; use a bot token (token:) to choose channels`,
        );
      }
      return undefined;
    }
    const channel = options.channel ?? this.#config.channel;
    if (channel === undefined) {
      throw new DestinationError(`Slack destination "${this.#name}": set channel (in activate.yml or in the sync) for posting with a bot token`);
    }
    return channel;
  }

  // ---- requests -------------------------------------------------------------------------

  async #post(text: string, channel: string | undefined, signal: AbortSignal | undefined): Promise<Posted> {
    const webhook = this.#config.webhook_url;
    let response: HttpResponse;
    try {
      response = await this.#http.request(
        webhook !== undefined
          ? {
              method: 'POST',
              url: webhook,
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ text }),
              timeoutMs: this.#config.timeout_seconds * 1000,
              signal,
            }
          : {
              method: 'POST',
              url: `${this.#config.base_url}/chat.postMessage`,
              headers: { authorization: `Bearer ${this.#config.token!}`, 'content-type': 'application/json; charset=utf-8' },
              body: JSON.stringify({ channel, text }),
              timeoutMs: this.#config.timeout_seconds * 1000,
              signal,
            },
      );
    } catch (error) {
      if (error instanceof HttpRetryError) {
        return { ok: false, failure: { message: this.#scrub(error.message), retryable: true, code: error.status === 429 ? 'rate_limited' : undefined } };
      }
      throw error;
    }
    return webhook !== undefined ? this.#webhookOutcome(response) : this.#apiOutcome(response, channel!);
  }

  /** Incoming webhooks answer `ok`, or an HTTP error status with a plain-text code. */
  #webhookOutcome(response: HttpResponse): Posted {
    const { status } = response;
    const code = response.text.trim().slice(0, BODY_EXCERPT_CHARS);
    if (status >= 200 && status < 300) return { ok: true };
    const said = code ? ` ${this.#scrub(code)}` : '';
    if (status === 401 || status === 403 || status === 404 || status === 410 || CHANNEL_ERRORS.has(code) || TOKEN_ERRORS.has(code)) {
      throw new DestinationError(
        `Slack destination "${this.#name}": the incoming webhook refused to post (HTTP ${status}${said}); ` +
          'check webhook_url in activate.yml (the webhook may have been removed, or its channel archived); stopping the sync',
        { status },
      );
    }
    if (status >= 300 && status < 400) {
      throw new DestinationError(`Slack destination "${this.#name}": the incoming webhook redirects (HTTP ${status}); check webhook_url`, { status });
    }
    return { ok: false, failure: { message: `HTTP ${status}${said}`, retryable: status >= 500 || TRANSIENT_ERRORS.has(code), code: code || undefined } };
  }

  /** chat.postMessage answers JSON `{ ok, error }`, mostly with HTTP 200. */
  #apiOutcome(response: HttpResponse, channel: string): Posted {
    const { status } = response;
    const json = parseJson(response.text) as { ok?: unknown; error?: unknown; ts?: unknown; channel?: unknown; needed?: unknown } | undefined;
    const code = typeof json?.error === 'string' ? json.error : undefined;
    if (status >= 200 && status < 300 && json?.ok === true) {
      const ts = typeof json.ts === 'string' ? json.ts : undefined;
      return { ok: true, id: ts === undefined ? undefined : `${typeof json.channel === 'string' ? json.channel : channel}:${ts}` };
    }
    const destination = `Slack destination "${this.#name}"`;
    if (status === 401 || status === 403 || (code !== undefined && TOKEN_ERRORS.has(code))) {
      const needed = typeof json?.needed === 'string' ? `; the token needs the scope ${json.needed}` : '';
      throw new DestinationError(
        `${destination} refused the credentials (${code ?? `HTTP ${status}`})${needed}: check the bot token configured for it (token: in activate.yml)`,
        { status },
      );
    }
    if (code !== undefined && CHANNEL_ERRORS.has(code)) {
      throw new DestinationError(
        `${destination}: cannot post to channel ${channel} (${code})${code === 'not_in_channel' ? '; invite the app to the channel' : ''}; stopping the sync`,
        { status },
      );
    }
    if (status === 404) {
      throw new DestinationError(`${destination}: ${this.#config.base_url}/chat.postMessage was not found (HTTP 404); check base_url`, { status });
    }
    const message = code ?? `HTTP ${status}: ${this.#scrub(response.text.slice(0, BODY_EXCERPT_CHARS))}`;
    return { ok: false, failure: { message, retryable: status >= 500 || (code !== undefined && TRANSIENT_ERRORS.has(code)), code } };
  }

  /** Slack does not echo secrets, but a proxy in between might. */
  #scrub(text: string): string {
    let out = text;
    for (const secret of [this.#config.token, this.#config.webhook_url]) {
      if (secret !== undefined && secret.length >= 4) out = out.split(secret).join(MASK);
    }
    return out;
  }
}

function rowTemplate(options: SlackOptions, kind: Change['kind']): string | undefined {
  return kind === 'added' ? options.message : kind === 'changed' ? options.changed_message : options.removed_message;
}

function titleTemplate(options: SlackOptions, kind: Change['kind']): string {
  const custom = kind === 'added' ? options.summary_title : kind === 'changed' ? options.changed_summary_title : options.removed_summary_title;
  return custom ?? DEFAULT_TITLES[kind];
}

/** Mapped fields by name, plus `_key`, `_kind`, `_previous` (values last sent) and `_row` (all fields). */
function rowContext(change: Change): Record<string, unknown> {
  return { ...change.fields, _key: change.key, _kind: change.kind, _previous: change.previous ?? {}, _row: change.fields };
}

function synced(key: string, id: string | undefined): RecordResult {
  return id === undefined ? { key, status: 'synced' } : { key, status: 'synced', destinationId: id };
}

function failed(key: string, failure: Failure): RecordResult {
  return { key, status: 'failed', message: failure.message, retryable: failure.retryable, ...(failure.code ? { code: failure.code } : {}) };
}


/** Posts a Slack message per row that entered (and optionally changed or left) a model, or one summary per batch. */
export const slack: DestinationDefinition<SlackConfig, SlackOptions> = {
  type: 'slack',
  config: slackConfigSchema,
  options: slackOptionsSchema,
  modes: ['create', 'upsert', 'mirror'],
  // Templates need every field, not only those that changed.
  partialUpdates: false,
  // "delete" posts removed_message (when set) for a row that left the model; "ignore" posts nothing.
  onDelete: ['delete', 'ignore'],
  secretKeys: ['webhook_url', 'token'],
  // About one message per second (Slack's posting guideline); one message at a time, in order.
  limits: (config) => ({ batchSize: config.batch_size, concurrency: 1, requests: 1, perSeconds: 1 }),
  create: (config, context) => new SlackDestination(config, context),
};

export default slack;
