import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inferColumnType, widenedType } from '../../destinations/postgres/column-types.js';
import { poolConfig, secretValues } from '../../destinations/postgres/connection.js';
import { classifyError } from '../../destinations/postgres/errors.js';
import { postgres, type PostgresOptions } from '../../destinations/postgres/index.js';
import type { Change, Destination, Mode, RecordResult, WriteContext } from '../../destinations/types.js';
import { DestinationError } from '../../src/errors.js';
import { createHttpClient } from '../../src/http/http-client.js';
import { silentLogger } from '../../src/logger.js';
import { describePostgres, pgUrl, scratchName, scratchSchema, urlWithUser, type ScratchSchema } from '../support/postgres.js';

const http = createHttpClient({ limits: { requests: 1000, perSeconds: 1, concurrency: 1 } });
afterAll(() => http.close());

function upsert(key: string, fields: Record<string, unknown>, identifier: readonly string[] = ['id'], previous: Record<string, unknown> | null = null): Change {
  return {
    operation: 'upsert',
    kind: previous ? 'changed' : 'added',
    key,
    hash: `h-${key}-${JSON.stringify(fields)}`,
    fields,
    identifier: Object.fromEntries(identifier.map((f) => [f, fields[f] ?? null])),
    previous,
    destinationId: null,
  };
}

function remove(key: string, lastSent: Record<string, unknown>, identifier: readonly string[] = ['id']): Change {
  return { ...upsert(key, lastSent, identifier, lastSent), operation: 'delete', kind: 'removed' };
}

function ctx(mode: Mode = 'upsert'): WriteContext {
  return { syncId: 'customers__app_db', runId: 'run-1', mode };
}

const statuses = (results: readonly RecordResult[]) => Object.fromEntries(results.map((r) => [r.key, r.status]));

