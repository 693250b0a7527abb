/**
 * Column types for create_table, read from the values activate sends (warehouse/normalise.ts
 * gives each kind of value one JSON form): the narrowest PostgreSQL type that takes every
 * non-null value seen. `columns:` in the sync's options overrides any of them.
 */
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const TIMESTAMPTZ = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$/;
/** Exact decimal text: how big integers and wide decimals arrive (normaliseBigInt, normaliseDecimalText). */
const DECIMAL_TEXT = /^-?\d+(\.\d+)?$/;
const INT64_MAX = 2n ** 63n - 1n;

export function inferColumnType(values: readonly unknown[]): string {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return 'text';
  if (present.some((v) => typeof v === 'object')) return 'jsonb';
  if (present.every((v) => typeof v === 'boolean')) return 'boolean';

  const numbers = present.filter((v): v is number | bigint => typeof v === 'number' || typeof v === 'bigint');
  const strings = present.filter((v): v is string => typeof v === 'string');
  if (numbers.length === present.length) {
    if (numbers.every((n) => typeof n === 'bigint' ? n <= INT64_MAX && n >= -INT64_MAX - 1n : Number.isInteger(n))) return 'bigint';
    return 'double precision';
  }
  // Numbers mixed with exact decimal text: a value a double could not hold came as text.
  if (numbers.length > 0 && numbers.length + strings.length === present.length && strings.every((s) => DECIMAL_TEXT.test(s))) {
    return 'numeric';
  }
  if (strings.length === present.length) {
    if (strings.every((s) => DATE.test(s))) return 'date';
    // A date among timestamps is their midnight.
    if (strings.every((s) => TIMESTAMPTZ.test(s) || DATE.test(s))) return 'timestamptz';
    if (strings.every((s) => TIMESTAMP.test(s) || DATE.test(s))) return 'timestamp';
  }
  return 'text';
}

/** The names PostgreSQL's format_type() gives the types inferColumnType() returns. */
export function canonicalType(type: string): string {
  if (type === 'timestamptz') return 'timestamp with time zone';
  if (type === 'timestamp') return 'timestamp without time zone';
  return type;
}

const NUMBERS = ['bigint', 'double precision', 'numeric'];
const TIMES = ['date', 'timestamp without time zone', 'timestamp with time zone'];

/** Whether a column of type `current` takes values whose own type is `needed` without error or loss. */
function accepts(current: string, needed: string): boolean {
  if (current === needed || current === 'text' || current === 'jsonb') return true;
  if (current === 'numeric') return NUMBERS.includes(needed);
  if (current === 'double precision') return needed === 'bigint';
  if (current === 'timestamp with time zone') return TIMES.includes(needed);
  if (current === 'timestamp without time zone') return needed === 'date';
  return false;
}

/** The narrowest type holding both. */
function join(a: string, b: string): string {
  if (NUMBERS.includes(a) && NUMBERS.includes(b)) return a === 'numeric' || b === 'numeric' ? 'numeric' : 'double precision';
  if (TIMES.includes(a) && TIMES.includes(b)) {
    return a === 'timestamp with time zone' || b === 'timestamp with time zone' ? 'timestamp with time zone' : 'timestamp without time zone';
  }
  if (a === 'jsonb' || b === 'jsonb') return 'jsonb';
  return 'text';
}

/**
 * For a column whose type create_table inferred from earlier values: the type to widen it to so
 * that it takes these values too (whole numbers first, then a fraction: bigint -> double
 * precision), or undefined when it takes them as it is.
 */
export function widenedType(current: string, values: readonly unknown[]): string | undefined {
  if (!values.some((v) => v !== null && v !== undefined)) return undefined;
  const needed = canonicalType(inferColumnType(values));
  return accepts(current, needed) ? undefined : join(current, needed);
}
