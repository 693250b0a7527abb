import {
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBIntervalValue,
  DuckDBListValue,
  DuckDBArrayValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimeValue,
  DuckDBUUIDValue,
  type DuckDBValue,
} from '@duckdb/node-api';
import { normaliseBigInt, normaliseDecimalText, isoFromEpochMicros } from '../normalise.js';

/** DuckDB's value classes -> the JSON-safe values activate hashes, sends and stores. */
export function fromDuckDB(value: DuckDBValue): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return normaliseBigInt(value);
  }
  if (value instanceof DuckDBDecimalValue) return normaliseDecimalText(value.toString());
  if (value instanceof DuckDBDateValue) return value.toString();
  if (value instanceof DuckDBTimestampTZValue || value instanceof DuckDBTimestampValue) {
    return isoFromEpochMicros(value.micros);
  }
  if (value instanceof DuckDBTimestampMillisecondsValue) return isoFromEpochMicros(value.millis * 1000n);
  if (value instanceof DuckDBTimestampSecondsValue) return isoFromEpochMicros(value.seconds * 1_000_000n);
  if (value instanceof DuckDBTimestampNanosecondsValue) return isoFromEpochMicros(value.nanos / 1000n);
  if (value instanceof DuckDBTimeValue || value instanceof DuckDBUUIDValue || value instanceof DuckDBIntervalValue) {
    return value.toString();
  }
  if (value instanceof DuckDBBlobValue) return Buffer.from(value.bytes).toString('base64');
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) return value.items.map(fromDuckDB);
  if (value instanceof DuckDBStructValue) {
    return Object.fromEntries(Object.entries(value.entries).map(([k, v]) => [k, fromDuckDB(v)]));
  }
  if (value instanceof DuckDBMapValue) {
    return Object.fromEntries(value.entries.map((e) => [String(fromDuckDB(e.key)), fromDuckDB(e.value)]));
  }
  return String(value);
}
