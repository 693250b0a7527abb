import pc from 'picocolors';
import type { Colors } from 'picocolors/types.js';
import type { SyncSpec } from '../config/sync-spec.js';
import type { SampleChange } from '../plan/planner.js';
import type { ProjectReport, SyncReport } from '../run/run-project.js';
import { changedFields, resultOf, summaryCounts } from './json-output.js';
import { formatTable, truncate, type Align } from './table.js';
import type { SyncStatusReport } from '../run/state-commands.js';

/** Human-readable results, printed to stdout: a table of syncs, details beneath, dbt's closing line. */
export function formatReport(report: ProjectReport, options: { colors?: Colors } = {}): string {
  const c = options.colors ?? NO_COLORS;
  if (report.syncs.length === 0) return summaryLine(report);
  const run = report.command === 'run';
  const header = run
    ? ['sync', 'mode', 'changes', 'delivered', 'rejected', 'skipped', 'time', 'result']
    : ['sync', 'mode', 'changes', 'rows', 'synced', 'result'];
  const align: Align[] = run
    ? ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'left']
    : ['left', 'left', 'left', 'right', 'right', 'left'];
  const rows: string[][] = [header.map((h) => c.dim(h))];
  const details: string[][] = [[]];
  for (const sync of report.syncs) {
    const planned = sync.status !== 'skipped';
    const n = (value: number) => (planned ? String(value) : '-');
    const changes = planned ? countsText(sync) : '-';
    const status = c.bold(colorLabel(sync, c));
    rows.push(
      run
        ? [sync.id, sync.mode, changes, n(sync.delivered), n(sync.rejected), n(sync.skipped), sent(sync) ? `${sync.seconds.toFixed(1)}s` : '-', status]
        : [sync.id, sync.mode, changes, n(sync.counts.modelRows), n(sync.counts.syncedRecords), status],
    );
    details.push(detailLines(sync, c));
  }
  const lines: string[] = [];
  formatTable(rows, align).forEach((line, i) => {
    lines.push(line);
    for (const d of details[i] ?? []) lines.push(`    ${d}`);
  });
  lines.push('', summaryLine(report));
  return lines.join('\n');
}

const NO_COLORS: Colors = pc.createColors(false);

/** Whether delivery started (a blocked or skipped sync took no time worth showing). */
function sent(sync: SyncReport): boolean {
  return sync.status !== 'skipped' && sync.status !== 'blocked';
}

function countsText(sync: SyncReport): string {
  return `+${sync.counts.added} ~${sync.counts.changed} -${sync.counts.removed}`;
}

function detailLines(sync: SyncReport, c: Colors): string[] {
  const out: string[] = [];
  for (const v of sync.violations) out.push(c.red(`blocked: ${v}`));
  if (sync.rejected > 0) {
    const shown = sync.rejectionSamples.join('; ');
    out.push(c.yellow(`rejected ${sync.rejected}${shown ? `${sync.rejectionSamples.length < sync.rejected ? ', e.g.' : ':'} ${shown}` : ''}`));
  }
  const messageShown = sync.violations.length > 0 || (sync.status === 'partial' && sync.rejected > 0);
  if (sync.message && !messageShown) out.push(sync.status === 'skipped' ? c.dim(sync.message) : c.red(sync.message));
  const keyWidth = Math.max(0, ...sync.samples.map((s) => s.key.length));
  for (const s of sync.samples) out.push(sampleLine(s, keyWidth, c));
  return out;
}

const SAMPLE_WIDTH = 140;

function sampleLine(s: SampleChange, keyWidth: number, c: Colors): string {
  const key = s.key.padEnd(keyWidth);
  if (s.kind === 'changed') {
    const fields = changedFields(s.before, s.after);
    const text = fields.map((f) => `${f}: ${valueText(s.before?.[f])} -> ${valueText(s.after?.[f])}`).join(', ');
    return truncate(`${c.yellow('~')} ${key}  ${text || '(same values, new mapping)'}`, SAMPLE_WIDTH);
  }
  const values = (s.kind === 'removed' ? s.before : s.after) ?? {};
  const text = Object.entries(values)
    .map(([f, v]) => `${f}=${valueText(v)}`)
    .join(' ');
  return truncate(`${s.kind === 'added' ? c.green('+') : c.red('-')} ${key}  ${text}`, SAMPLE_WIDTH);
}

/** A value as in JSON, so null and the text "null" differ. */
export function valueText(value: unknown): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}

export function summaryLine(report: ProjectReport): string {
  const s = summaryCounts(report);
  return `Done. PASS=${s.pass} WARN=${s.warn} ERROR=${s.error} SKIP=${s.skip} TOTAL=${s.total}`;
}

export function label(sync: Pick<SyncReport, 'status'>): string {
  switch (sync.status) {
    case 'planned':
      return 'PLANNED';
    case 'nothing':
      return 'OK (no changes)';
    case 'success':
      return 'OK';
    case 'partial':
      return 'WARN (rejections)';
    case 'blocked':
      return 'BLOCKED';
    case 'failed':
      return 'ERROR';
    case 'cancelled':
      return 'CANCELLED';
    case 'skipped':
      return "SKIPPED (dbt's verdict)";
  }
}

function colorLabel(sync: SyncReport, c: Colors): string {
  const text = label(sync);
  switch (resultOf(sync.status)) {
    case 'pass':
      return c.green(text);
    case 'warn':
      return c.yellow(text);
    case 'skip':
      return c.dim(text);
    default:
      return c.red(text);
  }
}

export function formatSyncList(syncs: readonly SyncSpec[]): string {
  if (syncs.length === 0) return 'No syncs: add meta.activation to a model (see the README).';
  return syncs
    .map((s) => {
      const mapped = [...Object.entries(s.identifier), ...Object.entries(s.fields)].map(([f, c]) => (f === c ? f : `${f}<-${c}`));
      return `${s.id}  model=${s.model.name}  destination=${s.destination.name} (${s.destination.type})  mode=${s.mode}  key=${s.primaryKey.join(',')}  fields=${mapped.join(',')}`;
    })
    .join('\n');
}

export function syncListJson(syncs: readonly SyncSpec[]): unknown {
  return syncs.map((s) => ({
    id: s.id,
    model: s.model.uniqueId,
    destination: s.destination.name,
    destination_type: s.destination.type,
    mode: s.mode,
    primary_key: s.primaryKey,
    identifier: s.identifier,
    fields: s.fields,
    fingerprint: s.fingerprint,
  }));
}

export function formatStatus(report: readonly SyncStatusReport[]): string {
  if (report.length === 0) return 'No syncs selected.';
  const lines: string[] = [];
  for (const sync of report) {
    lines.push(`${sync.id}: ${sync.syncedRecords} records synced, ${sync.openRejections} open rejections`);
    if (sync.lock) lines.push(`  running: run ${String(sync.lock.run_id)} held by ${String(sync.lock.holder)} until ${String(sync.lock.expires_at)}`);
    for (const run of sync.runs) {
      lines.push(
        `  ${String(run.started_at)}  ${String(run.status).padEnd(9)}  +${String(run.planned_added)} ~${String(run.planned_changed)} -${String(run.planned_removed)}` +
          `  delivered ${String(run.succeeded)}  rejected ${String(run.failed)}${run.message ? `  ${String(run.message)}` : ''}`,
      );
    }
    if (sync.runs.length === 0) lines.push('  never run');
    for (const r of sync.rejectionSamples) lines.push(`  rejected ${String(r.record_key)} (${String(r.operation)}): ${String(r.error)}`);
  }
  return lines.join('\n');
}
