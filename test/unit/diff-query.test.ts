import { createHash } from 'node:crypto';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mode } from '../../destinations/types.js';
import { changeSetQuery, diffQuery, modelRowsQuery, planOrder, type DiffInput } from '../../src/plan/diff-query.js';
import { migrations, stateTables } from '../../src/state/state-tables.js';
import { duckdbDialect as d } from '../../src/warehouse/duckdb/duckdb-dialect.js';
import { fromDuckDB } from '../../src/warehouse/duckdb/duckdb-values.js';

type Row = Record<string, unknown>;

const tables = stateTables(d, 'activate');
let instance: DuckDBInstance;
let connection: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  connection = await instance.connect();
  await connection.run('CREATE SCHEMA activate');
  for (const step of migrations(d, tables)) for (const statement of step) await connection.run(statement);
});
afterAll(() => {
  connection.closeSync();
  instance.closeSync();
});

async function rows(sql: string, params: DuckDBValue[] = []): Promise<Row[]> {
  const reader = await connection.runAndReadAll(sql, params);
  const names = reader.columnNames();
  return reader.getRows().map((r) => Object.fromEntries(names.map((n, i) => [n, fromDuckDB(r[i]!)])));
}
const exec = async (sql: string, params: DuckDBValue[] = []) => void (await connection.run(sql, params));

const FINGERPRINT = '0123456789abcdef';

function input(relation: string, mode: Mode, extra: Partial<DiffInput> = {}): DiffInput {
  return {
    relation,
    keyColumns: ['id'],
    valueColumns: ['email', 'first name', 'score'],
    fingerprint: FINGERPRINT,
    mode,
    stateTable: tables.state,
    ...extra,
  };
}

async function diff(syncId: string, diffInput: DiffInput): Promise<Row[]> {
  return rows(`SELECT * FROM (${diffQuery(d, diffInput)}) ORDER BY ${planOrder()}`, [syncId]);
}
const summary = (changes: Row[]) => changes.map((c) => `${String(c.__op)} ${String(c.__key)}`);

/** Marks the model's current rows as sent for `syncId`, as a successful run would. */
async function commit(syncId: string, diffInput: DiffInput): Promise<void> {
  await exec(
    `INSERT OR REPLACE INTO ${tables.state} (sync_id, record_key, row_hash, sent_values, destination_id, synced_at, run_id) ` +
      `SELECT $1, __key, __hash, 'sent:' || __key, 'dest-' || __key, now(), 'run-1' FROM (${modelRowsQuery(d, diffInput)})`,
    [syncId],
  );
}

let tableCounter = 0;
/** A fresh model table `main.model_<n>` with the given rows. */
async function modelTable(columns: string, values: string): Promise<string> {
  const name = `model_${++tableCounter}`;
  await exec(`CREATE TABLE main.${name} (${columns})`);
  if (values) await exec(`INSERT INTO main.${name} VALUES ${values}`);
  return d.table('main', name);
}

const CUSTOMERS_COLUMNS = 'id INTEGER, email VARCHAR, "first name" VARCHAR, score DECIMAL(5, 2)';
const CUSTOMERS_ROWS = "(1, 'a@x.com', 'Ann', 0.50), (2, 'b@x.com', 'Bob', 0.25), (3, 'c@x.com', NULL, NULL)";

