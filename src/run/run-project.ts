import { randomUUID } from 'node:crypto';
import { join, relative } from 'node:path';
import PQueue from 'p-queue';
import { ActivateError, DataError, EXIT_BAD_INPUT, errorMessage } from '../errors.js';
import type { SyncSpec } from '../config/sync-spec.js';
import { HttpClientPool } from '../http/http-client.js';
import type { Logger } from '../logger.js';
import { planSync, type PlanCounts, type SampleChange, type SyncPlan } from '../plan/planner.js';
import { resolveProfile, type Project } from '../project/load-project.js';
import { readRunResults } from '../dbt/run-results.js';
import { gateSyncs, type GateResult } from '../project/gate.js';
import { selectSyncs } from '../project/select.js';
import { emptyRunCounts, sumPerKind, StateStore, type Lease, type PerKind, type RunCounts } from '../state/state-store.js';
import { executeSync } from '../sync/executor.js';
import { openWarehouse } from '../warehouse/registry.js';
import type { Warehouse } from '../warehouse/types.js';

export interface RunOptions {
  readonly select?: readonly string[];
  readonly exclude?: readonly string[];
  readonly fullRefresh?: boolean;
  readonly allowLargeChanges?: boolean;
  /** Rejected records a sync may have before it counts as failed (default 0). */
  readonly maxRejections?: number;
  /** Sample records per kind (added/changed/removed) to include in a plan. */
  readonly samples?: number;
  /** Syncs delivered at once (default 1); destinations keep their shared rate limits. */
  readonly threads?: number;
  /** Stop every other sync at the first one that fails. */
  readonly failFast?: boolean;
  /** A test of the model that warned in this dbt build skips its syncs too. */
  readonly failOnTestWarnings?: boolean;
  /** Syncs skipped by dbt's verdict do not make the exit code 1. */
  readonly skipFailedModelsOk?: boolean;
  readonly log: Logger;
  /** Aborted: no new batch is sent; batches in flight finish and are committed; the run is `cancelled`. */
  readonly stop?: AbortSignal;
  /** Aborted: requests in flight are abandoned as well. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (syncId: string, counts: RunCounts) => void;
  /** A sync starts sending its plan (after planning; not called for syncs with nothing to send). */
  readonly onSyncStart?: (syncId: string, planned: PerKind) => void;
  /** A sync's delivery ended, whatever its status (run only). */
  readonly onSyncDone?: (report: SyncReport) => void;
}

export type SyncStatus = 'planned' | 'success' | 'partial' | 'failed' | 'blocked' | 'cancelled' | 'skipped' | 'nothing';

export interface SyncReport {
  readonly id: string;
  readonly model: string;
  readonly destination: string;
  readonly mode: string;
  readonly runId: string | undefined;
  readonly status: SyncStatus;
  readonly counts: PlanCounts;
  /** Per operation, what happened to the plan (run only). */
  readonly run: RunCounts | undefined;
  readonly delivered: number;
  readonly rejected: number;
  readonly skipped: number;
  readonly seconds: number;
  readonly message: string | undefined;
  readonly violations: readonly string[];
  readonly samples: readonly SampleChange[];
  readonly rejectionSamples: readonly string[];
}

export interface ProjectReport {
  readonly command: 'plan' | 'run';
  readonly warehouse: string;
  /** Whether dbt's run_results.json of the same invocation was applied, and what it said. */
  readonly dbtVerdict: { readonly verdict: GateResult['verdict']; readonly note: string };
  readonly syncs: readonly SyncReport[];
  /** 0 all good; 1 a sync failed, was blocked by a safety limit, or had too many rejections. */
  readonly exitCode: number;
}

/** `activate plan`: every selected sync's change set, computed in the warehouse; sends and writes nothing. */
export function planProject(project: Project, options: RunOptions): Promise<ProjectReport> {
  return withWarehouse(project, options, 'plan');
}

/** `activate run`: plan, then deliver, then commit what each destination accepted. */
export function runProject(project: Project, options: RunOptions): Promise<ProjectReport> {
  return withWarehouse(project, options, 'run');
}

