/**
 * Editable in-memory copies of the real dbt artifacts in ../shared/fixtures/manifests, and
 * syncs declared on their models through the real parsers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { syncSpecsOfModel, type SyncSpec } from '../../src/config/sync-spec.js';
import { parseManifest, type Manifest } from '../../src/dbt/manifest.js';
import { parseRunResults, type RunResults } from '../../src/dbt/run-results.js';
import { manifestsDir } from '../support/fixtures.js';
import { WEBHOOKS_YAML, activateConfig } from './helpers.js';

export type RawNode = Record<string, unknown> & {
  unique_id: string;
  resource_type: string;
  name: string;
  tags: string[];
  config: Record<string, unknown> & { meta?: Record<string, unknown>; tags?: string[] };
};
export type RawManifest = { metadata: Record<string, unknown>; nodes: Record<string, RawNode> } & Record<string, unknown>;
export type RawResult = { unique_id: string; status: string; message: string | null; failures: number | null } & Record<string, unknown>;
export type RawRunResults = {
  metadata: Record<string, unknown> & { invocation_id: string };
  results: RawResult[];
  args: Record<string, unknown>;
};

const texts = new Map<string, string>();
function fresh<T>(file: string): T {
  let text = texts.get(file);
  if (text === undefined) {
    text = readFileSync(join(manifestsDir, file), 'utf8');
    texts.set(file, text);
  }
  return JSON.parse(text) as T;
}

/** A fresh, editable copy of `<prefix>_manifest.json`. */
export const rawManifest = (prefix: string) => fresh<RawManifest>(`${prefix}_manifest.json`);
/** A fresh, editable copy of `<prefix>_run_results.json`. */
export const rawRunResults = (prefix: string) => fresh<RawRunResults>(`${prefix}_run_results.json`);

export const runResultsOf = (raw: RawRunResults, path = 'target/run_results.json'): RunResults => parseRunResults(raw, path);

/** A minimal valid activation block. */
export const hook = (extra: Record<string, unknown> = {}) => ({ destination: 'hook', primary_key: 'id', fields: { id: 'id' }, ...extra });

/** The node of a model by name (first match). */
export function modelNode(raw: RawManifest, name: string, pkg?: string): RawNode {
  const node = Object.values(raw.nodes).find(
    (n) => n.resource_type === 'model' && n.name === name && (pkg === undefined || n.package_name === pkg),
  );
  if (!node) throw new Error(`no model ${name} in the fixture`);
  return node;
}

/**
 * Puts `meta.activation` on the named models (under config.meta, as dbt writes it; the value
 * `true` means one default webhook sync) and parses the result with the real code.
 */
export function withSyncs(
  raw: RawManifest,
  activations: Record<string, unknown>,
): { manifest: Manifest; syncs: SyncSpec[]; ids: (list: readonly SyncSpec[]) => string[] } {
  for (const [name, activation] of Object.entries(activations)) {
    const node = modelNode(raw, name);
    node.config.meta = { ...(node.config.meta ?? {}), activation: activation === true ? hook() : activation };
  }
  const manifest = parseManifest(raw, 'target/manifest.json');
  const problems: string[] = [];
  const config = activateConfig(WEBHOOKS_YAML);
  const syncs = manifest.models.flatMap((m) => syncSpecsOfModel(m, config, problems));
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return { manifest, syncs, ids: (list) => list.map((s) => s.id) };
}

/** The result entry for a unique_id, to edit. */
export function resultFor(raw: RawRunResults, uniqueId: string): RawResult {
  const result = raw.results.find((r) => r.unique_id === uniqueId);
  if (!result) throw new Error(`no result for ${uniqueId}`);
  return result;
}
