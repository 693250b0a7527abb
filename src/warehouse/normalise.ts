/**
 * One canonical JSON-safe form per kind of value, whichever warehouse it came from, so the
 * same row is sent and stored the same way everywhere:
 * - integers: a number when it is a safe integer, else its decimal text (no precision lost);
 * - decimals: a number when the number prints back to the same value, else the exact text;
 * - dates: "YYYY-MM-DD"; timestamps: ISO 8601 in UTC with "Z" (naive timestamps are read as UTC);
 * - binary: base64; nested lists and structs: arrays and objects of normalised values.
 */
export function normaliseBigInt(value: bigint): number | string {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value.toString();
}

/** Significant digits a double always holds exactly. */
const EXACT_DIGITS = 15;

export function normaliseDecimalText(text: string): number | string {
  const trimmed = trimDecimal(text);
  const n = Number(trimmed);
  if (!Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER) return trimmed;
  const significant = trimmed.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  return significant.length <= EXACT_DIGITS ? n : trimmed;
}

function trimDecimal(text: string): string {
  if (!text.includes('.') || /e/i.test(text)) return text;
  const out = text.replace(/0+$/, '').replace(/\.$/, '');
  return out === '-0' ? '0' : out;
}

export function isoFromEpochMicros(micros: bigint): string {
  const millis = micros / 1000n;
  let remainder = micros % 1000n;
  let base = millis;
  if (remainder < 0n) {
    remainder += 1000n;
    base -= 1n;
  }
  const date = new Date(Number(base));
  // DuckDB's infinity timestamps and other values outside JavaScript's date range.
  if (Number.isNaN(date.getTime())) return micros < 0n ? '-infinity' : 'infinity';
  const iso = date.toISOString();
  if (remainder === 0n) return iso;
  return `${iso.slice(0, -1)}${remainder.toString().padStart(3, '0')}Z`;
}
