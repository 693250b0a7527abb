import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { DestinationError, errorMessage } from '../../src/errors.js';
import { HttpRetryError } from '../../src/http/http-client.js';
import type { HttpResponse } from '../../src/http/types.js';
import type { Logger } from '../../src/logger.js';
import type { Change, RecordResult } from '../types.js';
import { describeErrors, isConcurrencyLimit, parseJson, type SalesforceApi } from './api.js';
import { csvLine, parseCsvObjects } from './csv.js';
import { bulkError, failed, refused, synced } from './results.js';
import { looseMatchText } from './values.js';

export type BulkOperation = 'insert' | 'update' | 'upsert' | 'delete';

/** Raw CSV bytes per upload: 150 MB of base64 allowed, and base64 adds about a third. */
export const MAX_UPLOAD_BYTES = 100_000_000;
const FIRST_POLL_MS = 1000;

export interface BulkRow {
  readonly change: Change;
  /** Column -> CSV text ("" leaves the field unchanged, "#N/A" sets it to null). */
  readonly cells: Readonly<Record<string, string>>;
  /** What rejection messages name. */
  readonly subject: string;
}

export interface BulkJobSpec {
  readonly object: string;
  readonly operation: BulkOperation;
  readonly externalIdFieldName?: string;
  /** Header, in order. */
  readonly columns: readonly string[];
  /** Columns whose echo in the result files identifies a row (external id, Id, or all columns). */
  readonly matchColumns: readonly string[];
  readonly rows: readonly BulkRow[];
  /** A failed row with this error code counts as done (a delete of a record already gone). */
  readonly doneCodes?: ReadonlySet<string>;
}

