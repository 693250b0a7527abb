import { isDeepStrictEqual } from 'node:util';
import { Document, LineCounter, isMap, isScalar, isSeq, parseDocument, type Node, type YAMLSeq } from 'yaml';
import { ConfigError } from '../errors.js';
import { SYNC_META_KEY, type Exposure } from './build.js';
import { metaUnderConfig, parseDbtVersion } from './dbt-version.js';

export interface RenderExposuresOptions {
  /** `metadata.dbt_version` of the manifest: decides where `meta` and `tags` go. */
  readonly dbtVersion: string | undefined;
  /** The file as shown in messages. */
  readonly display?: string;
}

const HEADER = [
  ' dbt exposures for the syncs declared in meta.activation, written by `activate exposures`.',
  ' Exposures tagged `activate` are rewritten on every run: change the sync in meta.activation.',
  ' Other exposures and keys in this file are kept as they are.',
].join('\n');

const STRINGIFY = { lineWidth: 0 } as const;

/**
 * The exposures file with activate's exposures in it. An existing file keeps its comments,
 * its other top-level keys and every exposure activate did not write (one without
 * `meta.activate_sync`). activate's own exposures are replaced in place, those whose sync no
 * longer exists are removed, and new ones are appended in name order. When the result holds
 * the same data as `existing`, `existing` is returned unchanged, so a second run (or a file
 * that was only reformatted) never counts as a change.
 */
export function renderExposuresFile(
  existing: string | undefined,
  exposures: readonly Exposure[],
  options: RenderExposuresOptions,
): string {
  const display = options.display ?? 'exposures file';
  const underConfig = metaUnderConfig(parseDbtVersion(options.dbtVersion));
  const fresh = existing === undefined || existing.trim() === '';
  const doc = fresh ? newDocument() : parseExisting(existing, display);
  const before = fresh ? undefined : doc.toJS();

  const seq = exposuresSeq(doc, display);
  const wanted = new Map(exposures.map((e) => [e.syncId, e]));
  const placed = new Set<string>();
  const foreignNames = new Map<string, number>();
  const kept: unknown[] = [];
  seq.items.forEach((item, index) => {
    const syncId = activateSyncOf(item);
    if (syncId === undefined) {
      const name = nameOf(item);
      if (name !== undefined) foreignNames.set(name, index);
      kept.push(item);
      return;
    }
    const exposure = wanted.get(syncId);
    if (exposure && !placed.has(syncId)) {
      placed.add(syncId);
      kept.push(doc.createNode(exposureYaml(exposure, underConfig)));
    }
    // else: its sync is gone (or it is a duplicate): drop it.
  });
  const clashes = exposures.filter((e) => foreignNames.has(e.name));
  if (clashes.length > 0) {
    throw new ConfigError(
      clashes.map(
        (e) =>
          `${display}: exposures[${foreignNames.get(e.name)}].name: "${e.name}" is the name of the exposure for sync "${e.syncId}", ` +
          `but this exposure was not written by activate (it has no meta.${SYNC_META_KEY}); rename it`,
      ),
    );
  }
  const added = exposures.filter((e) => !placed.has(e.syncId)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const exposure of added) kept.push(doc.createNode(exposureYaml(exposure, underConfig)));
  seq.items = kept;
  // A list written as `exposures: []` would otherwise stay in flow style once it has entries.
  if (kept.length > 0) seq.flow = false;

  if (!fresh && isDeepStrictEqual(before, doc.toJS())) return existing;
  return doc.toString(STRINGIFY);
}

/** An exposure as dbt reads it from YAML, keys in the order dbt's docs list them. */
export function exposureYaml(exposure: Exposure, metaInConfig: boolean): Record<string, unknown> {
  const meta = { ...exposure.meta };
  const tags = [...exposure.tags];
  return {
    name: exposure.name,
    label: exposure.label,
    type: exposure.type,
    maturity: exposure.maturity,
    ...(exposure.url ? { url: exposure.url } : {}),
    description: exposure.description,
    depends_on: [...exposure.dependsOn],
    owner: { ...exposure.owner },
    ...(metaInConfig ? { config: { meta, tags } } : { meta, tags }),
  };
}

/** The sync id in `config.meta.activate_sync` (dbt 1.10+) or `meta.activate_sync`; undefined for others' exposures. */
function activateSyncOf(item: unknown): string | undefined {
  if (!isMap(item)) return undefined;
  for (const path of [['config', 'meta', SYNC_META_KEY], ['meta', SYNC_META_KEY]]) {
    const value = item.getIn(path);
    if (typeof value === 'string' && value !== '') return value;
    if (typeof value === 'number') return String(value);
  }
  return undefined;
}

function nameOf(item: unknown): string | undefined {
  if (!isMap(item)) return undefined;
  const name = item.get('name');
  return typeof name === 'string' ? name : undefined;
}

function newDocument(): Document {
  const doc = new Document({ version: 2, exposures: [] });
  doc.commentBefore = HEADER;
  return doc;
}

function parseExisting(text: string, display: string): Document {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return `${display}: invalid YAML: ${e.message.split('\n')[0]} (line ${pos.line}, column ${pos.col}); fix it or choose another --output`;
      }),
    );
  }
  if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) {
    doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  }
  if (!isMap(doc.contents)) {
    throw new ConfigError(`${display}: is not a dbt properties file (its top level must be a mapping); choose another --output`);
  }
  return doc;
}

function exposuresSeq(doc: Document, display: string): YAMLSeq {
  const node = doc.get('exposures', true) as Node | undefined;
  if (node === undefined || (isScalar(node) && node.value === null)) {
    const seq = doc.createNode([]) as YAMLSeq;
    doc.set('exposures', seq);
    return seq;
  }
  if (!isSeq(node)) throw new ConfigError(`${display}: exposures: must be a list`);
  return node;
}
