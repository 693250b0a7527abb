/**
 * HubSpot property values: every value travels as a string inside `properties`.
 * - date properties: epoch milliseconds at midnight UTC, or YYYY-MM-DD (`date_format: iso`);
 * - datetime properties: epoch milliseconds, or ISO 8601 UTC with millisecond precision;
 * - booleans: "true" / "false"; multi-select checkboxes: option values joined by ";";
 * - numbers: plain decimal text; null: "" (HubSpot clears a property given an empty string).
 * Sources: the properties guide (type table: date and datetime accept ISO 8601 or epoch ms),
 * the timestamp FAQ (date = midnight UTC, else an error) and the multi-checkbox FAQ.
 */

/** What the properties API says about one property (only what the connector uses). */
export interface PropertyDefinition {
  readonly name: string;
  /** string | number | date | datetime | enumeration | bool | phone_number | json | object_coordinates */
  readonly type: string;
  /** text | textarea | number | date | select | radio | checkbox | booleancheckbox | calculation_* | ... */
  readonly fieldType: string;
  readonly hasUniqueValue: boolean;
  /** Set by HubSpot (or calculated): a write is refused. */
  readonly readOnly: boolean;
  /** Allowed internal values of an enumeration. */
  readonly options: readonly string[];
}

export type DateFormat = 'epoch_ms' | 'iso';

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** How activate normalises timestamps (warehouse/normalise.ts): ISO 8601 in UTC ending in Z. */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Parses the `results` of GET /crm/v3/properties/{objectType}; unknown shapes are skipped. */
export function parseProperties(json: unknown): Map<string, PropertyDefinition> {
  const out = new Map<string, PropertyDefinition>();
  const results = (json as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) return out;
  for (const raw of results as unknown[]) {
    if (typeof raw !== 'object' || raw === null) continue;
    const p = raw as Record<string, unknown>;
    if (typeof p.name !== 'string') continue;
    const metadata = (p.modificationMetadata ?? {}) as { readOnlyValue?: unknown };
    const fieldType = typeof p.fieldType === 'string' ? p.fieldType : '';
    out.set(p.name, {
      name: p.name,
      type: typeof p.type === 'string' ? p.type : 'string',
      fieldType,
      hasUniqueValue: p.hasUniqueValue === true,
      readOnly: metadata.readOnlyValue === true || p.calculated === true || fieldType.startsWith('calculation_'),
      options: Array.isArray(p.options)
        ? (p.options as unknown[]).flatMap((o) =>
            typeof o === 'object' && o !== null && typeof (o as { value?: unknown }).value === 'string'
              ? [(o as { value: string }).value]
              : [],
          )
        : [],
    });
  }
  return out;
}

/**
 * The string HubSpot expects for `value`. With the property's definition the type decides;
 * without it (definitions not read) the value's shape does: text that looks like a date or an
 * ISO timestamp is then sent as a date.
 */
export function formatValue(value: unknown, definition: PropertyDefinition | undefined, dateFormat: DateFormat): string {
  if (value === null || value === undefined) return '';
  const type = definition?.type;
  if (type === 'date') return formatDate(value, dateFormat);
  if (type === 'datetime') return formatDateTime(value, dateFormat);
  if (type === 'bool' || definition?.fieldType === 'booleancheckbox') return formatBoolean(value);
  if (type === 'number') return formatNumber(value);
  if (definition === undefined && typeof value === 'string') {
    if (DATE_ONLY.test(value)) return formatDate(value, dateFormat);
    if (ISO_TIMESTAMP.test(value)) return formatDateTime(value, dateFormat);
  }
  return formatPlain(value);
}

function formatPlain(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' || typeof value === 'bigint') return formatNumber(value);
  // Lists are multi-select values: HubSpot joins internal option values with ";".
  if (Array.isArray(value)) return value.filter((v) => v !== null && v !== undefined).map(formatPlain).join(';');
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function formatBoolean(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return value === 0 ? 'false' : 'true';
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (['true', 't', 'yes', 'y', '1'].includes(text)) return 'true';
    if (['false', 'f', 'no', 'n', '0'].includes(text)) return 'false';
  }
  return formatPlain(value);
}

