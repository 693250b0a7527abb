import PQueue from 'p-queue';
import type { Change, Destination, DestinationLimits, RecordResult } from '../../destinations/types.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SyncPlan } from '../plan/planner.js';
import type { Redactor } from '../secrets.js';
import {
  emptyRunCounts,
  sumPerKind,
  type ChangelogEntry,
  type Checkpoint,
  type Lease,
  type RejectedRecord,
  type RunCounts,
  type StateStore,
  type SyncedRecord,
} from '../state/state-store.js';
import { shapeChange } from './shape.js';

export interface ExecuteOptions {
  readonly runId: string;
  readonly destination: Destination<unknown>;
  readonly limits: DestinationLimits;
  readonly state: StateStore;
  readonly lease: Lease;
  readonly log: Logger;
  readonly redactor: Redactor;
  /** Write a per-record changelog (`state.audit: records`). */
  readonly changelog: boolean;
  /** Aborted: send no new batch; batches in flight finish and are committed. */
  readonly stop?: AbortSignal;
  /** Aborted: requests in flight are abandoned too (their records stay unsynced). */
  readonly signal?: AbortSignal;
  readonly onProgress?: (counts: RunCounts) => void;
}

export interface ExecuteOutcome {
  readonly counts: RunCounts;
  /** Why the sync stopped before sending everything (destination refused, commit failed), if it did. */
  readonly fatal: string | undefined;
  readonly cancelled: boolean;
  /** A few rejection messages, for the summary. */
  readonly rejectionSamples: readonly string[];
}

const LEASE_RENEW_MS = 60_000;

/**
 * Sends the plan's change set in batches, at most `limits.concurrency` in flight, and
 * commits to state only what the destination accepted (DESIGN.md §3.2). Commits are
 * checkpoints that run beside the requests: whatever was acknowledged while the previous
 * commit ran goes in the next, so a crash re-sends at most the batches in flight plus one
 * checkpoint (together at most 2 x concurrency batches).
 */
