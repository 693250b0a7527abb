import { z } from 'zod';
import { DestinationError } from '../../src/errors.js';
import { HttpRetryError } from '../../src/http/http-client.js';
import type { HttpResponse } from '../../src/http/types.js';
import type { Change, RecordResult } from '../types.js';
import { describeErrors, isConcurrencyLimit, parseJson, restErrors, type ApiRequest, type SalesforceApi } from './api.js';
import { COLLECTION_LIMIT } from './config.js';
import { failed, refused, type RecordError } from './results.js';

/** A record to send and how messages name it. */
export interface CollectionItem {
  readonly change: Change;
  /** "Contact External_Id__c = 42", "record 42": what a rejection message names. */
  readonly subject: string;
}

/** One SaveResult / UpsertResult / DeleteResult. */
export interface CollectionEntry {
  readonly id?: string | null;
  readonly success: boolean;
  readonly created?: boolean;
  readonly errors: readonly RecordError[];
}

const entriesSchema = z.array(
  z.looseObject({
    id: z.string().nullish(),
    success: z.boolean(),
    created: z.boolean().optional(),
    errors: z
      .array(
        z.looseObject({
          statusCode: z.string().optional(),
          message: z.string().optional(),
          fields: z.array(z.string()).optional(),
        }),
      )
      .default([]),
  }),
);

/**
 * Whole-request errors that say the mapping or the object is wrong: every record would fail
 * the same way, so the sync stops instead of rejecting records one by one.
 */
const CONFIGURATION_CODES = new Set([
  'INVALID_FIELD',
  'INVALID_TYPE',
  'NOT_FOUND',
  'INVALID_SESSION_ID',
  'API_DISABLED_FOR_ORG',
  'API_CURRENTLY_DISABLED',
  'FUNCTIONALITY_NOT_ENABLED',
]);

export interface CollectionOptions<I extends CollectionItem> {
  readonly api: SalesforceApi;
  /** The request for up to 200 items. */
  readonly request: (items: readonly I[]) => ApiRequest;
  /** The result of an item from its entry in a 2xx response. */
  readonly outcome: (item: I, entry: CollectionEntry) => RecordResult;
  readonly concurrency: number;
}

/**
 * Sends items through sObject Collections, 200 per request, up to `concurrency` requests at
 * once. Results come back in request order (documented), one per record.
 *
 * A request refused as a whole with a 4xx (a value the JSON parser cannot read, a body too large)
 * is split in halves and sent again until the records that cause it stand alone, so they alone
 * are rejected. The mapping being wrong (unknown field or object), refused credentials and the
 * daily API limit stop the sync (DestinationError). Network errors and 5xx that outlast the
 * HTTP layer's retries, and the concurrent-request limit, fail the request's records as
 * retryable: the next run sends them again. When the sync must stop after some requests were
 * answered, a PartialDelivery carries their results (requests in flight finish first).
 */
export async function sendCollections<I extends CollectionItem>(
  items: readonly I[],
  options: CollectionOptions<I>,
): Promise<RecordResult[]> {
  const chunks: I[][] = [];
  for (let i = 0; i < items.length; i += COLLECTION_LIMIT) chunks.push(items.slice(i, i + COLLECTION_LIMIT));
  const done: (RecordResult[] | undefined)[] = new Array<RecordResult[] | undefined>(chunks.length);
  try {
    await mapLimit(chunks, options.concurrency, async (chunk, index) => {
      done[index] = await sendChunk(chunk, options);
    });
  } catch (error) {
    // Requests answered before the sync had to stop keep their results: Salesforce applied them.
    const answered = done.flatMap((results) => results ?? []);
    if (error instanceof DestinationError && answered.length > 0) throw new PartialDelivery(error, answered);
    throw error;
  }
  return done.flatMap((results) => results ?? []);
}

/**
 * The sync must stop (`stop`), but some requests of the write were answered first: their
 * results stand, and the records not sent are for the next run.
 */
export class PartialDelivery extends DestinationError {
  constructor(
    readonly stop: DestinationError,
    readonly results: readonly RecordResult[],
  ) {
    super(stop.message, { cause: stop, status: stop.status });
  }
}

async function sendChunk<I extends CollectionItem>(chunk: readonly I[], options: CollectionOptions<I>): Promise<RecordResult[]> {
  const { api } = options;
  const request = options.request(chunk);
  let response: HttpResponse;
  try {
    response = await api.send(request);
  } catch (error) {
    if (error instanceof HttpRetryError) return chunk.map((item) => failed(item.change, `${api.label}: ${error.message}`, true));
    throw error;
  }
  if (response.status >= 200 && response.status < 300) {
    const entries = entriesSchema.safeParse(parseJson(response.text));
    if (!entries.success || entries.data.length !== chunk.length) {
      const message = `${api.label}: unexpected answer to ${request.method} ${shortPath(request)} (HTTP ${response.status}, expected one result per record)`;
      return chunk.map((item) => failed(item.change, message, true));
    }
    return chunk.map((item, index) => options.outcome(item, entries.data[index]!));
  }
  if (isConcurrencyLimit(response)) {
    const message = `${api.label}: ${describeErrors(response)} (too many requests in flight for the org; lower concurrency)`;
    return chunk.map((item) => failed(item.change, message, true, 'REQUEST_LIMIT_EXCEEDED'));
  }
  const errors = restErrors(response.text);
  if (
    response.status === 401 ||
    response.status === 403 ||
    response.status === 404 ||
    errors.some((e) => CONFIGURATION_CODES.has(e.errorCode))
  ) {
    throw new DestinationError(
      `${api.label}: Salesforce refused ${request.method} ${shortPath(request)}: ${describeErrors(response)}`,
      { status: response.status },
    );
  }
  if (response.status >= 400 && response.status < 500) {
    if (chunk.length > 1) {
      const middle = Math.ceil(chunk.length / 2);
      return [...(await sendChunk(chunk.slice(0, middle), options)), ...(await sendChunk(chunk.slice(middle), options))];
    }
    const item = chunk[0]!;
    const recordErrors: RecordError[] =
      errors.length > 0
        ? errors.map((e) => ({ statusCode: e.errorCode, message: e.message, fields: e.fields }))
        : [{ statusCode: `HTTP_${response.status}`, message: describeErrors(response) }];
    return [refused(item.change, recordErrors, item.subject)];
  }
  const message = `${api.label}: unexpected answer to ${request.method} ${shortPath(request)}: ${describeErrors(response)}`;
  return chunk.map((item) => failed(item.change, message, false));
}

/** The request path without its query (ids, SOQL), for messages. */
function shortPath(request: ApiRequest): string {
  return request.path.split('?')[0]!;
}

/** Runs `work` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return results;
}
