/**
 * One suite of behaviours every warehouse adapter must show, over a real connection: state
 * tables, the diff, streaming, commits, leases and value normalisation. An adapter's test
 * file calls `defineWarehouseConformance` with a factory for a fresh, empty target.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Change } from '../../destinations/types.js';
import { LockedError } from '../../src/errors.js';
import { modelRowsQuery } from '../../src/plan/diff-query.js';
import { planSync, type SyncPlan } from '../../src/plan/planner.js';
import { StateStore, type Checkpoint } from '../../src/state/state-store.js';
import type { Connection, Warehouse } from '../../src/warehouse/types.js';
import { syncSpec } from './specs.js';

/** Column types the suite uses; each adapter spells them in its own DDL. */
export type PortableType =
  | 'integer' | 'bigint' | 'decimal' | 'float' | 'text' | 'boolean' | 'date' | 'timestamp' | 'timestamptz' | 'json';

export interface ConformanceTarget {
  readonly warehouse: Warehouse;
  /** An existing, empty schema for the suite's model tables. */
  readonly schema: string;
  /** A schema that does not exist yet, for the state tables (the suite has activate create it). */
  readonly stateSchema: string;
  /** DDL type per portable type; `decimal` must be DECIMAL(38, 2) or the warehouse's equivalent. */
  readonly types: Readonly<Record<PortableType, string>>;
  /** A relation (usable after FROM) of `n` rows with one integer column `i` = 1..n. */
  series(n: number): string;
  /** Closes the warehouse and drops both schemas. */
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  /** Titles of tests this adapter cannot run yet (say why where the call is made). */
  readonly skip?: readonly string[];
  /** Values this adapter normalises differently from the shared expectation, by column name. */
  readonly valueOverrides?: Readonly<Record<string, unknown>>;
}

export const TESTS = {
  stateTables: 'creates the state schema and tables, and migrating again changes nothing',
  diff: 'plans added rows, then nothing, then changed and removed rows',
  hash: 'hashes rows as md5 of the shared canonical text, so every warehouse agrees',
  stream: 'plans and streams 100,000 rows in batches of the requested size',
  earlyStop: 'a stream stopped early leaves the connection usable and outside any transaction',
  commit: 'commits checkpoints in one transaction and rolls back a failed one',
  lease: 'refuses the lease to a second holder, also when both ask at once',
  values: 'normalises each kind of value, and the values sent survive a round trip through state',
} as const;

/** What every adapter reads back for the `typed` table's one row (see `TYPED_ROW`). */
const EXPECTED_VALUES: Readonly<Record<string, unknown>> = {
  v_integer: 42,
  v_bigint: '9007199254740993',
  v_decimal: 12.5,
  v_decimal_big: '123456789012345678.12',
  v_float: 1.5,
  v_text: 'ünï "q" \\ |~',
  v_true: true,
  v_false: false,
  v_date: '2024-02-29',
  v_timestamp: '2024-01-02T03:04:05.123456Z',
  v_timestamptz: '2024-01-02T01:04:05.500Z',
  v_json: { a: [1, 2], b: 'x' },
  v_null: null,
};

const TYPED_ROW: readonly [column: string, type: PortableType, literal: string | null][] = [
  ['v_integer', 'integer', '42'],
  ['v_bigint', 'bigint', '9007199254740993'],
  ['v_decimal', 'decimal', '12.50'],
  ['v_decimal_big', 'decimal', '123456789012345678.12'],
  ['v_float', 'float', '1.5'],
  ['v_text', 'text', 'ünï "q" \\ |~'],
  ['v_true', 'boolean', 'true'],
  ['v_false', 'boolean', 'false'],
  ['v_date', 'date', '2024-02-29'],
  ['v_timestamp', 'timestamp', '2024-01-02 03:04:05.123456'],
  ['v_timestamptz', 'timestamptz', '2024-01-02 03:04:05.5+02'],
  ['v_json', 'json', '{"a": [1, 2], "b": "x"}'],
  ['v_null', 'text', null],
];

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

/** What the executor commits for a batch the destination accepted in full. */
function accepted(batch: readonly Change[]): Checkpoint {
  return {
    upserted: batch
      .filter((c) => c.operation === 'upsert')
      .map((c) => ({ key: c.key, hash: c.hash, sentValues: JSON.stringify(c.fields), destinationId: `d-${c.key}` })),
    deleted: batch.filter((c) => c.operation !== 'upsert').map((c) => c.key),
    rejected: [],
    changelog: [],
  };
}

