import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { readJsonArtifact } from './read-artifact.js';
import { formatZodIssues } from '../config/issues.js';

/**
 * Reads dbt's manifest.json (schema v7 to v12 and later v12 additions). Only the fields
 * activate uses are validated; everything else passes through untouched, and "absent" and
 * "null" mean the same (dbt Fusion omits nulls).
 */
const nullish = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);
const meta = nullish(z.record(z.string(), z.unknown()));

const columnSchema = z.looseObject({
  name: z.string(),
  data_type: nullish(z.string()),
  description: nullish(z.string()),
});

const nodeSchema = z.looseObject({
  unique_id: z.string(),
  resource_type: z.string(),
  name: z.string(),
  package_name: z.string(),
  alias: nullish(z.string()),
  database: nullish(z.string()),
  schema: nullish(z.string()),
  relation_name: nullish(z.string()),
  original_file_path: nullish(z.string()),
  patch_path: nullish(z.string()),
  path: nullish(z.string()),
  fqn: nullish(z.array(z.string())),
  tags: nullish(z.array(z.string())),
  meta,
  version: nullish(z.union([z.string(), z.number()])),
  description: nullish(z.string()),
  columns: nullish(z.record(z.string(), columnSchema)),
  config: nullish(
    z.looseObject({
      enabled: nullish(z.boolean()),
      materialized: nullish(z.string()),
      meta,
      tags: nullish(z.union([z.array(z.string()), z.string()])),
    }),
  ),
  depends_on: nullish(z.looseObject({ nodes: nullish(z.array(z.string())) })),
  attached_node: nullish(z.string()),
});

/**
 * Sources, exposures and unit tests: read for selection (`source:`, `exposure:`, graph
 * operators) and gating (unit tests name their model). Every field is optional here, so an
 * odd entry never stops a manifest from loading.
 */
const resourceSchema = z.looseObject({
  unique_id: nullish(z.string()),
  resource_type: nullish(z.string()),
  name: nullish(z.string()),
  package_name: nullish(z.string()),
  source_name: nullish(z.string()),
  original_file_path: nullish(z.string()),
  patch_path: nullish(z.string()),
  fqn: nullish(z.array(z.string())),
  tags: nullish(z.array(z.string())),
  config: nullish(z.record(z.string(), z.unknown())),
  depends_on: nullish(z.looseObject({ nodes: nullish(z.array(z.string())) })),
  /** Unit tests: the name of the model under test. */
  model: nullish(z.string()),
});

const manifestSchema = z.looseObject({
  metadata: z.looseObject({
    dbt_schema_version: z.string(),
    dbt_version: nullish(z.string()),
    invocation_id: nullish(z.string()),
    project_name: nullish(z.string()),
    adapter_type: nullish(z.string()),
    generated_at: nullish(z.string()),
  }),
  nodes: z.record(z.string(), nodeSchema),
  parent_map: nullish(z.record(z.string(), z.array(z.string()))),
  child_map: nullish(z.record(z.string(), z.array(z.string()))),
  sources: nullish(z.record(z.string(), resourceSchema)),
  exposures: nullish(z.record(z.string(), resourceSchema)),
  unit_tests: nullish(z.record(z.string(), resourceSchema)),
});

export type ManifestNode = z.infer<typeof nodeSchema>;
/** A source, exposure or unit test entry (v12 `unit_tests`, 1.8+). */
export type ManifestResource = z.infer<typeof resourceSchema>;

export interface ModelNode {
  readonly uniqueId: string;
  readonly name: string;
  readonly packageName: string;
  readonly alias: string;
  readonly database: string | undefined;
  readonly schema: string | undefined;
  /** Fully qualified, adapter-quoted relation as dbt built it, when the manifest has it. */
  readonly relationName: string | undefined;
  readonly materialized: string | undefined;
  readonly tags: readonly string[];
  /** `config.meta` merged over top-level `meta` (config wins, as in dbt 1.10). */
  readonly meta: Readonly<Record<string, unknown>>;
  /** Where the model's YAML lives, relative to the project (for messages). */
  readonly yamlPath: string | undefined;
  readonly sqlPath: string | undefined;
  readonly fqn: readonly string[];
  readonly columns: readonly string[];
  readonly dependsOn: readonly string[];
  readonly node: ManifestNode;
}

