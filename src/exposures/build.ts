import { createHash } from 'node:crypto';
import type { Mode } from '../../destinations/types.js';
import { mappedColumns, type Maturity, type SyncSpec } from '../config/sync-spec.js';
import { ConfigError } from '../errors.js';
import type { Project } from '../project/load-project.js';
import { ownerEmailRequired, parseDbtVersion } from './dbt-version.js';

/** The `meta` key that marks an exposure as written by activate, holding the sync id. */
export const SYNC_META_KEY = 'activate_sync';
/** The tag every exposure activate writes carries (`dbt ls -s tag:activate` lists them). */
export const EXPOSURE_TAG = 'activate';
export const DEFAULT_MATURITY: Maturity = 'medium';

export interface ExposureOwner {
  readonly name?: string;
  readonly email?: string;
}

/** One dbt exposure of `type: application` for one sync, before it is placed in YAML. */
export interface Exposure {
  readonly syncId: string;
  /** A dbt identifier (`[A-Za-z0-9_]+`), derived from the sync id only: see exposureName(). */
  readonly name: string;
  readonly label: string;
  readonly type: 'application';
  readonly maturity: Maturity;
  /** Where the synced object can be seen, when the destination can say (never a secret). */
  readonly url: string | undefined;
  readonly description: string;
  /** `ref('model')`, `ref('package', 'model')`, `ref('model', v=2)`. */
  readonly dependsOn: readonly string[];
  readonly owner: ExposureOwner;
  readonly meta: Readonly<Record<string, string>>;
  readonly tags: readonly string[];
}

/**
 * The exposure name for a sync id: `activate_<sync id>` when the id is already made of
 * letters, digits and underscores; otherwise every other character run becomes `_` and a
 * short hash of the id is appended (`crm.contacts` -> `activate_crm_contacts_<6 hex>`), so
 * ids that differ only in punctuation still get different names. It depends on nothing but
 * the id, so it never changes while the sync keeps its name.
 */
export function exposureName(syncId: string): string {
  if (/^[A-Za-z0-9_]+$/.test(syncId)) return `activate_${syncId}`;
  const cleaned = syncId.replace(/[^A-Za-z0-9_]+/g, '_');
  const hash = createHash('sha256').update(syncId).digest('hex').slice(0, 6);
  return `activate_${cleaned}_${hash}`;
}

type ProjectParts = Pick<Project, 'dbt' | 'manifest' | 'config' | 'syncs' | 'redactor'>;

/**
 * One exposure per sync, in sync id order. Every sync needs an owner (dbt requires one): the
 * sync's `owner`, else the model's `meta.owner`, else `defaults.owner` in activate.yml; dbt
 * before 1.5 also needs its email. Syncs without one are reported together (ConfigError).
 */
