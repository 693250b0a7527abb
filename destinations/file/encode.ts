import type { Change } from '../types.js';

/**
 * CSV as RFC 4180 has it: CRLF line ends, a header row, fields holding a comma, a double quote,
 * CR or LF enclosed in double quotes with inner quotes doubled. NULL is an empty unquoted field
 * and the empty string is `""`, the convention PostgreSQL's COPY ... CSV and most loaders read
 * back. Text is UTF-8 without a byte order mark; lists and objects are written as JSON.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : scalarText(value);
  if (text === '' || /[",\r\n]/.test(text)) return `"${text.replaceAll('"', '""')}"`;
  return text;
}

function scalarText(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return toJson(value);
}

export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export interface EncodeOptions {
  readonly format: 'csv' | 'jsonl';
  /** The column naming each record's operation (`upsert` / `delete`), or undefined for none. */
  readonly operationColumn: string | undefined;
}

/** The identifier fields first, then every other field of the batch's records in the order they first appear. */
export function columnsOf(batch: readonly Change[]): string[] {
  const seen = new Set<string>(batch.length > 0 ? Object.keys(batch[0]!.identifier) : []);
  for (const change of batch) for (const field of Object.keys(change.fields)) seen.add(field);
  return [...seen];
}

/** One complete file's content for a batch. */
export function encodeBatch(batch: readonly Change[], options: EncodeOptions): string {
  const fields = columnsOf(batch);
  const op = options.operationColumn;
  if (options.format === 'jsonl') {
    return batch
      .map((change) => {
        const record: Record<string, unknown> = op === undefined ? {} : { [op]: change.operation };
        // A field the record does not carry (skip_nulls, update_fields: changed) is left out, not null.
        for (const field of fields) if (Object.hasOwn(change.fields, field)) record[field] = change.fields[field] ?? null;
        return `${toJson(record)}\n`;
      })
      .join('');
  }
  const header = op === undefined ? fields : [op, ...fields];
  const lines = [csvRow(header)];
  for (const change of batch) {
    const values = fields.map((field) => change.fields[field] ?? null);
    lines.push(csvRow(op === undefined ? values : [change.operation, ...values]));
  }
  return lines.join('');
}
