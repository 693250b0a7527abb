import { DestinationError } from '../../src/errors.js';
import { HttpRetryError } from '../../src/http/http-client.js';
import type { HttpClient, HttpResponse } from '../../src/http/types.js';
import type { Logger } from '../../src/logger.js';
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
import {
  HUBSPOT_TIER_REQUESTS_PER_10S,
  OBJECT_TYPE_IDS,
  hubspotConfigSchema,
  hubspotOptionsSchema,
  isContacts,
  type HubSpotConfig,
  type HubSpotOptions,
} from './config.js';
import { columnKind, formatValue, parseProperties, typeMismatch, type PropertyDefinition } from './values.js';
import { parseJson } from '../shared/json.js';

export type { HubSpotConfig, HubSpotOptions } from './config.js';

const BODY_EXCERPT_CHARS = 500;
const MASK = '****';
/** HubSpot's internal record id: usable to match records in update mode, never written. */
const RECORD_ID_PROPERTY = 'hs_object_id';

type Definitions = ReadonlyMap<string, PropertyDefinition>;

/** Why records were not accepted, as a RecordResult carries it. */
interface Failure {
  readonly message: string;
  readonly retryable: boolean;
  readonly code?: string;
}

type Call = { readonly ok: true; readonly status: number; readonly json: unknown } | { readonly ok: false; readonly failure: Failure };

/** One input of a batch request and how its answer is found again. */
interface Sent {
  readonly change: Change;
  /** `objectWriteTraceId` of the input: HubSpot echoes it on results and names it on errors. */
  readonly traceId: string;
  /** The input's record id or idProperty value, normalised, to match answers without trace ids. */
  readonly match: string | undefined;
}

interface BatchResult {
  readonly id?: unknown;
  readonly objectWriteTraceId?: unknown;
  readonly properties?: Readonly<Record<string, unknown>>;
}

interface BatchError {
  readonly status?: unknown;
  readonly category?: unknown;
  readonly message?: unknown;
  readonly context?: Readonly<Record<string, unknown>>;
  readonly errors?: readonly { readonly message?: unknown; readonly code?: unknown }[];
}

class HubSpotDestination implements Destination<HubSpotOptions> {
  readonly #config: HubSpotConfig;
  readonly #http: HttpClient;
  readonly #log: Logger;
  readonly #name: string;
  readonly #definitions = new Map<string, Promise<Definitions | undefined>>();
  /** Set once HubSpot's daily quota is used up: every later request is refused before sending. */
  #dailyStop: string | undefined;

  constructor(config: HubSpotConfig, context: DestinationContext) {
    this.#config = config;
    this.#http = context.http;
    this.#log = context.log;
    this.#name = context.name;
  }

  async write(batch: readonly Change[], options: HubSpotOptions, context: WriteContext): Promise<readonly RecordResult[]> {
    if (batch.length === 0) return [];
    const { signal } = context;
    const definitions = options.check_properties ? await this.#definitionsOf(options.object, signal) : undefined;
    const operation = batch[0]!.operation;
    if (operation === 'delete' || operation === 'archive') return this.#archive(batch, options, definitions, signal);
    if (definitions) this.#checkWrite(batch, options, definitions, context.mode);
    // `on_delete: clear` sends removed records as an upsert of empty values: it must never create one.
    if (batch[0]!.kind === 'removed') return this.#update(batch, options, definitions, signal, 'done');
    switch (context.mode) {
      case 'create':
        return this.#create(batch, options, definitions, signal);
      case 'update':
        return this.#update(batch, options, definitions, signal, 'skip');
      default:
        return this.#upsert(batch, options, definitions, signal);
    }
  }

