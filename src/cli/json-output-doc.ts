import { jsonOutputJsonSchema, jsonReportSchema, type JsonReport } from './json-output.js';

type Schema = Record<string, unknown>;

/** A plan as `activate plan --json` prints it on the example project (shown in the doc; checked by a test). */
export const EXAMPLE_PLAN: JsonReport = {
  version: 1,
  command: 'plan',
  warehouse: 'duckdb (profile jaffle_activate, target dev, warehouse)',
  dbtVerdict: { verdict: 'applied', note: "Applied dbt's verdict from target/run_results.json (dbt build, invocation 3f1c…)" },
  summary: { pass: 1, warn: 0, error: 0, skip: 1, total: 2 },
  syncs: [
    {
      id: 'crm_contacts',
      model: 'customer_scores',
      modelUniqueId: 'model.jaffle_activate.customer_scores',
      destination: 'crm_webhook',
      destinationType: 'webhook',
      mode: 'upsert',
      runId: '0b9e4c2e-6a57-4a8e-9a43-5d0f0c6f3a11',
      status: 'planned',
      result: 'pass',
      counts: { added: 1, changed: 1, removed: 0, modelRows: 21, syncedRecords: 20 },
      run: null,
      delivered: 0,
      rejected: 0,
      skipped: 0,
      seconds: 0,
      message: null,
      violations: [],
      samples: [
        { kind: 'added', key: '21', before: null, after: { email: 'zoe@example.com', plan: 'free' }, changedFields: [] },
        { kind: 'changed', key: '3', before: { email: 'liam@example.com', plan: 'pro' }, after: { email: 'liam@example.com', plan: 'enterprise' }, changedFields: ['plan'] },
      ],
      rejectionSamples: [],
    },
    {
      id: 'at_risk_customers__crm_webhook',
      model: 'at_risk_customers',
      modelUniqueId: 'model.jaffle_activate.at_risk_customers',
      destination: 'crm_webhook',
      destinationType: 'webhook',
      mode: 'mirror',
      runId: null,
      status: 'skipped',
      result: 'skip',
      counts: { added: 0, changed: 0, removed: 0, modelRows: 0, syncedRecords: 0 },
      run: null,
      delivered: 0,
      rejected: 0,
      skipped: 0,
      seconds: 0,
      message: 'test not_null_at_risk_customers_email failed in dbt build (2 failing rows)',
      violations: [],
      samples: [],
      rejectionSamples: [],
    },
  ],
  exitCode: 1,
};

function typeOf(schema: Schema): string {
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Schema[]).map(typeOf).join(' \\| ');
  const type = schema.type;
  if (Array.isArray(type)) return type.join(' \\| ');
  if (type === 'array') return `array of ${typeOf((schema.items as Schema) ?? {})}`;
  if (type === 'object' && !schema.properties) return 'object (field -> value)';
  return typeof type === 'string' ? type : 'any';
}

/** Rows `path | type | description`, depth first. */
function fieldRows(schema: Schema, path: string, rows: string[]): void {
  const object = (s: Schema): Schema | undefined => {
    if (s.properties) return s;
    if (Array.isArray(s.anyOf)) return (s.anyOf as Schema[]).find((x) => x.properties);
    return undefined;
  };
  const properties = (object(schema)?.properties ?? {}) as Record<string, Schema>;
  for (const [key, child] of Object.entries(properties)) {
    const at = path ? `${path}.${key}` : key;
    const description = String(child.description ?? (object(child)?.description as string | undefined) ?? '').replaceAll('|', '\\|');
    const keys = Object.keys((object(child)?.properties as Schema | undefined) ?? {});
    if (keys.join() === 'added,changed,removed') {
      rows.push(`| \`${at}\` | object: \`added\`, \`changed\`, \`removed\` (integers) | ${description} |`);
      continue;
    }
    rows.push(`| \`${at}\` | ${typeOf(child)} | ${description} |`);
    if (child.type === 'array' && child.items && object(child.items as Schema)) fieldRows(child.items as Schema, `${at}[]`, rows);
    else if (object(child)) fieldRows(child, at, rows);
  }
}

/** docs/json-output.md, generated from the zod schema in src/cli/json-output.ts. */
export function renderJsonOutputDoc(): string {
  const schema = jsonOutputJsonSchema();
  const rows: string[] = [];
  fieldRows(schema, '', rows);
  // Keep the example honest: it must be valid output.
  jsonReportSchema.parse(EXAMPLE_PLAN);
  return [
    '<!-- Generated from src/cli/json-output.ts by `npm run docs`; do not edit by hand (a test fails when it is out of date). -->',
    '# JSON output of `activate plan` and `activate run`',
    '',
    '`activate plan --format json` and `activate run --format json` (or `--json`) print one JSON',
    'document on stdout when the command ends; everything else goes to stderr (log lines, progress;',
    'JSON lines too with `--log-format json`). The same document describes a plan and a run: fields',
    "that only a run fills (`run`, `delivered`, `rejected`, `seconds`) are `null` or `0` in a plan, and",
    'only a plan carries `samples` (`--samples N` per kind of change; `--samples 0` for none).',
    '',
    'When the command cannot start (bad configuration, a manifest that cannot be read, bad data in a',
    'model: exit code 2), nothing is printed on stdout and the error is on stderr.',
    '',
    '**Compatibility.** `version` is bumped when a field is removed or changes meaning. New fields may',
    'be added without a new version: readers should ignore keys they do not know. The schema below',
    'describes this release exactly (`additionalProperties: false`), which is what the tests check.',
    '',
    '```sh',
    'activate plan --format json > plan.json',
    "jq -r '.syncs[] | select(.violations | length > 0) | .id' plan.json     # syncs a safety limit would stop",
    "jq -e '.summary.error == 0' plan.json                                # fail a CI step on any error",
    '```',
    '',
    '## Fields',
    '',
    '| field | type | meaning |',
    '|---|---|---|',
    ...rows,
    '',
    '## Example',
    '',
    'A plan in which one sync would add a record and change another, and the other sync is skipped',
    "because a dbt test on its model failed in the same `dbt build`:",
    '',
    '```json',
    JSON.stringify(EXAMPLE_PLAN, null, 2),
    '```',
    '',
    '## JSON Schema',
    '',
    'Draft 2020-12. Generated from the zod schema the CLI output is typed with.',
    '',
    '```json',
    JSON.stringify(schema, null, 2),
    '```',
    '',
  ].join('\n');
}
