import { z } from 'zod';
import { DestinationError } from '../../src/errors.js';
import { didYouMean } from '../../src/suggest.js';
import type { MappedField } from '../types.js';
import { describeErrors, parseJson, type SalesforceApi } from './api.js';

const describeSchema = z.looseObject({
  name: z.string(),
  createable: z.boolean().optional(),
  updateable: z.boolean().optional(),
  fields: z.array(
    z.looseObject({
      name: z.string(),
      type: z.string(),
      createable: z.boolean().optional(),
      updateable: z.boolean().optional(),
      externalId: z.boolean().optional(),
      idLookup: z.boolean().optional(),
      calculated: z.boolean().optional(),
    }),
  ),
});

export type ObjectDescription = z.output<typeof describeSchema>;
type FieldDescription = ObjectDescription['fields'][number];

/** `GET /sobjects/{object}/describe`; undefined when the object does not exist (404). */
export async function describeObject(api: SalesforceApi, object: string): Promise<ObjectDescription | undefined> {
  const response = await api.send({ method: 'GET', path: `/sobjects/${encodeURIComponent(object)}/describe` });
  if (response.status === 404) return undefined;
  const parsed = response.status === 200 ? describeSchema.safeParse(parseJson(response.text)) : undefined;
  if (!parsed?.success) {
    throw new DestinationError(`${api.label}: cannot describe ${object}: ${describeErrors(response)}`, { status: response.status });
  }
  return parsed.data;
}

type Kind = 'text' | 'integer' | 'number' | 'boolean' | 'date' | 'timestamp' | 'time' | 'binary' | 'structured';

/** What a Salesforce field type holds. */
const SALESFORCE_KINDS: Readonly<Record<string, Kind>> = {
  string: 'text', textarea: 'text', email: 'text', phone: 'text', url: 'text', picklist: 'text',
  multipicklist: 'text', combobox: 'text', encryptedstring: 'text', id: 'text', reference: 'text',
  int: 'integer', long: 'integer', double: 'number', currency: 'number', percent: 'number',
  boolean: 'boolean', date: 'date', datetime: 'timestamp', time: 'time', base64: 'binary',
  address: 'structured', location: 'structured',
};

/** What a warehouse column type holds (DuckDB, PostgreSQL, Snowflake and BigQuery names). */
function columnKind(type: string): Kind | undefined {
  const t = type.trim().toUpperCase();
  if (/^(TIMESTAMP|DATETIME)/.test(t) || t === 'TIMESTAMPTZ') return 'timestamp';
  if (t === 'DATE') return 'date';
  if (/^TIME\b/.test(t) || t === 'TIMETZ') return 'time';
  if (t === 'BOOLEAN' || t === 'BOOL') return 'boolean';
  if (/^(TINYINT|SMALLINT|INTEGER|INT|INT2|INT4|INT8|INT64|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|BYTEINT)$/.test(t)) return 'integer';
  const decimal = /^(DECIMAL|NUMERIC|NUMBER|BIGNUMERIC|BIGDECIMAL)\s*(?:\(\s*\d+\s*(?:,\s*(\d+)\s*)?\))?$/.exec(t);
  if (decimal) {
    if (decimal[2] !== undefined) return Number(decimal[2]) === 0 ? 'integer' : 'number';
    // DECIMAL(p) has scale 0; a bare NUMBER is Snowflake's NUMBER(38,0); bare DECIMAL/NUMERIC may hold fractions.
    return t.includes('(') || t.startsWith('NUMBER') ? 'integer' : 'number';
  }
  if (/^(REAL|FLOAT|FLOAT4|FLOAT8|FLOAT64|DOUBLE|DOUBLE PRECISION)$/.test(t)) return 'number';
  if (/^(VARCHAR|CHAR|CHARACTER|TEXT|STRING|UUID|CHARACTER VARYING|NVARCHAR|BPCHAR)/.test(t)) return 'text';
  if (/^(BLOB|BYTEA|BYTES|BINARY|VARBINARY)/.test(t)) return 'binary';
  if (/^(STRUCT|MAP|JSON|JSONB|VARIANT|OBJECT|ARRAY|LIST|RECORD)|\[\]$/.test(t)) return 'structured';
  return undefined;
}