describe('diffQuery: added / changed / removed', () => {
  it('without state, every model row is added, in every mode', async () => {
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    for (const mode of ['upsert', 'update', 'create', 'mirror', 'audience'] as const) {
      const changes = await diff('first', input(relation, mode, { stateTable: undefined }));
      expect(summary(changes), mode).toEqual(['added 1', 'added 2', 'added 3']);
      expect(changes[0]).toMatchObject({ __sent: null, __destination_id: null, f0: 'a@x.com', f1: 'Ann', f2: 0.5 });
      // An empty state table means the same.
      expect(summary(await diff('first', input(relation, mode)))).toEqual(['added 1', 'added 2', 'added 3']);
    }
  });

  it('after a commit, unchanged data gives no changes in any mode', async () => {
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    await commit('steady', input(relation, 'mirror'));
    for (const mode of ['upsert', 'update', 'create', 'mirror', 'audience'] as const) {
      expect(await diff('steady', input(relation, mode)), mode).toEqual([]);
    }
  });

  it('classifies an update, a delete and an insert per mode', async () => {
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    await commit('moving', input(relation, 'mirror'));
    const [before3] = await rows(`SELECT row_hash FROM ${tables.state} WHERE sync_id = 'moving' AND record_key = '3'`);
    await exec(`UPDATE ${relation} SET score = 0.75 WHERE id = 2`);
    await exec(`DELETE FROM ${relation} WHERE id = 3`);
    await exec(`INSERT INTO ${relation} VALUES (4, 'd@x.com', 'Dee', 1.00)`);

    const mirror = await diff('moving', input(relation, 'mirror'));
    // Removals first, then changes, then additions.
    expect(summary(mirror)).toEqual(['removed 3', 'changed 2', 'added 4']);
    const [removed, changed, added] = mirror;
    expect(removed).toMatchObject({ __hash: before3!.row_hash, __sent: 'sent:3', __destination_id: 'dest-3', f0: null });
    expect(changed).toMatchObject({ __sent: 'sent:2', __destination_id: 'dest-2', f0: 'b@x.com', f1: 'Bob', f2: 0.75 });
    expect(added).toMatchObject({ __sent: null, f0: 'd@x.com', f2: 1 });

    expect(summary(await diff('moving', input(relation, 'audience')))).toEqual(['removed 3', 'changed 2', 'added 4']);
    expect(summary(await diff('moving', input(relation, 'upsert')))).toEqual(['changed 2', 'added 4']);
    expect(summary(await diff('moving', input(relation, 'update')))).toEqual(['changed 2', 'added 4']);
    expect(summary(await diff('moving', input(relation, 'create')))).toEqual(['added 4']);

    // Committing the new state settles everything.
    await exec(`DELETE FROM ${tables.state} WHERE sync_id = 'moving' AND record_key = '3'`);
    await commit('moving', input(relation, 'mirror'));
    expect(await diff('moving', input(relation, 'mirror'))).toEqual([]);
  });

  it('a change from a value to NULL and back is a change', async () => {
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    await commit('nulls', input(relation, 'upsert'));
    await exec(`UPDATE ${relation} SET "first name" = NULL WHERE id = 1`);
    await exec(`UPDATE ${relation} SET "first name" = '' WHERE id = 3`);
    expect(summary(await diff('nulls', input(relation, 'upsert')))).toEqual(['changed 1', 'changed 3']);
  });

  it("only the sync's own state rows count", async () => {
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    await commit('neighbour', input(relation, 'mirror'));
    await exec(
      `INSERT INTO ${tables.state} (sync_id, record_key, row_hash, synced_at, run_id) VALUES ('neighbour', '99', 'x', now(), 'r')`,
    );
    // 'loner' has no state: everything is added, nothing of the neighbour's is removed.
    expect(summary(await diff('loner', input(relation, 'mirror')))).toEqual(['added 1', 'added 2', 'added 3']);
    expect(summary(await diff('neighbour', input(relation, 'mirror')))).toEqual(['removed 99']);
  });

  it('a new fingerprint (mapping change) makes every row changed once', async () => {
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    await commit('remap', input(relation, 'mirror'));
    const remapped = input(relation, 'mirror', { fingerprint: 'fedcba9876543210' });
    expect(summary(await diff('remap', remapped))).toEqual(['changed 1', 'changed 2', 'changed 3']);
    await commit('remap', remapped);
    expect(await diff('remap', remapped)).toEqual([]);
  });

  it('an empty model in mirror mode removes everything that was sent', async () => {
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    await commit('emptied', input(relation, 'mirror'));
    await exec(`DELETE FROM ${relation}`);
    expect(summary(await diff('emptied', input(relation, 'mirror')))).toEqual(['removed 1', 'removed 2', 'removed 3']);
    expect(await diff('emptied', input(relation, 'upsert'))).toEqual([]);
  });
});

