import { describe, expect, it } from 'vitest';
import { isoFromEpochMicros } from '../../src/warehouse/normalise.js';
import {
  parseArray,
  parseBigInt,
  parseBytea,
  parseFloat,
  parseNumeric,
  parseTimestamp,
  valueParser,
} from '../../src/warehouse/postgres/postgres-values.js';

describe('PostgreSQL text values -> normalised values (no connection)', () => {
  it('keeps int8 exact beyond 2^53 and numbers within it', () => {
    expect(parseBigInt('42')).toBe(42);
    expect(parseBigInt('-9007199254740991')).toBe(-9007199254740991);
    expect(parseBigInt('9007199254740993')).toBe('9007199254740993');
    expect(parseBigInt('-9223372036854775808')).toBe('-9223372036854775808');
  });

  it('gives numeric a number only when the number is exact', () => {
    expect(parseNumeric('12.50')).toBe(12.5);
    expect(parseNumeric('-0.00')).toBe(0);
    expect(parseNumeric('123456789012345678.12')).toBe('123456789012345678.12');
    expect(parseNumeric('NaN')).toBe('NaN');
  });

  it('keeps non-finite floats as PostgreSQL spells them (JSON has no number for them)', () => {
    expect(parseFloat('1.5')).toBe(1.5);
    expect(parseFloat('-1e+20')).toBe(-1e20);
    expect(parseFloat('Infinity')).toBe('Infinity');
    expect(parseFloat('-Infinity')).toBe('-Infinity');
    expect(parseFloat('NaN')).toBe('NaN');
  });

  it('reads timestamps as ISO 8601 UTC with microseconds, as DuckDB timestamps are normalised', () => {
    expect(parseTimestamp('2024-01-02 03:04:05')).toBe('2024-01-02T03:04:05.000Z');
    expect(parseTimestamp('2024-01-02 03:04:05.12')).toBe('2024-01-02T03:04:05.120Z');
    expect(parseTimestamp('2024-01-02 03:04:05.123456+00')).toBe('2024-01-02T03:04:05.123456Z');
    expect(parseTimestamp('2024-01-02 03:04:05.000001+00')).toBe('2024-01-02T03:04:05.000001Z');
    expect(parseTimestamp('2024-01-02 03:04:05.5+02')).toBe('2024-01-02T01:04:05.500Z');
    expect(parseTimestamp('2024-01-02 03:04:05-07:30')).toBe('2024-01-02T10:34:05.000Z');
    expect(parseTimestamp('1900-01-01 00:00:00+00:09:21')).toBe('1899-12-31T23:50:39.000Z');
    expect(parseTimestamp('0044-03-15 12:00:00 BC')).toBe('-000043-03-15T12:00:00.000Z');
    expect(parseTimestamp('infinity')).toBe('infinity');
    expect(parseTimestamp('-infinity')).toBe('-infinity');
  });

  it('agrees with the epoch-microsecond normalisation for any instant, in UTC or with an offset', () => {
    const pad = (n: number, width = 2) => String(n).padStart(width, '0');
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const floorDiv = (a: bigint, b: bigint) => (a % b < 0n ? a / b - 1n : a / b);
    for (let i = 0; i < 2000; i++) {
      // Years 1 to 9999; some instants on whole milliseconds or seconds.
      let micros = BigInt(Math.floor(random() * 3.1e17 - 6.2e16));
      if (i % 3 === 0) micros -= ((micros % 1000n) + 1000n) % 1000n;
      if (i % 5 === 0) micros -= ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
      const date = new Date(Number(floorDiv(micros, 1000n)));
      if (date.getUTCFullYear() < 1 || date.getUTCFullYear() > 9999) continue;
      const fraction = micros - floorDiv(micros, 1_000_000n) * 1_000_000n;
      const offsetMinutes = i % 2 === 0 ? 0 : Math.floor(random() * 29 - 14) * 30;
      const local = new Date(date.getTime() + offsetMinutes * 60_000);
      const text =
        `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())} ` +
        `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}` +
        (fraction === 0n ? '' : `.${fraction.toString().padStart(6, '0').replace(/0+$/, '')}`) +
        `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offsetMinutes) / 60))}${Math.abs(offsetMinutes) % 60 ? `:${pad(Math.abs(offsetMinutes) % 60)}` : ''}`;
      expect(parseTimestamp(text), text).toBe(isoFromEpochMicros(micros));
    }
  });

  it('reads bytea (hex output) as base64', () => {
    expect(parseBytea('\\x00ff10')).toBe(Buffer.from([0, 255, 16]).toString('base64'));
    expect(parseBytea('\\x')).toBe('');
  });

  it('parses array literals: quoting, escapes, NULL, nesting, bounds', () => {
    const text = (s: string) => s;
    expect(parseArray('{}', text)).toEqual([]);
    expect(parseArray('{a,"b,c","d\\"e","f\\\\g",NULL,"NULL"}', text)).toEqual(['a', 'b,c', 'd"e', 'f\\g', null, 'NULL']);
    expect(parseArray('{{1,2},{3,NULL}}', Number)).toEqual([[1, 2], [3, null]]);
    expect(parseArray('[0:1]={7,8}', Number)).toEqual([7, 8]);
    expect(parseArray('{"{\\"k\\": 1}"}', (s) => JSON.parse(s))).toEqual([{ k: 1 }]);
  });

  it('chooses a parser by type oid; types it does not know stay text', () => {
    expect(valueParser(16)('t')).toBe(true);
    expect(valueParser(20)('9007199254740993')).toBe('9007199254740993');
    expect(valueParser(1016)('{1,9007199254740993}')).toEqual([1, '9007199254740993']);
    expect(valueParser(1185)('{"2024-01-02 03:04:05+00"}')).toEqual(['2024-01-02T03:04:05.000Z']);
    expect(valueParser(3802)('{"a": [1]}')).toEqual({ a: [1] });
    expect(valueParser(1082)('2024-02-29')).toBe('2024-02-29');
    expect(valueParser(1186)('1 day 02:03:04')).toBe('1 day 02:03:04');
    expect(valueParser(869)('10.0.0.1/32')).toBe('10.0.0.1/32');
  });
});