export async function executeSync(plan: SyncPlan, options: ExecuteOptions): Promise<ExecuteOutcome> {
  const { destination, limits, state, redactor } = options;
  const spec = plan.spec;
  const queue = new PQueue({ concurrency: Math.max(1, limits.concurrency) });
  const counts = emptyRunCounts({ added: plan.counts.added, changed: plan.counts.changed, removed: plan.counts.removed });
  const rejectionSamples: string[] = [];
  let fatal: string | undefined;
  let commitFailed = false;
  let pending = emptyCheckpoint();
  let committing: Promise<void> = Promise.resolve();
  let lastRenew = Date.now();
  /** Acknowledged records in the checkpoint being committed, and waiting for the next one. */
  let committingRecords = 0;
  const uncommitted = () => committingRecords + pending.upserted.length + pending.deleted.length + pending.rejected.length;
  // Commits run beside the requests instead of pausing them. A new batch goes out only while
  // fewer than `concurrency - 1` batches of acknowledged records wait for a commit, so a crash
  // re-sends at most 2 x concurrency batches: those in flight (and the one queued) and those.
  const maxUncommitted = Math.max(1, limits.concurrency - 1) * limits.batchSize;

  const flush = () => {
    committing = committing
      .then(async () => {
        if (commitFailed || isEmpty(pending)) return;
        const checkpoint = pending;
        pending = emptyCheckpoint();
        const records = checkpoint.upserted.length + checkpoint.deleted.length + checkpoint.rejected.length;
        committingRecords = records;
        const started = performance.now();
        await state.commit(spec.id, options.runId, checkpoint).finally(() => (committingRecords = 0));
        // For `npm run bench` and anyone asking where a run's time goes (--log-level debug).
        options.log.debug('checkpoint committed', { sync: spec.id, records, ms: Number((performance.now() - started).toFixed(1)) });
        if (Date.now() - lastRenew > LEASE_RENEW_MS) {
          lastRenew = Date.now();
          await options.lease.renew();
        }
      })
      .catch((error: unknown) => {
        // Not committed means not synced: these records are sent again next run.
        commitFailed = true;
        fatal ??= `cannot commit sync state: ${redactor.redact(errorMessage(error))}`;
      });
    return committing;
  };

  /** The change is done: the destination accepted it, or nothing had to be sent. */
  const done = (change: Change) => {
    counts.succeeded[change.kind]++;
    if (change.kind === 'removed') pending.deleted.push(change.key);
    else {
      pending.upserted.push({
        key: change.key,
        // Added: the plan found no state row for it, so the commit may insert rather than upsert.
        isNew: change.kind === 'added',
        hash: change.hash,
        // The full values, even when only changed fields were sent: state is what the destination now holds.
        sentValues: JSON.stringify(change.fields),
        destinationId: change.destinationId,
      });
    }
  };

  const record = (sent: readonly Change[], planned: ReadonlyMap<string, Change>, results: readonly RecordResult[]) => {
    const byKey = new Map(results.map((r) => [r.key, r]));
    for (const shaped of sent) {
      const change = planned.get(shaped.key)!;
      const result = byKey.get(change.key) ?? {
        key: change.key,
        status: 'failed' as const,
        message: 'the destination returned no result for this record',
        retryable: true,
      };
      if (result.status === 'synced') {
        done(result.destinationId ? { ...change, destinationId: result.destinationId } : change);
        log(shaped, 'succeeded', undefined);
      } else if (result.status === 'skipped') {
        counts.skipped++;
        log(shaped, 'skipped', result.reason);
      } else {
        counts.failed[change.kind]++;
        const message = redactor.redact(result.message);
        if (rejectionSamples.length < 5) rejectionSamples.push(`${change.key}: ${message}`);
        pending.rejected.push({ key: change.key, operation: shaped.operation, code: result.code, error: message, retryable: result.retryable });
        log(shaped, 'failed', message);
      }
    }
    options.onProgress?.(counts);
  };

  const log = (change: Change, status: ChangelogEntry['status'], error: string | undefined) => {
    if (!options.changelog) return;
    pending.changelog.push({ key: change.key, operation: change.operation, status, error, fields: redactor.redact(JSON.stringify(change.fields)) });
  };

  const send = async (batch: readonly Change[]) => {
    if (fatal !== undefined) return;
    // Attempted = handed to the destination; attempted minus succeeded and failed were never acknowledged.
    for (const change of batch) counts.attempted[change.kind]++;
    const planned = new Map(batch.map((c) => [c.key, c]));
    const toSend: Change[] = [];
    const unsent: Change[] = [];
    for (const change of batch) {
      const shaped = shapeChange(change, spec);
      if (shaped) toSend.push(shaped);
      else unsent.push(change);
    }
    if (toSend.length > 0) {
      let results: readonly RecordResult[];
      try {
        results = await writeIsolating(toSend);
      } catch (error) {
        // Refused as a whole (credentials, quota, endpoint gone) or cancelled: nothing here is accepted.
        if (!options.signal?.aborted) fatal ??= redactor.redact(errorMessage(error));
        return;
      }
      record(toSend, planned, results);
    }
    for (const change of unsent) done(change);
    // Committed beside the next requests; the loop below keeps what waits for a commit bounded.
    void flush();
  };

  /**
   * A batch refused as a whole (every record failed, not retryable, one message: typically a 400
   * for the request) is split in halves until the records that cause it are alone, so one bad
   * record does not take its batch-mates down with it.
   */
  const writeIsolating = async (records: readonly Change[]): Promise<readonly RecordResult[]> => {
    const results = await destination.write(records, spec.options, {
      syncId: spec.id,
      runId: options.runId,
      mode: spec.mode,
      signal: options.signal,
    });
    if (records.length < 2 || !refusedAsWhole(records, results)) return results;
    const middle = Math.ceil(records.length / 2);
    return [...(await writeIsolating(records.slice(0, middle))), ...(await writeIsolating(records.slice(middle)))];
  };

  const stopped = () => fatal !== undefined || options.stop?.aborted === true || options.signal?.aborted === true;
  try {
    for await (const batch of plan.changes(limits.batchSize)) {
      if (stopped()) break;
      await queue.onSizeLessThan(1);
      while (!commitFailed && uncommitted() >= maxUncommitted) await committing;
      if (stopped()) break;
      void queue.add(() => send(batch));
    }
  } catch (error) {
    fatal ??= redactor.redact(errorMessage(error));
  }
  await queue.onIdle();
  await flush();
  for (const kind of ['added', 'changed', 'removed'] as const) {
    counts.aborted[kind] = Math.max(0, counts.planned[kind] - counts.attempted[kind]);
  }
  const cancelled = fatal === undefined && sumPerKind(counts.aborted) > 0;
  return { counts, fatal, cancelled, rejectionSamples };
}

function refusedAsWhole(records: readonly Change[], results: readonly RecordResult[]): boolean {
  if (results.length !== records.length) return false;
  const first = results[0];
  if (first?.status !== 'failed' || first.retryable) return false;
  return results.every((r) => r.status === 'failed' && !r.retryable && r.message === first.message);
}

function emptyCheckpoint(): { upserted: SyncedRecord[]; deleted: string[]; rejected: RejectedRecord[]; changelog: ChangelogEntry[] } {
  return { upserted: [], deleted: [], rejected: [], changelog: [] };
}

function isEmpty(c: Checkpoint): boolean {
  return c.upserted.length + c.deleted.length + c.rejected.length + c.changelog.length === 0;
}