  /** `activate validate --online`: the mapped properties exist, can be written and fit the columns. */
  async checkMapping(fields: readonly MappedField[], options: HubSpotOptions): Promise<readonly string[]> {
    const { object } = options;
    let definitions: Definitions | undefined;
    try {
      definitions = await this.#definitionsOf(object, undefined);
    } catch (error) {
      if (error instanceof DestinationError) return [error.message];
      throw error;
    }
    if (!definitions) {
      return [
        `the token cannot read the ${object} property definitions (HTTP 403), so the mapping cannot be checked; ` +
          `grant the app the schema read scope for ${object} (e.g. crm.schemas.${object}.read)`,
      ];
    }
    const problems: string[] = [];
    const identifiers = fields.filter((f) => f.isIdentifier);
    if (identifiers.length > 1) {
      problems.push(`identifier: HubSpot matches records on one property; ${identifiers.map((f) => f.field).join(', ')} are mapped`);
    }
    for (const mapped of fields) {
      const where = mapped.isIdentifier ? `identifier.${mapped.field}` : `fields.${mapped.field}`;
      const definition = definitions.get(mapped.field);
      if (!definition) {
        problems.push(`${where}: ${object} has no property "${mapped.field}"${didYouMean(mapped.field, definitions.keys())}`);
        continue;
      }
      const matchable = matchableBy(object, definition);
      if (mapped.isIdentifier && !matchable) {
        problems.push(
          `${where}: "${mapped.field}" is not a unique-value property of ${object}, so records cannot be matched on it; ` +
            `use ${isContacts(object) ? 'email or ' : ''}a property created with "unique values"`,
        );
      }
      if (definition.readOnly && !(mapped.isIdentifier && mapped.field === RECORD_ID_PROPERTY)) {
        problems.push(`${where}: property "${mapped.field}" of ${object} is read-only in HubSpot (set by HubSpot or calculated)`);
      }
      const mismatch = typeMismatch(definition, columnKind(mapped.columnType));
      if (mismatch) problems.push(`${where}: ${mismatch} (column ${mapped.column} is ${mapped.columnType})`);
    }
    return problems;
  }

  // ---- operations -------------------------------------------------------------------------

  /** Batch upsert by a unique property (`idProperty` in every input): creates or updates. */
  async #upsert(batch: readonly Change[], options: HubSpotOptions, definitions: Definitions | undefined, signal?: AbortSignal) {
    const idProperty = this.#idProperty(batch, 'upsert', options.object, definitions);
    if (idProperty === RECORD_ID_PROPERTY) {
      throw this.#configError(`upsert cannot match on ${RECORD_ID_PROPERTY} (HubSpot assigns it); use mode: update, or a unique property`);
    }
    const { results, sendable } = withIdentifiers(batch, idProperty);
    const sent: Sent[] = [];
    const inputs = sendable.map(({ change, id, match }, index) => {
      const traceId = String(index);
      sent.push({ change, traceId, match });
      return { idProperty, id, properties: this.#properties(change, definitions, options), objectWriteTraceId: traceId };
    });
    if (inputs.length === 0) return results;
    const call = await this.#post(`${this.#objectsPath(options.object)}/batch/upsert`, { inputs }, signal);
    if (!call.ok) return [...results, ...failAll(sent, call.failure)];
    return [...results, ...outcomes(sent, call.json, (r) => matchKey(idProperty, r.properties?.[idProperty]))];
  }

