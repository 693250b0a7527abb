import { randomUUID } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { resolveProfile, type Project } from '../project/load-project.js';
import { selectSyncs } from '../project/select.js';
import { StateStore } from '../state/state-store.js';
import { didYouMean } from '../suggest.js';
import { openWarehouse } from '../warehouse/registry.js';

export interface SyncStatusReport {
  readonly id: string;
  readonly syncedRecords: number;
  readonly runs: readonly Record<string, unknown>[];
  readonly openRejections: number;
  readonly rejectionSamples: readonly Record<string, unknown>[];
  readonly lock: Record<string, unknown> | undefined;
}

async function withStore<T>(project: Project, work: (store: StateStore) => Promise<T>): Promise<T> {
  const warehouse = await openWarehouse(await resolveProfile(project), project.options.cwd ?? process.cwd());
  const connection = await warehouse.connect();
  try {
    return await work(new StateStore(connection, warehouse.dialect, project.config.state.schema, project.config.state.database));
  } finally {
    await connection.close();
    await warehouse.close();
  }
}

/** `activate status`: each selected sync's last runs, open rejections and lease, read from the warehouse. */
export function readStatus(
  project: Project,
  options: { select?: readonly string[]; exclude?: readonly string[]; runs?: number; log: Logger },
): Promise<SyncStatusReport[]> {
  const syncs = selectSyncs(project.syncs, project.manifest, options.select, options.exclude, options.log);
  return withStore(project, async (store) => {
    if (!(await store.exists())) return syncs.map((s) => ({ id: s.id, syncedRecords: 0, runs: [], openRejections: 0, rejectionSamples: [], lock: undefined }));
    const out: SyncStatusReport[] = [];
    for (const sync of syncs) {
      const rejections = await store.openRejections(sync.id, 3);
      out.push({
        id: sync.id,
        syncedRecords: await store.countState(sync.id),
        runs: await store.recentRuns(sync.id, options.runs ?? 3),
        openRejections: rejections.count,
        rejectionSamples: rejections.samples,
        lock: await store.lockOf(sync.id),
      });
    }
    return out;
  });
}

/** Every id must name a sync of the project (exit 2 otherwise, with a suggestion). */
export function checkSyncIds(project: Project, ids: readonly string[]): void {
  const known = new Set(project.syncs.map((s) => s.id));
  if (ids.length === 0) throw new ConfigError('activate reset: name the sync(s) to reset, e.g. `activate reset crm_contacts --yes`');
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new ConfigError(
      unknown.map((id) => `activate reset: no sync "${id}" in this project${didYouMean(id, known)}; syncs: ${[...known].join(', ')}`),
    );
  }
}

/**
 * `activate reset <sync>`: forgets what the sync sent, so its next run sends every row again
 * (and deletes nothing). Refused while a run holds the sync's lease.
 */
export function resetSyncs(project: Project, ids: readonly string[]): Promise<{ id: string; forgotten: number }[]> {
  checkSyncIds(project, ids);
  return withStore(project, async (store) => {
    if (!(await store.exists())) return ids.map((id) => ({ id, forgotten: 0 }));
    const out: { id: string; forgotten: number }[] = [];
    for (const id of ids) {
      const lease = await store.acquireLease(id, `reset-${randomUUID()}`);
      try {
        const forgotten = await store.countState(id);
        await store.forget(id);
        out.push({ id, forgotten });
      } finally {
        await lease.release();
      }
    }
    return out;
  });
}