async function withWarehouse(project: Project, options: RunOptions, command: 'plan' | 'run'): Promise<ProjectReport> {
  const selected = selectSyncs(project.syncs, project.manifest, options.select, options.exclude, options.log);
  if (selected.length === 0) {
    options.log.info('Nothing to do: no sync is selected (add meta.activation to a model, or check --select).');
    return { command, warehouse: '', dbtVerdict: { verdict: 'missing', note: '' }, syncs: [], exitCode: 0 };
  }
  // dbt's verdict: a model that errored, or whose tests failed, in this dbt build is not activated.
  const runResultsPath = join(project.dbt.targetPath, 'run_results.json');
  const runResults = await readRunResults(runResultsPath, relative(project.dbt.dir, runResultsPath));
  const gate = gateSyncs(selected, project.manifest, runResults, { failOnTestWarnings: options.failOnTestWarnings ?? false }, options.log);
  const skipped = gate.skipped.map(({ spec, reason }) => ({ ...baseReport(spec, undefined, NO_COUNTS), status: 'skipped' as const, message: reason }));
  const dbtVerdict = { verdict: gate.verdict, note: gate.note };

  let report: Omit<ProjectReport, 'exitCode' | 'dbtVerdict'> = { command, warehouse: '', syncs: [] };
  if (gate.allowed.length > 0) {
    const profile = await resolveProfile(project);
    const warehouse = await openWarehouse(profile, project.options.cwd ?? process.cwd());
    try {
      report = await plansThenDelivery(project, gate.allowed, warehouse, options, command);
    } finally {
      const closing = performance.now();
      await warehouse.close();
      // DuckDB merges what its log still holds into the file here: part of the state commits' cost.
      options.log.debug('warehouse closed', { ms: Number((performance.now() - closing).toFixed(1)) });
    }
  }
  const order = new Map(selected.map((s, i) => [s.id, i]));
  const syncs = [...report.syncs, ...skipped].sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  const failed = syncs.some((r) => isFailure(r, options) || (r.status === 'skipped' && !options.skipFailedModelsOk));
  return { ...report, dbtVerdict, syncs, exitCode: failed ? 1 : 0 };
}

const NO_COUNTS: PlanCounts = { added: 0, changed: 0, removed: 0, modelRows: 0, syncedRecords: 0 };

interface Prepared {
  readonly spec: SyncSpec;
  readonly runId: string;
  readonly lease: Lease | undefined;
  readonly plan: SyncPlan;
}

async function plansThenDelivery(
  project: Project,
  syncs: readonly SyncSpec[],
  warehouse: Warehouse,
  options: RunOptions,
  command: 'plan' | 'run',
): Promise<Omit<ProjectReport, 'exitCode' | 'dbtVerdict'>> {
  const { log } = options;
  const stateConnection = await warehouse.connect();
  const store = new StateStore(stateConnection, warehouse.dialect, project.config.state.schema, project.config.state.database);
  const prepared: Prepared[] = [];
  const reports: SyncReport[] = [];
  const http = new HttpClientPool();
  try {
    const sending = command === 'run';
    if (sending) await store.migrate();
    const stateExists = sending || (await store.exists());

    // Plan every selected sync before sending anything: bad data in any of them stops the run (exit 2).
    const badInput: string[] = [];
    for (const spec of syncs) {
      const runId = randomUUID();
      let lease: Lease | undefined;
      try {
        if (sending) lease = await store.acquireLease(spec.id, runId);
        if (stateExists) await store.checkKeyColumns(spec);
        log.info(`Planning ${spec.id} (${spec.model.name} -> ${spec.destination.name}, ${spec.mode})`);
        const state = stateExists && !options.fullRefresh ? store : undefined;
        const plan = await planSync(spec, warehouse, { state, allowLargeChanges: options.allowLargeChanges ?? false });
        prepared.push({ spec, runId, lease, plan });
      } catch (error) {
        await lease?.release().catch(() => undefined);
        if (error instanceof ActivateError && error.exitCode === EXIT_BAD_INPUT) {
          badInput.push(project.redactor.redact(error.message));
          continue;
        }
        reports.push(failedBeforePlan(spec, runId, project.redactor.redact(errorMessage(error))));
      }
    }
    if (badInput.length > 0) {
      throw new DataError(`nothing was sent; fix these first:\n${badInput.join('\n')}`);
    }

    if (!sending) {
      for (const item of prepared) reports.push(await describePlan(item, options.samples ?? 3));
    } else {
      // --fail-fast stops the other syncs the way a cancel does: in-flight batches finish and commit.
      const failFast = new AbortController();
      const stop = options.stop ? AbortSignal.any([options.stop, failFast.signal]) : failFast.signal;
      const queue = new PQueue({ concurrency: Math.max(1, options.threads ?? 1) });
      for (const item of prepared) {
        void queue.add(async () => {
          const report = await deliverSafely(project, item, store, http, { ...options, stop });
          reports.push(report);
          options.onSyncDone?.(report);
          if (options.failFast && isFailure(report, options)) failFast.abort();
        });
      }
      await queue.onIdle();
    }
  } finally {
    for (const item of prepared) {
      await item.plan.close().catch(() => undefined);
      await item.lease?.release().catch(() => undefined);
    }
    await http.closeAll();
    await stateConnection.close();
  }
  return { command, warehouse: warehouse.description, syncs: reports };
}

function isFailure(report: SyncReport, options: RunOptions): boolean {
  return ['failed', 'blocked', 'cancelled'].includes(report.status) || report.rejected > (options.maxRejections ?? 0);
}

async function describePlan(item: Prepared, samples: number): Promise<SyncReport> {
  return {
    ...baseReport(item.spec, item.runId, item.plan.counts),
    status: item.plan.violations.length > 0 ? 'blocked' : 'planned',
    violations: item.plan.violations,
    samples: samples > 0 ? await item.plan.sample(samples) : [],
  };
}