export interface Manifest {
  readonly path: string;
  readonly schemaVersion: number;
  readonly dbtVersion: string | undefined;
  readonly invocationId: string | undefined;
  readonly projectName: string | undefined;
  readonly adapterType: string | undefined;
  /** Enabled, non-ephemeral models, in manifest order. */
  readonly models: readonly ModelNode[];
  readonly nodes: Readonly<Record<string, ManifestNode>>;
  readonly parentMap: Readonly<Record<string, readonly string[]>>;
  readonly childMap: Readonly<Record<string, readonly string[]>>;
  /** `sources`, keyed by unique_id (`source.<package>.<source>.<table>`); empty when absent. */
  readonly sources: Readonly<Record<string, ManifestResource>>;
  /** `exposures`, keyed by unique_id; empty when absent. */
  readonly exposures: Readonly<Record<string, ManifestResource>>;
  /** `unit_tests` (dbt 1.8+), keyed by unique_id (`unit_test.<package>.<model>.<name>`); empty when absent. */
  readonly unitTests: Readonly<Record<string, ManifestResource>>;
}

export const OLDEST_SCHEMA_VERSION = 7;
export const NEWEST_KNOWN_SCHEMA_VERSION = 12;

export async function readManifest(path: string, displayPath = path): Promise<Manifest> {
  const json = await readJsonArtifact(path, displayPath, 'Run `dbt parse` or `dbt build` to write it again.');
  if (json === undefined) {
    throw new ConfigError(
      `${displayPath}: not found. Run \`dbt parse\` or \`dbt build\` first (or point --target-path at dbt's artifacts).`,
    );
  }
  return parseManifest(json, displayPath);
}

export function parseManifest(json: unknown, displayPath: string): Manifest {
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      formatZodIssues(parsed.error, displayPath).map((p) => `${p} (is this a dbt manifest.json?)`),
    );
  }
  const data = parsed.data;
  const schemaVersion = schemaVersionOf(data.metadata.dbt_schema_version);
  if (schemaVersion === undefined) {
    throw new ConfigError(
      `${displayPath}: metadata.dbt_schema_version: "${data.metadata.dbt_schema_version}" is not a dbt manifest schema URL`,
    );
  }
  if (schemaVersion < OLDEST_SCHEMA_VERSION) {
    throw new ConfigError(
      `${displayPath}: manifest schema v${schemaVersion} (dbt ${data.metadata.dbt_version ?? '?'}) is older than v${OLDEST_SCHEMA_VERSION} (dbt 1.3); upgrade dbt and run \`dbt parse\`.`,
    );
  }
  const models: ModelNode[] = [];
  for (const [key, node] of Object.entries(data.nodes)) {
    if (node.resource_type !== 'model') continue;
    if (node.config?.enabled === false || node.config?.materialized === 'ephemeral') continue;
    models.push(toModel(key, node));
  }
  return {
    path: displayPath,
    schemaVersion,
    dbtVersion: data.metadata.dbt_version,
    invocationId: data.metadata.invocation_id,
    projectName: data.metadata.project_name,
    adapterType: data.metadata.adapter_type,
    models,
    nodes: data.nodes,
    parentMap: data.parent_map ?? {},
    childMap: data.child_map ?? {},
    sources: data.sources ?? {},
    exposures: data.exposures ?? {},
    unitTests: data.unit_tests ?? {},
  };
}

function schemaVersionOf(url: string): number | undefined {
  const match = /\/v(\d+)\.json$/.exec(url);
  return match ? Number(match[1]) : undefined;
}

function toModel(key: string, node: ManifestNode): ModelNode {
  return {
    uniqueId: node.unique_id || key,
    name: node.name,
    packageName: node.package_name,
    alias: node.alias ?? node.name,
    database: node.database,
    schema: node.schema,
    relationName: node.relation_name,
    materialized: node.config?.materialized,
    tags: node.tags ?? [],
    meta: { ...(node.meta ?? {}), ...(node.config?.meta ?? {}) },
    yamlPath: node.patch_path?.replace(/^[^:]+:\/\//, ''),
    sqlPath: node.original_file_path,
    fqn: node.fqn ?? [node.package_name, node.name],
    columns: Object.values(node.columns ?? {}).map((c) => c.name),
    dependsOn: node.depends_on?.nodes ?? [],
    node,
  };
}
