import { z } from 'zod';
import { DestinationError } from '../../src/errors.js';
import { describeErrors, parseJson, type SalesforceApi } from './api.js';
import { looseMatchText, matchText, soqlLiteralFor } from './values.js';

/** Literals per query: keeps the GET URL well under Salesforce's 16,384-character URI limit. */
const MAX_LITERAL_CHARS = 6_000;
const MAX_VALUES = 200;

const queryPageSchema = z.looseObject({
  done: z.boolean(),
  nextRecordsUrl: z.string().optional(),
  records: z.array(z.record(z.string(), z.unknown())),
});

/**
 * Record Ids by identifier value, found with SOQL (`SELECT Id, <field> FROM <object> WHERE
 * <field> IN (...)`), in as many queries as the values need. Keys are the loose match text of the
 * value (trimmed, case-insensitive: SOQL compares text that way), values every matching Id.
 * `fieldType` (from the object's describe, when known) decides how values are written as literals.
 */
export async function lookupIds(
  api: SalesforceApi,
  object: string,
  field: string,
  values: readonly unknown[],
  signal: AbortSignal | undefined,
  fieldType?: string,
): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const distinct = new Map<string, unknown>();
  for (const value of values) if (value !== null && value !== undefined && value !== '') distinct.set(matchText(value), value);

  let batch: string[] = [];
  let chars = 0;
  const groups: string[][] = [];
  for (const value of distinct.values()) {
    const literal = soqlLiteralFor(value, fieldType);
    if (batch.length > 0 && (batch.length >= MAX_VALUES || chars + literal.length > MAX_LITERAL_CHARS)) {
      groups.push(batch);
      batch = [];
      chars = 0;
    }
    batch.push(literal);
    chars += literal.length + 1;
  }
  if (batch.length > 0) groups.push(batch);

  for (const literals of groups) {
    const soql = `SELECT Id, ${field} FROM ${object} WHERE ${field} IN (${literals.join(',')})`;
    let path = `/query?q=${encodeURIComponent(soql)}`;
    let fromRoot = false;
    for (;;) {
      const response = await api.send({ method: 'GET', path, fromRoot, signal });
      if (response.status !== 200) {
        throw new DestinationError(
          `${api.label}: cannot look up ${object} records by ${field}: ${describeErrors(response)}`,
          { status: response.status },
        );
      }
      const page = queryPageSchema.safeParse(parseJson(response.text));
      if (!page.success) throw new DestinationError(`${api.label}: unexpected answer to a ${object} query by ${field}`);
      for (const record of page.data.records) {
        const id = record.Id;
        const value = fieldValue(record, field);
        if (typeof id !== 'string' || value === undefined || value === null) continue;
        const key = looseMatchText(matchText(value));
        const ids = found.get(key);
        if (ids) {
          if (!ids.includes(id)) ids.push(id);
        } else found.set(key, [id]);
      }
      if (page.data.done || !page.data.nextRecordsUrl) break;
      path = page.data.nextRecordsUrl;
      fromRoot = true;
    }
  }
  return found;
}

/** A field of a query record; field names are case-insensitive in Salesforce. */
function fieldValue(record: Readonly<Record<string, unknown>>, field: string): unknown {
  if (field in record) return record[field];
  const lower = field.toLowerCase();
  const name = Object.keys(record).find((k) => k.toLowerCase() === lower);
  return name === undefined ? undefined : record[name];
}