describe('changeSetQuery (what the planner materialises)', () => {
  const changeSet = (syncId: string, diffInput: DiffInput) =>
    rows(`SELECT * FROM (${changeSetQuery(d, diffInput)}) ORDER BY ${planOrder()}`, [syncId]);

  it('holds the rows diffQuery finds, with the same values, and the removed records in every mode', async () => {
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    await commit('same-set', input(relation, 'mirror'));
    await exec(`UPDATE ${relation} SET score = 0.75 WHERE id = 2`);
    await exec(`DELETE FROM ${relation} WHERE id = 3`);
    await exec(`INSERT INTO ${relation} VALUES (4, 'd@x.com', 'Dee', 1.00)`);
    for (const mode of ['upsert', 'update', 'create', 'mirror', 'audience'] as const) {
      const planned = await changeSet('same-set', input(relation, mode));
      const expected = await diff('same-set', input(relation, mode));
      const sendable = planned.filter((r) => r.__op !== 'removed' || mode === 'mirror' || mode === 'audience');
      expect(summary(sendable), mode).toEqual(summary(expected));
      for (const row of sendable) {
        const twin = expected.find((e) => e.__key === row.__key)!;
        for (const column of ['__hash', '__destination_id', 'f0', 'f1', 'f2']) expect(row[column], `${mode} ${column}`).toEqual(twin[column]);
      }
      expect(summary(planned.filter((r) => r.__op === 'removed')), mode).toEqual(['removed 3']);
    }
  });

  it('keeps every model row without a state row, null keys and repeated keys included', async () => {
    const relation = await modelTable('id INTEGER, v VARCHAR', "(1, 'a'), (2, 'b'), (2, 'b2'), (NULL, 'n')");
    const planned = await changeSet('keys', input(relation, 'upsert', { valueColumns: ['v'] }));
    expect(planned.map((r) => r.__key)).toEqual(['1', '2', '2', null]);
  });
});

describe('row hash', () => {
  async function hashes(relation: string, extra: Partial<DiffInput> = {}): Promise<Map<string, string>> {
    const out = await rows(`SELECT __key, __hash FROM (${modelRowsQuery(d, input(relation, 'upsert', extra))})`);
    return new Map(out.map((r) => [String(r.__key), String(r.__hash)]));
  }

  it('is stable: the same values give the same hash in every query and table', async () => {
    const a = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    const b = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    const first = await hashes(a);
    expect(first.size).toBe(3);
    expect(await hashes(a)).toEqual(first);
    expect(await hashes(b)).toEqual(first);
    expect(new Set(first.values()).size).toBe(3);
    for (const h of first.values()) expect(h).toMatch(/^[0-9a-f]{32}$/);
  });

  it('is md5 of "<fingerprint>|" and the length-prefixed values joined by "|", NULL as "~"', async () => {
    // Pinned: changing this format silently re-sends every record of every sync.
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');
    const h = await hashes(relation);
    expect(h.get('1')).toBe(md5(`${FINGERPRINT}|7:a@x.com|3:Ann|4:0.50`));
    expect(h.get('3')).toBe(md5(`${FINGERPRINT}|7:c@x.com|~|~`));
  });

  it('changes with the fingerprint', async () => {
    const relation = await modelTable(CUSTOMERS_COLUMNS, CUSTOMERS_ROWS);
    const one = await hashes(relation);
    const other = await hashes(relation, { fingerprint: 'another' });
    for (const [key, hash] of one) expect(other.get(key)).not.toBe(hash);
  });

  it('tells NULL, the empty string, "~" and look-alikes of the encoding apart', async () => {
    const relation = await modelTable('id INTEGER, v VARCHAR', "(1, NULL), (2, ''), (3, '~'), (4, '0:'), (5, '1:~'), (6, ' ')");
    const h = await hashes(relation, { valueColumns: ['v'] });
    expect(h.size).toBe(6);
    expect(new Set(h.values()).size).toBe(6);
  });

  it('tells "a|b","c" apart from "a","b|c" (and other shifted separators)', async () => {
    const relation = await modelTable(
      'id INTEGER, x VARCHAR, y VARCHAR',
      "(1, 'a|b', 'c'), (2, 'a', 'b|c'), (3, 'a|1:b', NULL), (4, 'a', '1:b'), (5, NULL, '~'), (6, '~', NULL)",
    );
    const h = await hashes(relation, { valueColumns: ['x', 'y'] });
    expect(new Set(h.values()).size).toBe(6);
  });

  it('counts characters, not bytes, in the length prefix', async () => {
    const relation = await modelTable('id INTEGER, v VARCHAR', "(1, 'ünï')");
    const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');
    expect((await hashes(relation, { valueColumns: ['v'] })).get('1')).toBe(md5(`${FINGERPRINT}|3:ünï`));
  });
});