export function buildExposures(project: ProjectParts): Exposure[] {
  const version = parseDbtVersion(project.manifest.dbtVersion);
  const problems: string[] = [];
  const exposures: Exposure[] = [];
  const names = new Map<string, string>();
  for (const sync of [...project.syncs].sort((a, b) => compare(a.id, b.id))) {
    const owner = sync.owner && hasOwner(sync.owner) ? clean(sync.owner) : (ownerFromMeta(sync.model.meta.owner) ?? cleanOrUndefined(project.config.defaults.owner));
    if (!owner) {
      problems.push(
        `${sync.origin}.owner: a dbt exposure needs an owner; set owner: { name: ..., email: ... } here, ` +
          `meta.owner on the model, or defaults.owner in ${project.config.file}`,
      );
      continue;
    }
    if (ownerEmailRequired(version) && !owner.email) {
      problems.push(
        `${sync.origin}.owner: dbt ${project.manifest.dbtVersion} requires an email for exposure owners (dbt 1.5+ accepts a name alone); add owner.email`,
      );
      continue;
    }
    const name = exposureName(sync.id);
    const clash = names.get(name);
    if (clash !== undefined) {
      problems.push(`${sync.origin}: sync ids "${clash}" and "${sync.id}" give the same exposure name "${name}"; rename one of them`);
      continue;
    }
    names.set(name, sync.id);
    exposures.push({
      syncId: sync.id,
      name,
      label: `${sync.id} (${sync.model.name} to ${sync.destination.name})`,
      type: 'application',
      maturity: sync.maturity ?? project.config.defaults.maturity ?? DEFAULT_MATURITY,
      url: destinationUrl(sync, project.redactor),
      description: describeSync(sync),
      dependsOn: [refOf(sync, project.dbt.name)],
      owner,
      meta: { [SYNC_META_KEY]: sync.id, activate_destination: sync.destination.name, activate_mode: sync.mode },
      tags: [EXPOSURE_TAG],
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return exposures;
}

/** `ref('model')`; with the package when the model is not the root project's; with `v=` for versioned models. */
export function refOf(sync: Pick<SyncSpec, 'model'>, rootProject: string): string {
  const model = sync.model;
  const args = model.packageName && model.packageName !== rootProject ? [quote(model.packageName), quote(model.name)] : [quote(model.name)];
  const version = model.node.version;
  if (version !== undefined && version !== null && version !== '') {
    args.push(`v=${typeof version === 'number' || /^\d+(\.\d+)?$/.test(version) ? String(version) : quote(version)}`);
  }
  return `ref(${args.join(', ')})`;
}

const MODE_WORDS: Record<Mode, string> = {
  upsert: 'creates and updates records',
  update: 'updates records that already exist',
  create: 'creates records for rows never sent before',
  mirror: 'creates, updates and removes records so the destination mirrors the model',
  audience: 'adds and removes audience members as rows enter and leave the model',
};

function describeSync(sync: SyncSpec): string {
  const object = objectOf(sync.options);
  const head =
    `activate sync \`${sync.id}\`: sends the rows of \`${sync.model.name}\` to the destination ` +
    `\`${sync.destination.name}\` (${sync.destination.type})${object ? `, object \`${object}\`` : ''}, ` +
    `mode \`${sync.mode}\` (${MODE_WORDS[sync.mode]}).`;
  const key = `Key: ${sync.primaryKey.map((c) => `\`${c}\``).join(', ')}.`;
  const identifiers = new Set(Object.keys(sync.identifier));
  const fields = mappedColumns(sync).map(
    ([field, column]) => `- \`${field}\` from column \`${column}\`${identifiers.has(field) ? ' (identifier)' : ''}`,
  );
  const where = sync.model.yamlPath ?? sync.model.sqlPath;
  const tail = `Written by \`activate exposures\` from \`meta.activation\` of \`${sync.model.name}\`${where ? ` (${where})` : ''}; change the sync there, not here.`;
  return [head, key, 'Mapped fields (destination field from model column):', fields.join('\n'), tail].join('\n\n');
}

function objectOf(options: unknown): string | undefined {
  if (options && typeof options === 'object' && typeof (options as { object?: unknown }).object === 'string') {
    return (options as { object: string }).object;
  }
  return undefined;
}

/** The destination's link for the synced object; dropped when it would reveal a secret. */
function destinationUrl(sync: SyncSpec, redactor: ProjectParts['redactor']): string | undefined {
  const url = sync.destination.definition.url?.(sync.destination.config, sync.options);
  if (!url) return undefined;
  return redactor.redact(url) === url ? url : undefined;
}

/** `meta.owner` on a model, as dbt projects write it: a mapping, an email or a team name. */
export function ownerFromMeta(value: unknown): ExposureOwner | undefined {
  if (typeof value === 'string') {
    const text = value.trim();
    if (!text) return undefined;
    return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text) ? { email: text } : { name: text };
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const { name, email } = value as { name?: unknown; email?: unknown };
    return cleanOrUndefined({
      name: typeof name === 'string' ? name : undefined,
      email: typeof email === 'string' ? email : Array.isArray(email) && typeof email[0] === 'string' ? email[0] : undefined,
    });
  }
  return undefined;
}

function hasOwner(owner: ExposureOwner): boolean {
  return !!owner.name?.trim() || !!owner.email?.trim();
}

function clean(owner: ExposureOwner): ExposureOwner {
  const name = owner.name?.trim();
  const email = owner.email?.trim();
  return { ...(name ? { name } : {}), ...(email ? { email } : {}) };
}

function cleanOrUndefined(owner: ExposureOwner | undefined): ExposureOwner | undefined {
  return owner && hasOwner(owner) ? clean(owner) : undefined;
}

function quote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
