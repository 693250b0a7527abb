import { isoFromEpochMicros, normaliseDecimalText } from '../normalise.js';

/** What the adapter knows of a result column (from snowflake-sdk's Column). */
export interface SnowflakeColumnInfo {
  readonly name: string;
  /** snowflake-sdk's type names: fixed, real, text, boolean, date, time, timestamp_ntz|ltz|tz, variant, object, array, map, binary. */
  readonly type: string;
}

/**
 * The snowflake-sdk column types the adapter fetches as strings, so nothing is lost in a
 * JavaScript number or re-serialised by the driver: NUMBER (integers beyond 2^53, decimals)
 * and the semi-structured types (VARIANT, OBJECT, ARRAY, MAP: parsed by `fromSnowflake`).
 */
export const FETCH_AS_STRING = ['Number', 'JSON', 'Object', 'Array', 'Map'] as const;

/** A date or timestamp as snowflake-sdk returns it: a Date carrying the exact epoch seconds and nanoseconds. */
interface SfDate {
  getEpochSeconds(): number;
  getNanoSeconds(): number;
}

const isSfDate = (value: unknown): value is SfDate =>
  value instanceof Date && typeof (value as unknown as SfDate).getEpochSeconds === 'function';

function epochMicros(value: SfDate): bigint {
  return BigInt(Math.trunc(value.getEpochSeconds())) * 1_000_000n + BigInt(Math.floor(value.getNanoSeconds() / 1000));
}

/** `HH:MM:SS` with microseconds when there are any, from the session's `HH24:MI:SS.FF9` form. */
function timeText(text: string): string {
  const match = /^(\d{2}:\d{2}:\d{2})(?:\.(\d+))?$/.exec(text.trim());
  if (!match) return text;
  const micros = (match[2] ?? '').padEnd(6, '0').slice(0, 6);
  return /^0*$/.test(micros) ? match[1]! : `${match[1]}.${micros}`;
}

function realValue(text: string): number | string {
  const n = Number(text);
  if (Number.isFinite(n)) return n;
  const lower = text.toLowerCase();
  if (lower === 'inf' || lower === 'infinity') return 'Infinity';
  if (lower === '-inf' || lower === '-infinity') return '-Infinity';
  return 'NaN';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // XML in a VARIANT, or a value STRICT_JSON_OUTPUT could not fix: keep the text.
    return text;
  }
}

/** Values nested in structured OBJECT/ARRAY/MAP columns, which the driver converts itself. */
function nested(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (isSfDate(value)) return isoFromEpochMicros(epochMicros(value));
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'bigint') return normaliseDecimalText(value.toString());
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), nested(v)]));
  if (Array.isArray(value)) return value.map(nested);
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, nested(v)]));
  return value;
}

/**
 * snowflake-sdk's value for one column -> the shared JSON-safe form (see normalise.ts):
 * NUMBER as a number when exact, else its decimal text; FLOAT as a number ("NaN", "Infinity");
 * DATE as YYYY-MM-DD; every TIMESTAMP type as ISO 8601 UTC with microseconds kept (NTZ read as
 * UTC); TIME as HH:MM:SS[.ffffff]; BINARY as base64; VARIANT/OBJECT/ARRAY parsed.
 */
export function fromSnowflake(value: unknown, column: SnowflakeColumnInfo): unknown {
  if (value === null || value === undefined) return null;
  switch (column.type) {
    case 'fixed':
      return typeof value === 'string' ? normaliseDecimalText(value) : nested(value);
    case 'real':
      return typeof value === 'string' ? realValue(value) : nested(value);
    case 'date':
      if (isSfDate(value)) {
        const iso = isoFromEpochMicros(epochMicros(value));
        return iso.slice(0, iso.indexOf('T'));
      }
      return String(value);
    case 'timestamp_ntz':
    case 'timestamp_ltz':
    case 'timestamp_tz':
      return isSfDate(value) ? isoFromEpochMicros(epochMicros(value)) : String(value);
    case 'time':
      return timeText(String(value));
    case 'variant':
    case 'object':
    case 'array':
    case 'map':
      return typeof value === 'string' ? parseJson(value) : nested(value);
    case 'binary':
      return Buffer.isBuffer(value) ? value.toString('base64') : String(value);
    default:
      return nested(value);
  }
}