  /**
   * Update only: find each record's HubSpot id (batch read by idProperty), then batch update by
   * id. A record HubSpot does not have is skipped (tried again next run), or counts as done when
   * there is nothing to clear.
   */
  async #update(
    batch: readonly Change[],
    options: HubSpotOptions,
    definitions: Definitions | undefined,
    signal: AbortSignal | undefined,
    missing: 'skip' | 'done',
  ) {
    const idProperty = this.#idProperty(batch, 'update', options.object, definitions);
    const { results, sendable } = withIdentifiers(batch, idProperty);
    const ids = await this.#recordIds(options.object, idProperty, sendable.map((s) => s.id), signal);
    if (!ids.ok) return [...results, ...sendable.map(({ change }) => failed(change.key, ids.failure))];
    const sent: Sent[] = [];
    const inputs: unknown[] = [];
    for (const { change, id, match } of sendable) {
      const recordId = ids.found.get(match);
      if (recordId === undefined) {
        results.push(
          missing === 'done'
            ? { key: change.key, status: 'synced' }
            : { key: change.key, status: 'skipped', reason: `no ${options.object} record in HubSpot has ${idProperty} = ${id}; update mode never creates records` },
        );
        continue;
      }
      const traceId = String(sent.length);
      sent.push({ change, traceId, match: recordId });
      inputs.push({ id: recordId, properties: this.#properties(change, definitions, options, RECORD_ID_PROPERTY), objectWriteTraceId: traceId });
    }
    if (inputs.length === 0) return results;
    const call = await this.#post(`${this.#objectsPath(options.object)}/batch/update`, { inputs }, signal);
    if (!call.ok) return [...results, ...failAll(sent, call.failure)];
    return [...results, ...outcomes(sent, call.json, (r) => (typeof r.id === 'string' ? r.id : undefined))];
  }

  /** Batch create; each input carries an objectWriteTraceId so a 207 names the inputs that failed. */
  async #create(batch: readonly Change[], options: HubSpotOptions, definitions: Definitions | undefined, signal?: AbortSignal) {
    const sent: Sent[] = batch.map((change, index) => ({ change, traceId: String(index), match: undefined }));
    const inputs = sent.map(({ change, traceId }) => ({
      properties: this.#properties(change, definitions, options, RECORD_ID_PROPERTY),
      objectWriteTraceId: traceId,
    }));
    const call = await this.#post(`${this.#objectsPath(options.object)}/batch/create`, { inputs }, signal);
    if (!call.ok) return failAll(sent, call.failure);
    return outcomes(sent, call.json, () => undefined);
  }

  /**
   * Removed records (mirror): archived by the HubSpot id kept from earlier answers. A record
   * without a stored id is looked up by its identifier (batch read); one HubSpot does not have
   * is already gone, which is what was asked.
   */
  async #archive(batch: readonly Change[], options: HubSpotOptions, definitions: Definitions | undefined, signal?: AbortSignal) {
    const results: RecordResult[] = [];
    const toArchive: { change: Change; id: string }[] = [];
    const unknown = batch.filter((change) => {
      if (change.destinationId) toArchive.push({ change, id: change.destinationId });
      return !change.destinationId;
    });
    if (unknown.length > 0) {
      if (Object.keys(unknown[0]!.identifier).length === 0) {
        results.push(
          ...unknown.map((change) =>
            failed(change.key, {
              message: 'no HubSpot id was stored for this record and the sync has no identifier to look it up by; it was not archived',
              retryable: false,
              code: 'NO_RECORD_ID',
            }),
          ),
        );
      } else {
        const idProperty = this.#idProperty(unknown, 'archive', options.object, definitions);
        const lookup = withIdentifiers(unknown, idProperty, { duplicates: 'allow' });
        results.push(...lookup.results);
        const ids = await this.#recordIds(options.object, idProperty, lookup.sendable.map((s) => s.id), signal);
        for (const { change, match } of lookup.sendable) {
          if (!ids.ok) results.push(failed(change.key, ids.failure));
          else {
            const id = ids.found.get(match);
            if (id === undefined) results.push({ key: change.key, status: 'synced' });
            else toArchive.push({ change, id });
          }
        }
      }
    }
    if (toArchive.length === 0) return results;
    const uniqueIds = [...new Set(toArchive.map((a) => a.id))];
    const call = await this.#post(`${this.#objectsPath(options.object)}/batch/archive`, { inputs: uniqueIds.map((id) => ({ id })) }, signal);
    // HubSpot answers 204 whatever each record's state was (active, archived, unknown).
    for (const { change, id } of toArchive) {
      results.push(call.ok ? { key: change.key, status: 'synced', destinationId: id } : failed(change.key, call.failure));
    }
    return results;
  }

  /** HubSpot ids of records by idProperty value (batch read); values it does not know are absent. */
  async #recordIds(
    object: string,
    idProperty: string,
    values: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<{ readonly ok: true; readonly found: ReadonlyMap<string, string> } | { readonly ok: false; readonly failure: Failure }> {
    const found = new Map<string, string>();
    if (idProperty === RECORD_ID_PROPERTY) {
      for (const value of values) found.set(value, value);
      return { ok: true, found };
    }
    const unique = [...new Set(values)];
    if (unique.length === 0) return { ok: true, found };
    const call = await this.#post(
      `${this.#objectsPath(object)}/batch/read`,
      { idProperty, properties: [idProperty], inputs: unique.map((id) => ({ id })) },
      signal,
    );
    if (!call.ok) return call;
    for (const result of resultsOf(call.json)) {
      const match = matchKey(idProperty, result.properties?.[idProperty]);
      if (match !== undefined && typeof result.id === 'string') found.set(match, result.id);
    }
    return { ok: true, found };
  }

  // ---- requests ---------------------------------------------------------------------------

  async #post(path: string, body: unknown, signal: AbortSignal | undefined): Promise<Call> {
    return this.#send('POST', path, JSON.stringify(body), signal);
  }

  async #send(method: 'GET' | 'POST', path: string, body: string | undefined, signal: AbortSignal | undefined): Promise<Call> {
    if (this.#dailyStop !== undefined) throw new DestinationError(this.#dailyStop, { status: 429 });
    let response: HttpResponse;
    try {
      response = await this.#http.request({
        method,
        url: `${this.#config.base_url}${path}`,
        headers: {
          authorization: `Bearer ${this.#config.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body,
        timeoutMs: this.#config.timeout_seconds * 1000,
        signal,
        classify: classifyHubSpotResponse,
      });
    } catch (error) {
      if (!(error instanceof HttpRetryError)) throw error;
      return {
        ok: false,
        failure: { message: this.#scrub(error.message), retryable: true, code: error.status === 429 ? 'RATE_LIMIT' : undefined },
      };
    }
    if (response.status === 429 && policyOf(parseJson(response.text)) === 'DAILY') {
      this.#dailyStop = this.#dailyMessage('HubSpot answered 429 with policyName DAILY');
      throw new DestinationError(this.#dailyStop, { status: 429 });
    }
    this.#noteDailyQuota(response.headers);
    return this.#interpret(method, path, response);
  }

  #interpret(method: string, path: string, response: HttpResponse): Call {
    const { status } = response;
    const json = parseJson(response.text);
    if (status >= 200 && status < 300) return { ok: true, status, json };

    const info = (json ?? {}) as BatchError;
    const said = this.#said(info, response.text);
    const category = typeof info.category === 'string' ? info.category : undefined;
    const destination = `HubSpot destination "${this.#name}"`;
    if (status === 401) {
      throw new DestinationError(
        `${destination} refused the credentials (HTTP 401): check the token configured for it (token: in activate.yml; a private app access token)${said}`,
        { status },
      );
    }
    if (status === 403) {
      const scopes = requiredScopes(info);
      throw new DestinationError(
        `${destination}: the token is not allowed to ${method} ${path} (HTTP 403${category ? ` ${category}` : ''})` +
          `${scopes.length > 0 ? `; the app needs the scopes ${scopes.join(', ')}` : ''}; grant them to the app behind token${said}`,
        { status },
      );
    }
    if (status === 404 || /Unable to infer object type/i.test(said)) {
      throw new DestinationError(
        `${destination}: HubSpot does not know ${method} ${path} (HTTP ${status}); check the sync's object and the destination's base_url and api_version${said}`,
        { status },
      );
    }
    const codes = nestedCodes(info);
    if (status === 400 && (codes.includes('PROPERTY_DOESNT_EXIST') || codes.includes('READ_ONLY_VALUE') || /non-unique .*property/i.test(said))) {
      throw this.#configError(`HubSpot refused the mapping (HTTP 400${category ? ` ${category}` : ''})${said}; \`activate validate --online\` checks it without sending data`);
    }
    if (status === 423) {
      return {
        ok: false,
        failure: {
          message: `HubSpot answered 423 Locked (too many writes to the account at once) through every retry; these records are sent again by the next run${said}`,
          retryable: true,
          code: 'LOCKED',
        },
      };
    }
    return {
      ok: false,
      failure: {
        message: `HTTP ${status}${said}`,
        retryable: status >= 500 || status === 429,
        code: codes[0] ?? category,
      },
    };
  }

  /** The properties of one object type, read once per destination; undefined when the token may not read them. */
  async #definitionsOf(object: string, signal: AbortSignal | undefined): Promise<Definitions | undefined> {
    let pending = this.#definitions.get(object);
    if (!pending) {
      pending = this.#readDefinitions(object, signal);
      this.#definitions.set(object, pending);
      pending.catch(() => this.#definitions.delete(object));
    }
    return pending;
  }

  async #readDefinitions(object: string, signal: AbortSignal | undefined): Promise<Definitions | undefined> {
    let call: Call;
    try {
      call = await this.#send('GET', `${this.#propertiesPath(object)}?archived=false`, undefined, signal);
    } catch (error) {
      if (error instanceof DestinationError && error.status === 403) {
        this.#log.warn(
          `HubSpot destination "${this.#name}": the token cannot read the ${object} property definitions (HTTP 403); ` +
            'values are formatted by their shape and the mapping is not checked before sending',
        );
        return undefined;
      }
      throw error;
    }
    if (!call.ok) {
      throw new DestinationError(`HubSpot destination "${this.#name}": cannot read the ${object} property definitions: ${call.failure.message}`);
    }
    return parseProperties(call.json);
  }

  // ---- checks and helpers -------------------------------------------------------------------

  /** Mapped properties must exist and be writable: otherwise HubSpot refuses every batch. */
  #checkWrite(batch: readonly Change[], options: HubSpotOptions, definitions: Definitions, mode: Mode): void {
    const names = new Set<string>();
    for (const change of batch) for (const field of Object.keys(change.fields)) names.add(field);
    const problems: string[] = [];
    for (const name of names) {
      if (mode !== 'create' && name === RECORD_ID_PROPERTY && Object.hasOwn(batch[0]!.identifier, name)) continue;
      const definition = definitions.get(name);
      if (!definition) problems.push(`${options.object} has no property "${name}"${didYouMean(name, definitions.keys())}`);
      else if (definition.readOnly) problems.push(`property "${name}" of ${options.object} is read-only in HubSpot`);
    }
    if (problems.length > 0) {
      throw this.#configError(`${problems.join('; ')}. \`activate validate --online\` checks the mapping without sending data`);
    }
  }

  /** The one property records are matched on: the identifier's only key. */
  #idProperty(batch: readonly Change[], purpose: string, object: string, definitions: Definitions | undefined): string {
    const keys = Object.keys(batch[0]!.identifier);
    if (keys.length !== 1) {
      throw this.#configError(
        `${purpose} matches records on one HubSpot property: set identifier: { <property>: <column> } with exactly one entry ` +
          `(e.g. identifier: { email: email } for contacts)${keys.length > 0 ? `; it maps ${keys.join(', ')}` : ''}`,
      );
    }
    const idProperty = keys[0]!;
    if (idProperty === RECORD_ID_PROPERTY) return idProperty;
    const definition = definitions?.get(idProperty);
    if (definitions && !definition) {
      throw this.#configError(`${object} has no property "${idProperty}" to match records on${didYouMean(idProperty, definitions.keys())}`);
    }
    if (definition && !matchableBy(object, definition)) {
      throw this.#configError(
        `records cannot be matched on "${idProperty}": it is not a unique-value property of ${object}; ` +
          `use ${isContacts(object) ? 'email or ' : ''}a property created with "unique values"`,
      );
    }
    return idProperty;
  }

  #properties(change: Change, definitions: Definitions | undefined, options: HubSpotOptions, omit?: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [field, value] of Object.entries(change.fields)) {
      if (field === omit) continue;
      out[field] = formatValue(value, definitions?.get(field), options.date_format);
    }
    return out;
  }

  #noteDailyQuota(headers: Readonly<Record<string, string>>): void {
    const remaining = headers['x-hubspot-ratelimit-daily-remaining'];
    if (remaining === undefined || !/^\d+$/.test(remaining.trim())) return;
    if (Number(remaining) <= this.#config.daily_reserve && this.#dailyStop === undefined) {
      this.#dailyStop = this.#dailyMessage(
        `X-HubSpot-RateLimit-Daily-Remaining is ${remaining}${this.#config.daily_reserve > 0 ? ` (daily_reserve: ${this.#config.daily_reserve})` : ''}`,
      );
    }
  }

  #dailyMessage(why: string): string {
    return (
      `HubSpot destination "${this.#name}": the account's daily API limit is used up (${why}); ` +
      "stopping the sync. Records HubSpot accepted are committed; the rest are sent by the next run after the limit resets (midnight in the account's time zone)"
    );
  }

  #configError(message: string): DestinationError {
    return new DestinationError(`HubSpot destination "${this.#name}": ${message}`);
  }

  #objectsPath(object: string): string {
    const version = this.#config.api_version;
    return version === 'v3' ? `/crm/v3/objects/${encodeURIComponent(object)}` : `/crm/objects/${version}/${encodeURIComponent(object)}`;
  }

  #propertiesPath(object: string): string {
    const version = this.#config.api_version;
    return version === 'v3' ? `/crm/v3/properties/${encodeURIComponent(object)}` : `/crm/properties/${version}/${encodeURIComponent(object)}`;
  }

  #said(info: BatchError, text: string): string {
    const message = typeof info.message === 'string' ? info.message : text;
    const excerpt = this.#scrub(message.slice(0, BODY_EXCERPT_CHARS)).trim();
    return excerpt ? `: ${excerpt}` : '';
  }

  /** HubSpot does not echo tokens, but a proxy in between might: never let one into a message. */
  #scrub(text: string): string {
    return this.#config.token.length >= 4 ? text.split(this.#config.token).join(MASK) : text;
  }
}

