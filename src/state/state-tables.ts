import type { SqlDialect } from '../warehouse/types.js';

/** Bump when the tables change, and add the step to `migrations`; never change a step that shipped. */
export const STATE_SCHEMA_VERSION = 1;

export interface StateTables {
  readonly meta: string;
  readonly syncs: string;
  readonly state: string;
  readonly runs: string;
  readonly rejections: string;
  readonly locks: string;
  readonly changelog: string;
}

export function stateTables(dialect: SqlDialect, schema: string, database?: string): StateTables {
  const t = (name: string) => dialect.table(schema, name, database);
  return {
    meta: t('activate_meta'),
    syncs: t('activate_syncs'),
    state: t('activate_state'),
    runs: t('activate_runs'),
    rejections: t('activate_rejections'),
    locks: t('activate_locks'),
    changelog: t('activate_changelog'),
  };
}

export const RECORD_KINDS = ['added', 'changed', 'removed'] as const;
export const RUN_STAGES = ['planned', 'attempted', 'succeeded', 'failed', 'aborted'] as const;

/** `planned_added`, `planned_changed`, ..., `aborted_removed`: per operation, what happened to the plan. */
export const RUN_COUNT_COLUMNS = RUN_STAGES.flatMap((stage) => RECORD_KINDS.map((kind) => `${stage}_${kind}`));

/** DDL per schema version: migrations[v - 1] takes the tables from version v - 1 to v. */
export function migrations(d: SqlDialect, t: StateTables): readonly (readonly string[])[] {
  const text = d.textType;
  const ts = d.timestampType;
  const int = d.bigintType;
  const counts = RUN_COUNT_COLUMNS.map((c) => `${c} ${int} NOT NULL DEFAULT 0`).join(',\n        ');
  // A table constraint, as every warehouse accepts it (BigQuery only as NOT ENFORCED).
  const key = (...columns: string[]) => (d.primaryKey ? d.primaryKey(columns) : `PRIMARY KEY (${columns.join(', ')})`);
  return [
    [
      `CREATE TABLE IF NOT EXISTS ${t.syncs} (
        sync_id ${text} NOT NULL,
        model_unique_id ${text} NOT NULL,
        destination ${text} NOT NULL,
        destination_type ${text} NOT NULL,
        mode ${text} NOT NULL,
        key_columns ${text} NOT NULL,
        fingerprint ${text} NOT NULL,
        updated_at ${ts} NOT NULL,
        ${key('sync_id')})`,
      `CREATE TABLE IF NOT EXISTS ${t.state} (
        sync_id ${text} NOT NULL,
        record_key ${text} NOT NULL,
        row_hash ${text} NOT NULL,
        sent_values ${text},
        destination_id ${text},
        synced_at ${ts} NOT NULL,
        run_id ${text} NOT NULL,
        ${key('sync_id', 'record_key')})`,
      `CREATE TABLE IF NOT EXISTS ${t.runs} (
        run_id ${text} NOT NULL,
        sync_id ${text} NOT NULL,
        model_unique_id ${text} NOT NULL,
        destination ${text} NOT NULL,
        mode ${text} NOT NULL,
        dbt_invocation_id ${text},
        started_at ${ts} NOT NULL,
        finished_at ${ts},
        status ${text} NOT NULL,
        ${counts},
        succeeded ${int} NOT NULL DEFAULT 0,
        failed ${int} NOT NULL DEFAULT 0,
        skipped ${int} NOT NULL DEFAULT 0,
        message ${text},
        ${key('run_id')})`,
      `CREATE TABLE IF NOT EXISTS ${t.rejections} (
        run_id ${text} NOT NULL,
        sync_id ${text} NOT NULL,
        record_key ${text} NOT NULL,
        operation ${text} NOT NULL,
        error_code ${text},
        error ${text} NOT NULL,
        retryable BOOLEAN NOT NULL,
        created_at ${ts} NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${t.changelog} (
        run_id ${text} NOT NULL,
        sync_id ${text} NOT NULL,
        record_key ${text} NOT NULL,
        operation ${text} NOT NULL,
        status ${text} NOT NULL,
        error ${text},
        fields ${text},
        created_at ${ts} NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${t.locks} (
        sync_id ${text} NOT NULL,
        run_id ${text} NOT NULL,
        holder ${text} NOT NULL,
        acquired_at ${ts} NOT NULL,
        expires_at ${ts} NOT NULL,
        ${key('sync_id')})`,
    ],
  ];
}
