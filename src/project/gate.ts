import type { SyncSpec } from '../config/sync-spec.js';
import type { Manifest, ManifestNode } from '../dbt/manifest.js';
import type { RunResult, RunResults } from '../dbt/run-results.js';
import type { Logger } from '../logger.js';

/**
 * dbt's verdict on the models (DESIGN.md guarantee 4): a sync is skipped when its model
 * errored, was skipped or only partly built in the dbt invocation that wrote the manifest,
 * or when a data test or unit test on the model failed or errored (a warning too, with
 * `failOnTestWarnings`).
 *
 * Decisions, and the dbt facts behind them (../shared/reference/dbt-artifacts.md §2):
 * - run_results.json counts only when `metadata.invocation_id` equals the manifest's: both
 *   are written by the same command, and a later `dbt ls/parse/compile` rewrites the manifest.
 *   Otherwise the results are stale: a warning, and no sync is gated.
 * - Only results of commands that execute nodes count: build, run, test, seed, snapshot,
 *   retry (`args.which`). `dbt compile` and `dbt docs generate` (`which: generate`) also write
 *   run_results, with `success` for every model and test they merely compiled; they say
 *   nothing about the data, so they gate nothing (a warning says so).
 * - A model's own result: `success` passes; `error`, `skipped` (dbt skips what is downstream
 *   of a failure) and `partial success` (microbatch with failed batches) skip its syncs. A
 *   status activate does not know (a future dbt's) is logged and does not skip.
 * - A model with no result was not selected in that invocation: its relation is the one an
 *   earlier run built, so its syncs run (noted at debug level).
 * - Tests on a model: a data test's `attached_node` (dbt 1.5+: the model whose YAML defines
 *   it), else every model in its `depends_on.nodes` (pre-1.5 files, singular tests). So a
 *   failing relationships test defined on `orders` gates `orders`, not the model it refers to.
 *   Unit tests (`unit_test.*`, dbt 1.8+) gate the model they test (`model`, `depends_on`).
 *   `fail` and `error` skip; `warn` passes unless `failOnTestWarnings`; `skipped` (an upstream
 *   failure stopped it) skips nothing but is reported as a warning: that check did not run.
 * - Other entries (hooks `operation.*`, seeds, snapshots, exposures' `no-op`) gate nothing
 *   directly; a failed seed or snapshot shows up as its downstream models being `skipped`.
 */
export interface GateOptions {
  /** Treat a test with status `warn` like a failure (the CLI's --fail-on-test-warnings). */
  readonly failOnTestWarnings?: boolean;
}

export interface SkippedSync {
  readonly spec: SyncSpec;
  /** Why, for the report: "test not_null_orders_order_id failed in dbt build (3 failing rows)". */
  readonly reason: string;
}

/**
 * - `applied`: run_results of this invocation were used.
 * - `missing`: no run_results.json.
 * - `stale`: run_results.json from another invocation than the manifest; ignored.
 * - `not-a-build`: written by a command that executes nothing (compile, docs generate, ...); ignored.
 */
export type DbtVerdictSource = 'applied' | 'missing' | 'stale' | 'not-a-build';

export interface GateResult {
  readonly allowed: SyncSpec[];
  readonly skipped: SkippedSync[];
  readonly verdict: DbtVerdictSource;
  /** One line about what dbt's results were used for, as logged. */
  readonly note: string;
}

/** `args.which` of dbt commands whose results are a verdict on the data. */
export const VERDICT_COMMANDS: readonly string[] = ['build', 'run', 'test', 'seed', 'snapshot', 'retry'];

const MAX_REASONS = 3;

export function gateSyncs(
  syncs: readonly SyncSpec[],
  manifest: Manifest,
  runResults: RunResults | undefined,
  options: GateOptions,
  log: Logger,
): GateResult {
  const pass = (verdict: DbtVerdictSource, note: string, level: 'info' | 'warn'): GateResult => {
    log[level](note);
    return { allowed: [...syncs], skipped: [], verdict, note };
  };
  if (!runResults) {
    return pass('missing', "No run_results.json: syncing without dbt's verdict (run activate after dbt build to skip models that failed).", 'info');
  }
  if (!runResults.invocationId || runResults.invocationId !== manifest.invocationId) {
    return pass(
      'stale',
      `${runResults.path} is from another dbt invocation (${runResults.invocationId ?? 'no invocation_id'}) than ` +
        `${manifest.path} (${manifest.invocationId ?? 'no invocation_id'}), so its results are stale and ignored: ` +
        'no sync is skipped for a dbt failure. Run activate right after dbt build (dbt ls, parse and compile rewrite the manifest).',
      'warn',
    );
  }
  const command = commandName(runResults.command);
  if (runResults.command === undefined || !VERDICT_COMMANDS.includes(runResults.command)) {
    const what =
      runResults.command === undefined
        ? 'does not say which dbt command wrote it (no args.which)'
        : `was written by ${command}, which builds and tests nothing`;
    return pass(
      'not-a-build',
      `${runResults.path} ${what}, so it is no verdict on the data: no sync is skipped for a dbt failure. ` +
        'Run activate right after dbt build (before dbt docs generate or compile).',
      'warn',
    );
  }

  const verdicts = collectVerdicts(manifest, runResults, command, options);
  const allowed: SyncSpec[] = [];
  const skipped: SkippedSync[] = [];
  const noted = new Set<string>();
  for (const spec of syncs) {
    const verdict = verdicts.get(spec.model.uniqueId);
    if (verdict && verdict.blocking.length > 0) {
      const shown = verdict.blocking.slice(0, MAX_REASONS);
      const more = verdict.blocking.length - shown.length;
      const reason = shown.join('; ') + (more > 0 ? `; and ${more} more` : '');
      log.warn(`Skipping ${spec.id}: ${reason}`);
      skipped.push({ spec, reason });
      continue;
    }
    if (!noted.has(spec.model.uniqueId)) {
      noted.add(spec.model.uniqueId);
      if (!verdict?.built) {
        log.debug(`Model ${spec.model.name} has no result in this ${command}; its syncs use the relation an earlier run built`);
      }
      for (const note of verdict?.notes ?? []) log[note.level](note.text);
    }
    allowed.push(spec);
  }
  const short = runResults.invocationId.slice(0, 8);
  const note =
    `dbt's verdict from ${command} (invocation ${short}): ${allowed.length} sync${allowed.length === 1 ? '' : 's'} pass` +
    (skipped.length > 0 ? `, ${skipped.length} skipped` : '');
  log.info(note);
  return { allowed, skipped, verdict: 'applied', note };
}

