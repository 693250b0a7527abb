import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Mode, OnDelete } from '../../destinations/types.js';
import type { ModelNode } from '../dbt/manifest.js';
import { didYouMean } from '../suggest.js';
import type { ActivateConfig, ConfiguredDestination } from './activate-config.js';
import { formatZodIssues, locate, type YamlSource } from './issues.js';

/** A safety limit: an absolute count or a share of the records already synced. */
export type Limit = { readonly kind: 'count'; readonly value: number } | { readonly kind: 'percent'; readonly value: number };

const LIMIT_FORMAT = 'must be a count (e.g. 500) or a percentage (e.g. "5%")';
// The union's own message: zod reports a bare "Invalid input" when the string branch (a pipe) fails.
const limitSchema = z.union(
  [
    z.number().int().nonnegative(),
    z
      .string()
      .regex(/^\s*\d+(\.\d+)?\s*%\s*$/, LIMIT_FORMAT)
      .transform((s) => Number(s.replace('%', '').trim())),
  ],
  { error: LIMIT_FORMAT },
);

const columnName = z.string().min(1);
const mapping = z.record(z.string().min(1), columnName);

export const ENGINE_KEYS = [
  'name', 'destination', 'mode', 'primary_key', 'identifier', 'fields', 'safety', 'owner', 'enabled',
  'update_fields', 'skip_nulls', 'on_delete', 'maturity',
];

/** dbt's exposure maturity levels (for `activate exposures`). */
export const MATURITIES = ['low', 'medium', 'high'] as const;
export type Maturity = (typeof MATURITIES)[number];

export const activationSchema = z.looseObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'must be letters, digits, "_", "-" and "."')
    .optional(),
  destination: z.string().min(1),
  mode: z.enum(['upsert', 'update', 'create', 'mirror', 'audience']).default('upsert'),
  primary_key: z.union([columnName, z.array(columnName).min(1)]),
  identifier: mapping.optional(),
  fields: mapping.optional(),
  safety: z
    .strictObject({
      max_deletes: limitSchema.optional(),
      max_changes: limitSchema.optional(),
    })
    .optional(),
  owner: z.strictObject({ name: z.string().optional(), email: z.string().optional() }).optional(),
  enabled: z.boolean().default(true),
  update_fields: z.enum(['changed', 'all']).optional(),
  skip_nulls: z.union([z.boolean(), z.array(z.string().min(1)).min(1)]).default(false),
  on_delete: z.enum(['delete', 'archive', 'clear', 'ignore']).default('delete'),
  maturity: z.enum(MATURITIES).optional(),
});

export const DEFAULT_MAX_DELETES: Limit = { kind: 'percent', value: 20 };

export interface SyncSpec {
  /** `<model name>__<destination name>` unless the user named it. */
  readonly id: string;
  readonly model: ModelNode;
  readonly destination: ConfiguredDestination;
  readonly mode: Mode;
  readonly primaryKey: readonly string[];
  /** Destination field -> model column, identifier fields first. */
  readonly identifier: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, string>>;
  /** Connector options: every key of the activation the engine does not own. */
  readonly options: unknown;
  readonly safety: { readonly maxDeletes: Limit | undefined; readonly maxChanges: Limit | undefined };
  readonly owner: { readonly name?: string; readonly email?: string } | undefined;
  /** Maturity of the dbt exposure `activate exposures` writes for this sync, when set. */
  readonly maturity?: Maturity;
  /** Field-level care: which fields a changed record carries, which nulls are never sent, what a removal does. */
  readonly payload: {
    readonly updateFields: 'changed' | 'all';
    /** true: no null is ever sent; a list: no null for those destination fields. */
    readonly skipNulls: boolean | readonly string[];
    readonly onDelete: OnDelete;
  };
  /**
   * Hash of everything that decides what the destination receives. It is part of every
   * row hash, so a mapping change re-sends each row once, and a run that stops half way
   * still leaves the rest marked as not sent under the new mapping.
   */
  readonly fingerprint: string;
  /** Where the activation was written, for messages: "models/marts/x.yml: customer_scores: meta.activation[0]". */
  readonly origin: string;
}

/**
 * Every mapped destination field and the model column it reads, sorted by field name: the row
 * hash follows this order, so reordering keys in YAML must not change it.
 */