export function defineWarehouseConformance(
  name: string,
  factory: () => Promise<ConformanceTarget>,
  options: ConformanceOptions = {},
): void {
  describe(`warehouse conformance: ${name}`, () => {
    let target: ConformanceTarget;
    let connection: Connection;
    let other: Connection;
    let store: StateStore;

    beforeAll(async () => {
      target = await factory();
      connection = await target.warehouse.connect();
      other = await target.warehouse.connect();
      store = new StateStore(connection, target.warehouse.dialect, target.stateSchema);
    });
    afterAll(async () => {
      await other?.close();
      await connection?.close();
      await target?.cleanup();
    });

    const test = (title: string, body: () => Promise<void>) => (options.skip?.includes(title) ? it.skip : it)(title, body);
    const d = () => target.warehouse.dialect;
    const table = (model: string) => d().table(target.schema, model);

    async function createModel(model: string, columns: readonly (readonly [string, PortableType])[], rows: readonly (readonly (string | null)[])[]) {
      const defs = columns.map(([column, type]) => `${d().quote(column)} ${target.types[type]}`);
      await connection.execute(`CREATE TABLE ${table(model)} (${defs.join(', ')})`);
      if (rows.length === 0) return table(model);
      await insert(model, columns, rows);
      return table(model);
    }
    async function insert(model: string, columns: readonly (readonly [string, PortableType])[], rows: readonly (readonly (string | null)[])[]) {
      const values = rows.map(
        (row) => `(${row.map((v, i) => `CAST(${v === null ? 'NULL' : d().literal(v)} AS ${target.types[columns[i]![1]]})`).join(', ')})`,
      );
      await connection.execute(`INSERT INTO ${table(model)} VALUES ${values.join(', ')}`);
    }
    async function ensureState(): Promise<StateStore> {
      await store.migrate();
      return store;
    }
    async function deliverAll(plan: SyncPlan, batchSize = 500): Promise<Change[]> {
      const all: Change[] = [];
      try {
        for await (const batch of plan.changes(batchSize)) {
          all.push(...batch);
          await store.commit(plan.spec.id, 'run-1', accepted(batch));
        }
      } finally {
        await plan.close();
      }
      return all;
    }
    const summary = (changes: readonly Change[]) => changes.map((c) => `${c.kind} ${c.key}`);

    test(TESTS.stateTables, async () => {
      expect(await store.exists()).toBe(false);
      await store.migrate();
      expect(await store.exists()).toBe(true);
      await store.migrate();
      const versions = await other.query<{ n: number }>(`SELECT count(*) AS n FROM ${store.tables.meta}`);
      expect(Number(versions[0]!.n)).toBe(1);
      for (const t of Object.values(store.tables).filter((t) => t !== store.tables.meta)) {
        expect(await other.query(`SELECT * FROM ${t}`), t).toEqual([]);
      }
    });

    test(TESTS.diff, async () => {
      await ensureState();
      const columns = [['id', 'integer'], ['email', 'text'], ['score', 'decimal'], ['active', 'boolean'], ['joined', 'date']] as const;
      const relation = await createModel('people', columns, [
        ['1', 'a@x.com', '0.50', 'true', '2024-01-01'],
        ['2', 'b@x.com', '0.25', 'false', '2024-01-02'],
        ['3', 'c@x.com', null, null, null],
        ['4', 'd@x.com', '1.00', 'true', '2024-01-04'],
      ]);
      const spec = syncSpec('people', relation, {
        mode: 'mirror',
        primary_key: 'id',
        identifier: { email: 'email' },
        fields: { score: 'score', active: 'active', joined: 'joined' },
        safety: { max_deletes: 10 },
      });
      const plan = async () => planSync(spec, target.warehouse, { state: store, allowLargeChanges: false });

      const first = await plan();
      expect(first.counts).toMatchObject({ added: 4, changed: 0, removed: 0, modelRows: 4, syncedRecords: 0 });
      const sent = await deliverAll(first, 3);
      expect(summary(sent)).toEqual(['added 1', 'added 2', 'added 3', 'added 4']);
      expect(sent[0]!.fields).toEqual({ email: 'a@x.com', score: 0.5, active: true, joined: '2024-01-01' });
      expect(sent[2]!.fields).toEqual({ email: 'c@x.com', score: null, active: null, joined: null });

      const second = await plan();
      expect(second.counts).toMatchObject({ added: 0, changed: 0, removed: 0, syncedRecords: 4 });
      await second.close();

      await connection.execute(`UPDATE ${relation} SET ${d().quote('score')} = CAST('0.75' AS ${target.types.decimal}) WHERE id = 2`);
      await connection.execute(`DELETE FROM ${relation} WHERE id = 3`);
      await insert('people', columns, [['5', 'e@x.com', '2.00', 'true', '2024-01-05']]);
      const third = await plan();
      expect(third.counts).toMatchObject({ added: 1, changed: 1, removed: 1, modelRows: 4 });
      const samples = await third.sample(5);
      expect(samples.find((s) => s.kind === 'changed')).toMatchObject({ key: '2', before: { score: 0.25 }, after: { score: 0.75 } });
      const changes = await deliverAll(third);
      // Removals first, then changes, then additions; every batch holds one operation.
      expect(summary(changes)).toEqual(['removed 3', 'changed 2', 'added 5']);
      expect(changes[0]).toMatchObject({ operation: 'delete', fields: { email: 'c@x.com' }, destinationId: 'd-3' });
      expect(changes[1]).toMatchObject({ operation: 'upsert', previous: { score: 0.25 }, fields: { score: 0.75 }, destinationId: 'd-2' });

      const settled = await plan();
      expect(settled.counts).toMatchObject({ added: 0, changed: 0, removed: 0, syncedRecords: 4 });
      await settled.close();

      // Upsert mode over the same rows never computes removals.
      const upsert = syncSpec('people', relation, { mode: 'upsert', primary_key: 'id', fields: { email: 'email' } });
      const upsertPlan = await planSync(upsert, target.warehouse, { state: undefined, allowLargeChanges: false });
      expect(upsertPlan.counts).toMatchObject({ added: 4, removed: 0 });
      await upsertPlan.close();
    });

    test(TESTS.hash, async () => {
      const columns = [['id', 'integer'], ['t', 'text'], ['b', 'boolean'], ['dt', 'date'], ['n', 'decimal'], ['z', 'text'], ['big', 'bigint']] as const;
      const relation = await createModel('hashed', columns, [
        ['1', 'ünï|~', 'true', '2024-02-29', '12.50', null, '9007199254740993'],
        ['2', '', 'false', '1969-12-31', '-0.05', null, '-42'],
      ]);
      const query = modelRowsQuery(d(), {
        relation,
        keyColumns: ['id', 't'],
        valueColumns: ['t', 'b', 'dt', 'n', 'z', 'big'],
        fingerprint: 'fp',
        mode: 'upsert',
        stateTable: undefined,
      });
      const rows = await connection.query<{ __key: string; __hash: string }>(`SELECT __key, __hash FROM (${query}) AS m ORDER BY __key`);
      expect(rows).toEqual([
        { __key: '["1","ünï|~"]', __hash: md5('fp|5:ünï|~|4:true|10:2024-02-29|5:12.50|~|16:9007199254740993') },
        { __key: '["2",""]', __hash: md5('fp|0:|5:false|10:1969-12-31|5:-0.05|~|3:-42') },
      ]);
    });

    test(TESTS.stream, async () => {
      await ensureState();
      const n = 100_000;
      const relation = table('big');
      await connection.execute(
        `CREATE TABLE ${relation} AS SELECT i AS id, CAST(i AS ${target.types.text}) AS label FROM ${target.series(n)}`,
      );
      const spec = syncSpec('big', relation, { mode: 'upsert', primary_key: 'id', fields: { label: 'label' } });
      const plan = await planSync(spec, target.warehouse, { state: store, allowLargeChanges: false });
      expect(plan.counts).toMatchObject({ added: n, modelRows: n });
      const sizes: number[] = [];
      const keys = new Set<string>();
      try {
        for await (const batch of plan.changes(1000)) {
          sizes.push(batch.length);
          for (const c of batch) keys.add(c.key);
        }
      } finally {
        await plan.close();
      }
      expect(sizes).toEqual(Array.from({ length: n / 1000 }, () => 1000));
      expect(keys.size).toBe(n);

      const raw: number[] = [];
      for await (const batch of connection.stream(`SELECT i FROM ${target.series(10_000)}`, [], 3000)) raw.push(batch.length);
      expect(raw).toEqual([3000, 3000, 3000, 1000]);
    });

    test(TESTS.earlyStop, async () => {
      await ensureState();
      let seen = 0;
      for await (const batch of connection.stream(`SELECT i FROM ${target.series(50_000)}`, [], 100)) {
        seen += batch.length;
        break;
      }
      expect(seen).toBe(100);
      expect(await connection.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      // A write after the stream is committed on its own: the stream left no transaction open.
      await connection.execute(
        `INSERT INTO ${store.tables.locks} (sync_id, run_id, holder, acquired_at, expires_at) VALUES ('after-stream', 'r', 'h', ${d().now}, ${d().now})`,
      );
      expect(await other.query(`SELECT run_id FROM ${store.tables.locks} WHERE sync_id = 'after-stream'`)).toEqual([{ run_id: 'r' }]);
      await connection.execute(`DELETE FROM ${store.tables.locks} WHERE sync_id = 'after-stream'`);
    });

    test(TESTS.commit, async () => {
      await ensureState();
      const record = (key: string) => ({ key, hash: `h${key}`, sentValues: JSON.stringify({ k: key }), destinationId: null });
      await store.commit('committed', 'run-1', {
        upserted: ['a', 'b', 'c'].map(record),
        deleted: [],
        rejected: [{ key: 'x', operation: 'upsert', code: 'INVALID', error: 'bad email', retryable: false }],
        changelog: [],
      });
      const stateKeys = async () =>
        (await other.query<{ record_key: string }>(`SELECT record_key FROM ${store.tables.state} WHERE sync_id = 'committed' ORDER BY record_key`)).map(
          (r) => r.record_key,
        );
      const rejections = async () =>
        other.query<{ record_key: string; retryable: boolean }>(`SELECT record_key, retryable FROM ${store.tables.rejections} WHERE sync_id = 'committed'`);
      expect(await stateKeys()).toEqual(['a', 'b', 'c']);
      expect(await rejections()).toEqual([{ record_key: 'x', retryable: false }]);

      await store.commit('committed', 'run-2', { upserted: [record('x'), { ...record('a'), hash: 'new' }], deleted: ['b'], rejected: [], changelog: [] });
      expect(await stateKeys()).toEqual(['a', 'c', 'x']);
      expect(await rejections()).toEqual([]);
      const [a] = await other.query<{ row_hash: string; run_id: string }>(
        `SELECT row_hash, run_id FROM ${store.tables.state} WHERE sync_id = 'committed' AND record_key = 'a'`,
      );
      expect(a).toEqual({ row_hash: 'new', run_id: 'run-2' });

      // Records the plan found new are inserted where the warehouse enforces keys; one that is in
      // the state after all (its state forgotten and written again meanwhile) is still committed.
      await store.commit('committed', 'run-2b', {
        upserted: [{ ...record('c'), hash: 'again', isNew: true }, { ...record('d'), isNew: true }],
        deleted: [],
        rejected: [],
        changelog: [],
      });
      expect(await stateKeys()).toEqual(['a', 'c', 'd', 'x']);
      const [c] = await other.query<{ row_hash: string }>(`SELECT row_hash FROM ${store.tables.state} WHERE sync_id = 'committed' AND record_key = 'c'`);
      expect(c).toEqual({ row_hash: 'again' });
      await store.commit('committed', 'run-2c', { upserted: [], deleted: ['d'], rejected: [], changelog: [] });

      await expect(
        connection.transaction(async () => {
          await store.commit('committed', 'run-3', { upserted: [record('y')], deleted: ['a'], rejected: [], changelog: [] });
          throw new Error('destination result lost');
        }),
      ).rejects.toThrow('destination result lost');
      expect(await stateKeys()).toEqual(['a', 'c', 'x']);
    });

    test(TESTS.lease, async () => {
      await ensureState();
      const second = new StateStore(other, target.warehouse.dialect, target.stateSchema);
      const lease = await store.acquireLease('leased', 'run-a');
      await expect(second.acquireLease('leased', 'run-b')).rejects.toBeInstanceOf(LockedError);
      await lease.renew();
      await expect(second.acquireLease('leased', 'run-b')).rejects.toThrow(/already running \(run run-a/);
      await lease.release();
      const next = await second.acquireLease('leased', 'run-b');
      await next.release();

      const both = await Promise.allSettled([store.acquireLease('raced', 'run-1'), second.acquireLease('raced', 'run-2')]);
      expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const holders = await connection.query<{ run_id: string }>(`SELECT run_id FROM ${store.tables.locks} WHERE sync_id = 'raced'`);
      expect(holders).toHaveLength(1);
    });

    test(TESTS.values, async () => {
      await ensureState();
      const columns = [['id', 'integer'] as const, ...TYPED_ROW.map(([c, t]) => [c, t] as const)];
      const relation = await createModel('typed', columns, [['1', ...TYPED_ROW.map(([, , v]) => v)]]);
      const expected = { ...EXPECTED_VALUES, ...options.valueOverrides };

      const [row] = await connection.query(`SELECT * FROM ${relation}`);
      expect({ ...row, id: undefined }).toEqual({ ...expected, id: undefined });

      const fields = Object.fromEntries(TYPED_ROW.map(([c]) => [c, c]));
      const spec = syncSpec('typed', relation, { mode: 'upsert', primary_key: 'id', fields });
      const plan = await planSync(spec, target.warehouse, { state: store, allowLargeChanges: false });
      const [change] = await deliverAll(plan);
      expect(change!.fields).toEqual(expected);
      const [state] = await other.query<{ sent_values: string }>(
        `SELECT sent_values FROM ${store.tables.state} WHERE sync_id = ${d().literal(spec.id)}`,
      );
      expect(JSON.parse(state!.sent_values)).toEqual(expected);
      // What was read back from state is what the next plan compares against: nothing changed.
      const again = await planSync(spec, target.warehouse, { state: store, allowLargeChanges: false });
      expect(again.counts).toMatchObject({ added: 0, changed: 0 });
      await again.close();
    });
  });
}
