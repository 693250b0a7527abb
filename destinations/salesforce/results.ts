import type { Change, RecordResult } from '../types.js';

/** Per-record error codes that another attempt can fix without a change to the data. */
const RETRYABLE_CODES = new Set(['UNABLE_TO_LOCK_ROW', 'REQUEST_LIMIT_EXCEEDED', 'SERVER_UNAVAILABLE']);

export const LOCK_ERROR = 'UNABLE_TO_LOCK_ROW';

/** Error entry of a SaveResult / UpsertResult / DeleteResult. */
export interface RecordError {
  readonly statusCode?: string;
  readonly message?: string;
  readonly fields?: readonly string[];
}

export function synced(change: Change, id: string | undefined): RecordResult {
  return id ? { key: change.key, status: 'synced', destinationId: id } : { key: change.key, status: 'synced' };
}

export function failed(change: Change, message: string, retryable: boolean, code?: string): RecordResult {
  return code === undefined
    ? { key: change.key, status: 'failed', message, retryable }
    : { key: change.key, status: 'failed', message, retryable, code };
}

/**
 * A record Salesforce refused. The message names the record (its identifier value, else its
 * key): messages of different records then differ, so a batch whose records all hit the same
 * rule is not mistaken for a request refused as a whole (which the engine would split in halves).
 */
export function refused(change: Change, errors: readonly RecordError[], subject: string): RecordResult {
  const first = errors[0];
  const code = first?.statusCode ?? 'UNKNOWN_ERROR';
  const text = errors.length === 0 ? 'UNKNOWN_ERROR: Salesforce gave no reason' : errors.map(describeRecordError).join('; ');
  return failed(change, `${text} (${subject})`, RETRYABLE_CODES.has(code), code);
}

/** `CODE: message [fields]`. */
export function describeRecordError(error: RecordError): string {
  const fields = error.fields && error.fields.length > 0 ? ` [${error.fields.join(', ')}]` : '';
  return `${error.statusCode ?? 'UNKNOWN_ERROR'}: ${error.message ?? ''}${fields}`;
}

/**
 * A Bulk API `sf__Error` cell ("CODE:message:fields --" or "CODE:message") as a record error.
 */
export function bulkError(text: string): RecordError {
  const match = /^([A-Z][A-Z0-9_]*):(.*)$/s.exec(text.trim());
  if (!match) return { statusCode: 'UNKNOWN_ERROR', message: text.trim() };
  const statusCode = match[1]!;
  let rest = match[2]!.trim();
  // "message:Field1,Field2 --": the part after the last colon names the fields (maybe none).
  if (!/--$/.test(rest)) return { statusCode, message: rest };
  rest = rest.replace(/\s*--$/, '');
  const colon = rest.lastIndexOf(':');
  if (colon < 0) return { statusCode, message: rest };
  const fields = rest
    .slice(colon + 1)
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const message = rest.slice(0, colon).trim();
  return fields.length > 0 ? { statusCode, message, fields } : { statusCode, message };
}

export function isLockFailure(result: RecordResult | undefined): boolean {
  return result?.status === 'failed' && result.code === LOCK_ERROR;
}