describe('postgres destination: configuration (no server needed)', () => {
  it('takes a url or host/port/user/password/database, not both, and checks options', () => {
    expect(postgres.config.safeParse({ type: 'postgres', url: 'postgres://u:p@h:5432/db' }).success).toBe(true);
    expect(postgres.config.safeParse({ type: 'postgres', host: 'h', database: 'db', user: 'u', password: 'p', sslmode: 'require' }).success).toBe(true);
    const both = postgres.config.safeParse({ type: 'postgres', url: 'postgres://h/db', host: 'h' });
    expect(both.success).toBe(false);
    expect(JSON.stringify(both.error?.issues)).toContain('not both');
    expect(postgres.config.safeParse({ type: 'postgres' }).success).toBe(false);
    expect(postgres.config.safeParse({ type: 'postgres', host: 'h' }).success).toBe(false);
    expect(postgres.config.safeParse({ type: 'postgres', url: 'mysql://h/db' }).success).toBe(false);
    expect(postgres.secretKeys).toEqual(expect.arrayContaining(['password', 'url']));

    expect(postgres.options.parse({ table: 'app.customers' })).toEqual({ table: 'app.customers', create_table: false });
    expect(postgres.options.safeParse({ table: 'a.b.c' }).success).toBe(false);
    expect(postgres.options.safeParse({ table: '"quoted"' }).success).toBe(false);
    expect(postgres.options.safeParse({ table: 't', object: 'x' }).success).toBe(false);
    for (const type of ['text', 'bigint', 'numeric(12,2)', 'timestamp with time zone', 'text[]', 'public.citext', 'character varying(20)', 'double precision']) {
      expect(postgres.options.safeParse({ table: 't', columns: { c: type } }).success, type).toBe(true);
    }
    for (const type of ['text; DROP TABLE x', 'int)', "text DEFAULT 'x'", '']) {
      expect(postgres.options.safeParse({ table: 't', columns: { c: type } }).success, type).toBe(false);
    }
  });

  it('gives sslmode its libpq meaning, in the url or as a key, and knows which values to mask', () => {
    const cfg = (extra: Record<string, unknown>) => poolConfig(postgres.config.parse({ type: 'postgres', ...extra }));
    expect(cfg({ url: 'postgres://u:p@h:5432/db?sslmode=require&application_name=x' })).toMatchObject({
      connectionString: 'postgres://u:p@h:5432/db?application_name=x',
      ssl: { rejectUnauthorized: false },
    });
    expect(cfg({ url: 'postgres://u@h/db?sslmode=verify-full' }).ssl).toEqual({ rejectUnauthorized: true });
    expect(cfg({ url: 'postgres://u@h/db?sslmode=disable' }).ssl).toBe(false);
    expect(cfg({ url: 'postgres://u@h/db', sslmode: 'require' }).ssl).toEqual({ rejectUnauthorized: false });
    expect(cfg({ url: 'postgres://u@h/db' }).ssl).toBeUndefined();
    expect(cfg({ host: 'h', database: 'db', sslmode: 'verify-ca' }).ssl).toMatchObject({ rejectUnauthorized: true });
    expect(cfg({ host: 'h', database: 'db', user: 'u', password: 'pw', concurrency: 3 })).toMatchObject({ host: 'h', port: 5432, database: 'db', max: 3 });
    expect(secretValues(postgres.config.parse({ type: 'postgres', url: 'postgres://u:p%40ss-word@h/db' }))).toEqual(
      expect.arrayContaining(['postgres://u:p%40ss-word@h/db', 'p%40ss-word', 'p@ss-word']),
    );
  });

  it('derives column types from the values activate sends', () => {
    expect(inferColumnType([1, 2, null])).toBe('bigint');
    expect(inferColumnType([1, 2.5])).toBe('double precision');
    expect(inferColumnType([1, '123456789012345678901234'])).toBe('numeric');
    expect(inferColumnType(['2025-01-02', null])).toBe('date');
    expect(inferColumnType(['2025-01-02T03:04:05.123456Z'])).toBe('timestamptz');
    expect(inferColumnType(['2025-01-02T03:04:05'])).toBe('timestamp');
    expect(inferColumnType(['2025-01-02T03:04:05Z', '2025-01-03'])).toBe('timestamptz');
    expect(widenedType('bigint', [1, 2.5])).toBe('double precision');
    expect(widenedType('bigint', [1, '123456789012345678901.5'])).toBe('numeric');
    expect(widenedType('double precision', [1, 2.5])).toBeUndefined();
    expect(widenedType('date', ['2025-01-02T03:04:05Z'])).toBe('timestamp with time zone');
    expect(widenedType('date', ['soon'])).toBe('text');
    expect(widenedType('boolean', [{ a: 1 }])).toBe('jsonb');
    expect(widenedType('text', [{ a: 1 }, 5])).toBeUndefined();
    expect(widenedType('bigint', [null])).toBeUndefined();
    expect(inferColumnType([true, false])).toBe('boolean');
    expect(inferColumnType([{ a: 1 }, [1, 2], 'x'])).toBe('jsonb');
    expect(inferColumnType(['a', 1])).toBe('text');
    expect(inferColumnType(['01234', '2025-01-02'])).toBe('text');
    expect(inferColumnType([null, undefined])).toBe('text');
  });

  it('sorts errors into the record at fault, the connection, and the sync as a whole', () => {
    const pgError = (code: string) => Object.assign(new Error('x'), { code });
    expect(classifyError(pgError('23505'))).toBe('record');
    expect(classifyError(pgError('22P02'))).toBe('record');
    expect(classifyError(pgError('23514'))).toBe('record');
    expect(classifyError(pgError('P0001'))).toBe('record');
    expect(classifyError(pgError('57014'))).toBe('timeout');
    expect(classifyError(pgError('57P01'))).toBe('transient');
    expect(classifyError(pgError('40P01'))).toBe('transient');
    expect(classifyError(pgError('08006'))).toBe('transient');
    expect(classifyError(pgError('ECONNRESET'))).toBe('transient');
    expect(classifyError(new Error('Connection terminated unexpectedly'))).toBe('transient');
    expect(classifyError(pgError('28P01'))).toBe('fatal');
    expect(classifyError(pgError('42501'))).toBe('fatal');
    expect(classifyError(pgError('42P01'))).toBe('fatal');
    expect(classifyError(pgError('25006'))).toBe('fatal');
  });
});

