/** A response body as JSON, or undefined when it is empty or not JSON (vendors answer text, HTML, nothing). */
export function parseJson(text: string | undefined): unknown {
  if (!text || text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** JSON.stringify replacer: exact integers beyond 2^53 travel as strings instead of throwing. */
export function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
