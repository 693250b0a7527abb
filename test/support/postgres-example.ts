/**
 * The example project on PostgreSQL: the DuckDB example is built as usual, its two marts
 * are copied into a scratch schema of the test server, profiles.yml gets a postgres target,
 * and the manifest's relation names point at the copies. State lives in a schema of its own.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from './example-project.js';
import { pgAdmin, pgOutput, scratchName, scratchSchema, type ScratchSchema } from './postgres.js';

export const MARTS = ['customer_scores', 'at_risk_customers'] as const;

export interface PostgresExample {
  readonly project: ExampleProject;
  readonly receiver: WebhookReceiver;
  /** The schema holding the marts. */
  readonly models: ScratchSchema;
  readonly stateSchema: string;
  readonly database: string;
  /** Rewrites profiles.yml: the postgres target with these keys changed. */
  writeProfile(extra?: Record<string, unknown>): Promise<void>;
  /** Points a mart's relation_name (and database/schema) somewhere else. */
  pointModel(model: string, database: string, schema: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makePostgresExample(options: { batchSize?: number } = {}): Promise<PostgresExample> {
  const receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  const project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  const models = await scratchSchema('e2e');
  const stateSchema = scratchName('e2e_state');
  const database = String(pgOutput().dbname);
  for (const mart of MARTS) await copyTable(project, mart, models);
  await project.writeActivateYml(webhookActivateYml(options).replace('schema: activate', `schema: ${stateSchema}`));

  const example: PostgresExample = {
    project,
    receiver,
    models,
    stateSchema,
    database,
    async writeProfile(extra = {}) {
      const output = Object.fromEntries(Object.entries(pgOutput({ schema: models.name, threads: 1, ...extra })).filter(([, v]) => v !== undefined));
      await writeFile(join(project.dir, 'profiles.yml'), stringify({ jaffle_activate: { target: 'pg', outputs: { pg: output } } }));
    },
    async pointModel(model, db, schema) {
      const path = join(project.dir, 'target', 'manifest.json');
      const manifest = JSON.parse(await readFile(path, 'utf8')) as { nodes: Record<string, Record<string, unknown>> };
      const node = manifest.nodes[`model.jaffle_activate.${model}`]!;
      Object.assign(node, { database: db, schema, relation_name: `"${db}"."${schema}"."${model}"` });
      await writeFile(path, JSON.stringify(manifest));
    },
    async cleanup() {
      await receiver.close();
      await project.cleanup();
      await models.drop();
      const admin = await pgAdmin();
      await admin.query(`DROP SCHEMA IF EXISTS "${stateSchema}" CASCADE`).finally(() => admin.end());
    },
  };
  await example.writeProfile();
  for (const mart of MARTS) await example.pointModel(mart, database, models.name);
  return example;
}

/** DuckDB type -> PostgreSQL type, for the types the example's marts use. */
function postgresType(duckdbType: string): string {
  const t = duckdbType.toUpperCase();
  if (t.startsWith('DECIMAL')) return t.replace('DECIMAL', 'numeric');
  const types: Record<string, string> = {
    INTEGER: 'integer', BIGINT: 'bigint', HUGEINT: 'numeric', VARCHAR: 'text', DOUBLE: 'double precision', FLOAT: 'real',
    BOOLEAN: 'boolean', DATE: 'date', TIMESTAMP: 'timestamp', 'TIMESTAMP WITH TIME ZONE': 'timestamptz',
  };
  const mapped = types[t];
  if (!mapped) throw new Error(`no PostgreSQL type for DuckDB ${duckdbType}`);
  return mapped;
}

async function copyTable(project: ExampleProject, table: string, schema: ScratchSchema): Promise<void> {
  const columns = await project.query<{ column_name: string; column_type: string }>(`DESCRIBE main.${table}`);
  const names = columns.map((c) => `"${c.column_name}"`).join(', ');
  await schema.query(
    `CREATE TABLE "${schema.name}"."${table}" (${columns.map((c) => `"${c.column_name}" ${postgresType(c.column_type)}`).join(', ')})`,
  );
  const rows = await project.query<Record<string, unknown>>(`SELECT * FROM main.${table}`);
  for (const row of rows) {
    const values = columns.map((c) => row[c.column_name] ?? null);
    await schema.query(
      `INSERT INTO "${schema.name}"."${table}" (${names}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`,
      values,
    );
  }
}
