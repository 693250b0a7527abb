import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ActivateError, ConfigError, EXIT_BAD_INPUT, LockedError, WarehouseError, errorMessage } from '../errors.js';
import type { SyncSpec } from '../config/sync-spec.js';
import { serialConnection } from '../warehouse/serial-connection.js';
import type { Connection, SqlDialect } from '../warehouse/types.js';
import {
  migrations,
  RECORD_KINDS,
  RUN_STAGES,
  stateTables,
  STATE_SCHEMA_VERSION,
  type StateTables,
} from './state-tables.js';

export interface SyncedRecord {
  readonly key: string;
  /**
   * The plan found no state row for this record (it was added), so where the warehouse enforces
   * primary keys its state row is inserted rather than upserted, which costs DuckDB half as much.
   */
  readonly isNew?: boolean;
  readonly hash: string;
  readonly sentValues: string;
  readonly destinationId: string | null;
}

export interface RejectedRecord {
  readonly key: string;
  readonly operation: string;
  readonly code: string | undefined;
  readonly error: string;
  readonly retryable: boolean;
}

/** One line of the optional per-record changelog (`state.audit: records`). */
export interface ChangelogEntry {
  readonly key: string;
  readonly operation: string;
  readonly status: 'succeeded' | 'failed' | 'skipped';
  readonly error: string | undefined;
  readonly fields: string;
}

/** What one checkpoint makes durable: only records the destination accepted move state forward. */
export interface Checkpoint {
  readonly upserted: readonly SyncedRecord[];
  readonly deleted: readonly string[];
  readonly rejected: readonly RejectedRecord[];
  readonly changelog: readonly ChangelogEntry[];
}

export type RecordKind = (typeof RECORD_KINDS)[number];
export type PerKind = Record<RecordKind, number>;

/** Per operation: planned, attempted, succeeded, failed and aborted (planned, never attempted). */
export type RunCounts = Record<(typeof RUN_STAGES)[number], PerKind> & { skipped: number };

export const zeroPerKind = (): PerKind => ({ added: 0, changed: 0, removed: 0 });
export const sumPerKind = (c: PerKind): number => c.added + c.changed + c.removed;
export function emptyRunCounts(planned: PerKind = zeroPerKind()): RunCounts {
  return { planned, attempted: zeroPerKind(), succeeded: zeroPerKind(), failed: zeroPerKind(), aborted: zeroPerKind(), skipped: 0 };
}

export type RunStatus = 'running' | 'success' | 'partial' | 'failed' | 'blocked' | 'skipped' | 'cancelled' | 'abandoned';

export interface Lease {
  readonly runId: string;
  renew(): Promise<void>;
  release(): Promise<void>;
}

const DEFAULT_LEASE_MS = 10 * 60 * 1000;
const MIGRATE_ATTEMPTS = 3;

/**
 * The sync state, runs, rejections and leases, in tables of the user's own warehouse
 * (DESIGN.md §5). One implementation over any warehouse's Connection and SqlDialect.
 */
export class StateStore {
  readonly tables: StateTables;

  private readonly connection: Connection;

  constructor(
    connection: Connection,
    private readonly dialect: SqlDialect,
    readonly schema: string,
    readonly database?: string,
  ) {
    // Syncs delivered in parallel share this store: their statements and transactions take turns.
    this.connection = serialConnection(connection);
    this.tables = stateTables(dialect, schema, database);
  }

  private p(index: number): string {
    return this.dialect.param(index);
  }

  /** True when the state tables exist (plan reads them but never creates them). */
  async exists(): Promise<boolean> {
    const rows = await this.connection.query<{ n: number }>(this.dialect.tableExists(1, 2), [this.schema, 'activate_state']);
    return Number(rows[0]?.n ?? 0) > 0;
  }