describePostgres('postgres destination against a real server', () => {
  let scratch: ScratchSchema;
  const open: Destination<PostgresOptions>[] = [];

  beforeAll(async () => {
    scratch = await scratchSchema('dest');
  });
  afterAll(async () => {
    await scratch?.drop();
  });
  afterEach(async () => {
    for (const d of open.splice(0)) await d.close?.();
  });

  function connect(overrides: Record<string, unknown> = {}): Destination<PostgresOptions> {
    const config = postgres.config.parse({ type: 'postgres', url: pgUrl, batch_size: 100, ...overrides });
    const destination = postgres.create(config, { http, log: silentLogger, name: 'app_db', cwd: process.cwd() });
    open.push(destination);
    return destination;
  }

  const options = (table: string, extra: Record<string, unknown> = {}) =>
    postgres.options.parse({ table: `${scratch.name}.${table}`, ...extra });

  async function rows(table: string, order = 'id'): Promise<Record<string, unknown>[]> {
    return (await scratch.query<{ r: Record<string, unknown> }>(`SELECT to_jsonb(t) AS r FROM "${scratch.name}"."${table}" t ORDER BY ${order}`)).map((x) => x.r);
  }

  async function table(name: string, ddl: string): Promise<void> {
    await scratch.query(`CREATE TABLE "${scratch.name}"."${name}" (${ddl})`);
  }

  it('upserts a batch into an existing table in one statement, then updates changed rows', async () => {
    await table('upserts', 'id bigint PRIMARY KEY, email text NOT NULL, score double precision, seen date, note text DEFAULT \'app-owned\'');
    const dest = connect();
    const first = await dest.write(
      [upsert('1', { id: 1, email: 'a@x.io', score: 0.25, seen: '2025-01-02' }), upsert('2', { id: 2, email: 'b@x.io', score: null, seen: null })],
      options('upserts'),
      ctx(),
    );
    expect(first).toEqual([{ key: '1', status: 'synced' }, { key: '2', status: 'synced' }]);
    await scratch.query(`UPDATE "${scratch.name}".upserts SET note = 'kept' WHERE id = 1`);
    const second = await dest.write([upsert('1', { id: 1, email: 'a2@x.io', score: 0.5, seen: '2025-02-03' }, ['id'], { id: 1, email: 'a@x.io', score: 0.25, seen: '2025-01-02' })], options('upserts'), ctx());
    expect(statuses(second)).toEqual({ 1: 'synced' });
    expect(await rows('upserts')).toEqual([
      { id: 1, email: 'a2@x.io', score: 0.5, seen: '2025-02-03', note: 'kept' },
      { id: 2, email: 'b@x.io', score: null, seen: null, note: 'app-owned' },
    ]);
  });

  it('a field a record does not carry (skip_nulls, update_fields: changed) keeps the value the table has', async () => {
    await table('partial', "id bigint PRIMARY KEY, email text, plan text, note text DEFAULT 'default'");
    await scratch.query(`INSERT INTO "${scratch.name}".partial VALUES (1, 'a@x.io', 'free', 'kept'), (2, 'b@x.io', 'free', 'kept')`);
    const dest = connect();
    const results = await dest.write(
      [upsert('1', { id: 1, plan: 'pro' }), upsert('2', { id: 2, email: 'b2@x.io', plan: null }), upsert('3', { id: 3, plan: 'team' })],
      options('partial'),
      ctx(),
    );
    expect(statuses(results)).toEqual({ 1: 'synced', 2: 'synced', 3: 'synced' });
    expect(await rows('partial')).toEqual([
      { id: 1, email: 'a@x.io', plan: 'pro', note: 'kept' },
      { id: 2, email: 'b2@x.io', plan: null, note: 'kept' },
      { id: 3, email: null, plan: 'team', note: 'default' },
    ]);
    const updated = await dest.write([upsert('1', { id: 1, email: 'a3@x.io' }), upsert('9', { id: 9, plan: 'x' })], options('partial'), ctx('update'));
    expect(statuses(updated)).toEqual({ 1: 'synced', 9: 'skipped' });
    expect((await rows('partial'))[0]).toEqual({ id: 1, email: 'a3@x.io', plan: 'pro', note: 'kept' });
  });

  it('creates a missing table (schema too) with types from the values, a primary key on the identifier, and columns: overrides', async () => {
    const dest = connect();
    const opts = postgres.options.parse({
      table: `${scratch.name}_made.customers`,
      create_table: true,
      columns: { ltv: 'numeric(12,2)' },
    });
    try {
      const batch = [
        upsert('1', { customer_id: 1, email: 'a@x.io', ltv: 10.5, churn: 0.3, active: true, last_order: '2025-01-02', seen_at: '2025-01-02T03:04:05.123456Z', tags: ['a', 'b'], big: '123456789012345678901' }, ['customer_id']),
        upsert('2', { customer_id: 2, email: 'b@x.io', ltv: 0, churn: 1, active: false, last_order: null, seen_at: null, tags: [], big: 5 }, ['customer_id']),
      ];
      expect(statuses(await dest.write(batch, opts, ctx()))).toEqual({ 1: 'synced', 2: 'synced' });
      const columns = await scratch.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'customers' ORDER BY ordinal_position`,
        [`${scratch.name}_made`],
      );
      expect(Object.fromEntries(columns.map((c) => [c.column_name, c.data_type]))).toEqual({
        customer_id: 'bigint',
        email: 'text',
        ltv: 'numeric',
        churn: 'double precision',
        active: 'boolean',
        last_order: 'date',
        seen_at: 'timestamp with time zone',
        tags: 'jsonb',
        big: 'numeric',
      });
      const [pk] = await scratch.query<{ def: string }>(
        `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`,
        [`"${scratch.name}_made"."customers"`],
      );
      expect(pk!.def).toBe('PRIMARY KEY (customer_id)');
      const [row] = await scratch.query<{ r: Record<string, unknown> }>(`SELECT to_jsonb(t) AS r FROM "${scratch.name}_made".customers t WHERE customer_id = 1`);
      expect(row!.r).toMatchObject({ ltv: 10.5, tags: ['a', 'b'], big: 123456789012345678901, seen_at: '2025-01-02T03:04:05.123456+00:00' });

      // A field added to the mapping later becomes a new column (create_table: true).
      const later = [upsert('3', { customer_id: 3, email: 'c@x.io', plan: 'pro' }, ['customer_id'])];
      expect(statuses(await dest.write(later, opts, ctx()))).toEqual({ 3: 'synced' });
      const [plan] = await scratch.query<{ plan: string }>(`SELECT plan FROM "${scratch.name}_made".customers WHERE customer_id = 3`);
      expect(plan!.plan).toBe('pro');
    } finally {
      await scratch.query(`DROP SCHEMA IF EXISTS "${scratch.name}_made" CASCADE`);
    }
  });

  it('widens a column it typed from earlier values when later values need it, never a column typed by hand', async () => {
    const opts = options('widened', { create_table: true, columns: { fixed: 'bigint' } });
    const first = connect();
    await first.write([upsert('1', { id: 1, ltv: 10, seen: '2025-01-02', code: 7, fixed: 1 })], opts, ctx());
    const types = async () =>
      Object.fromEntries(
        (await scratch.query<{ column_name: string; data_type: string }>(
          `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'widened'`,
          [scratch.name],
        )).map((c) => [c.column_name, c.data_type]),
      );
    expect(await types()).toEqual({ id: 'bigint', ltv: 'bigint', seen: 'date', code: 'bigint', fixed: 'bigint' });

    // A later run (a new destination, as each run creates one): fractions, a timestamp, text, and a fraction for the hand-typed column.
    const later = connect();
    const results = await later.write(
      [
        upsert('2', { id: 2, ltv: 10.25, seen: '2025-01-02T03:04:05Z', code: 'A-7', fixed: 1 }),
        upsert('3', { id: 3, ltv: 3, seen: '2025-01-03', code: 8, fixed: 2.5 }),
      ],
      opts,
      ctx(),
    );
    expect(results).toEqual([
      { key: '2', status: 'synced' },
      { key: '3', status: 'failed', retryable: false, code: '22P02', message: expect.stringMatching(/invalid input syntax for type bigint: "2.5"/) },
    ]);
    expect(await types()).toEqual({ id: 'bigint', ltv: 'double precision', seen: 'timestamp with time zone', code: 'text', fixed: 'bigint' });
    expect(await rows('widened')).toEqual([
      { id: 1, ltv: 10, seen: '2025-01-02T00:00:00+00:00', code: '7', fixed: 1 },
      { id: 2, ltv: 10.25, seen: '2025-01-02T03:04:05+00:00', code: 'A-7', fixed: 1 },
    ]);
  });

  it('creates the table once when the first batches arrive together', async () => {
    const dest = connect({ concurrency: 4 });
    const opts = options('together', { create_table: true });
    const batches = [0, 1, 2, 3].map((b) => [0, 1, 2].map((i) => upsert(`${b * 3 + i}`, { id: b * 3 + i, v: `v${i}` })));
    const results = await Promise.all(batches.map((batch) => dest.write(batch, opts, ctx())));
    expect(results.flat().every((r) => r.status === 'synced')).toBe(true);
    expect(await rows('together')).toHaveLength(12);
  });

  it('stops before sending anything when the table is missing and create_table is not set', async () => {
    const dest = connect();
    const attempt = dest.write([upsert('1', { id: 1, email: 'a@x.io' })], options('nowhere'), ctx());
    await expect(attempt).rejects.toThrow(DestinationError);
    await expect(attempt).rejects.toThrow(/table activate_test_dest_\w+\.nowhere does not exist.*create_table: true/);
    const [exists] = await scratch.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [`"${scratch.name}".nowhere`]);
    expect(exists!.t).toBeNull();
  });

  it('stops with a clear error for a missing column, a missing unique index, or no identifier', async () => {
    await table('strict', 'id bigint PRIMARY KEY, "Email" text');
    await table('no_unique', 'id bigint, email text');
    const dest = connect();
    await expect(dest.write([upsert('1', { id: 1, email: 'a@x.io' })], options('strict'), ctx())).rejects.toThrow(
      /has no column "email" \(the table has "Email": names are case-sensitive\)/,
    );
    await expect(dest.write([upsert('1', { id: 1, email: 'a@x.io' })], options('no_unique'), ctx())).rejects.toThrow(
      /no primary key or unique index on exactly \(id\)/,
    );
    // update mode matches rows without ON CONFLICT, so it needs no unique index.
    expect(statuses(await dest.write([upsert('1', { id: 1, email: 'a@x.io' })], options('no_unique'), ctx('update')))).toEqual({ 1: 'skipped' });
    await expect(dest.write([upsert('1', { id: 1, email: 'a@x.io' }, [])], options('strict'), ctx())).rejects.toThrow(
      /has no identifier.*identifier: \{ customer_id: customer_id \}/s,
    );
  });

  it('rejects only the rows that break a constraint or cannot be converted, with the database message; the rest commit', async () => {
    await table('checked', 'id bigint PRIMARY KEY, email text UNIQUE, age integer CHECK (age >= 0)');
    await scratch.query(`INSERT INTO "${scratch.name}".checked VALUES (999, 'taken@x.io', 1)`);
    const dest = connect();
    const batch = Array.from({ length: 40 }, (_, i) => upsert(`${i}`, { id: i, email: `u${i}@x.io`, age: 20 + i }));
    batch[7] = upsert('7', { id: 7, email: 'taken@x.io', age: 3 }); // unique violation on email
    batch[19] = upsert('19', { id: 19, email: 'u19@x.io', age: -1 }); // check violation
    batch[33] = upsert('33', { id: 33, email: 'u33@x.io', age: 'thirty' }); // type error
    const results = await dest.write(batch, options('checked'), ctx());
    expect(results).toHaveLength(40);
    const failed = results.filter((r) => r.status === 'failed');
    expect(failed.map((r) => r.key).sort()).toEqual(['19', '33', '7']);
    const message = (key: string) => failed.find((r) => r.key === key) as Extract<RecordResult, { status: 'failed' }>;
    expect(message('7')).toMatchObject({ retryable: false, message: expect.stringMatching(/duplicate key value violates unique constraint "checked_email_key".*Key \(email\)=\(taken@x.io\) already exists/) });
    expect(message('19')).toMatchObject({ retryable: false, message: expect.stringMatching(/violates check constraint "checked_age_check"/) });
    expect(message('33')).toMatchObject({ retryable: false, message: expect.stringMatching(/invalid input syntax for type integer: "thirty"/) });
    expect([message('7').code, message('19').code, message('33').code]).toEqual(['23505', '23514', '22P02']);
    const stored = await rows('checked');
    expect(stored.map((r) => r.id)).toEqual([...batch.filter((c) => !['7', '19', '33'].includes(c.key)).map((c) => Number(c.key)), 999]);
  });

  it('update mode updates existing rows only and skips keys not in the table', async () => {
    await table('updates', 'id bigint PRIMARY KEY, plan text, owner text');
    await scratch.query(`INSERT INTO "${scratch.name}".updates VALUES (1, 'free', 'ann'), (2, 'free', 'bob')`);
    const dest = connect();
    const results = await dest.write([upsert('1', { id: 1, plan: 'pro' }), upsert('3', { id: 3, plan: 'pro' })], options('updates'), ctx('update'));
    expect(results).toEqual([
      { key: '1', status: 'synced' },
      { key: '3', status: 'skipped', reason: expect.stringMatching(/no row with this id .*update mode never inserts/) },
    ]);
    expect(await rows('updates')).toEqual([
      { id: 1, plan: 'pro', owner: 'ann' },
      { id: 2, plan: 'free', owner: 'bob' },
    ]);
  });

  it('create mode inserts new keys only and skips existing ones, leaving them as they are', async () => {
    await table('creates', 'id bigint PRIMARY KEY, plan text');
    await scratch.query(`INSERT INTO "${scratch.name}".creates VALUES (1, 'theirs')`);
    const dest = connect();
    const results = await dest.write([upsert('1', { id: 1, plan: 'ours' }), upsert('2', { id: 2, plan: 'ours' })], options('creates'), ctx('create'));
    expect(results).toEqual([
      { key: '1', status: 'skipped', reason: expect.stringMatching(/already exists.*create mode never overwrites/) },
      { key: '2', status: 'synced' },
    ]);
    expect(await rows('creates')).toEqual([{ id: 1, plan: 'theirs' }, { id: 2, plan: 'ours' }]);
  });

  it('mirror deletes remove the rows of the given identifiers only; a row someone else inserted survives', async () => {
    await table('mirrored', 'id bigint PRIMARY KEY, email text');
    const dest = connect();
    await dest.write([1, 2, 3].map((i) => upsert(`${i}`, { id: i, email: `u${i}@x.io` })), options('mirrored'), ctx('mirror'));
    await scratch.query(`INSERT INTO "${scratch.name}".mirrored VALUES (100, 'app@x.io')`);
    const results = await dest.write([remove('2', { id: 2, email: 'u2@x.io' }), remove('9', { id: 9, email: 'gone@x.io' })], options('mirrored'), ctx('mirror'));
    expect(statuses(results)).toEqual({ 2: 'synced', 9: 'synced' });
    expect((await rows('mirrored')).map((r) => r.id)).toEqual([1, 3, 100]);
  });

  it('follows an identifier change: the row moves (keeping other columns) unless someone changed it; mirror drops a superseded old row', async () => {
    await table('rekey', 'email text PRIMARY KEY, plan text, app_note text');
    const dest = connect();
    const opts = options('rekey', {});
    const sent = (email: string, plan: string) => ({ email, plan });
    await dest.write([upsert('1', sent('a@x.io', 'free'), ['email']), upsert('2', sent('b@x.io', 'free'), ['email']), upsert('3', sent('c@x.io', 'free'), ['email'])], opts, ctx());
    await scratch.query(`UPDATE "${scratch.name}".rekey SET app_note = 'note-' || email`);
    await scratch.query(`UPDATE "${scratch.name}".rekey SET plan = 'changed-by-app' WHERE email = 'b@x.io'`);
    const moved = await dest.write(
      [
        upsert('1', sent('a2@x.io', 'pro'), ['email'], sent('a@x.io', 'free')),
        upsert('2', sent('b2@x.io', 'pro'), ['email'], sent('b@x.io', 'free')),
      ],
      opts,
      ctx(),
    );
    expect(statuses(moved)).toEqual({ 1: 'synced', 2: 'synced' });
    expect(await rows('rekey', 'email')).toEqual([
      { email: 'a2@x.io', plan: 'pro', app_note: 'note-a@x.io' }, // moved: the app's column kept
      { email: 'b2@x.io', plan: 'pro', app_note: null }, // b's row was changed by the app: left alone, new row written
      { email: 'b@x.io', plan: 'changed-by-app', app_note: 'note-b@x.io' },
      { email: 'c@x.io', plan: 'free', app_note: 'note-c@x.io' },
    ]);

    // Two records swapping identifiers in one batch, in mirror mode: both rows end right.
    await scratch.query(`DELETE FROM "${scratch.name}".rekey WHERE email LIKE 'b%'`);
    await dest.write([upsert('4', sent('d@x.io', 'free'), ['email'])], opts, ctx('mirror'));
    const swapped = await dest.write(
      [upsert('3', sent('d@x.io', 'team'), ['email'], sent('c@x.io', 'free')), upsert('4', sent('c@x.io', 'team'), ['email'], sent('d@x.io', 'free'))],
      opts,
      ctx('mirror'),
    );
    expect(statuses(swapped)).toEqual({ 3: 'synced', 4: 'synced' });
    const after = await rows('rekey', 'email');
    expect(after.filter((r) => r.email === 'c@x.io' || r.email === 'd@x.io').map((r) => [r.email, r.plan])).toEqual([
      ['c@x.io', 'team'],
      ['d@x.io', 'team'],
    ]);
  });

  it('a connection lost mid-batch leaves the whole batch unsynced and retryable, with nothing committed', async () => {
    await table('lost', 'id bigint PRIMARY KEY, v text');
    await scratch.query(`
      CREATE FUNCTION "${scratch.name}".die() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.v = 'die' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$`);
    await scratch.query(`CREATE TRIGGER die BEFORE INSERT ON "${scratch.name}".lost FOR EACH ROW EXECUTE FUNCTION "${scratch.name}".die()`);
    const dest = connect();
    const results = await dest.write([upsert('1', { id: 1, v: 'ok' }), upsert('2', { id: 2, v: 'die' }), upsert('3', { id: 3, v: 'ok' })], options('lost'), ctx());
    expect(results.map((r) => [r.key, r.status, r.status === 'failed' && r.retryable])).toEqual([
      ['1', 'failed', true],
      ['2', 'failed', true],
      ['3', 'failed', true],
    ]);
    expect(await rows('lost')).toEqual([]);
    // The pool recovers: the next batch goes through on a new connection.
    expect(statuses(await dest.write([upsert('4', { id: 4, v: 'ok' })], options('lost'), ctx()))).toEqual({ 4: 'synced' });
  });

  it('stops the sync on refused credentials and missing privileges, and never shows the password', async () => {
    const role = scratchName('norights');
    await scratch.query(`CREATE ROLE ${role} LOGIN`);
    try {
      await table('private', 'id bigint PRIMARY KEY, v text');
      const unknownUser = connect({ url: urlWithUser(pgUrl!, `${role}_missing`, 'sup3r-s3cret-pw') });
      const refused = unknownUser.write([upsert('1', { id: 1, v: 'x' })], options('private'), ctx());
      await expect(refused).rejects.toThrow(DestinationError);
      await expect(refused).rejects.toThrow(/cannot connect/);
      const message = await refused.catch((e: Error) => e.message);
      expect(message).not.toContain('sup3r-s3cret-pw');

      await scratch.query(`GRANT USAGE ON SCHEMA "${scratch.name}" TO ${role}; GRANT SELECT ON "${scratch.name}".private TO ${role}`);
      const readOnly = connect({ url: urlWithUser(pgUrl!, role) });
      await expect(readOnly.write([upsert('1', { id: 1, v: 'x' })], options('private'), ctx())).rejects.toThrow(
        /permission denied for table private.*the user needs SELECT, INSERT, UPDATE and DELETE/,
      );
    } finally {
      for (const d of open.splice(0)) await d.close?.();
      await scratch.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  it('cannot reach the server: stops the sync with the reason', async () => {
    const dest = connect({ url: 'postgres://postgres@127.0.0.1:1/nowhere', connect_timeout_seconds: 2 });
    await expect(dest.write([upsert('1', { id: 1 })], options('x'), ctx())).rejects.toThrow(/cannot connect.*ECONNREFUSED/);
  });

  it('checkMapping reports what validate --online should say, without writing', async () => {
    await table('checked_mapping', 'id bigint PRIMARY KEY, email text');
    const dest = connect();
    const field = (name: string, isIdentifier = false) => ({ field: name, column: name, columnType: undefined, isIdentifier });
    expect(await dest.checkMapping!([field('id', true), field('email')], options('checked_mapping'))).toEqual([]);
    expect(await dest.checkMapping!([field('id', true), field('emial')], options('checked_mapping'))).toEqual([
      expect.stringMatching(/has no column emial/),
    ]);
    expect(await dest.checkMapping!([field('id', true)], options('absent'))).toEqual([expect.stringMatching(/does not exist/)]);
    expect(await dest.checkMapping!([field('id', true)], options('absent', { create_table: true }))).toEqual([]);
  });
});