/** Plain decimal text: never an exponent, which HubSpot's number properties do not read. */
function formatNumber(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'number') return formatPlain(value);
  if (!Number.isFinite(value)) return String(value);
  const text = String(value);
  if (!/e/i.test(text)) return text;
  return value.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 20 });
}

/**
 * Midnight UTC of the value's (UTC) calendar date. Numbers are sent as they are: a count of
 * seconds where milliseconds are due must be refused by HubSpot ("not midnight"), not turned
 * silently into a day in January 1970.
 */
function formatDate(value: unknown, dateFormat: DateFormat): string {
  if (typeof value === 'number') return formatNumber(value);
  const day = utcDay(value);
  if (day === undefined) return formatPlain(value);
  return dateFormat === 'iso' ? new Date(day).toISOString().slice(0, 10) : String(day);
}

function formatDateTime(value: unknown, dateFormat: DateFormat): string {
  if (typeof value === 'number') return formatNumber(value);
  const ms = epochMs(value);
  if (ms === undefined) return formatPlain(value);
  return dateFormat === 'iso' ? new Date(ms).toISOString() : String(ms);
}

function epochMs(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value);
  if (typeof value !== 'string') return undefined;
  if (/^-?\d+$/.test(value)) return Number(value);
  if (!DATE_ONLY.test(value) && !ISO_TIMESTAMP.test(value)) return undefined;
  const ms = Date.parse(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value);
  return Number.isNaN(ms) ? undefined : ms;
}

function utcDay(value: unknown): number | undefined {
  const ms = epochMs(value);
  if (ms === undefined) return undefined;
  const date = new Date(ms);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
}

/** A warehouse type name reduced to what matters for HubSpot: which property types it fits. */
export type ColumnKind = 'boolean' | 'integer' | 'decimal' | 'date' | 'timestamp' | 'text' | 'list' | 'other';

export function columnKind(type: string | undefined): ColumnKind | undefined {
  if (!type) return undefined;
  const t = type.trim().toLowerCase();
  if (/\[\]$|^array|^list|^struct|^map|^json|^variant|^object|^record/.test(t)) return /\[\]$|^array|^list/.test(t) ? 'list' : 'other';
  if (/^bool/.test(t)) return 'boolean';
  if (/^(tinyint|smallint|int|integer|bigint|hugeint|ubigint|uinteger|usmallint|utinyint|int2|int4|int8|int64|serial|bigserial|long|short|byte)\b/.test(t)) {
    return 'integer';
  }
  if (/^(decimal|numeric|number|real|float|double|float4|float8|float64|bignumeric)/.test(t)) return 'decimal';
  if (/^date$/.test(t)) return 'date';
  if (/^(timestamp|datetime|timestamptz)/.test(t)) return 'timestamp';
  if (/^(varchar|char|text|string|character|bpchar|citext|uuid|enum)/.test(t)) return 'text';
  return 'other';
}

/** Why a column of `kind` cannot feed the property, or undefined when it fits (or may). */
export function typeMismatch(definition: PropertyDefinition, kind: ColumnKind | undefined): string | undefined {
  if (kind === undefined || kind === 'other' || kind === 'text') return undefined;
  const isBool = definition.type === 'bool' || definition.fieldType === 'booleancheckbox';
  if (isBool) return kind === 'boolean' || kind === 'integer' ? undefined : `a ${kindName(kind)} column cannot fill a HubSpot checkbox (true/false) property`;
  switch (definition.type) {
    case 'number':
      return kind === 'integer' || kind === 'decimal' ? undefined : `a ${kindName(kind)} column cannot fill a HubSpot number property`;
    case 'date':
    case 'datetime':
      return kind === 'date' || kind === 'timestamp' || kind === 'integer'
        ? undefined
        : `a ${kindName(kind)} column cannot fill a HubSpot ${definition.type} property`;
    case 'enumeration':
      if (kind === 'list' && definition.fieldType !== 'checkbox') {
        return `a list column fills only multiple-checkbox properties; this one is a ${definition.fieldType || 'single-choice'} property`;
      }
      return undefined;
    default:
      return undefined;
  }
}

function kindName(kind: ColumnKind): string {
  return kind === 'timestamp' ? 'timestamp' : kind;
}
