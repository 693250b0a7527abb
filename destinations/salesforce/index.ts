import { DestinationError } from '../../src/errors.js';
import { HttpRetryError } from '../../src/http/http-client.js';
import type { Logger } from '../../src/logger.js';
import type {
  Change,
  Destination,
  DestinationContext,
  DestinationDefinition,
  MappedField,
  RecordResult,
  WriteContext,
} from '../types.js';
import { SalesforceApi } from './api.js';
import { runBulk, type BulkJobSpec, type BulkRow } from './bulk.js';
import { PartialDelivery, sendCollections, type CollectionEntry, type CollectionItem } from './collections.js';
import {
  batchSizeOf,
  bulkThresholdOf,
  salesforceConfigSchema,
  salesforceOptionsSchema,
  type SalesforceConfig,
  type SalesforceOptions,
} from './config.js';
import { checkMappingAgainst, describeObject, type ObjectDescription } from './describe.js';
import { lookupIds } from './lookup.js';
import { failed, isLockFailure, refused, synced } from './results.js';
import { csvValue, jsonValue, looseMatchText, matchText } from './values.js';

export type { SalesforceConfig, SalesforceOptions } from './config.js';

const SALESFORCE_ID = /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/;
/** A delete of a record already deleted is done. */
const GONE_CODES: ReadonlySet<string> = new Set(['ENTITY_IS_DELETED']);
const SHOWN_VALUE_CHARS = 80;

class SalesforceDestination implements Destination<SalesforceOptions> {
  readonly #config: SalesforceConfig;
  readonly #api: SalesforceApi;
  readonly #log: Logger;
  /** Object descriptions, asked once per object (for SOQL literal types). */
  readonly #descriptions = new Map<string, Promise<ObjectDescription | undefined>>();
  /** Why the sync must stop, once a write had to stop after part of it was delivered. */
  #stop: DestinationError | undefined;

  constructor(config: SalesforceConfig, context: DestinationContext) {
    this.#config = config;
    this.#log = context.log;
    this.#api = new SalesforceApi(config, context.http, context.log, context.name);
  }

  /**
   * Sends one batch: Bulk API 2.0 when it holds at least `bulk_threshold` records, else sObject
   * Collections (200 per request). Records refused with UNABLE_TO_LOCK_ROW are sent once more
   * (`lock_retries`) after the rest; still locked, they fail as retryable.
   */
  async write(batch: readonly Change[], options: SalesforceOptions, context: WriteContext): Promise<readonly RecordResult[]> {
    if (this.#stop) throw this.#stop;
    if (batch.length === 0) return [];
    const results = new Map<string, RecordResult>();
    try {
      for (const result of await this.#send(batch, options.object, context)) results.set(result.key, result);
      for (let round = 0; round < this.#config.lock_retries; round++) {
        const locked = batch.filter((change) => isLockFailure(results.get(change.key)));
        if (locked.length === 0) break;
        this.#log.debug(`${this.#api.label}: sending ${locked.length} records refused with UNABLE_TO_LOCK_ROW again`);
        for (const result of await this.#send(locked, options.object, context)) results.set(result.key, result);
      }
    } catch (error) {
      if (!(error instanceof DestinationError)) throw error;
      const stop = error instanceof PartialDelivery ? error.stop : error;
      if (error instanceof PartialDelivery) for (const result of error.results) results.set(result.key, result);
      if (results.size === 0) throw stop;
      // Part of this write was delivered (e.g. the daily limit ran out half way): its results
      // count, the rest is left for the next run, and the next write stops the sync.
      this.#stop = stop;
      return batch.map((change) => results.get(change.key) ?? failed(change, `not sent: ${stop.message}`, true));
    }
    return batch.map(
      (change) => results.get(change.key) ?? failed(change, `${this.#api.label}: no result for this record`, true),
    );
  }

  async checkMapping(fields: readonly MappedField[], options: SalesforceOptions): Promise<readonly string[]> {
    return checkMappingAgainst(this.#api, options.object, fields);
  }

  async #send(changes: readonly Change[], object: string, context: WriteContext): Promise<RecordResult[]> {
    const operation = changes[0]!.operation;
    if (operation === 'archive') {
      return changes.map((c) => failed(c, 'Salesforce destinations cannot archive records; use on_delete: delete, clear or ignore', false));
    }
    if (operation === 'delete') return this.#delete(changes, object, context.signal);
    switch (context.mode) {
      case 'update':
        return this.#update(changes, object, context.signal);
      case 'create':
        return this.#create(changes, object, context.signal);
      default:
        return this.#upsert(changes, object, context.signal);
    }
  }

  // upsert, mirror: match on the External ID field named by the identifier.
  async #upsert(changes: readonly Change[], object: string, signal: AbortSignal | undefined): Promise<RecordResult[]> {
    const field = this.#identifierField(changes, 'upsert');
    if (field.toLowerCase() === 'id') {
      throw new DestinationError(
        `${this.#api.label}: upsert matches records on an External ID field, not Id; ` +
          'to update records by their Salesforce Id use mode: update with identifier: { Id: <column> }',
      );
    }
    this.#refuseIdField(changes, 'upsert');
    const early = new Map<Change, RecordResult>();
    const items = this.#unique(changes, object, field, early);
    const sent = await this.#transport(items, object, signal, {
      bulk: () => ({
        operation: 'upsert',
        externalIdFieldName: field,
        ...bulkColumns(items, [field]),
        matchColumns: [field],
      }),
      collection: (chunk) => ({
        method: 'PATCH',
        path: `/composite/sobjects/${object}/${field}`,
        json: { allOrNone: false, records: chunk.map((item) => record(object, item.change.fields)) },
        signal,
      }),
      outcome: saved,
    });
    return changes.map((change) => early.get(change) ?? sent.get(change)!);
  }