// ---- answers ------------------------------------------------------------------------------

/** Records whose identifier can be sent (non-empty, first of its value in the batch) and the rest, failed. */
function withIdentifiers(batch: readonly Change[], idProperty: string, options: { duplicates: 'fail' | 'allow' } = { duplicates: 'fail' }) {
  const results: RecordResult[] = [];
  const sendable: { change: Change; id: string; match: string }[] = [];
  const seen = new Map<string, string>();
  for (const change of batch) {
    const id = identifierText(change.identifier[idProperty]);
    if (id === undefined) {
      results.push(failed(change.key, { message: `${idProperty} is empty, so HubSpot cannot match the record`, retryable: false, code: 'EMPTY_IDENTIFIER' }));
      continue;
    }
    const match = matchKey(idProperty, id)!;
    const other = seen.get(match);
    if (other !== undefined && options.duplicates === 'fail') {
      results.push(
        failed(change.key, {
          message: `record ${other} of the same batch has the same ${idProperty} (${id}); HubSpot refuses a batch naming one record twice`,
          retryable: false,
          code: 'DUPLICATE_IDENTIFIER',
        }),
      );
      continue;
    }
    seen.set(match, change.key);
    sendable.push({ change, id, match });
  }
  return { results, sendable };
}

/**
 * One result per sent input from a batch answer (200, 201 or 207): results and errors are
 * matched to inputs by objectWriteTraceId, else by record id / idProperty value
 * (`context.ids` on errors).
 */
