import { bigintAsString } from '../shared/json.js';
/**
 * Values as Salesforce accepts them. activate hands every warehouse value over in one JSON-safe
 * form (src/warehouse/normalise.ts): dates are "YYYY-MM-DD", timestamps ISO 8601 UTC with up to
 * microseconds, large integers and exact decimals strings. Salesforce wants dateTime values as
 * `yyyy-MM-ddTHH:mm:ss.SSSZ` (milliseconds optional, never more) and date values as
 * `yyyy-MM-dd`; a multi-select picklist as "a;b;c".
 */

const TIMESTAMP_WITH_MICROS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})\d+(Z|[+-]\d{2}:\d{2})$/;

/** Text Bulk API 2.0 reads as "set this field to null" on insert, update and upsert. */
export const CSV_NULL = '#N/A';

/**
 * An ISO 8601 timestamp with more than millisecond precision cut to milliseconds, the most a
 * Salesforce dateTime takes; any other text is returned as it is.
 */
export function salesforceDateTime(text: string): string {
  const match = TIMESTAMP_WITH_MICROS.exec(text);
  return match ? `${match[1]}${match[2]}` : text;
}

/** A value for an sObject Collections JSON body. */
export function jsonValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return salesforceDateTime(value);
  if (Array.isArray(value)) return value.map((v) => (v === null || v === undefined ? '' : String(textOf(v)))).join(';');
  if (typeof value === 'object') return JSON.stringify(value, bigintAsString);
  return value;
}

/**
 * A value as CSV text for Bulk API 2.0: `#N/A` for null (an empty cell would leave the field
 * unchanged, which is what a field absent from a record means), numbers in plain notation.
 * Empty text is sent as null too: Salesforce stores an empty text field as null.
 */
export function csvValue(value: unknown): string {
  if (value === null || value === undefined || value === '') return CSV_NULL;
  const text = textOf(jsonValue(value));
  return text === '' ? CSV_NULL : text;
}

function textOf(value: unknown): string {
  if (typeof value === 'number') return plainNumber(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value, bigintAsString);
}

/** A number without exponent notation ("1e-7" and "1e+21" are not numbers to a CSV reader). */
export function plainNumber(n: number): string {
  const text = String(n);
  if (!Number.isFinite(n) || !/e/i.test(text)) return text;
  // Move the decimal point of the shortest round-trip digits by the exponent.
  const [mantissa = '', exponent = '0'] = text.toLowerCase().split('e');
  const negative = mantissa.startsWith('-');
  const [whole = '', fraction = ''] = mantissa.replace('-', '').split('.');
  const digits = whole + fraction;
  const point = whole.length + Number(exponent);
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  if (out.includes('.')) out = out.replace(/0+$/, '').replace(/\.$/, '');
  return `${negative ? '-' : ''}${out}`;
}

/** A value for matching one record's row in Bulk results: the text it was sent as. */
export function matchText(value: unknown): string {
  return value === null || value === undefined ? '' : csvValue(value);
}

/**
 * The looser form used when an exact match fails: trimmed, lower case, and a number in one
 * canonical decimal form (a Number external id may come back as "42.0" for "42").
 */
export function looseMatchText(text: string): string {
  const trimmed = text.trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(trimmed)) {
    const n = Number(trimmed);
    if (Number.isFinite(n) && Math.abs(n) < Number.MAX_SAFE_INTEGER) return plainNumber(n);
  }
  return trimmed.toLowerCase();
}

/** A SOQL literal: numbers and booleans bare, text quoted with backslash escapes. */
export function soqlLiteral(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return plainNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `'${text.replace(/[\\'"\n\r\t\f\b]/g, (c) => SOQL_ESCAPES[c]!)}'`;
}

const SOQL_NUMERIC_TYPES = new Set(['double', 'currency', 'percent', 'int', 'long']);

/**
 * A SOQL literal for a field of a known Salesforce type: numbers bare for number fields, text
 * quoted for text fields (a warehouse integer mapped to a Text External ID is compared as text),
 * dates and booleans bare. Without a type, the value's own type decides.
 */
export function soqlLiteralFor(value: unknown, fieldType: string | undefined): string {
  if (fieldType === undefined) return soqlLiteral(value);
  const text = typeof value === 'string' ? value.trim() : typeof value === 'number' ? plainNumber(value) : String(value);
  if (SOQL_NUMERIC_TYPES.has(fieldType)) return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text) ? text : soqlLiteral(text);
  if (fieldType === 'boolean') return /^(true|false)$/i.test(text) ? text.toLowerCase() : soqlLiteral(text);
  if (fieldType === 'date' || fieldType === 'datetime') return /^\d{4}-\d{2}-\d{2}/.test(text) ? text : soqlLiteral(text);
  return soqlLiteral(typeof value === 'string' ? value : text);
}

const SOQL_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  "'": "\\'",
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\f': '\\f',
  '\b': '\\b',
};