  // create: insert records never sent; nothing to match on.
  async #create(changes: readonly Change[], object: string, signal: AbortSignal | undefined): Promise<RecordResult[]> {
    this.#refuseIdField(changes, 'create');
    const items = changes.map((change) => ({ change, subject: subjectOf(object, change) }));
    const sent = await this.#transport(items, object, signal, {
      // Rows carry no id of their own: results are matched on every column echoed back.
      bulk: () => {
        const columns = bulkColumns(items, []);
        return { operation: 'insert', ...columns, matchColumns: columns.columns };
      },
      collection: (chunk) => ({
        method: 'POST',
        path: '/composite/sobjects',
        json: { allOrNone: false, records: chunk.map((item) => record(object, item.change.fields)) },
        signal,
      }),
      outcome: saved,
    });
    return changes.map((change) => sent.get(change)!);
  }

  // update: find each record's Id by the identifier (or take the Id given), then update by Id.
  async #update(changes: readonly Change[], object: string, signal: AbortSignal | undefined): Promise<RecordResult[]> {
    const field = this.#identifierField(changes, 'update');
    const early = new Map<Change, RecordResult>();
    const ids = await this.#resolveIds(changes, object, field, early, signal);
    const items: (CollectionItem & { id: string; fields: Record<string, unknown> })[] = [];
    const byId = new Map<string, Change>();
    for (const change of changes) {
      if (early.has(change)) continue;
      const matches = ids.get(change) ?? [];
      const value = change.identifier[field];
      const subject = `${object} ${field} = ${shown(value)}`;
      if (matches.length === 0) {
        early.set(change, { key: change.key, status: 'skipped', reason: `no ${subject} in Salesforce (update mode never creates records)` });
        continue;
      }
      if (matches.length > 1) {
        early.set(
          change,
          failed(change, `${matches.length} ${object} records have ${field} = ${shown(value)}; update mode changes only a record matched alone`, false, 'DUPLICATE_EXTERNAL_ID'),
        );
        continue;
      }
      const id = matches[0]!;
      const twin = byId.get(id);
      if (twin) {
        early.set(change, failed(change, `record ${twin.key} of this batch also matches ${subject}; identifier values must be unique in the model`, false, 'DUPLICATE_EXTERNAL_ID'));
        continue;
      }
      byId.set(id, change);
      const fields = Object.fromEntries(Object.entries(change.fields).filter(([name]) => name !== field && name.toLowerCase() !== 'id'));
      if (Object.keys(fields).length === 0) {
        early.set(change, synced(change, id));
        continue;
      }
      items.push({ change, subject, id, fields });
    }
    const sent = await this.#transport(items, object, signal, {
      bulk: () => ({
        operation: 'update',
        ...bulkColumns(items, ['Id'], (item) => ({ Id: item.id, ...item.fields })),
        matchColumns: ['Id'],
      }),
      collection: (chunk) => ({
        method: 'PATCH',
        path: '/composite/sobjects',
        json: { allOrNone: false, records: chunk.map((item) => ({ ...record(object, item.fields), id: item.id })) },
        signal,
      }),
      outcome: (item, entry) => (entry.success ? synced(item.change, entry.id ?? item.id) : refused(item.change, entry.errors, item.subject)),
    });
    const idOf = new Map(items.map((item) => [item.change, item.id]));
    return changes.map((change) => early.get(change) ?? withId(sent.get(change)!, idOf.get(change)));
  }

  // mirror removals: delete by the Id stored when the record was upserted (or found by its identifier).
  async #delete(changes: readonly Change[], object: string, signal: AbortSignal | undefined): Promise<RecordResult[]> {
    const early = new Map<Change, RecordResult>();
    const unknown = changes.filter((change) => !change.destinationId);
    const field = unknown.length > 0 ? this.#optionalIdentifierField(unknown) : undefined;
    const found = field && unknown.length > 0 ? await this.#resolveIds(unknown, object, field, early, signal) : new Map<Change, string[]>();
    const groups = new Map<string, Change[]>();
    for (const change of changes) {
      if (early.has(change)) continue;
      const ids = change.destinationId ? [change.destinationId] : (found.get(change) ?? []);
      if (ids.length === 0) {
        // Never given an Id and not found by its identifier: there is nothing left to delete.
        early.set(change, synced(change, undefined));
        continue;
      }
      if (ids.length > 1) {
        early.set(change, failed(change, `${ids.length} ${object} records match ${subjectOf(object, change)}; not deleting any of them`, false, 'DUPLICATE_EXTERNAL_ID'));
        continue;
      }
      const id = ids[0]!;
      if (!SALESFORCE_ID.test(id)) {
        early.set(change, failed(change, `"${shown(id)}" is not a Salesforce record Id`, false, 'MALFORMED_ID'));
        continue;
      }
      const group = groups.get(id);
      if (group) group.push(change);
      else groups.set(id, [change]);
    }
    // One delete per Id; records sharing an Id share its result.
    const items = [...groups.entries()].map(([id, group]) => ({ change: group[0]!, subject: `${object} Id ${id}`, id }));
    const sent = await this.#transport(items, object, signal, {
      bulk: () => ({
        operation: 'delete',
        columns: ['Id'],
        matchColumns: ['Id'],
        rows: items.map((item) => ({ change: item.change, subject: item.subject, cells: { Id: item.id } })),
        doneCodes: GONE_CODES,
      }),
      collection: (chunk) => ({
        method: 'DELETE',
        path: `/composite/sobjects?ids=${chunk.map((item) => encodeURIComponent(item.id)).join(',')}&allOrNone=false`,
        signal,
      }),
      outcome: (item, entry) =>
        entry.success || entry.errors.some((e) => GONE_CODES.has(e.statusCode ?? ''))
          ? synced(item.change, undefined)
          : refused(item.change, entry.errors, item.subject),
    });
    const resultOf = new Map<Change, RecordResult>();
    for (const [, group] of groups) {
      const result = sent.get(group[0]!)!;
      for (const change of group) resultOf.set(change, { ...result, key: change.key });
    }
    return changes.map((change) => early.get(change) ?? resultOf.get(change)!);
  }

  /** Bulk API 2.0 from `bulk_threshold` records, else sObject Collections. */
  async #transport<I extends CollectionItem>(
    items: readonly I[],
    object: string,
    signal: AbortSignal | undefined,
    how: {
      bulk: () => Omit<BulkJobSpec, 'object'>;
      collection: (chunk: readonly I[]) => Parameters<SalesforceApi['send']>[0];
      outcome: (item: I, entry: CollectionEntry) => RecordResult;
    },
  ): Promise<Map<Change, RecordResult>> {
    const out = new Map<Change, RecordResult>();
    if (items.length === 0) return out;
    const threshold = bulkThresholdOf(this.#config);
    let results: RecordResult[];
    if (threshold !== false && items.length >= threshold) {
      results = await runBulk(
        { object, ...how.bulk() },
        {
          api: this.#api,
          log: this.#log,
          pollMaxMs: this.#config.bulk_poll_seconds * 1000,
          timeoutMs: this.#config.bulk_timeout_minutes * 60_000,
          signal,
        },
      );
    } else {
      results = await sendCollections(items, {
        api: this.#api,
        request: how.collection,
        outcome: how.outcome,
        concurrency: this.#config.concurrency,
      });
    }
    items.forEach((item, index) => out.set(item.change, results[index]!));
    return out;
  }

  /** Record Ids per change, by the identifier value (or the value itself when the identifier is Id). */
  async #resolveIds(
    changes: readonly Change[],
    object: string,
    field: string,
    early: Map<Change, RecordResult>,
    signal: AbortSignal | undefined,
  ): Promise<Map<Change, string[]>> {
    const out = new Map<Change, string[]>();
    const wanted: Change[] = [];
    for (const change of changes) {
      const value = change.identifier[field];
      if (value === null || value === undefined || value === '') {
        early.set(change, failed(change, `${field} is empty: there is nothing to find the ${object} record by (record ${change.key})`, false, 'MISSING_ARGUMENT'));
      } else if (field.toLowerCase() === 'id') {
        out.set(change, [String(value)]);
      } else wanted.push(change);
    }
    if (wanted.length === 0) return out;
    let found: Map<string, string[]>;
    try {
      const fieldType = (await this.#describe(object))?.fields.find((f) => f.name.toLowerCase() === field.toLowerCase())?.type;
      found = await lookupIds(this.#api, object, field, wanted.map((c) => c.identifier[field]), signal, fieldType);
    } catch (error) {
      if (!(error instanceof HttpRetryError)) throw error;
      for (const change of wanted) early.set(change, failed(change, `${this.#api.label}: cannot look up ${object} by ${field}: ${error.message}`, true));
      return out;
    }
    for (const change of wanted) out.set(change, found.get(looseMatchText(matchText(change.identifier[field]))) ?? []);
    return out;
  }

  /** The object's description, or undefined when it cannot be had (lookups then go by the values' own types). */
  #describe(object: string): Promise<ObjectDescription | undefined> {
    let description = this.#descriptions.get(object);
    if (!description) {
      // A refused session or a used-up limit shows again on the query that follows, and stops the sync there.
      description = describeObject(this.#api, object).catch(() => undefined);
      this.#descriptions.set(object, description);
    }
    return description;
  }

  /** Changes with an empty or repeated identifier value are answered at once; the rest are sent. */
  #unique(changes: readonly Change[], object: string, field: string, early: Map<Change, RecordResult>): CollectionItem[] {
    const seen = new Map<string, Change>();
    const items: CollectionItem[] = [];
    for (const change of changes) {
      const value = change.identifier[field];
      const subject = `${object} ${field} = ${shown(value)}`;
      if (value === null || value === undefined || value === '') {
        early.set(change, failed(change, `${field} is empty: an upsert needs a value to match on (record ${change.key})`, false, 'MISSING_ARGUMENT'));
        continue;
      }
      const text = looseMatchText(matchText(value));
      const twin = seen.get(text);
      if (twin) {
        early.set(change, failed(change, `record ${twin.key} of this batch has the same ${field} (${shown(value)}); identifier values must be unique in the model`, false, 'DUPLICATE_EXTERNAL_ID'));
        continue;
      }
      seen.set(text, change);
      items.push({ change, subject });
    }
    return items;
  }

  #identifierField(changes: readonly Change[], mode: string): string {
    const names = Object.keys(changes[0]!.identifier);
    if (names.length !== 1) {
      throw new DestinationError(
        `${this.#api.label}: mode ${mode} needs exactly one identifier field to match records on ` +
          `(${names.length === 0 ? 'none is mapped' : `got ${names.join(', ')}`}), e.g. identifier: { External_Id__c: customer_id }`,
      );
    }
    return names[0]!;
  }

  #optionalIdentifierField(changes: readonly Change[]): string | undefined {
    const names = Object.keys(changes[0]!.identifier);
    return names.length === 1 ? names[0] : undefined;
  }

  #refuseIdField(changes: readonly Change[], mode: string): void {
    const idField = Object.keys(changes[0]!.fields).find((name) => name.toLowerCase() === 'id');
    if (idField !== undefined) {
      throw new DestinationError(
        `${this.#api.label}: field ${idField} cannot be sent with mode ${mode}; ` +
          'Salesforce sets record Ids itself (to update records by Id, use mode: update with identifier: { Id: <column> })',
      );
    }
  }
}

