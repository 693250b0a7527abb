/** A merge field as `GET /lists/{list_id}/merge-fields` describes it (only what is used). */
export interface MergeField {
  readonly tag: string;
  readonly name: string;
  /** text, number, address, phone, date, birthday, zip, url, imageurl, dropdown, radio */
  readonly type: string;
  readonly required: boolean;
  readonly options?: { readonly date_format?: string; readonly choices?: readonly string[] };
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$/;
const TEXT_TYPES = new Set(['text', 'phone', 'zip', 'url', 'imageurl', 'dropdown', 'radio']);

/**
 * A warehouse value as the merge field wants it:
 * - null becomes "" (Mailchimp clears a merge field with an empty string);
 * - ISO dates (`2024-07-01`, how activate sends DATE values) are written in the field's own
 *   format: `MM/DD/YYYY` or `DD/MM/YYYY` for date fields, `MM/DD` or `DD/MM` for birthdays;
 * - numbers and booleans become text for text-like fields; 64-bit integers become exact strings.
 * Anything else (addresses as objects, values of unknown fields) is sent as it is.
 */
export function convertMergeValue(value: unknown, field: MergeField | undefined): unknown {
  if (value === null || value === undefined) return '';
  if (typeof value === 'bigint') return value.toString();
  if (!field) return value;
  if (field.type === 'date' || field.type === 'birthday') {
    if (typeof value !== 'string') return value;
    const iso = ISO_DATE.exec(value);
    if (!iso) return value;
    const [, year, month, day] = iso as unknown as [string, string, string, string];
    const format = (field.options?.date_format ?? (field.type === 'birthday' ? 'MM/DD' : 'MM/DD/YYYY')).toUpperCase();
    return format.replace('YYYY', year).replace('MM', month).replace('DD', day);
  }
  if (TEXT_TYPES.has(field.type) && (typeof value === 'number' || typeof value === 'boolean')) return String(value);
  return value;
}
