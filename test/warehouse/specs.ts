/** SyncSpecs for warehouse tests, built by the real parsers from an activation block and a relation. */
import { parseActivateConfig } from '../../src/config/activate-config.js';
import { syncSpecsOfModel, type SyncSpec } from '../../src/config/sync-spec.js';
import { parseYamlText } from '../../src/config/yaml-file.js';
import { parseManifest } from '../../src/dbt/manifest.js';
import { Redactor } from '../../src/secrets.js';

const ACTIVATE_YML = `
destinations:
  hook:
    type: webhook
    url: https://hooks.example.com/in
`;

/** One sync of model `name` (relation `relationName`) to a webhook destination `hook`. */
export function syncSpec(name: string, relationName: string, activation: Record<string, unknown>): SyncSpec {
  const redactor = new Redactor();
  const config = parseActivateConfig(parseYamlText(ACTIVATE_YML, '/project/activate.yml', 'activate.yml'), {
    render: { env: {} },
    redactor,
  });
  const id = `model.conformance.${name}`;
  const manifest = parseManifest(
    {
      metadata: { dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v12.json', dbt_version: '1.10.0' },
      nodes: {
        [id]: {
          unique_id: id,
          resource_type: 'model',
          name,
          package_name: 'conformance',
          alias: name,
          relation_name: relationName,
          original_file_path: `models/${name}.sql`,
          config: { enabled: true, materialized: 'table', meta: { activation: { destination: 'hook', ...activation } } },
          depends_on: { nodes: [] },
        },
      },
    },
    'target/manifest.json',
  );
  const problems: string[] = [];
  const specs = syncSpecsOfModel(manifest.models[0]!, config, problems);
  if (problems.length > 0 || specs.length !== 1) throw new Error(`bad test activation: ${problems.join('; ')}`);
  return specs[0]!;
}