/** An sObject Collections record: attributes.type and the values in Salesforce's formats. */
function record(object: string, fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { attributes: { type: object } };
  for (const [name, value] of Object.entries(fields)) out[name] = jsonValue(value);
  return out;
}

/** A SaveResult or UpsertResult as a record result: the Id it carries is the destination id. */
function saved(item: CollectionItem, entry: CollectionEntry): RecordResult {
  return entry.success ? synced(item.change, entry.id ?? undefined) : refused(item.change, entry.errors, item.subject);
}

/** CSV columns (`first` leading, then every field any record carries) and each record's cells. */
function bulkColumns<I extends CollectionItem>(
  items: readonly I[],
  first: readonly string[],
  fieldsOf: (item: I) => Readonly<Record<string, unknown>> = (item) => item.change.fields,
): { columns: string[]; rows: BulkRow[] } {
  const columns = [...first];
  const seen = new Set(first.map((c) => c.toLowerCase()));
  const values = items.map(fieldsOf);
  for (const fields of values) {
    for (const name of Object.keys(fields)) {
      if (!seen.has(name.toLowerCase())) {
        seen.add(name.toLowerCase());
        columns.push(name);
      }
    }
  }
  const rows = items.map((item, index) => {
    const fields = values[index]!;
    const cells: Record<string, string> = {};
    // A field the record does not carry is an empty cell: Salesforce leaves it unchanged.
    for (const column of columns) cells[column] = column in fields ? csvValue(fields[column]) : '';
    return { change: item.change, subject: item.subject, cells };
  });
  return { columns, rows };
}