function outcomes(sent: readonly Sent[], json: unknown, matchOf: (result: BatchResult) => string | undefined): RecordResult[] {
  const results = resultsOf(json);
  const errors = errorsOf(json);
  const okByTrace = new Map<string, BatchResult>();
  const okByMatch = new Map<string, BatchResult>();
  for (const result of results) {
    if (typeof result.objectWriteTraceId === 'string') okByTrace.set(result.objectWriteTraceId, result);
    const match = matchOf(result);
    if (match !== undefined) okByMatch.set(match, result);
  }
  const failByTrace = new Map<string, Failure>();
  const failByMatch = new Map<string, Failure>();
  const unattributed: Failure[] = [];
  for (const error of errors) {
    const failure = failureOf(error);
    const traces = stringsOf(error.context?.objectWriteTraceId);
    const ids = stringsOf(error.context?.ids);
    for (const trace of traces) failByTrace.set(trace, failure);
    for (const id of ids) failByMatch.set(id.toLowerCase(), failure);
    if (traces.length === 0 && ids.length === 0) unattributed.push(failure);
  }
  // Every input succeeded, but the answer does not say which result is whose.
  const allAccepted = errors.length === 0 && results.length === sent.length;
  return sent.map(({ change, traceId, match }): RecordResult => {
    const ok = okByTrace.get(traceId) ?? (match === undefined ? undefined : okByMatch.get(match));
    if (ok) return { key: change.key, status: 'synced', ...(typeof ok.id === 'string' ? { destinationId: ok.id } : {}) };
    const failure = failByTrace.get(traceId) ?? (match === undefined ? undefined : failByMatch.get(match.toLowerCase()));
    if (failure) return failed(change.key, failure);
    if (allAccepted) return { key: change.key, status: 'synced' };
    if (unattributed.length > 0) {
      return failed(change.key, {
        message: unattributed.map((f) => f.message).join('; '),
        retryable: unattributed.every((f) => f.retryable),
        code: unattributed[0]!.code,
      });
    }
    return failed(change.key, { message: 'HubSpot returned no result for this record', retryable: true });
  });
}