interface ModelVerdict {
  /** The model itself has a result in this invocation. */
  built: boolean;
  blocking: string[];
  /** Logged once when the model's syncs run. */
  notes: { level: 'info' | 'warn'; text: string }[];
}

function collectVerdicts(
  manifest: Manifest,
  runResults: RunResults,
  command: string,
  options: GateOptions,
): Map<string, ModelVerdict> {
  const verdicts = new Map<string, ModelVerdict>();
  const of = (modelId: string) => {
    let v = verdicts.get(modelId);
    if (!v) verdicts.set(modelId, (v = { built: false, blocking: [], notes: [] }));
    return v;
  };
  const isModel = (id: string) => manifest.nodes[id]?.resource_type === 'model';

  for (const result of runResults.results) {
    const node = manifest.nodes[result.uniqueId];
    if (node?.resource_type === 'model') {
      const v = of(result.uniqueId);
      v.built = true;
      const problem = modelProblem(node.name, result, command);
      if (problem) v.blocking.push(problem);
      else if (result.status !== 'success') {
        v.notes.push({
          level: 'warn',
          text: `${command} reported model ${node.name} as "${result.status}", a status activate does not know; its syncs run`,
        });
      }
      continue;
    }
    let label: string;
    let targets: string[];
    if (node?.resource_type === 'test') {
      label = `test ${node.name}`;
      targets = node.attached_node ? [node.attached_node] : (node.depends_on?.nodes ?? []).filter(isModel);
    } else if (manifest.unitTests[result.uniqueId]) {
      const unit = manifest.unitTests[result.uniqueId]!;
      label = `unit test ${unit.name ?? result.uniqueId}`;
      targets = unitTestTargets(manifest, unit.model, unit.package_name, unit.depends_on?.nodes ?? []);
    } else {
      continue; // hooks, seeds, snapshots, exposures, entries the manifest does not know
    }
    const rows = result.failures !== undefined && result.failures > 0 && !label.startsWith('unit') ? ` (${result.failures} failing row${result.failures === 1 ? '' : 's'})` : '';
    let blocking: string | undefined;
    let note: ModelVerdict['notes'][number] | undefined;
    switch (result.status) {
      case 'fail':
        blocking = `${label} failed in ${command}${rows}`;
        break;
      case 'error':
        blocking = `${label} errored in ${command}${detail(result)}`;
        break;
      case 'warn':
        if (options.failOnTestWarnings) blocking = `${label} warned in ${command}${rows} and --fail-on-test-warnings is set`;
        else note = { level: 'info', text: `${label} warned in ${command}${rows}; syncing anyway (--fail-on-test-warnings would skip)` };
        break;
      case 'skipped':
        note = { level: 'warn', text: `${label} was skipped by ${command} (something it depends on failed), so it did not check the data` };
        break;
    }
    for (const target of targets) {
      if (blocking) of(target).blocking.push(blocking);
      if (note) of(target).notes.push(note);
    }
  }
  return verdicts;
}

function modelProblem(name: string, result: RunResult, command: string): string | undefined {
  switch (result.status) {
    case 'error':
      return `model ${name} errored in ${command}${detail(result)}`;
    case 'skipped':
      return `${command} skipped model ${name} (something it depends on failed, or the run stopped early)`;
    case 'partial success':
      return `model ${name} was only partly built in ${command} (partial success: some batches failed)`;
    default:
      return undefined;
  }
}

/** The model(s) a unit test tests: its `model` name among its dependencies, else the model of that name in its package. */
function unitTestTargets(manifest: Manifest, model: string | undefined, packageName: string | undefined, dependsOn: readonly string[]): string[] {
  const models = dependsOn.filter((id) => manifest.nodes[id]?.resource_type === 'model');
  if (model === undefined) return models;
  const named = models.filter((id) => manifest.nodes[id]?.name === model);
  if (named.length > 0) return named;
  return Object.entries(manifest.nodes)
    .filter(([, n]: [string, ManifestNode]) => n.resource_type === 'model' && n.name === model && (!packageName || n.package_name === packageName))
    .map(([id]) => id);
}

function detail(result: RunResult): string {
  const first = result.message?.split('\n').find((l) => l.trim() !== '')?.trim();
  if (!first) return '';
  return `: ${first.length > 200 ? `${first.slice(0, 197)}...` : first}`;
}

function commandName(which: string | undefined): string {
  if (which === undefined) return 'dbt';
  return which === 'generate' ? 'dbt docs generate' : `dbt ${which}`;
}