/** Pairs that cannot work: [Salesforce kind] -> column kinds it cannot take. */
const INCOMPATIBLE: Readonly<Record<Kind, readonly Kind[]>> = {
  text: ['binary'],
  integer: ['boolean', 'date', 'timestamp', 'time', 'binary', 'structured', 'number'],
  number: ['boolean', 'date', 'timestamp', 'time', 'binary', 'structured'],
  boolean: ['date', 'timestamp', 'time', 'number', 'binary', 'structured'],
  date: ['boolean', 'integer', 'number', 'timestamp', 'time', 'binary', 'structured'],
  timestamp: ['boolean', 'integer', 'number', 'date', 'time', 'binary', 'structured'],
  time: ['boolean', 'integer', 'number', 'date', 'timestamp', 'binary', 'structured'],
  binary: ['boolean', 'integer', 'number', 'date', 'timestamp', 'time', 'structured'],
  structured: [],
};

/**
 * `activate validate --online`: the object exists, each mapped field exists on it and can be
 * written (createable or updateable), the identifier can match records (Id, an External ID or
 * an idLookup field), and the column's warehouse type fits the field's type.
 */
export async function checkMappingAgainst(api: SalesforceApi, object: string, fields: readonly MappedField[]): Promise<string[]> {
  const description = await describeObject(api, object);
  if (!description) return [`object ${object} does not exist in Salesforce, or the API user cannot see it`];
  const problems: string[] = [];
  if (description.createable === false && description.updateable === false) {
    problems.push(`object ${description.name} can be neither created nor updated by the API user`);
  }
  const byName = new Map(description.fields.map((f) => [f.name.toLowerCase(), f]));
  for (const mapped of fields) {
    const field = byName.get(mapped.field.toLowerCase());
    if (!field) {
      problems.push(
        `field ${mapped.field} does not exist on ${description.name}${didYouMean(mapped.field, description.fields.map((f) => f.name))} ` +
          '(use field API names; custom fields end in __c)',
      );
      continue;
    }
    problems.push(...fieldProblems(description.name, field, mapped));
  }
  return problems;
}

function fieldProblems(object: string, field: FieldDescription, mapped: MappedField): string[] {
  const problems: string[] = [];
  const name = `${object}.${field.name}`;
  const isId = field.name === 'Id';
  if (mapped.isIdentifier) {
    if (!isId && !field.externalId && !field.idLookup) {
      problems.push(`identifier ${name} cannot match records: use Id, an External ID field or a unique field Salesforce can look records up by`);
    }
  } else if (isId) {
    problems.push(`${name} cannot be written; map it under identifier: to update records by their Salesforce Id (mode: update)`);
  } else if (field.createable === false && field.updateable === false) {
    problems.push(`field ${name} is read-only (${field.calculated ? 'a formula or roll-up' : 'a system or read-only'} field) and cannot be written`);
  }
  const sfKind = SALESFORCE_KINDS[field.type];
  const kind = mapped.columnType === undefined ? undefined : columnKind(mapped.columnType);
  if (sfKind === 'structured' && !mapped.isIdentifier) {
    problems.push(`field ${name} is a compound ${field.type} field; map its parts (e.g. MailingCity, MailingPostalCode) instead`);
  } else if (sfKind !== undefined && kind !== undefined && INCOMPATIBLE[sfKind].includes(kind)) {
    problems.push(
      `column ${mapped.column} (${mapped.columnType}) does not fit ${name} (${field.type})${hint(sfKind, kind)}`,
    );
  }
  return problems;
}

function hint(field: Kind, column: Kind): string {
  if (field === 'date' && column === 'timestamp') return '; cast the column to date';
  if (field === 'timestamp' && column === 'date') return '; cast the column to a timestamp';
  if (field === 'integer' && column === 'number') return '; round or cast the column to an integer';
  return '';
}
