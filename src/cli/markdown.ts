import type { SampleChange } from '../plan/planner.js';
import type { Project } from '../project/load-project.js';
import type { ProjectReport, SyncReport } from '../run/run-project.js';
import { changedFields, resultOf } from './json-output.js';
import { label, summaryLine, valueText } from './report.js';
import { truncate } from './table.js';

/** GitHub refuses comments over 65,536 characters; the step summary allows 1 MiB. Stay under both. */
export const MARKDOWN_LIMIT = 60_000;
const VALUE_WIDTH = 60;
const FIELDS_PER_SAMPLE = 6;

/** The first line of every report, so a CI job can find and update its earlier pull-request comment. */
export const MARKDOWN_MARKER = (command: string) => `<!-- activate:${command} -->`;

export interface MarkdownOptions {
  /** Destination types and model ids come from the project. */
  readonly project?: Pick<Project, 'syncs'>;
  /** The command line, shown in the heading (e.g. "activate plan -s tag:crm"). */
  readonly title?: string;
  readonly limit?: number;
}

/**
 * A pull-request-ready report of `activate plan` or `activate run`: an overview table, then per
 * destination and sync the counts, sample records with before -> after values, the safety
 * limits that trip and syncs skipped by dbt's verdict, and dbt's closing line.
 */
export function formatMarkdown(report: ProjectReport, options: MarkdownOptions = {}): string {
  const limit = options.limit ?? MARKDOWN_LIMIT;
  const specs = new Map((options.project?.syncs ?? []).map((s) => [s.id, s]));
  const typeOf = (sync: SyncReport) => specs.get(sync.id)?.destination.type;
  const plan = report.command === 'plan';
  const total = report.syncs.reduce(
    (t, s) => (s.status === 'skipped' ? t : { added: t.added + s.counts.added, changed: t.changed + s.counts.changed, removed: t.removed + s.counts.removed }),
    { added: 0, changed: 0, removed: 0 },
  );
  const n = report.syncs.length;
  const head: string[] = [MARKDOWN_MARKER(report.command)];
  head.push(
    `### ${options.title ? code(options.title) : `activate ${report.command}`}: ${n} sync${n === 1 ? '' : 's'}, ` +
      `+${total.added} ~${total.changed} -${total.removed}${plan ? ' planned' : ''}`,
    '',
  );
  if (n === 0) {
    head.push('No sync is selected.', '', code(summaryLine(report)), '');
    return head.join('\n');
  }
  const overview = plan
    ? ['| | sync | model | destination | mode | added | changed | removed | result |', '|---|---|---|---|---|--:|--:|--:|---|']
    : [
        '| | sync | model | destination | mode | added | changed | removed | delivered | rejected | time | result |',
        '|---|---|---|---|---|--:|--:|--:|--:|--:|--:|---|',
      ];
  for (const s of report.syncs) {
    const type = typeOf(s);
    const counted = s.status !== 'skipped';
    const num = (v: number) => (counted ? String(v) : '');
    const cells = [
      icon(s),
      code(s.id),
      code(s.model),
      `${code(s.destination)}${type ? ` (${escape(type)})` : ''}`,
      escape(s.mode),
      num(s.counts.added),
      num(s.counts.changed),
      num(s.counts.removed),
      ...(plan ? [] : [num(s.delivered), num(s.rejected), counted && s.status !== 'blocked' ? `${s.seconds.toFixed(1)}s` : '']),
      escape(label(s)),
    ];
    overview.push(`| ${cells.join(' | ')} |`);
  }
  head.push(...overview, '');
  const context = [report.dbtVerdict.note ? escape(report.dbtVerdict.note.replace(/\.$/, '')) : '', report.warehouse ? `warehouse ${code(report.warehouse)}` : '']
    .filter(Boolean)
    .join('; ');
  if (context) head.push(`<sub>${context}</sub>`, '');

  // Per destination, each sync's details.
  const byDestination = new Map<string, SyncReport[]>();
  for (const s of report.syncs) byDestination.set(s.destination, [...(byDestination.get(s.destination) ?? []), s]);
  const sections: string[] = [];
  for (const [destination, syncs] of byDestination) {
    const type = typeOf(syncs[0]!);
    const lines = [`#### ${code(destination)}${type ? ` (${escape(type)})` : ''}`, ''];
    for (const s of syncs) lines.push(...syncSection(s, plan), '');
    sections.push(lines.join('\n'));
  }
  const tail = ['', code(summaryLine(report)), ''].join('\n');
  let body = head.join('\n');
  let omitted = 0;
  for (const section of sections) {
    if (body.length + section.length + tail.length + 200 > limit) {
      omitted++;
      continue;
    }
    body += `\n${section}`;
  }
  if (omitted > 0) body += `\n_Details of ${omitted} destination${omitted === 1 ? '' : 's'} left out to keep this report short; see the job log._\n`;
  return body + tail;
}

