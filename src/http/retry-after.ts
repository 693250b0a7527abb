/** The longest wait a server's `Retry-After` may ask for when the policy's own cap is lower. */
export const RETRY_AFTER_FLOOR_CAP_MS = 60_000;

/**
 * How long a server may make us wait: the policy's `maxDelayMs`, but never less than a
 * minute, so a server asking for 45 s is obeyed instead of being hammered early.
 */
export function retryAfterCapMs(maxDelayMs: number): number {
  return Math.max(maxDelayMs, RETRY_AFTER_FLOOR_CAP_MS);
}

/**
 * Parses a `Retry-After` value (RFC 9110 §10.2.3): either delay-seconds or an HTTP-date.
 * Returns the wait in milliseconds, at least 0 and at most `capMs`, or undefined when the
 * header is absent or unreadable (the caller then falls back to its own backoff).
 */
export function parseRetryAfter(
  value: string | undefined,
  options: { readonly now?: number; readonly capMs?: number } = {},
): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  const capMs = options.capMs ?? Number.POSITIVE_INFINITY;

  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, capMs);

  // Only date forms: Date.parse also accepts things like "1.5" or "5 s", which are not dates.
  if (!/[a-z]/i.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  const now = options.now ?? Date.now();
  return Math.min(Math.max(0, date - now), capMs);
}