async function deliverSafely(
  project: Project,
  item: Prepared,
  store: StateStore,
  http: HttpClientPool,
  options: RunOptions,
): Promise<SyncReport> {
  try {
    return await deliver(project, item, store, http, options);
  } catch (error) {
    const message = project.redactor.redact(errorMessage(error));
    options.log.error(`${item.spec.id}: ${message}`);
    return { ...baseReport(item.spec, item.runId, item.plan.counts), status: 'failed', message };
  }
}

async function deliver(
  project: Project,
  item: Prepared,
  store: StateStore,
  http: HttpClientPool,
  options: RunOptions,
): Promise<SyncReport> {
  const { spec, plan, runId } = item;
  const started = Date.now();
  const planned = { added: plan.counts.added, changed: plan.counts.changed, removed: plan.counts.removed };
  const base = baseReport(spec, runId, plan.counts);
  const invocation = project.manifest.invocationId;

  if (plan.violations.length > 0) {
    const message = plan.violations.join('; ');
    const counts = { ...emptyRunCounts(planned), aborted: planned };
    options.log.error(`${spec.id}: stopped before sending: ${message}`);
    await store.startRun({ runId, spec, dbtInvocationId: invocation, status: 'blocked', counts, message });
    await store.finishRun(runId, 'blocked', counts, message);
    return { ...base, status: 'blocked', message, violations: plan.violations, run: counts };
  }
  if (options.stop?.aborted) {
    const counts = { ...emptyRunCounts(planned), aborted: planned };
    await store.startRun({ runId, spec, dbtInvocationId: invocation, status: 'cancelled', counts, message: 'cancelled before it started' });
    await store.finishRun(runId, 'cancelled', counts, 'cancelled before it started');
    return { ...base, status: 'cancelled', message: 'cancelled before it started', run: counts };
  }
  if (options.fullRefresh) await store.forget(spec.id);
  await store.registerSync(spec);
  await store.startRun({ runId, spec, dbtInvocationId: invocation, status: 'running', counts: emptyRunCounts(planned) });
  if (sumPerKind(planned) === 0) {
    const counts = emptyRunCounts(planned);
    await store.finishRun(runId, 'success', counts, undefined);
    return { ...base, status: 'nothing', run: counts, seconds: (Date.now() - started) / 1000 };
  }

  const definition = spec.destination.definition;
  const limits = { ...definition.limits(spec.destination.config), ...spec.destination.rateLimit };
  const client = http.get(`${spec.destination.type}:${spec.destination.name}`, {
    limits: { requests: limits.requests, perSeconds: limits.perSeconds, concurrency: limits.concurrency },
    retry: spec.destination.retry,
    log: options.log,
  });
  const destination = definition.create(spec.destination.config, {
    http: client,
    log: options.log,
    name: spec.destination.name,
    cwd: project.options.cwd ?? process.cwd(),
  });
  options.log.info(`Sending ${spec.id}: +${planned.added} ~${planned.changed} -${planned.removed}`);
  options.onSyncStart?.(spec.id, planned);
  const outcome = await executeSync(plan, {
    runId,
    destination,
    limits,
    state: store,
    lease: item.lease!,
    log: options.log,
    redactor: project.redactor,
    changelog: project.config.state.audit === 'records',
    stop: options.stop,
    signal: options.signal,
    onProgress: (counts) => options.onProgress?.(spec.id, counts),
  }).finally(() => destination.close?.());

  const failed = sumPerKind(outcome.counts.failed);
  const status = outcome.fatal ? 'failed' : outcome.cancelled ? 'cancelled' : failed > 0 ? 'partial' : 'success';
  const message =
    outcome.fatal ??
    (outcome.cancelled ? `cancelled: ${sumPerKind(outcome.counts.aborted)} planned records not sent` : undefined) ??
    (failed > 0 ? `${failed} records rejected; e.g. ${outcome.rejectionSamples.join('; ')}` : undefined);
  await store.finishRun(runId, status, outcome.counts, message);
  return {
    ...base,
    status,
    run: outcome.counts,
    delivered: sumPerKind(outcome.counts.succeeded),
    rejected: failed,
    skipped: outcome.counts.skipped,
    seconds: (Date.now() - started) / 1000,
    message,
    rejectionSamples: outcome.rejectionSamples,
  };
}

function baseReport(spec: SyncSpec, runId: string | undefined, counts: PlanCounts): SyncReport {
  return {
    id: spec.id,
    model: spec.model.name,
    destination: spec.destination.name,
    mode: spec.mode,
    runId,
    status: 'planned',
    counts,
    run: undefined,
    delivered: 0,
    rejected: 0,
    skipped: 0,
    seconds: 0,
    message: undefined,
    violations: [],
    samples: [],
    rejectionSamples: [],
  };
}

function failedBeforePlan(spec: SyncSpec, runId: string, message: string): SyncReport {
  return {
    ...baseReport(spec, runId, NO_COUNTS),
    status: 'failed',
    message,
  };
}
