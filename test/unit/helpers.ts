/** Small builders shared by the unit tests: real parsers fed with in-memory inputs. */
import { parseActivateConfig, type ActivateConfig } from '../../src/config/activate-config.js';
import { parseYamlText } from '../../src/config/yaml-file.js';
import { parseManifest, type Manifest, type ModelNode } from '../../src/dbt/manifest.js';
import type { Logger } from '../../src/logger.js';
import { Redactor } from '../../src/secrets.js';

export const V12 = 'https://schemas.getdbt.com/dbt/manifest/v12.json';

/** activate.yml text -> ActivateConfig, through the same YAML and schema code as a real file. */
export function activateConfig(
  text: string,
  env: NodeJS.ProcessEnv = {},
  redactor = new Redactor(),
): ActivateConfig {
  const file = parseYamlText(text, '/project/activate.yml', 'activate.yml');
  return parseActivateConfig(file, { render: { env, onEnvValue: (v) => redactor.add(v) }, redactor });
}

/** Two webhook destinations, `hook` and `crm_webhook`. */
export const WEBHOOKS_YAML = `
destinations:
  hook:
    type: webhook
    url: https://hooks.example.com/in
  crm_webhook:
    type: webhook
    url: https://crm.example.com/in
`;

export interface ModelInput {
  readonly name: string;
  readonly tags?: string[];
  readonly meta?: Record<string, unknown>;
  readonly configMeta?: Record<string, unknown>;
  readonly materialized?: string;
  readonly enabled?: boolean;
}

/** A minimal but schema-valid manifest object with the given models. */
export function manifestObject(models: readonly ModelInput[]): Record<string, unknown> {
  const nodes: Record<string, unknown> = {};
  for (const m of models) {
    const id = `model.shop.${m.name}`;
    nodes[id] = {
      unique_id: id,
      resource_type: 'model',
      name: m.name,
      package_name: 'shop',
      alias: m.name,
      database: 'analytics',
      schema: 'main',
      relation_name: `"analytics"."main"."${m.name}"`,
      original_file_path: `models/marts/${m.name}.sql`,
      patch_path: `shop://models/marts/${m.name}.yml`,
      fqn: ['shop', 'marts', m.name],
      tags: m.tags ?? [],
      meta: m.meta ?? {},
      config: {
        enabled: m.enabled ?? true,
        materialized: m.materialized ?? 'table',
        meta: m.configMeta ?? {},
        tags: m.tags ?? [],
      },
      columns: {},
      depends_on: { nodes: [] },
    };
  }
  return { metadata: { dbt_schema_version: V12, dbt_version: '1.10.0', project_name: 'shop' }, nodes };
}

export function manifestOf(models: readonly ModelInput[]): Manifest {
  return parseManifest(manifestObject(models), 'target/manifest.json');
}

/** One model whose config.meta holds `activation`. */
export function modelWithActivation(activation: unknown, name = 'customers'): ModelNode {
  const model = manifestOf([{ name, configMeta: { activation } }]).models[0];
  if (!model) throw new Error('model not parsed');
  return model;
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
}

/** A Logger that records every line. */
export function recordingLogger(): Logger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (message: string) => void lines.push({ level, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
