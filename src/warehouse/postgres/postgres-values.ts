import { isoFromEpochMicros, normaliseBigInt, normaliseDecimalText } from '../normalise.js';

/**
 * PostgreSQL's text output -> the JSON-safe values of normalise.ts, so a row reads the same
 * as it would from DuckDB. The connection pins DateStyle=ISO, TimeZone=UTC and
 * bytea_output=hex (see postgres-profile.ts), which these parsers rely on.
 *
 * pg's own parsers are not used: they build JavaScript Dates (dropping microseconds and
 * reading naive timestamps in the process's time zone) and leave int8/numeric as text.
 */
export type ValueParser = (text: string) => unknown;

const identity: ValueParser = (text) => text;

export const parseBoolean: ValueParser = (text) => text === 't' || text === 'true';

export const parseInteger: ValueParser = (text) => Number(text);

export const parseBigInt: ValueParser = (text) => normaliseBigInt(BigInt(text));

export const parseNumeric: ValueParser = (text) => normaliseDecimalText(text);

/** NaN and ±Infinity stay as PostgreSQL spells them: JSON has no number for them. */
export const parseFloat: ValueParser = (text) => {
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
};

export const parseJson: ValueParser = (text) => JSON.parse(text) as unknown;

/** `\x0a0b` (bytea_output=hex) -> base64. */
export const parseBytea: ValueParser = (text) => Buffer.from(text.startsWith('\\x') ? text.slice(2) : text, 'hex').toString('base64');

/** `YYYY-MM-DD` as is; BC dates and infinities keep PostgreSQL's text. */
export const parseDate: ValueParser = identity;

const UTC_TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.(\d{1,6}))?(?:\+00)?$/;
const TIMESTAMP = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?( BC)?$/;

/**
 * `2024-01-02 03:04:05.123456[+02[:30]][ BC]` -> ISO 8601 UTC with microseconds kept, exactly
 * as DuckDB's timestamps are normalised. A naive timestamp is read as UTC.
 */
export const parseTimestamp: ValueParser = (text) => {
  const utc = UTC_TIMESTAMP.exec(text);
  if (utc) {
    // The common case (the connection's TimeZone is UTC) without date arithmetic; the same text as below.
    const micros = (utc[1] ?? '').padEnd(6, '0');
    return `${text.slice(0, 10)}T${text.slice(11, 19)}.${micros.endsWith('000') ? micros.slice(0, 3) : micros}Z`;
  }
  const m = TIMESTAMP.exec(text);
  if (!m) return text; // infinity, -infinity
  const [, y, mo, d, h, mi, s, frac, sign, oh, om, os, bc] = m;
  const year = bc ? 1 - Number(y) : Number(y);
  const seconds =
    BigInt(daysFromCivil(year, Number(mo), Number(d))) * 86_400n + BigInt(Number(h) * 3600 + Number(mi) * 60 + Number(s));
  const offset = sign ? (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0)) : 0;
  const micros = (seconds - BigInt(offset)) * 1_000_000n + BigInt((frac ?? '').padEnd(6, '0'));
  return isoFromEpochMicros(micros);
};

/** Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/**
 * A PostgreSQL array literal (`{1,NULL,"a,b",{2,3}}`, optionally `[0:1]={...}`) with each
 * element parsed by `element`.
 */
export function parseArray(text: string, element: ValueParser): unknown[] {
  let i = text.startsWith('[') ? text.indexOf('=') + 1 : 0;
  const parseLevel = (): unknown[] => {
    const out: unknown[] = [];
    i++; // '{'
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      if (text[i] === '{') {
        out.push(parseLevel());
      } else if (text[i] === '"') {
        let value = '';
        i++;
        while (text[i] !== '"') {
          if (text[i] === '\\') i++;
          value += text[i++];
        }
        i++;
        out.push(element(value));
      } else {
        const start = i;
        while (text[i] !== ',' && text[i] !== '}') i++;
        const raw = text.slice(start, i);
        out.push(raw === 'NULL' ? null : element(raw));
      }
      if (text[i++] === '}') return out;
    }
  };
  return parseLevel();
}

const OID = {
  bool: 16, bytea: 17, int8: 20, int2: 21, int4: 23, oid: 26, json: 114, float4: 700, float8: 701,
  date: 1082, timestamp: 1114, timestamptz: 1184, numeric: 1700, jsonb: 3802,
} as const;

const SCALARS = new Map<number, ValueParser>([
  [OID.bool, parseBoolean],
  [OID.bytea, parseBytea],
  [OID.int8, parseBigInt],
  [OID.int2, parseInteger],
  [OID.int4, parseInteger],
  [OID.oid, parseInteger],
  [OID.json, parseJson],
  [OID.jsonb, parseJson],
  [OID.float4, parseFloat],
  [OID.float8, parseFloat],
  [OID.date, parseDate],
  [OID.timestamp, parseTimestamp],
  [OID.timestamptz, parseTimestamp],
  [OID.numeric, parseNumeric],
]);

/** Array type oid -> element type oid, for the element types above and text-like ones. */
const ARRAYS = new Map<number, number | undefined>([
  [1000, OID.bool], [1001, OID.bytea], [1016, OID.int8], [1005, OID.int2], [1007, OID.int4], [1028, OID.oid],
  [199, OID.json], [3807, OID.jsonb], [1021, OID.float4], [1022, OID.float8], [1182, OID.date],
  [1115, OID.timestamp], [1185, OID.timestamptz], [1231, OID.numeric],
  // text, varchar, bpchar, name, uuid, time, timetz, interval: elements stay text.
  [1009, undefined], [1015, undefined], [1014, undefined], [1003, undefined], [2951, undefined],
  [1183, undefined], [1270, undefined], [1187, undefined],
]);

/**
 * The parser for a column of type `oid` in text format. Types not listed (text, uuid, time,
 * interval, inet, ...) stay PostgreSQL's text.
 */
export function valueParser(oid: number): ValueParser {
  const scalar = SCALARS.get(oid);
  if (scalar) return scalar;
  if (ARRAYS.has(oid)) {
    const elementOid = ARRAYS.get(oid);
    const element = (elementOid !== undefined && SCALARS.get(elementOid)) || identity;
    return (text) => parseArray(text, element);
  }
  return identity;
}