describe('record keys', () => {
  it('a single key is the value as text; NULL stays NULL', async () => {
    const relation = await modelTable('id INTEGER, v VARCHAR', "(7, 'x'), (NULL, 'y')");
    const keys = await rows(`SELECT __key FROM (${modelRowsQuery(d, input(relation, 'upsert', { valueColumns: ['v'] }))}) ORDER BY f0`);
    expect(keys.map((k) => k.__key)).toEqual(['7', null]);
  });

  it('a composite key is a JSON array of text, NULL when any part is NULL', async () => {
    const relation = await modelTable(
      'region VARCHAR, id INTEGER, v INTEGER',
      `('eu', 1, 1), ('eu', NULL, 2), (NULL, 3, 3), ('he said "hi", ok', 4, 4), ('a,b', 5, 5), ('a', 5, 6)`,
    );
    const keys = await rows(
      `SELECT __key FROM (${modelRowsQuery(d, input(relation, 'upsert', { keyColumns: ['region', 'id'], valueColumns: ['v'] }))}) ORDER BY f0`,
    );
    const values = keys.map((k) => k.__key as string | null);
    expect(values).toEqual(['["eu","1"]', null, null, '["he said \\"hi\\", ok","4"]', '["a,b","5"]', '["a","5"]']);
    expect(JSON.parse(values[3]!)).toEqual(['he said "hi", ok', '4']);
  });

  it('composite keys match state rows on the next run', async () => {
    const relation = await modelTable('region VARCHAR, id INTEGER, email VARCHAR', "('eu', 1, 'a'), ('us', 1, 'b')");
    const composite = input(relation, 'mirror', { keyColumns: ['region', 'id'], valueColumns: ['email'] });
    await commit('composite', composite);
    await exec(`UPDATE ${relation} SET email = 'z' WHERE region = 'us'`);
    expect(summary(await diff('composite', composite))).toEqual(['changed ["us","1"]']);
  });
});

describe('duckdb dialect SQL', () => {
  it('quotes identifiers and literals', () => {
    expect(d.quote('id')).toBe('"id"');
    expect(d.quote('we"ird')).toBe('"we""ird"');
    expect(d.literal("it's")).toBe("'it''s'");
    expect(d.table('activate', 'activate_state')).toBe('"activate"."activate_state"');
    expect(d.table('activate', 'activate_state', 'wh')).toBe('"wh"."activate"."activate_state"');
    expect(d.param(1)).toBe('$1');
  });

  it('writes the record key and canonical text as documented', () => {
    expect(d.recordKey(['"id"'])).toBe('CAST("id" AS VARCHAR)');
    expect(d.recordKey(['"a"', '"b"'])).toBe(
      'CASE WHEN "a" IS NULL OR "b" IS NULL THEN NULL ELSE CAST(to_json([CAST("a" AS VARCHAR), CAST("b" AS VARCHAR)]) AS VARCHAR) END',
    );
    expect(d.canonicalText('"x"')).toBe(
      `coalesce(CAST(length(CAST("x" AS VARCHAR)) AS VARCHAR) || ':' || CAST("x" AS VARCHAR), '~')`,
    );
    expect(d.md5(d.concat(["'a'", "'b'"]))).toBe("md5(concat('a', 'b'))");
  });

  it('modelRowsQuery names the key, hash and values f0, f1, ...', () => {
    const sql = modelRowsQuery(d, input('"main"."m"', 'upsert', { valueColumns: ['email', 'first name'] }));
    expect(sql).toMatch(/^SELECT CAST\("id" AS VARCHAR\) AS __key, md5\(concat\('0123456789abcdef\|', /);
    expect(sql).toContain('"email" AS f0, "first name" AS f1 FROM "main"."m"');
  });

  it('diffQuery joins the way each mode needs and reads only the sync\'s state', () => {
    const sql = (mode: Mode) => diffQuery(d, input('"main"."m"', mode));
    expect(sql('mirror')).toContain('FULL OUTER JOIN');
    expect(sql('audience')).toContain('FULL OUTER JOIN');
    expect(sql('upsert')).toContain('LEFT JOIN');
    expect(sql('upsert')).not.toContain('FULL OUTER JOIN');
    expect(sql('create')).toContain('WHERE s.record_key IS NULL');
    expect(sql('upsert')).toContain(`FROM ${tables.state} WHERE sync_id = $1`);
  });
});
