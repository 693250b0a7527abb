/** bench/RESULTS.md and bench/results.json from the scenarios' reports. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TargetCheck {
  readonly scenario: string;
  readonly target: string;
  readonly measured: string;
  readonly holds: boolean;
}

export interface MemoryEntry {
  readonly kind: string;
  readonly n: number;
  readonly rssMb: number;
  readonly heapMb?: number;
  readonly floorRssMb?: number;
}

export interface ScenarioReport {
  readonly id: string;
  readonly title: string;
  /** Markdown lines (a table and a few sentences). */
  readonly lines: readonly string[];
  readonly data: unknown;
  readonly targets: readonly TargetCheck[];
  readonly memory?: MemoryEntry;
}

export interface Environment {
  date: string;
  command: string;
  cpu: string;
  memoryGb: number;
  node: string;
  duckdb: string;
  postgres: string | undefined;
  git: string;
  loadAverageStart: number[];
  loadAverageEnd: number[];
  totalSeconds: number;
  duckdbSettings: Readonly<Record<string, string>>;
}

export async function writeReport(
  reports: readonly ScenarioReport[],
  env: Environment,
  options: { readonly write: boolean; readonly notesPath: string; readonly outDir: string },
): Promise<void> {
  const targets = reports.flatMap((r) => r.targets);
  let notes = '';
  try {
    notes = await readFile(options.notesPath, 'utf8');
  } catch {
    notes = '';
  }
  const settings = Object.entries(env.duckdbSettings);
  const md = [
    '# Benchmark results',
    '',
    `Written by \`${env.command}\` (bench/run.ts) on ${env.date.slice(0, 10)}; do not edit by hand — the notes at the end come from bench/NOTES.md.`,
    '',
    '| | |',
    '|---|---|',
    `| machine | ${env.cpu}, ${env.memoryGb} GiB RAM |`,
    `| Node.js | ${env.node} |`,
    `| DuckDB | ${env.duckdb} |`,
    `| PostgreSQL | ${env.postgres ?? 'not used (ACTIVATE_TEST_PG_URL not set)'} |`,
    `| code | ${env.git} |`,
    `| load average (1, 5, 15 min) | ${env.loadAverageStart.join(', ')} at the start, ${env.loadAverageEnd.join(', ')} at the end |`,
    `| whole run | ${Math.round(env.totalSeconds / 60)} min ${env.totalSeconds % 60} s |`,
    ...(settings.length > 0 ? [`| DuckDB settings in the profiles | ${settings.map(([k, v]) => `${k}=${v}`).join(', ')} |`] : []),
    '',
    'Every figure is the median of the repetitions listed beside it; activate and its floor run alternately, each in its own',
    'process, on the same files. activate is the real CLI (`node bin/activate.js`), timed from spawn to exit; peak RSS is the',
    "process's VmHWM. Repetitions: 5 at 1M rows and below, 3 at 10M rows and for the sync scenarios.",
    '',
    '## Targets',
    '',
    '| scenario | target | measured | holds |',
    '|---|---|---|---|',
    ...targets.map((t) => `| ${t.scenario} | ${t.target} | ${t.measured} | ${t.holds ? 'yes' : '**no**'} |`),
    '',
    ...reports.flatMap((r) => [`## ${r.title}`, '', ...r.lines, '']),
    ...(notes ? [notes.trim(), ''] : []),
  ].join('\n');
  process.stdout.write(md + '\n');
  if (!options.write) return;
  await writeFile(join(options.outDir, 'RESULTS.md'), md);
  await writeFile(join(options.outDir, 'results.json'), JSON.stringify({ environment: env, targets, scenarios: reports }, null, 2) + '\n');
}
