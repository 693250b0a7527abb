/** What `activate init` writes: a commented activate.yml and a sample meta.activation block. */

export const INIT_DESTINATION_TYPES = ['webhook', 'file', 'postgres'] as const;
export type InitDestinationType = (typeof INIT_DESTINATION_TYPES)[number];

export const DEFAULT_DESTINATION_NAMES: Record<InitDestinationType, string> = {
  webhook: 'my_webhook',
  file: 'my_files',
  postgres: 'app_db',
};

/** `my_webhook` -> `MY_WEBHOOK`: the prefix of the environment variables its credentials come from. */
export function envPrefix(destination: string): string {
  return destination.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

/** The environment variables the destination entry reads (without a default): to tell the user. */
export function requiredEnvVars(type: InitDestinationType, destination: string): string[] {
  const prefix = envPrefix(destination);
  if (type === 'webhook') return [`${prefix}_URL`];
  if (type === 'postgres') return [`${prefix}_URL`];
  return [];
}

type Line = readonly [code: string, comment?: string];

/** Lines with their `# comments` in one column (a comment-only line stays as written). */
function aligned(lines: readonly Line[]): string[] {
  const width = Math.max(0, ...lines.filter(([code, c]) => c && code.trim() !== '').map(([code]) => code.length)) + 2;
  return lines.map(([code, comment]) => (comment === undefined ? code : code.trim() === '' ? `${code}# ${comment}` : `${code.padEnd(width)}# ${comment}`));
}

function destinationEntry(type: InitDestinationType, name: string): Line[] {
  const prefix = envPrefix(name);
  const head: Line = [`  ${name}:`, "the name meta.activation's destination: refers to"];
  switch (type) {
    case 'webhook':
      return [
        head,
        ['    type: webhook'],
        [`    url: "{{ env_var('${prefix}_URL') }}"`, 'each batch is one POST of JSON records'],
        [`    # secret: "{{ env_var('${prefix}_SECRET') }}"`, 'Standard Webhooks signing secret (whsec_...)'],
        [`    # headers: { Authorization: "Bearer {{ env_var('${prefix}_TOKEN') }}" }`],
        ['    # batch_size: 100', 'records per request'],
        ['    # concurrency: 4', 'requests in flight'],
        ['    # rate_limit: { requests: 10, per_seconds: 1 }'],
        ['    # retry: { attempts: 5, min_delay_seconds: 0.5, max_delay_seconds: 30 }'],
      ];
    case 'file':
      return [
        head,
        ['    type: file'],
        ['    path: activate_exports', 'directory the files go under (relative to where activate runs)'],
        ['    format: csv', 'csv | jsonl'],
        ['    # gzip: false'],
        ['    # batch_size: 10000', 'most records per file'],
      ];
    case 'postgres':
      return [
        head,
        ['    type: postgres'],
        [`    url: "{{ env_var('${prefix}_URL') }}"`, 'postgres://user:password@host:5432/database?sslmode=require'],
        ['    # batch_size: 1000', 'records per statement and transaction'],
        ['    # concurrency: 2', 'batches written at once'],
      ];
  }
}

/** Where the state tables go, in the words of each warehouse. */
function stateLines(warehouse: string | undefined): Line[] {
  switch (warehouse) {
    case 'duckdb':
      return [['  schema: activate', 'a schema in the DuckDB database of your dbt profile']];
    case 'postgres':
      return [
        ['  schema: activate', 'a schema in the database of your dbt profile; its user needs'],
        ['', '  CREATE on the database (or create the schema first)'],
      ];
    case 'snowflake':
      return [
        ['  schema: activate', 'a schema in the database of your dbt profile; its role needs'],
        ['', '  CREATE SCHEMA there (or create the schema and grant CREATE TABLE)'],
        ['  # database: ANALYTICS', 'another database for the state tables'],
      ];
    case 'bigquery':
      return [
        ['  schema: activate', 'a dataset in the project of your dbt profile'],
        ['  # database: my-gcp-project', 'another project for the state dataset'],
      ];
    default:
      return [['  schema: activate', 'a schema in the warehouse of your dbt profile']];
  }
}

export interface ActivateYmlInput {
  /** The dbt profile's output type (duckdb, postgres, snowflake, bigquery), when known. */
  readonly warehouse: string | undefined;
  readonly destinationType: InitDestinationType;
  readonly destinationName: string;
}

export function activateYmlTemplate(input: ActivateYmlInput): string {
  const where = input.warehouse ? `your ${input.warehouse} warehouse` : 'your warehouse';
  return [
    '# activate.yml: where the syncs declared in your models\' meta.activation send their rows.',
    '# Reference: docs/configuration.md of dbt-activate. Check it with `activate validate`.',
    '#',
    '# Credentials come from environment variables with env_var(), as in profiles.yml: never',
    '# write a secret here. Values read from the environment are masked (****) in every log.',
    '',
    'destinations:',
    ...aligned(destinationEntry(input.destinationType, input.destinationName)),
    '',
    `# Sync state (what each sync sent, its runs, rejections and locks) lives in tables in ${where},`,
    '# created by the first `activate run`. The warehouse connection is your dbt profile\'s.',
    'state:',
    ...aligned([...stateLines(input.warehouse), ['  # audit: records', 'also keep one row per record sent (activate_changelog)']]),
    '',
    '# Owner of the dbt exposures that `activate exposures` writes, for syncs that name none.',
    '# defaults:',
    '#   owner: { name: Data team, email: data@example.com }',
    '',
  ].join('\n');
}

export interface ActivationInput {
  readonly model: string;
  readonly destinationType: InitDestinationType;
  readonly destinationName: string;
  readonly primaryKey: readonly string[];
  readonly fields: readonly string[];
}

/** A sample `activation:` mapping (YAML text, commented), to put under the model's `config.meta`. */
export function activationTemplate(input: ActivationInput): string {
  const key = input.primaryKey.length === 1 ? input.primaryKey[0]! : `[${input.primaryKey.join(', ')}]`;
  const lines: Line[] = [
    ['activation:'],
    [`  name: ${input.model}__${input.destinationName}`, 'the sync id (activate run -s <id>)'],
    [`  destination: ${input.destinationName}`, 'a destination in activate.yml'],
    ['  mode: upsert', 'upsert: new and changed rows; mirror: also delete rows that left the model'],
    [`  primary_key: ${key}`, 'unique, non-null column(s) of the model'],
  ];
  if (input.destinationType === 'postgres') {
    lines.push(['  identifier:', "the destination table's key: column <- model column"]);
    for (const k of input.primaryKey) lines.push([`    ${k}: ${k}`]);
  }
  lines.push(['  fields:', 'destination field: model column']);
  const fields = input.fields.length > 0 ? input.fields : ['TODO_column'];
  for (const f of fields) lines.push([`    ${f}: ${f}`]);
  lines.push(['  safety: { max_deletes: 5%, max_changes: 50% }', 'stop before sending more than this']);
  if (input.destinationType === 'postgres') {
    lines.push([`  table: activate.${input.model}`, 'the destination table (schema.table)']);
    lines.push(['  create_table: true', 'create it (and missing columns) on the first run']);
  }
  return `${aligned(lines).join('\n')}\n`;
}
