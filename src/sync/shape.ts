import type { Change } from '../../destinations/types.js';
import type { SyncSpec } from '../config/sync-spec.js';

/**
 * What is sent for a planned change, after the sync's field-level care:
 * - `update_fields: changed`: a changed record carries its identifier and only the fields whose
 *   values differ from those last sent;
 * - `skip_nulls`: nulls are left out, so gaps in the warehouse never erase what people entered;
 * - `on_delete`: a removed record is deleted, archived, cleared (mapped fields set to null) or
 *   left alone.
 * `undefined` means nothing needs sending, yet the change counts as done (state moves on).
 */
export function shapeChange(change: Change, spec: SyncSpec): Change | undefined {
  const { payload } = spec;
  const identifierFields = new Set(Object.keys(spec.identifier));
  if (change.kind === 'removed') {
    switch (payload.onDelete) {
      case 'ignore':
        return undefined;
      case 'archive':
        return { ...change, operation: 'archive' };
      case 'clear': {
        const cleared = Object.fromEntries(
          Object.entries(change.fields).map(([field, value]) => [field, identifierFields.has(field) ? value : null]),
        );
        return { ...change, operation: 'upsert', fields: cleared };
      }
      case 'delete':
        return change;
    }
  }
  let fields: Record<string, unknown> = { ...change.fields };
  if (change.kind === 'changed' && payload.updateFields === 'changed' && change.previous) {
    const previous = change.previous;
    fields = Object.fromEntries(
      Object.entries(fields).filter(
        ([field, value]) => identifierFields.has(field) || !sameValue(value, previous[field]),
      ),
    );
  }
  if (payload.skipNulls !== false) {
    const skipped = payload.skipNulls === true ? undefined : new Set(payload.skipNulls);
    fields = Object.fromEntries(
      Object.entries(fields).filter(
        ([field, value]) => value !== null || identifierFields.has(field) || (skipped !== undefined && !skipped.has(field)),
      ),
    );
  }
  const carriesData = Object.keys(fields).some((field) => !identifierFields.has(field));
  if (change.kind === 'changed' && !carriesData) return undefined;
  return { ...change, fields };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