function syncSection(s: SyncReport, plan: boolean): string[] {
  const lines: string[] = [];
  const counts = `**+${s.counts.added}** added, **~${s.counts.changed}** changed, **-${s.counts.removed}** removed`;
  const title = `${icon(s)} **${code(s.id)}** from ${code(s.model)}, ${escape(s.mode)}`;
  if (s.status === 'skipped') {
    lines.push(`${title}: skipped by dbt's verdict: ${escape(s.message ?? '')}`);
    return lines;
  }
  const base = `${s.counts.modelRows} row${s.counts.modelRows === 1 ? '' : 's'} in the model, ${s.counts.syncedRecords} synced before`;
  if (plan) {
    lines.push(`${title}: ${counts} (${base})`);
  } else {
    lines.push(`${title}: ${counts}; delivered ${s.delivered}, rejected ${s.rejected}${s.skipped ? `, skipped ${s.skipped}` : ''} in ${s.seconds.toFixed(1)}s`);
  }
  if (s.violations.length > 0) {
    lines.push('');
    lines.push(`> **${plan ? 'Would stop at a safety limit' : 'Stopped at a safety limit'}** (nothing ${plan ? 'would be' : 'was'} sent for this sync):`);
    for (const v of s.violations) lines.push(`> - ${escape(v)}`);
  } else if (s.message && !(s.status === 'partial' && s.rejected > 0)) {
    lines.push('', `> ${escape(s.message)}`);
  }
  if (s.rejected > 0) {
    lines.push('', `Rejected ${s.rejected} record${s.rejected === 1 ? '' : 's'}${s.rejectionSamples.length > 0 ? ', e.g.:' : '.'}`);
    for (const r of s.rejectionSamples) lines.push(`- ${escape(truncate(r, 200))}`);
  }
  if (s.samples.length > 0) {
    lines.push('', `<details><summary>Sample changes (${s.samples.length})</summary>`, '', '| | key | values |', '|---|---|---|');
    for (const sample of s.samples) lines.push(sampleRow(sample));
    lines.push('', '</details>');
  }
  return lines;
}

function sampleRow(s: SampleChange): string {
  const symbol = s.kind === 'added' ? '+' : s.kind === 'changed' ? '~' : '-';
  let parts: string[];
  if (s.kind === 'changed') {
    const fields = changedFields(s.before, s.after);
    parts = fields.map((f) => `${escape(f)}: ${value(s.before?.[f])} → ${value(s.after?.[f])}`);
    if (parts.length === 0) parts = ['(same values, sent again for a new mapping)'];
  } else {
    const values = Object.entries((s.kind === 'removed' ? s.before : s.after) ?? {});
    parts = values.slice(0, FIELDS_PER_SAMPLE).map(([f, v]) => `${escape(f)}: ${value(v)}`);
    if (values.length > FIELDS_PER_SAMPLE) parts.push(`… ${values.length - FIELDS_PER_SAMPLE} more`);
  }
  return `| ${symbol} | ${code(s.key)} | ${parts.join('<br>')} |`;
}

function icon(s: Pick<SyncReport, 'status'>): string {
  if (s.status === 'blocked') return '⛔';
  switch (resultOf(s.status)) {
    case 'pass':
      return '✅';
    case 'warn':
      return '⚠️';
    case 'skip':
      return '⏭️';
    default:
      return '❌';
  }
}

function value(v: unknown): string {
  return code(truncate(valueText(v), VALUE_WIDTH));
}

/** Inline code that survives any content, inside a table too. */
export function code(text: string): string {
  const flat = text.replace(/\r?\n/g, ' ');
  const longest = Math.max(0, ...[...flat.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${flat.replaceAll('|', '\\|')}${pad}${fence}`;
}

/** Plain text that cannot open HTML, break a table row or start emphasis. */
export function escape(text: string): string {
  return text
    .replace(/\r?\n/g, ' ')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replace(/([\\|*_`[\]])/g, '\\$1');
}