export function mappedColumns(spec: Pick<SyncSpec, 'identifier' | 'fields'>): [field: string, column: string][] {
  const seen = new Map<string, string>();
  for (const [field, column] of Object.entries(spec.identifier)) seen.set(field, column);
  for (const [field, column] of Object.entries(spec.fields)) if (!seen.has(field)) seen.set(field, column);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The activation blocks of one model, normalised; problems are appended, never thrown one by one.
 * `source`, when given, is the model's YAML file with `base` at its `activation:` node, so that
 * problems say "(line L, column C)".
 */
export function syncSpecsOfModel(model: ModelNode, config: ActivateConfig, problems: string[], source?: YamlSource): SyncSpec[] {
  const raw = model.meta.activation;
  if (raw === undefined || raw === null) return [];
  const file = model.yamlPath ?? model.sqlPath ?? model.uniqueId;
  const entries = Array.isArray(raw) ? raw : [raw];
  const specs: SyncSpec[] = [];
  entries.forEach((entry, index) => {
    const where = Array.isArray(raw) ? `meta.activation[${index}]` : 'meta.activation';
    const origin = `${file}: ${model.name}: ${where}`;
    const at: YamlSource | undefined = source && { ...source, base: [...(source.base ?? []), ...(Array.isArray(raw) ? [index] : [])] };
    const pos = (...path: (string | number)[]) => locate(at, path);
    const keyPos = (key: string) => locate(at, [key], { key: true });
    const parsed = activationSchema.safeParse(entry);
    if (!parsed.success) {
      // A misspelt engine key ("primary_kye") shows as a missing one: name the typo too.
      for (const key of Object.keys(entry && typeof entry === 'object' ? entry : {})) {
        if (ENGINE_KEYS.includes(key)) continue;
        const suggestion = didYouMean(key, ENGINE_KEYS);
        if (suggestion) problems.push(`${origin}: unknown key "${key}"${suggestion}${keyPos(key)}`);
      }
      problems.push(...formatZodIssues(parsed.error, file, { prefix: `${model.name}: ${where}`, source: at, schema: activationSchema, input: entry }));
      return;
    }
    const a = parsed.data;
    if (!a.enabled) return;
    const destination = config.destinations.get(a.destination);
    if (!destination) {
      const known = [...config.destinations.keys()];
      problems.push(
        `${origin}.destination: unknown destination "${a.destination}"${didYouMean(a.destination, known)}; ` +
          `destinations in ${config.file}: ${known.join(', ') || '(none)'}${pos('destination')}`,
      );
      return;
    }
    if (!destination.definition.modes.includes(a.mode)) {
      problems.push(
        `${origin}.mode: "${a.mode}" is not supported by ${destination.type} destinations; use one of ${destination.definition.modes.join(', ')}${pos('mode')}`,
      );
      return;
    }
    const supportedOnDelete = destination.definition.onDelete ?? ['delete'];
    if (a.on_delete !== 'delete' && a.mode !== 'mirror' && a.mode !== 'audience') {
      problems.push(`${origin}.on_delete: applies to records leaving a mirror; mode is ${a.mode}${pos('on_delete')}`);
      return;
    }
    if (!supportedOnDelete.includes(a.on_delete)) {
      problems.push(
        `${origin}.on_delete: "${a.on_delete}" is not supported by ${destination.type} destinations; use one of ${supportedOnDelete.join(', ')}${pos('on_delete')}`,
      );
      return;
    }
    const identifier = a.identifier ?? {};
    const fields = a.fields ?? {};
    if (Object.keys(identifier).length + Object.keys(fields).length === 0) {
      problems.push(`${origin}: map at least one column under fields: (destination field: model column)${pos()}`);
      return;
    }
    const optionInput = Object.fromEntries(Object.entries(entry as object).filter(([k]) => !ENGINE_KEYS.includes(k)));
    const options = destination.definition.options.safeParse(optionInput);
    if (!options.success) {
      problems.push(
        ...formatZodIssues(options.error, file, {
          prefix: `${model.name}: ${where}`,
          source: at,
          schema: destination.definition.options,
          extraKeys: ENGINE_KEYS,
        }),
      );
      return;
    }
    const primaryKey = typeof a.primary_key === 'string' ? [a.primary_key] : a.primary_key;
    const spec = {
      id: a.name ?? `${model.name}__${a.destination}`,
      model,
      destination,
      mode: a.mode,
      primaryKey,
      identifier,
      fields,
      options: options.data,
      safety: {
        maxDeletes: toLimit(a.safety?.max_deletes, entry, 'max_deletes') ?? DEFAULT_MAX_DELETES,
        maxChanges: toLimit(a.safety?.max_changes, entry, 'max_changes'),
      },
      owner: a.owner,
      maturity: a.maturity,
      payload: {
        updateFields: a.update_fields ?? (destination.definition.partialUpdates ? 'changed' : 'all'),
        skipNulls: a.skip_nulls,
        onDelete: a.on_delete,
      },
      origin,
    };
    specs.push({ ...spec, fingerprint: fingerprintOf(spec) });
  });
  return specs;
}

function toLimit(value: number | undefined, entry: unknown, key: string): Limit | undefined {
  if (value === undefined) return undefined;
  const written = (entry as { safety?: Record<string, unknown> }).safety?.[key];
  return typeof written === 'string' ? { kind: 'percent', value } : { kind: 'count', value };
}

function fingerprintOf(spec: Omit<SyncSpec, 'fingerprint'>): string {
  const sorted = (r: Readonly<Record<string, string>>) => Object.entries(r).sort(([a], [b]) => a.localeCompare(b));
  const basis = JSON.stringify({
    v: 1,
    // The name too: the same sync pointed at another account of the same type must send everything there.
    destination: spec.destination.name,
    type: spec.destination.type,
    mode: spec.mode,
    key: spec.primaryKey,
    identifier: sorted(spec.identifier),
    fields: sorted(spec.fields),
    options: spec.options,
    payload: spec.payload,
  });
  return createHash('sha256').update(basis).digest('hex').slice(0, 16);
}