function failureOf(error: BatchError): Failure {
  const nested = Array.isArray(error.errors) ? error.errors : [];
  const category = typeof error.category === 'string' ? error.category : undefined;
  const code = nested.map((n) => n.code).find((c): c is string => typeof c === 'string') ?? category;
  const message =
    typeof error.message === 'string' && error.message
      ? error.message
      : nested.map((n) => n.message).filter((m): m is string => typeof m === 'string').join('; ') || 'HubSpot rejected the record';
  const status = typeof error.status === 'string' ? error.status : '';
  const retryable = /^5\d\d$/.test(status) || category === 'RATE_LIMITS' || category === 'RATE_LIMIT' || category === 'LOCKED';
  return { message: category && !message.includes(category) ? `${category}: ${message}` : message, retryable, code };
}

function failed(key: string, failure: Failure): RecordResult {
  return { key, status: 'failed', message: failure.message, retryable: failure.retryable, ...(failure.code ? { code: failure.code } : {}) };
}

function failAll(sent: readonly Sent[], failure: Failure): RecordResult[] {
  return sent.map(({ change }) => failed(change.key, failure));
}

function resultsOf(json: unknown): BatchResult[] {
  const results = (json as { results?: unknown } | null | undefined)?.results;
  return Array.isArray(results) ? (results.filter((r) => typeof r === 'object' && r !== null) as BatchResult[]) : [];
}

