import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromDuckDB } from '../../src/warehouse/duckdb/duckdb-values.js';
import { isoFromEpochMicros, normaliseBigInt, normaliseDecimalText } from '../../src/warehouse/normalise.js';

const INT64_MAX = 2n ** 63n - 1n;

describe('normaliseBigInt', () => {
  it('gives a number while it is a safe integer', () => {
    expect(normaliseBigInt(0n)).toBe(0);
    expect(normaliseBigInt(42n)).toBe(42);
    expect(normaliseBigInt(-42n)).toBe(-42);
    expect(normaliseBigInt(BigInt(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(normaliseBigInt(-BigInt(Number.MAX_SAFE_INTEGER))).toBe(-Number.MAX_SAFE_INTEGER);
  });

  it('gives the exact decimal text beyond 2^53', () => {
    expect(normaliseBigInt(2n ** 53n)).toBe('9007199254740992');
    expect(normaliseBigInt(2n ** 53n + 1n)).toBe('9007199254740993');
    expect(normaliseBigInt(-(2n ** 53n) - 1n)).toBe('-9007199254740993');
    expect(normaliseBigInt(INT64_MAX)).toBe('9223372036854775807');
    expect(normaliseBigInt(2n ** 127n - 1n)).toBe('170141183460469231731687303715884105727');
  });
});

describe('normaliseDecimalText', () => {
  it('gives a number when the number prints back to the same value', () => {
    expect(normaliseDecimalText('12.50')).toBe(12.5);
    expect(normaliseDecimalText('100.00')).toBe(100);
    expect(normaliseDecimalText('0.10')).toBe(0.1);
    expect(normaliseDecimalText('-3.250')).toBe(-3.25);
    expect(normaliseDecimalText('42')).toBe(42);
  });

  it('keeps the exact text when a number would lose digits', () => {
    expect(normaliseDecimalText('123456789012345678.12')).toBe('123456789012345678.12');
    expect(normaliseDecimalText('0.12345678901234567890')).toBe('0.1234567890123456789');
    expect(normaliseDecimalText('9007199254740993')).toBe('9007199254740993');
    expect(normaliseDecimalText('-9007199254740993.50')).toBe('-9007199254740993.5');
  });

  it('turns negative zero into 0', () => {
    expect(normaliseDecimalText('-0.00')).toBe(0);
    expect(Object.is(normaliseDecimalText('-0.00'), -0)).toBe(false);
    expect(normaliseDecimalText('0.000')).toBe(0);
  });
});

describe('isoFromEpochMicros', () => {
  it('keeps microseconds', () => {
    expect(isoFromEpochMicros(0n)).toBe('1970-01-01T00:00:00.000Z');
    expect(isoFromEpochMicros(1_704_164_645_123_456n)).toBe('2024-01-02T03:04:05.123456Z');
    expect(isoFromEpochMicros(1_704_164_645_000_001n)).toBe('2024-01-02T03:04:05.000001Z');
    // Whole milliseconds keep JavaScript's three digits.
    expect(isoFromEpochMicros(1_704_164_645_120_000n)).toBe('2024-01-02T03:04:05.120Z');
  });

  it('handles instants before 1970', () => {
    expect(isoFromEpochMicros(-1n)).toBe('1969-12-31T23:59:59.999999Z');
    expect(isoFromEpochMicros(-1_500_000n)).toBe('1969-12-31T23:59:58.500Z');
    expect(isoFromEpochMicros(-1_000_001n)).toBe('1969-12-31T23:59:58.999999Z');
    expect(isoFromEpochMicros(-62_135_596_800_000_000n)).toBe('0001-01-01T00:00:00.000Z');
  });

  it('maps DuckDB infinity timestamps (int64 extremes) to "infinity" / "-infinity"', () => {
    expect(isoFromEpochMicros(INT64_MAX)).toBe('infinity');
    expect(isoFromEpochMicros(-INT64_MAX)).toBe('-infinity');
  });
});

describe('fromDuckDB over a real DuckDB query', () => {
  let instance: DuckDBInstance;
  let connection: DuckDBConnection;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    connection = await instance.connect();
  });
  afterAll(() => {
    connection.closeSync();
    instance.closeSync();
  });

  async function row(sql: string): Promise<Record<string, unknown>> {
    const reader = await connection.runAndReadAll(sql);
    const names = reader.columnNames();
    const [values] = reader.getRows();
    return Object.fromEntries(names.map((n, i) => [n, fromDuckDB(values![i]!)]));
  }

  it('normalises every common type to a JSON-safe value', async () => {
    const values = await row(`SELECT
      42::BIGINT AS big_small,
      9007199254740993::BIGINT AS big_large,
      -170141183460469231731687303715884105727::HUGEINT AS huge,
      7::INTEGER AS int32,
      12.50::DECIMAL(10, 2) AS dec_small,
      123456789012345678.12::DECIMAL(38, 2) AS dec_large,
      -0.00::DECIMAL(5, 2) AS dec_neg_zero,
      1.5::DOUBLE AS dbl,
      DATE '2024-02-29' AS d,
      TIMESTAMP '2024-01-02 03:04:05.123456' AS ts,
      TIMESTAMPTZ '2024-01-02 03:04:05.5+02' AS tstz,
      TIMESTAMP '1969-12-31 23:59:59.999999' AS ts_before_epoch,
      'infinity'::TIMESTAMP AS ts_inf,
      true AS bool_true,
      false AS bool_false,
      [1, 2, NULL]::INTEGER[] AS list,
      [[1.25::DECIMAL(4,2)], []]::DECIMAL(4,2)[][] AS nested_list,
      {'x': 1::BIGINT, 'y': 'z', 'when': DATE '2024-01-01'} AS struct,
      MAP {'a': 1, 'b': 2} AS map,
      MAP {1: 'one'} AS int_key_map,
      '550e8400-e29b-41d4-a716-446655440000'::UUID AS uuid,
      '\\xAA\\xBB\\x00'::BLOB AS blob,
      NULL AS nothing,
      NULL::BIGINT AS null_bigint,
      'text ünïcode' AS text`);

    expect(values).toEqual({
      big_small: 42,
      big_large: '9007199254740993',
      huge: '-170141183460469231731687303715884105727',
      int32: 7,
      dec_small: 12.5,
      dec_large: '123456789012345678.12',
      dec_neg_zero: 0,
      dbl: 1.5,
      d: '2024-02-29',
      ts: '2024-01-02T03:04:05.123456Z',
      tstz: '2024-01-02T01:04:05.500Z',
      ts_before_epoch: '1969-12-31T23:59:59.999999Z',
      ts_inf: 'infinity',
      bool_true: true,
      bool_false: false,
      list: [1, 2, null],
      nested_list: [[1.25], []],
      struct: { x: 1, y: 'z', when: '2024-01-01' },
      map: { a: 1, b: 2 },
      int_key_map: { '1': 'one' },
      uuid: '550e8400-e29b-41d4-a716-446655440000',
      blob: Buffer.from([0xaa, 0xbb, 0x00]).toString('base64'),
      nothing: null,
      null_bigint: null,
      text: 'text ünïcode',
    });
    // Nothing that JSON cannot carry (bigint, class instances) is left.
    expect(JSON.parse(JSON.stringify(values))).toEqual(values);
  });

  it('keeps the other timestamp precisions and time/interval as text', async () => {
    const values = await row(`SELECT
      '2024-01-02 03:04:05.123'::TIMESTAMP_MS AS ms,
      '2024-01-02 03:04:05'::TIMESTAMP_S AS s,
      '2024-01-02 03:04:05.123456789'::TIMESTAMP_NS AS ns,
      TIME '13:14:15.5' AS t,
      'nan'::DOUBLE AS nan`);
    expect(values).toEqual({
      ms: '2024-01-02T03:04:05.123Z',
      s: '2024-01-02T03:04:05.000Z',
      // Nanoseconds are cut to microseconds.
      ns: '2024-01-02T03:04:05.123456Z',
      t: '13:14:15.5',
      nan: 'NaN',
    });
  });
});

describe('decimals with few significant digits stay numbers however small', () => {
  it('keeps one kind per column for small and large magnitudes', async () => {
    const { normaliseDecimalText } = await import('../../src/warehouse/normalise.js');
    expect(normaliseDecimalText('0.00000012')).toBe(1.2e-7);
    expect(normaliseDecimalText('-0.00000100')).toBe(-0.000001);
    expect(normaliseDecimalText('1234567890.12345')).toBe(1234567890.12345);
    expect(normaliseDecimalText('1234567890.123456')).toBe('1234567890.123456');
  });
});
