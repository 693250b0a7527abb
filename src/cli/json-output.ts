import { z } from 'zod';
import type { Project } from '../project/load-project.js';
import type { ProjectReport, SyncReport } from '../run/run-project.js';

/**
 * The machine-readable result of `activate plan` and `activate run` (`--json` / `--format json`).
 * This zod schema is the contract: the CLI's output is typed by it, docs/json-output.md is
 * generated from it (`npm run docs`), and a test validates real output against that document.
 */
export const JSON_OUTPUT_VERSION = 1;

const count = z.number().int().nonnegative();

const perKind = z
  .strictObject({
    added: count.describe('rows new to the destination (never sent before)'),
    changed: count.describe('rows whose mapped values changed since they were last sent'),
    removed: count.describe('records sent before whose rows left the model (mirror and audience modes)'),
  })
  .describe('one count per kind of change');

const runCounts = z
  .strictObject({
    planned: perKind.describe('what the plan said to send'),
    attempted: perKind.describe('handed to the destination'),
    succeeded: perKind.describe('accepted by the destination, and committed to the state tables'),
    failed: perKind.describe('rejected by the destination (kept unsynced: sent again next run)'),
    aborted: perKind.describe('planned but never attempted (cancelled, a fatal error, --fail-fast)'),
    skipped: count.describe('records the destination skipped, saying why (not marked as synced)'),
  })
  .describe('per operation, what happened to the plan; null for `plan` and for syncs that never started');

const values = z.record(z.string(), z.unknown());

const sampleSchema = z
  .strictObject({
    kind: z.enum(['added', 'changed', 'removed']),
    key: z.string().describe('the primary key, as text (composite keys joined)'),
    before: values.nullable().describe('destination field -> value last sent; null for added records'),
    after: values.nullable().describe('destination field -> value to send; null for removed records'),
    changedFields: z.array(z.string()).describe('fields whose value differs between before and after (changed records); empty otherwise'),
  })
  .describe('a sample record of the change set (`plan` only)');

export const SYNC_STATUSES = ['planned', 'success', 'nothing', 'partial', 'failed', 'blocked', 'cancelled', 'skipped'] as const;

const syncSchema = z.strictObject({
  id: z.string().describe('the sync id (`name:` in meta.activation, else `<model>__<destination>`)'),
  model: z.string().describe("the dbt model's name"),
  modelUniqueId: z.string().nullable().describe("the dbt model's unique_id, e.g. model.jaffle_shop.customers"),
  destination: z.string().describe('the destination name in activate.yml'),
  destinationType: z.string().nullable().describe('the destination type (webhook, postgres, file, ...)'),
  mode: z.string().describe('upsert, update, create, mirror or audience'),
  runId: z.string().nullable().describe('the run id in activate_runs; null for syncs skipped by dbt\'s verdict'),
  status: z
    .enum(SYNC_STATUSES)
    .describe(
      'planned: plan computed, within safety limits. success: every record delivered. nothing: no changes to send. ' +
        'partial: some records rejected. failed: the sync stopped on an error. blocked: a safety limit stopped it before sending. ' +
        "cancelled: interrupted. skipped: dbt's verdict (the model or a test on it failed in the same dbt invocation)",
    ),
  result: z.enum(['pass', 'warn', 'error', 'skip']).describe('how the status counts in the Done. line: PASS, WARN, ERROR or SKIP'),
  counts: z
    .strictObject({
      added: count,
      changed: count,
      removed: count,
      modelRows: count.describe('rows in the model now'),
      syncedRecords: count.describe('records synced before this run (the base of percentage safety limits)'),
    })
    .describe('the plan: what the change set holds'),
  run: runCounts.nullable(),
  delivered: count.describe('records the destination accepted'),
  rejected: count.describe('records the destination rejected'),
  skipped: count.describe('records the destination skipped, saying why (not marked as synced)'),
  seconds: z.number().nonnegative().describe('time spent delivering (0 for plan)'),
  message: z.string().nullable().describe('why the sync failed, was blocked, skipped or cancelled, or a summary of its rejections'),
  violations: z.array(z.string()).describe('safety limits the change set exceeds (non-empty: the sync is or would be blocked)'),
  samples: z.array(sampleSchema).describe('a few records of the change set per kind (plan only; --samples N, 0 for none)'),
  rejectionSamples: z.array(z.string()).describe('a few rejections, "<key>: <message>"'),
});