function errorsOf(json: unknown): BatchError[] {
  const errors = (json as { errors?: unknown } | null | undefined)?.errors;
  return Array.isArray(errors) ? (errors.filter((e) => typeof e === 'object' && e !== null) as BatchError[]) : [];
}

function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function nestedCodes(info: BatchError): string[] {
  return (Array.isArray(info.errors) ? info.errors : []).map((e) => e.code).filter((c): c is string => typeof c === 'string');
}

/** Scopes named by a 403 MISSING_SCOPES answer (context.requiredGranularScopes / requiredScopes). */
function requiredScopes(info: BatchError): string[] {
  const out = new Set<string>();
  const contexts = [info.context, ...(Array.isArray(info.errors) ? info.errors.map((e) => (e as { context?: unknown }).context) : [])];
  for (const context of contexts) {
    if (typeof context !== 'object' || context === null) continue;
    for (const [key, value] of Object.entries(context)) {
      if (/scopes/i.test(key)) for (const scope of stringsOf(value)) out.add(scope);
    }
  }
  return [...out];
}

/**
 * The daily quota does not come back by waiting: that 429 is final. 423 Locked asks for a pause of
 * at least 2 s before the same request is tried again.
 */
function classifyHubSpotResponse(response: HttpResponse): 'final' | { retryAfterMs: number } | undefined {
  if (response.status === 429 && policyOf(parseJson(response.text)) === 'DAILY') return 'final';
  if (response.status === 423) return { retryAfterMs: LOCKED_PAUSE_MS };
  return undefined;
}

const LOCKED_PAUSE_MS = 2_000;

function policyOf(info: unknown): string | undefined {
  const policy = (info as { policyName?: unknown } | null | undefined)?.policyName;
  return typeof policy === 'string' ? policy.toUpperCase() : undefined;
}

/** Contacts match by email case-insensitively (HubSpot stores emails in lower case). */
function matchKey(idProperty: string, value: unknown): string | undefined {
  const text = identifierText(value);
  if (text === undefined) return undefined;
  return idProperty === 'email' ? text.toLowerCase() : text;
}

function identifierText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  const text = (typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value)).trim();
  return text === '' ? undefined : text;
}

function matchableBy(object: string, definition: PropertyDefinition): boolean {
  return definition.hasUniqueValue || definition.name === RECORD_ID_PROPERTY || (isContacts(object) && definition.name === 'email');
}


/** Upserts, updates, creates and archives CRM records through HubSpot's batch object APIs. */
export const hubspot: DestinationDefinition<HubSpotConfig, HubSpotOptions> = {
  type: 'hubspot',
  config: hubspotConfigSchema,
  options: hubspotOptionsSchema,
  modes: ['upsert', 'update', 'create', 'mirror'],
  // HubSpot applies the properties an input carries and leaves the others alone.
  partialUpdates: true,
  // "delete" and "archive" both archive (HubSpot's recycle bin, restorable for 90 days).
  onDelete: ['archive', 'delete', 'clear', 'ignore'],
  secretKeys: ['token'],
  limits: (config) => ({
    batchSize: config.batch_size,
    concurrency: config.concurrency,
    requests: HUBSPOT_TIER_REQUESTS_PER_10S[config.tier],
    perSeconds: 10,
  }),
  url: (config, options) => {
    if (config.portal_id === undefined) return undefined;
    const typeId = OBJECT_TYPE_IDS[options.object] ?? (/^\d+-\d+$/.test(options.object) ? options.object : undefined);
    return typeId === undefined ? undefined : `${config.app_url}/contacts/${config.portal_id}/objects/${typeId}/views/all/list`;
  },
  create: (config, context) => new HubSpotDestination(config, context),
};

export default hubspot;