function withId(result: RecordResult, id: string | undefined): RecordResult {
  return result.status === 'synced' && !result.destinationId && id ? { ...result, destinationId: id } : result;
}

function subjectOf(object: string, change: Change): string {
  const [field] = Object.keys(change.identifier);
  return field === undefined ? `${object} record ${change.key}` : `${object} ${field} = ${shown(change.identifier[field])}`;
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return text.length > SHOWN_VALUE_CHARS ? `${text.slice(0, SHOWN_VALUE_CHARS)}…` : text;
}

/**
 * Salesforce (`type: salesforce`): upsert on an External ID field, update, create and mirror,
 * through sObject Collections or Bulk API 2.0. See docs/destinations/salesforce.md.
 */
export const salesforce: DestinationDefinition<SalesforceConfig, SalesforceOptions> = {
  type: 'salesforce',
  config: salesforceConfigSchema,
  options: salesforceOptionsSchema,
  modes: ['upsert', 'update', 'create', 'mirror'],
  // A record carrying some fields updates just those; the others keep their values.
  partialUpdates: true,
  onDelete: ['delete', 'clear', 'ignore'],
  secretKeys: ['access_token', 'refresh_token', 'client_secret'],
  limits: (config) => ({
    batchSize: batchSizeOf(config),
    concurrency: config.concurrency,
    requests: 20,
    perSeconds: 1,
  }),
  url: (config, options) =>
    config.instance_url ? `${config.instance_url}/lightning/o/${encodeURIComponent(options.object)}/list` : undefined,
  create: (config, context) => new SalesforceDestination(config, context),
};

export default salesforce;