export const jsonReportSchema = z
  .strictObject({
    version: z.literal(JSON_OUTPUT_VERSION).describe('version of this format; bumped when a field is removed or changes meaning'),
    command: z.enum(['plan', 'run']),
    warehouse: z.string().describe('the warehouse the syncs read, e.g. "duckdb warehouse.duckdb" (empty when nothing was planned)'),
    dbtVerdict: z
      .strictObject({
        verdict: z
          .enum(['applied', 'missing', 'stale', 'not-a-build'])
          .describe(
            'applied: run_results.json of the same dbt invocation decided which syncs to skip. missing: there was none. ' +
              'stale: it came from another invocation and was ignored. not-a-build: it came from a command that builds nothing and was ignored',
          ),
        note: z.string().describe('one line about how dbt\'s results were used'),
      })
      .describe("whether dbt's run_results.json was applied"),
    summary: z
      .strictObject({ pass: count, warn: count, error: count, skip: count, total: count })
      .describe('the counts of the closing `Done. PASS=.. WARN=.. ERROR=.. SKIP=.. TOTAL=..` line'),
    syncs: z.array(syncSchema).describe('every selected sync, in project order'),
    exitCode: z.number().int().describe('the exit code of the command: 0 all good, 1 a sync failed, was blocked or skipped, 130 interrupted'),
  })
  .meta({
    title: 'activate plan / run --format json',
    description: 'The result of `activate plan` or `activate run`, printed on stdout with `--json` or `--format json`.',
  });

export type JsonReport = z.output<typeof jsonReportSchema>;
export type JsonSync = JsonReport['syncs'][number];

/** How a sync's status counts in dbt's closing line. */
export function resultOf(status: SyncReport['status']): JsonSync['result'] {
  switch (status) {
    case 'planned':
    case 'success':
    case 'nothing':
      return 'pass';
    case 'partial':
      return 'warn';
    case 'skipped':
      return 'skip';
    default:
      return 'error';
  }
}

export function summaryCounts(report: ProjectReport): JsonReport['summary'] {
  const results = report.syncs.map((s) => resultOf(s.status));
  const n = (r: JsonSync['result']) => results.filter((x) => x === r).length;
  return { pass: n('pass'), warn: n('warn'), error: n('error'), skip: n('skip'), total: results.length };
}

/** Fields whose values differ between what was last sent and what would be sent. */
export function changedFields(before: Readonly<Record<string, unknown>> | undefined, after: Readonly<Record<string, unknown>> | undefined): string[] {
  if (!before || !after) return [];
  const keys = [...new Set([...Object.keys(after), ...Object.keys(before)])];
  return keys.filter((k) => JSON.stringify(before[k] ?? null) !== JSON.stringify(after[k] ?? null));
}

/** The report as the documented JSON document. `exitCode` is what the CLI exits with (130 when interrupted). */
export function toJsonReport(report: ProjectReport, project: Pick<Project, 'syncs'> | undefined, exitCode: number): JsonReport {
  const specs = new Map((project?.syncs ?? []).map((s) => [s.id, s]));
  return {
    version: JSON_OUTPUT_VERSION,
    command: report.command,
    warehouse: report.warehouse,
    dbtVerdict: { verdict: report.dbtVerdict.verdict, note: report.dbtVerdict.note },
    summary: summaryCounts(report),
    syncs: report.syncs.map((s): JsonSync => {
      const spec = specs.get(s.id);
      return {
        id: s.id,
        model: s.model,
        modelUniqueId: spec?.model.uniqueId ?? null,
        destination: s.destination,
        destinationType: spec?.destination.type ?? null,
        mode: s.mode,
        runId: s.runId ?? null,
        status: s.status,
        result: resultOf(s.status),
        counts: {
          added: s.counts.added,
          changed: s.counts.changed,
          removed: s.counts.removed,
          modelRows: s.counts.modelRows,
          syncedRecords: s.counts.syncedRecords,
        },
        run: s.run
          ? {
              planned: { ...s.run.planned },
              attempted: { ...s.run.attempted },
              succeeded: { ...s.run.succeeded },
              failed: { ...s.run.failed },
              aborted: { ...s.run.aborted },
              skipped: s.run.skipped,
            }
          : null,
        delivered: s.delivered,
        rejected: s.rejected,
        skipped: s.skipped,
        seconds: s.seconds,
        message: s.message ?? null,
        violations: [...s.violations],
        samples: s.samples.map((x) => ({
          kind: x.kind,
          key: x.key,
          before: x.before ? { ...x.before } : null,
          after: x.after ? { ...x.after } : null,
          changedFields: x.kind === 'changed' ? changedFields(x.before, x.after) : [],
        })),
        rejectionSamples: [...s.rejectionSamples],
      };
    }),
    exitCode,
  };
}

/** The JSON Schema (draft 2020-12) of the output, as published in docs/json-output.md. */
export function jsonOutputJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(jsonReportSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
}