export interface BulkSettings {
  readonly api: SalesforceApi;
  readonly log: Logger;
  readonly pollMaxMs: number;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

const jobSchema = z.looseObject({
  id: z.string().min(1),
  state: z.string(),
  contentUrl: z.string().optional(),
  errorMessage: z.string().nullish(),
  numberRecordsProcessed: z.number().optional(),
  numberRecordsFailed: z.number().optional(),
});
type JobInfo = z.output<typeof jobSchema>;

const TERMINAL = new Set(['JobComplete', 'Failed', 'Aborted']);

/**
 * Sends rows through Bulk API 2.0 ingest jobs: create (CSV, LF, comma), upload the CSV in one
 * PUT, close (UploadComplete), poll until JobComplete / Failed / Aborted, then read
 * successfulResults and failedResults and match each result row back to its record by the echo
 * of `matchColumns` (result order is not upload order). A job holds at most 100 MB of CSV; more
 * rows become more jobs, one after another.
 *
 * Records without a result (an unprocessed part of a failed or aborted job, a job still running
 * at the time limit, results that could not be read) fail as retryable: the next run sends them
 * again. A job that fails before processing any record stops the sync (its error message says
 * why: an unknown field, a bad external id field, a limit).
 */
export async function runBulk(spec: BulkJobSpec, settings: BulkSettings): Promise<RecordResult[]> {
  const results = new Map<Change, RecordResult>();
  for (const part of splitRows(spec)) {
    for (const [change, result] of await runJob(spec, part, settings)) results.set(change, result);
  }
  return spec.rows.map((row) => results.get(row.change)!);
}

function splitRows(spec: BulkJobSpec): BulkRow[][] {
  const headerBytes = Buffer.byteLength(csvLine(spec.columns));
  const parts: BulkRow[][] = [];
  let current: BulkRow[] = [];
  let bytes = headerBytes;
  for (const row of spec.rows) {
    const size = Buffer.byteLength(csvLine(spec.columns.map((c) => row.cells[c] ?? '')));
    if (current.length > 0 && bytes + size > MAX_UPLOAD_BYTES) {
      parts.push(current);
      current = [];
      bytes = headerBytes;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

async function runJob(spec: BulkJobSpec, rows: readonly BulkRow[], settings: BulkSettings): Promise<Map<Change, RecordResult>> {
  const { api, log } = settings;
  const out = new Map<Change, RecordResult>();
  const failRest = (message: string, retryable = true, code?: string) => {
    for (const row of rows) if (!out.has(row.change)) out.set(row.change, failed(row.change, message, retryable, code));
    return out;
  };
  const what = `Bulk API ${spec.operation} job on ${spec.object}`;

  // 1. Create the job.
  let created: HttpResponse;
  try {
    created = await api.send({
      method: 'POST',
      path: '/jobs/ingest',
      json: {
        object: spec.object,
        operation: spec.operation,
        ...(spec.externalIdFieldName ? { externalIdFieldName: spec.externalIdFieldName } : {}),
        contentType: 'CSV',
        lineEnding: 'LF',
        columnDelimiter: 'COMMA',
      },
      signal: settings.signal,
    });
  } catch (error) {
    if (error instanceof HttpRetryError) return failRest(`${api.label}: could not create a ${what}: ${error.message}`);
    throw error;
  }
  if (isConcurrencyLimit(created)) {
    return failRest(`${api.label}: could not create a ${what}: ${describeErrors(created)}`, true, 'REQUEST_LIMIT_EXCEEDED');
  }
  const job = created.status >= 200 && created.status < 300 ? jobSchema.safeParse(parseJson(created.text)) : undefined;
  if (!job?.success) {
    throw new DestinationError(`${api.label}: Salesforce refused to create a ${what}: ${describeErrors(created)}`, {
      status: created.status,
    });
  }
  const jobId = job.data.id;
  log.debug(`${api.label}: ${what} ${jobId} created for ${rows.length} records`);

  // 2. Upload the CSV, 3. close the job. Either failing aborts the job: nothing of it is processed.
  const csv = csvLine(spec.columns) + rows.map((row) => csvLine(spec.columns.map((c) => row.cells[c] ?? ''))).join('');
  const contentPath = job.data.contentUrl ? `/${job.data.contentUrl.replace(/^\/+/, '')}` : api.dataPath(`/jobs/ingest/${jobId}/batches`);
  for (const step of ['upload', 'close'] as const) {
    let response: HttpResponse;
    try {
      response =
        step === 'upload'
          ? await api.send({ method: 'PUT', path: contentPath, fromRoot: true, body: csv, contentType: 'text/csv', signal: settings.signal })
          : await api.send({ method: 'PATCH', path: `/jobs/ingest/${jobId}`, json: { state: 'UploadComplete' }, signal: settings.signal });
    } catch (error) {
      await abort(jobId, settings);
      if (error instanceof HttpRetryError) return failRest(`${api.label}: ${what} ${jobId}: ${step} failed: ${error.message}`);
      throw error;
    }
    if (response.status < 200 || response.status >= 300) {
      await abort(jobId, settings);
      if (isConcurrencyLimit(response)) {
        return failRest(`${api.label}: ${what} ${jobId}: ${step} failed: ${describeErrors(response)}`, true, 'REQUEST_LIMIT_EXCEEDED');
      }
      throw new DestinationError(`${api.label}: ${what} ${jobId}: Salesforce refused the ${step}: ${describeErrors(response)}`, {
        status: response.status,
      });
    }
  }

  // 4. Poll until the job is done.
  const info = await poll(jobId, settings);
  if (info === 'gave up') {
    return failRest(
      `${api.label}: ${what} ${jobId} was still running after ${Math.round(settings.timeoutMs / 60_000)} minutes; ` +
        'it may still apply these records, which the next run sends again',
    );
  }
  if (typeof info === 'string') return failRest(`${api.label}: ${what} ${jobId}: ${info}`);

  // 5. Results, matched back to the records by the echoed match columns.
  const matcher = new RowMatcher(spec.matchColumns, rows);
  let processed = 0;
  let unreadable: string | undefined;
  for (const kind of ['successfulResults', 'failedResults'] as const) {
    let response: HttpResponse;
    try {
      response = await api.send({ method: 'GET', path: `/jobs/ingest/${jobId}/${kind}`, accept: 'text/csv', signal: settings.signal });
    } catch (error) {
      if (!(error instanceof HttpRetryError)) throw error;
      unreadable = `cannot read ${kind}: ${error.message}`;
      break;
    }
    if (response.status < 200 || response.status >= 300) {
      unreadable = `cannot read ${kind}: ${describeErrors(response)}`;
      break;
    }
    let resultRows: Record<string, string>[];
    try {
      resultRows = parseCsvObjects(response.text);
    } catch (error) {
      unreadable = `${kind} is not readable CSV: ${errorMessage(error)}`;
      break;
    }
    for (const result of resultRows) {
      const row = matcher.take(result);
      if (!row) {
        log.warn(`${api.label}: ${what} ${jobId}: a row of ${kind} matches no record sent`);
        continue;
      }
      processed++;
      if (kind === 'successfulResults') {
        out.set(row.change, synced(row.change, result.sf__Id || undefined));
      } else {
        const error = bulkError(result.sf__Error ?? '');
        out.set(
          row.change,
          spec.doneCodes?.has(error.statusCode ?? '') ? synced(row.change, undefined) : refused(row.change, [error], row.subject),
        );
      }
    }
  }
  if (unreadable !== undefined) log.warn(`${api.label}: ${what} ${jobId}: ${unreadable}`);
  if (info.state === 'Failed' && processed === 0 && unreadable === undefined) {
    throw new DestinationError(
      `${api.label}: ${what} ${jobId} failed without processing any record: ${info.errorMessage ?? 'no reason given'}`,
    );
  }
  const reason = unreadable
    ? `its results could not be read (${unreadable}); the job may have applied this record, which the next run sends again`
    : info.state === 'JobComplete'
      ? 'the Bulk API job gave no result for this record'
      : `the Bulk API job ${info.state === 'Failed' ? `failed (${info.errorMessage ?? 'no reason given'})` : 'was aborted'} before processing this record`;
  return failRest(`${api.label}: ${what} ${jobId}: ${reason}`);
}

/** The job's final info, 'gave up' at the time limit, or why polling stopped. */
async function poll(jobId: string, settings: BulkSettings): Promise<JobInfo | 'gave up' | string> {
  const { api } = settings;
  const deadline = Date.now() + settings.timeoutMs;
  let wait = Math.min(FIRST_POLL_MS, settings.pollMaxMs);
  for (;;) {
    let response: HttpResponse;
    try {
      response = await api.send({ method: 'GET', path: `/jobs/ingest/${jobId}`, signal: settings.signal });
    } catch (error) {
      if (error instanceof HttpRetryError) return `cannot read the job's state: ${error.message}`;
      throw error;
    }
    if (response.status >= 200 && response.status < 300) {
      const info = jobSchema.safeParse(parseJson(response.text));
      if (info.success && TERMINAL.has(info.data.state)) return info.data;
      if (!info.success) return `unexpected job info (HTTP ${response.status})`;
    } else if (!isConcurrencyLimit(response)) {
      return `cannot read the job's state: ${describeErrors(response)}`;
    }
    if (Date.now() + wait > deadline) return 'gave up';
    await sleep(wait, undefined, { signal: settings.signal });
    wait = Math.min(wait * 2, settings.pollMaxMs);
  }
}

async function abort(jobId: string, settings: BulkSettings): Promise<void> {
  try {
    await settings.api.send({ method: 'PATCH', path: `/jobs/ingest/${jobId}`, json: { state: 'Aborted' } });
  } catch (error) {
    settings.log.debug(`${settings.api.label}: could not abort Bulk API job ${jobId}: ${errorMessage(error)}`);
  }
}

/**
 * Finds the record a result row belongs to: first by the exact text sent in the match columns,
 * then by a looser form (trimmed, case-insensitive, numbers canonical). Records with the same
 * match text are taken in upload order.
 */
class RowMatcher {
  readonly #columns: readonly string[];
  readonly #exact = new Map<string, BulkRow[]>();
  readonly #loose = new Map<string, BulkRow[]>();
  readonly #taken = new Set<BulkRow>();

  constructor(columns: readonly string[], rows: readonly BulkRow[]) {
    this.#columns = columns;
    for (const row of rows) {
      push(this.#exact, this.#signature(row.cells, false), row);
      push(this.#loose, this.#signature(row.cells, true), row);
    }
  }

  take(result: Readonly<Record<string, string>>): BulkRow | undefined {
    return this.#first(this.#exact.get(this.#signature(result, false))) ?? this.#first(this.#loose.get(this.#signature(result, true)));
  }

  #first(rows: BulkRow[] | undefined): BulkRow | undefined {
    const row = rows?.find((r) => !this.#taken.has(r));
    if (row) this.#taken.add(row);
    return row;
  }

  #signature(cells: Readonly<Record<string, string>>, loose: boolean): string {
    return this.#columns.map((c) => (loose ? looseMatchText(cells[c] ?? '') : (cells[c] ?? ''))).join('\u0000');
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
