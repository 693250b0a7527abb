import { isoFromEpochMicros, normaliseDecimalText } from '../normalise.js';

/** A field of a BigQuery result schema (REST `TableFieldSchema`). */
export interface BigQueryField {
  readonly name: string;
  readonly type: string;
  readonly mode?: string;
  readonly fields?: readonly BigQueryField[];
}

/** A row as the REST API sends it (`{f: [{v}]}`), read without the client library's conversions. */
export interface RawRow {
  readonly f: readonly { readonly v: unknown }[];
}

function floatValue(text: string): number | string {
  const n = Number(text);
  if (Number.isFinite(n)) return n;
  if (/^-inf/i.test(text)) return '-Infinity';
  if (/^\+?inf/i.test(text)) return 'Infinity';
  return 'NaN';
}

/** Decimal text in seconds (also `1.7E9` forms) -> whole microseconds, exactly. */
export function secondsTextToMicros(text: string): bigint {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text.trim());
  if (!match) throw new Error(`not a number: ${text}`);
  const digits = `${match[2] ?? ''}${match[3] ?? ''}` || '0';
  const shift = Number(match[4] ?? 0) - (match[3] ?? '').length + 6;
  let micros = BigInt(digits);
  if (shift >= 0) micros *= 10n ** BigInt(shift);
  else micros /= 10n ** BigInt(-shift);
  return match[1] === '-' ? -micros : micros;
}

/** TIMESTAMP: int64 microseconds (formatOptions.useInt64Timestamp), float seconds, or ISO text. */
function timestampValue(raw: string): string {
  if (/^-?\d+$/.test(raw)) return isoFromEpochMicros(BigInt(raw));
  if (/^[+-]?[\d.]+(e[+-]?\d+)?$/i.test(raw)) return isoFromEpochMicros(secondsTextToMicros(raw));
  const parsed = /^(.*?)(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/.exec(raw);
  const millis = Date.parse(raw);
  if (!parsed || Number.isNaN(millis)) return raw;
  const fraction = (parsed[2] ?? '').padEnd(6, '0').slice(0, 6);
  return isoFromEpochMicros(BigInt(Math.floor(millis / 1000)) * 1_000_000n + BigInt(fraction || '0'));
}

/** DATETIME (no time zone) read as UTC, as naive timestamps are everywhere in activate. */
function datetimeValue(raw: string): string {
  const match = /^(\d{4,})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/.exec(raw);
  if (!match) return raw;
  const date = new Date(0);
  date.setUTCFullYear(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  date.setUTCHours(Number(match[4]), Number(match[5]), Number(match[6]), 0);
  const micros = BigInt(date.getTime()) * 1000n + BigInt((match[7] ?? '').padEnd(6, '0').slice(0, 6) || '0');
  return isoFromEpochMicros(micros);
}

/** TIME as HH:MM:SS with microseconds when there are any. */
function timeValue(raw: string): string {
  const match = /^(\d{2}:\d{2}:\d{2})(?:\.(\d+))?$/.exec(raw);
  if (!match) return raw;
  const micros = (match[2] ?? '').padEnd(6, '0').slice(0, 6);
  return /^0*$/.test(micros) ? match[1]! : `${match[1]}.${micros}`;
}

function scalar(value: unknown, field: BigQueryField): unknown {
  if (value === null || value === undefined) return null;
  switch (field.type.toUpperCase()) {
    case 'INTEGER':
    case 'INT64':
    case 'NUMERIC':
    case 'BIGNUMERIC':
    case 'DECIMAL':
    case 'BIGDECIMAL':
      return normaliseDecimalText(String(value));
    case 'FLOAT':
    case 'FLOAT64':
      return floatValue(String(value));
    case 'BOOLEAN':
    case 'BOOL':
      return value === true || String(value).toLowerCase() === 'true';
    case 'TIMESTAMP':
      return timestampValue(String(value));
    case 'DATETIME':
      return datetimeValue(String(value));
    case 'TIME':
      return timeValue(String(value));
    case 'JSON':
      try {
        return JSON.parse(String(value));
      } catch {
        return String(value);
      }
    case 'RECORD':
    case 'STRUCT': {
      const cells = (value as RawRow).f ?? [];
      const fields = field.fields ?? [];
      return Object.fromEntries(fields.map((f, i) => [f.name, fromBigQuery(cells[i]?.v, f)]));
    }
    default:
      // STRING, BYTES (base64 already), DATE (YYYY-MM-DD), GEOGRAPHY (WKT), INTERVAL, RANGE.
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

/**
 * One REST cell -> the shared JSON-safe form (see normalise.ts): INT64/NUMERIC/BIGNUMERIC as
 * a number when exact, else the decimal text; TIMESTAMP as ISO 8601 UTC with microseconds;
 * DATETIME read as UTC; DATE as is; BYTES base64 as is; JSON parsed; STRUCT and ARRAY nested.
 */
export function fromBigQuery(value: unknown, field: BigQueryField): unknown {
  if (field.mode?.toUpperCase() === 'REPEATED') {
    if (!Array.isArray(value)) return [];
    const item = { ...field, mode: 'NULLABLE' };
    return value.map((cell) => scalar((cell as { v: unknown }).v, item));
  }
  return scalar(value, field);
}

export function rowFromBigQuery(row: RawRow, fields: readonly BigQueryField[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  fields.forEach((field, i) => (out[field.name] = fromBigQuery(row.f[i]?.v, field)));
  return out;
}