  /** Creates the schema and tables on first use and migrates older versions forward. */
  async migrate(): Promise<void> {
    // Two first runs at once must not both create the tables: the catalog of some warehouses
    // (PostgreSQL) refuses concurrent CREATE ... IF NOT EXISTS. Where the dialect has no lock, the
    // loser retries and finds the tables made.
    const lock = this.dialect.migrationLock;
    const key = [`activate:${this.database ?? ''}.${this.schema}`];
    if (lock) await this.connection.execute(lock.acquire, key);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.migrateOnce();
        } catch (error) {
          if (lock || attempt >= MIGRATE_ATTEMPTS || (error instanceof ActivateError && error.exitCode === EXIT_BAD_INPUT)) throw error;
          await sleep(100 * attempt + Math.random() * 100);
        }
      }
    } finally {
      if (lock) await this.connection.execute(lock.release, key);
    }
  }

  private async migrateOnce(): Promise<void> {
    const d = this.dialect;
    let schemaError: unknown;
    try {
      await this.connection.execute(`CREATE SCHEMA IF NOT EXISTS ${d.schema ? d.schema(this.schema, this.database) : d.quote(this.schema)}`);
    } catch (error) {
      // PostgreSQL checks CREATE on the database even when the schema exists: a schema created
      // for activate by its owner is still usable, which creating the first table finds out.
      schemaError = error;
    }
    try {
      await this.connection.execute(
        `CREATE TABLE IF NOT EXISTS ${this.tables.meta} (schema_version INTEGER NOT NULL, migrated_at ${d.timestampType} NOT NULL)`,
      );
    } catch (error) {
      throw new WarehouseError(
        `cannot create the state schema "${this.schema}": ${errorMessage(schemaError ?? error)}; grant the activate role CREATE on the database, or create the schema and grant it CREATE, SELECT, INSERT, UPDATE, DELETE on it`,
        { cause: schemaError ?? error, exitCode: EXIT_BAD_INPUT },
      );
    }
    const rows = await this.connection.query<{ v: number | null }>(`SELECT max(schema_version) AS v FROM ${this.tables.meta}`);
    const current = Number(rows[0]?.v ?? 0);
    if (current > STATE_SCHEMA_VERSION) {
      throw new WarehouseError(
        `the state tables in "${this.schema}" are at version ${current}, newer than this activate understands (${STATE_SCHEMA_VERSION}); upgrade activate`,
      );
    }
    const steps = migrations(d, this.tables);
    for (let version = current + 1; version <= STATE_SCHEMA_VERSION; version++) {
      await this.connection.transaction(async () => {
        for (const statement of steps[version - 1]!) await this.connection.execute(statement);
        await this.connection.execute(`INSERT INTO ${this.tables.meta} VALUES (${this.p(1)}, ${d.now})`, [version]);
      });
    }
  }

  /**
   * Refuses to reuse state recorded under another primary key: old and new keys would not
   * match, so every record would look removed and added again.
   */
  async checkKeyColumns(spec: SyncSpec): Promise<void> {
    const rows = await this.connection.query<{ key_columns: string }>(
      `SELECT key_columns FROM ${this.tables.syncs} WHERE sync_id = ${this.p(1)}`,
      [spec.id],
    );
    const stored = rows[0]?.key_columns;
    if (stored === undefined || stored === JSON.stringify(spec.primaryKey)) return;
    const count = await this.countState(spec.id);
    if (count === 0) return;
    throw new ConfigError(
      `${spec.origin}.primary_key: changed from ${stored} to ${JSON.stringify(spec.primaryKey)} while ${count} records are synced under the old key; ` +
        `run with --full-refresh -s ${spec.id} to forget them and send every row again (nothing is deleted).`,
    );
  }

  async countState(syncId: string): Promise<number> {
    const rows = await this.connection.query<{ n: number }>(
      `SELECT count(*) AS n FROM ${this.tables.state} WHERE sync_id = ${this.p(1)}`,
      [syncId],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async registerSync(spec: SyncSpec): Promise<void> {
    const columns = ['sync_id', 'model_unique_id', 'destination', 'destination_type', 'mode', 'key_columns', 'fingerprint', 'updated_at'];
    const values = columns.slice(0, -1).map((_, i) => this.p(i + 1));
    await this.connection.execute(
      this.dialect.upsert(this.tables.syncs, columns, ['sync_id'], `SELECT ${values.join(', ')}, ${this.dialect.now}`),
      [spec.id, spec.model.uniqueId, spec.destination.name, spec.destination.type, spec.mode, JSON.stringify(spec.primaryKey), spec.fingerprint],
    );
  }

  async recentRuns(syncId: string, limit: number): Promise<Record<string, unknown>[]> {
    return this.connection.query(
      `SELECT * FROM ${this.tables.runs} WHERE sync_id = ${this.p(1)} ORDER BY started_at DESC LIMIT ${Math.max(1, Math.floor(limit))}`,
      [syncId],
    );
  }

  /** Records a destination refused that have not been accepted since. */
  async openRejections(syncId: string, limit: number): Promise<{ count: number; samples: Record<string, unknown>[] }> {
    const [row] = await this.connection.query<{ n: number }>(
      `SELECT count(DISTINCT record_key) AS n FROM ${this.tables.rejections} WHERE sync_id = ${this.p(1)}`,
      [syncId],
    );
    const samples = await this.connection.query(
      `SELECT record_key, operation, error_code, error, retryable, created_at FROM ${this.tables.rejections} ` +
        `WHERE sync_id = ${this.p(1)} ORDER BY created_at DESC, record_key LIMIT ${Math.max(0, Math.floor(limit))}`,
      [syncId],
    );
    return { count: Number(row?.n ?? 0), samples };
  }

  async lockOf(syncId: string): Promise<Record<string, unknown> | undefined> {
    const rows = await this.connection.query(`SELECT * FROM ${this.tables.locks} WHERE sync_id = ${this.p(1)}`, [syncId]);
    return rows[0];
  }

  /** `--full-refresh`: forgets what was sent, so every row is sent again; nothing is deleted downstream. */
  async forget(syncId: string): Promise<void> {
    await this.connection.transaction(async () => {
      await this.connection.execute(`DELETE FROM ${this.tables.state} WHERE sync_id = ${this.p(1)}`, [syncId]);
      await this.connection.execute(`DELETE FROM ${this.tables.syncs} WHERE sync_id = ${this.p(1)}`, [syncId]);
      await this.connection.execute(`DELETE FROM ${this.tables.rejections} WHERE sync_id = ${this.p(1)}`, [syncId]);
    });
  }

  /**
   * Takes the sync's lease, refusing while another live run holds it. A lease whose holder
   * is gone (expired, or a process on this host that no longer exists) is taken over, and
   * that holder's run is marked abandoned.
   */
  async acquireLease(syncId: string, runId: string, ttlMs = DEFAULT_LEASE_MS): Promise<Lease> {
    const holder = `${hostname()}:${process.pid}`;
    const expires = () => new Date(Date.now() + ttlMs).toISOString();
    await this.connection.transaction(async () => {
      const rows = await this.connection.query<{ run_id: string; holder: string; expires_at: string }>(
        `SELECT run_id, holder, expires_at FROM ${this.tables.locks} WHERE sync_id = ${this.p(1)}`,
        [syncId],
      );
      const current = rows[0];
      if (current) {
        const expired = Date.parse(current.expires_at) <= Date.now();
        if (!expired && !holderIsGone(current.holder)) throw lockedBy(syncId, current);
        await this.connection.execute(
          `UPDATE ${this.tables.runs} SET status = 'abandoned', finished_at = ${this.dialect.now}, message = ${this.p(1)} ` +
            `WHERE run_id = ${this.p(2)} AND status = 'running'`,
          [`holder ${current.holder} stopped without finishing; lease taken over by run ${runId}`, current.run_id],
        );
        await this.connection.execute(`DELETE FROM ${this.tables.locks} WHERE sync_id = ${this.p(1)}`, [syncId]);
      }
      // Insert-if-absent, then read back: of two runs racing for a free lease, exactly one sees its own run id.
      const columns = ['sync_id', 'run_id', 'holder', 'acquired_at', 'expires_at'];
      const select = `SELECT ${this.p(1)}, ${this.p(2)}, ${this.p(3)}, ${this.dialect.now}, CAST(${this.p(4)} AS ${this.dialect.timestampType})`;
      await this.connection.execute(
        this.dialect.insertIfAbsent
          ? this.dialect.insertIfAbsent(this.tables.locks, columns, ['sync_id'], select)
          : `INSERT INTO ${this.tables.locks} (${columns.join(', ')}) ${select}`,
        [syncId, runId, holder, expires()],
      );
      const [winner] = await this.connection.query<{ run_id: string; holder: string; expires_at: string }>(
        `SELECT run_id, holder, expires_at FROM ${this.tables.locks} WHERE sync_id = ${this.p(1)}`,
        [syncId],
      );
      if (winner && winner.run_id !== runId) throw lockedBy(syncId, winner);
    });
    return {
      runId,
      renew: async () => {
        await this.connection.execute(
          `UPDATE ${this.tables.locks} SET expires_at = CAST(${this.p(1)} AS ${this.dialect.timestampType}) ` +
            `WHERE sync_id = ${this.p(2)} AND run_id = ${this.p(3)}`,
          [expires(), syncId, runId],
        );
      },
      release: async () => {
        await this.connection.execute(
          `DELETE FROM ${this.tables.locks} WHERE sync_id = ${this.p(1)} AND run_id = ${this.p(2)}`,
          [syncId, runId],
        );
      },
    };
  }

  async startRun(run: {
    runId: string;
    spec: SyncSpec;
    dbtInvocationId: string | undefined;
    status: RunStatus;
    counts: RunCounts;
    message?: string;
  }): Promise<void> {
    const columns = ['run_id', 'sync_id', 'model_unique_id', 'destination', 'mode', 'dbt_invocation_id', 'status', 'message'];
    const values: unknown[] = [run.runId, run.spec.id, run.spec.model.uniqueId, run.spec.destination.name, run.spec.mode,
      run.dbtInvocationId ?? null, run.status, run.message ?? null];
    const [countColumns, countValues] = countAssignments(run.counts);
    await this.connection.execute(
      `INSERT INTO ${this.tables.runs} (${[...columns, ...countColumns, 'started_at'].join(', ')}) VALUES (` +
        `${[...values, ...countValues].map((_, i) => this.p(i + 1)).join(', ')}, ${this.dialect.now})`,
      [...values, ...countValues],
    );
  }

  async finishRun(runId: string, status: RunStatus, counts: RunCounts, message: string | undefined): Promise<void> {
    const [countColumns, countValues] = countAssignments(counts);
    const assignments = ['status', 'message', ...countColumns].map((c, i) => `${c} = ${this.p(i + 1)}`);
    const values = [status, message ?? null, ...countValues];
    await this.connection.execute(
      `UPDATE ${this.tables.runs} SET ${assignments.join(', ')}, finished_at = ${this.dialect.now} WHERE run_id = ${this.p(values.length + 1)}`,
      [...values, runId],
    );
  }

  /**
   * Per sync, whether activate_rejections may hold rows for it: asked once, then kept up to date
   * by commit(), so checkpoints of a sync without open rejections skip clearing them. (The lease
   * keeps other runs of the sync from adding any meanwhile.)
   */
  private readonly rejectionsMayExist = new Map<string, boolean>();

  private async mayHaveRejections(syncId: string): Promise<boolean> {
    let known = this.rejectionsMayExist.get(syncId);
    if (known === undefined) {
      const rows = await this.connection.query<{ n: number }>(
        `SELECT count(*) AS n FROM ${this.tables.rejections} WHERE sync_id = ${this.p(1)}`,
        [syncId],
      );
      known = Number(rows[0]?.n ?? 0) > 0;
      this.rejectionsMayExist.set(syncId, known);
    }
    return known;
  }

  /**
   * One transaction: accepted records move state forward, rejections are recorded. Records new
   * to the state are inserted where the warehouse enforces primary keys; should one exist after
   * all (the insert fails on the key), the checkpoint is committed again with upserts only.
   */
  async commit(syncId: string, runId: string, checkpoint: Checkpoint): Promise<void> {
    if (!this.insertsNewRecords || !checkpoint.upserted.some((r) => r.isNew)) return this.commitOnce(syncId, runId, checkpoint, false);
    try {
      await this.commitOnce(syncId, runId, checkpoint, true);
    } catch {
      await this.commitOnce(syncId, runId, checkpoint, false);
    }
  }

  private get insertsNewRecords(): boolean {
    return this.dialect.enforcesPrimaryKeys === true;
  }

  private async commitOnce(syncId: string, runId: string, checkpoint: Checkpoint, insertNew: boolean): Promise<void> {
    const d = this.dialect;
    const t = this.tables;
    const accepted = checkpoint.upserted.length + checkpoint.deleted.length;
    const clearRejections = accepted > 0 && (await this.mayHaveRejections(syncId));
    const columns = ['sync_id', 'record_key', 'row_hash', 'sent_values', 'destination_id', 'synced_at', 'run_id'];
    const rows = d.jsonRows(3, [
      { name: 'k', type: 'text' },
      { name: 'h', type: 'text' },
      { name: 'v', type: 'text' },
      { name: 'd', type: 'text' },
    ]);
    const select = `SELECT ${this.p(1)}, r.k, r.h, r.v, r.d, ${d.now}, ${this.p(2)} FROM ${rows} AS r`;
    const json = (records: readonly SyncedRecord[]) =>
      JSON.stringify(records.map((r) => ({ k: r.key, h: r.hash, v: r.sentValues, d: r.destinationId })));
    const inserted = insertNew ? checkpoint.upserted.filter((r) => r.isNew) : [];
    const upserted = insertNew ? checkpoint.upserted.filter((r) => !r.isNew) : checkpoint.upserted;
    const keysOf = (keys: readonly string[]) => JSON.stringify(keys.map((k) => ({ k })));
    const statements: [sql: string, params: unknown[]][] = [];
    if (inserted.length > 0) {
      statements.push([`INSERT INTO ${t.state} (${columns.join(', ')}) ${select}`, [syncId, runId, json(inserted)]]);
    }
    if (upserted.length > 0) {
      statements.push([d.upsert(t.state, columns, ['sync_id', 'record_key'], select), [syncId, runId, json(upserted)]]);
    }
    if (checkpoint.deleted.length > 0) {
      statements.push([
        `DELETE FROM ${t.state} WHERE sync_id = ${this.p(1)} AND record_key IN (SELECT r.k FROM ${d.jsonRows(2, [{ name: 'k', type: 'text' }])} AS r)`,
        [syncId, keysOf(checkpoint.deleted)],
      ]);
    }
    if (clearRejections) {
      statements.push([
        `DELETE FROM ${t.rejections} WHERE sync_id = ${this.p(1)} AND record_key IN (SELECT r.k FROM ${d.jsonRows(2, [{ name: 'k', type: 'text' }])} AS r)`,
        [syncId, keysOf([...checkpoint.upserted.map((r) => r.key), ...checkpoint.deleted])],
      ]);
    }
    if (checkpoint.rejected.length > 0) {
      this.rejectionsMayExist.set(syncId, true);
      const rows = d.jsonRows(3, ['k', 'o', 'c', 'e', 'r'].map((name) => ({ name, type: 'text' as const })));
      statements.push([
        `INSERT INTO ${t.rejections} (run_id, sync_id, record_key, operation, error_code, error, retryable, created_at) ` +
          `SELECT ${this.p(1)}, ${this.p(2)}, r.k, r.o, r.c, r.e, r.r = 'true', ${d.now} FROM ${rows} AS r`,
        [runId, syncId, JSON.stringify(checkpoint.rejected.map((r) => ({ k: r.key, o: r.operation, c: r.code ?? null, e: r.error, r: String(r.retryable) })))],
      ]);
    }
    if (checkpoint.changelog.length > 0) {
      const rows = d.jsonRows(3, ['k', 'o', 's', 'e', 'f'].map((name) => ({ name, type: 'text' as const })));
      statements.push([
        `INSERT INTO ${t.changelog} (run_id, sync_id, record_key, operation, status, error, fields, created_at) ` +
          `SELECT ${this.p(1)}, ${this.p(2)}, r.k, r.o, r.s, r.e, r.f, ${d.now} FROM ${rows} AS r`,
        [runId, syncId, JSON.stringify(checkpoint.changelog.map((c) => ({ k: c.key, o: c.operation, s: c.status, e: c.error ?? null, f: c.fields })))],
      ]);
    }
    // One statement is atomic by itself: the usual checkpoint of a first sync needs no BEGIN/COMMIT round trips.
    if (statements.length === 1) {
      const [sql, params] = statements[0]!;
      await this.connection.execute(sql, params);
      return;
    }
    await this.connection.transaction(async () => {
      for (const [sql, params] of statements) await this.connection.execute(sql, params);
    });
  }
}

function lockedBy(syncId: string, holder: { run_id: string; holder: string; expires_at: string }): LockedError {
  return new LockedError(
    `sync ${syncId} is already running (run ${holder.run_id}, held by ${holder.holder} until ${holder.expires_at}); ` +
      `wait for it to finish, or for its lease to expire if it crashed`,
  );
}

function countAssignments(counts: RunCounts): [string[], number[]] {
  const columns: string[] = [];
  const values: number[] = [];
  for (const stage of RUN_STAGES) {
    for (const kind of RECORD_KINDS) {
      columns.push(`${stage}_${kind}`);
      values.push(counts[stage][kind]);
    }
  }
  columns.push('succeeded', 'failed', 'skipped');
  values.push(sumPerKind(counts.succeeded), sumPerKind(counts.failed), counts.skipped);
  return [columns, values];
}

/** A holder on this host whose process no longer exists will never release its lease. */
function holderIsGone(holder: string): boolean {
  const separator = holder.lastIndexOf(':');
  const host = holder.slice(0, separator);
  const pid = Number(holder.slice(separator + 1));
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
