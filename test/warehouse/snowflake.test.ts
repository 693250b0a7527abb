/**
 * The Snowflake adapter with the real snowflake-sdk against the REST fake (test/twins/
 * snowflake-fake.ts): login (password, key pair), session settings, binds, results in chunks,
 * streaming, transactions, the planner and the state store over the wire, and the errors a
 * user meets first. No request leaves the process: nock refuses every host but 127.0.0.1.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, WarehouseError } from '../../src/errors.js';
import { planSync } from '../../src/plan/planner.js';
import { StateStore } from '../../src/state/state-store.js';
import { openWarehouse } from '../../src/warehouse/registry.js';
import type { Warehouse } from '../../src/warehouse/types.js';
import { makeTempDir } from '../support/fixtures.js';
import { dmlResult, SnowflakeFake, statusResult, wire } from '../twins/snowflake-fake.js';
import { syncSpec } from './specs.js';

const unmatched: string[] = [];
const temp = makeTempDir('snowflake');
const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'key secret' },
});

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  nock.emitter.on('no match', (req: { method?: string; href?: string; path?: string; options?: { href?: string } }) =>
    unmatched.push(`${req.method ?? ''} ${req.href ?? req.options?.href ?? req.path ?? ''}`),
  );
});
afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
  temp.remove();
});

function fakeAccount(account: string, options: Partial<ConstructorParameters<typeof SnowflakeFake>[0]> = {}): SnowflakeFake {
  return new SnowflakeFake({
    account,
    users: [{ name: 'ACTIVATE', password: 'right password', publicKey: keys.publicKey, roles: ['REPORTER'] }],
    databases: ['ANALYTICS'],
    schemas: ['ANALYTICS.MARTS'],
    warehouses: ['TRANSFORMING'],
    ...options,
  });
}

const output = (account: string, extra: Record<string, unknown> = {}) => ({
  type: 'snowflake',
  account,
  user: 'activate',
  password: 'right password',
  role: 'reporter',
  database: 'analytics',
  schema: 'marts',
  warehouse: 'transforming',
  connect_retries: 0,
  ...extra,
});

const open = (account: string, extra: Record<string, unknown> = {}) =>
  openWarehouse({ file: 'profiles.yml', profile: 'shop', target: 'prod', output: output(account, extra) }, temp.dir);

async function failure(promise: Promise<unknown>): Promise<WarehouseError | ConfigError> {
  try {
    await promise;
  } catch (error) {
    return error as WarehouseError;
  }
  throw new Error('expected a failure');
}

describe('snowflake: the SDK against the fake', () => {
  let fake: SnowflakeFake;
  let warehouse: Warehouse;

  beforeAll(async () => {
    fake = fakeAccount('acme_main', { chunkRows: 3 });
    warehouse = await open('acme_main');
  });
  afterAll(() => warehouse.close());

  it("the driver's traffic goes to the fake, and a host without a fake is refused before the network", async () => {
    expect(fake.logins).toEqual([
      expect.objectContaining({ account: 'acme_main', user: 'activate', authenticator: 'SNOWFLAKE', ok: true }),
    ]);
    // The account's underscores became hyphens in the host; the profile's context went with the login.
    expect(fake.url).toBe('https://acme-main.snowflakecomputing.com');
    expect(fake.logins[0]!.params).toMatchObject({ databaseName: 'analytics', schemaName: 'marts', warehouse: 'transforming', roleName: 'reporter' });
    const error = await failure(open('nowhere_at_all'));
    expect(error.message).toMatch(/cannot reach Snowflake at https:\/\/nowhere-at-all\.snowflakecomputing\.com/);
    expect(unmatched.some((u) => u.includes('nowhere-at-all.snowflakecomputing.com'))).toBe(true);
  });

  it('sets the query tag and pins the session formats activate reads and hashes with', () => {
    const session = fake.sessions[0]!;
    expect(session.queryTag).toBe('dbt-activate');
    expect(session.application).toBe('dbt_activate');
    expect(session.parameters.get('TIMEZONE')).toBe('UTC');
    expect(session.parameters.get('TIMESTAMP_NTZ_OUTPUT_FORMAT')).toBe('YYYY-MM-DD"T"HH24:MI:SS.FF9');
    expect(session.parameters.get('STRICT_JSON_OUTPUT')).toBe('TRUE');
    expect(warehouse.description).toBe('snowflake (profile shop, target prod, account acme_main, database analytics)');
  });

  it('reads every kind of value in the shared forms, exact where a double would not be', async () => {
    fake.on('FROM typed', {
      columns: [
        { name: 'N_INT', type: 'fixed' },
        { name: 'N_BIG', type: 'fixed' },
        { name: 'N_DEC', type: 'fixed', scale: 2, precision: 38 },
        { name: 'N_DEC_BIG', type: 'fixed', scale: 2, precision: 38 },
        { name: 'F', type: 'real' },
        { name: 'F_INF', type: 'real' },
        { name: 'T', type: 'text' },
        { name: 'B', type: 'boolean' },
        { name: 'D', type: 'date' },
        { name: 'TM', type: 'time' },
        { name: 'TS_NTZ', type: 'timestamp_ntz' },
        { name: 'TS_TZ', type: 'timestamp_tz' },
        { name: 'TS_LTZ', type: 'timestamp_ltz' },
        { name: 'V', type: 'variant' },
        { name: 'O', type: 'object' },
        { name: 'A', type: 'array' },
        { name: 'BIN', type: 'binary' },
        { name: 'NUL', type: 'fixed' },
        { name: 'mixedCase', type: 'text' },
      ],
      rows: [
        [
          '42',
          '9007199254740993',
          '12.50',
          '123456789012345678.12',
          '1.5',
          'inf',
          'ünï "q" \\ |~',
          wire.boolean(true),
          wire.date('2024-02-29'),
          wire.time('03:04:05.123456'),
          wire.timestamp('2024-01-02T03:04:05.123456789'),
          wire.timestampTz('2024-01-02T01:04:05.5', 120),
          wire.timestamp('2024-01-02T03:04:05'),
          wire.json({ a: [1, 2], b: 'x', big: 1 }),
          wire.json({ k: 'v' }),
          wire.json([1, 'two']),
          wire.binary(Buffer.from('hi')),
          null,
          'kept',
        ],
      ],
    });
    const connection = await warehouse.connect();
    try {
      expect(await connection.query('SELECT * FROM typed')).toEqual([
        {
          n_int: 42,
          n_big: '9007199254740993',
          n_dec: 12.5,
          n_dec_big: '123456789012345678.12',
          f: 1.5,
          f_inf: 'Infinity',
          t: 'ünï "q" \\ |~',
          b: true,
          d: '2024-02-29',
          tm: '03:04:05.123456',
          ts_ntz: '2024-01-02T03:04:05.123456Z',
          ts_tz: '2024-01-02T01:04:05.500Z',
          ts_ltz: '2024-01-02T03:04:05.000Z',
          v: { a: [1, 2], b: 'x', big: 1 },
          o: { k: 'v' },
          a: [1, 'two'],
          bin: 'aGk=',
          nul: null,
          mixedCase: 'kept',
        },
      ]);
      // describe() keeps names exactly as Snowflake stores them: they are quoted into SQL later.
      expect(await connection.describe('SELECT * FROM typed')).toContain('N_INT');
      expect(await connection.describe('SELECT * FROM typed')).toContain('mixedCase');
    } finally {
      await connection.close();
    }
  });

  it('sends parameters as binds with their types', async () => {
    fake.on(/^UPDATE binds/, dmlResult({ 'number of rows updated': 1 }));
    const connection = await warehouse.connect();
    try {
      await connection.execute('UPDATE binds SET a = :1, b = :2, c = :3, d = :4 WHERE e = :5', ['text', 7, true, null, 1.5]);
    } finally {
      await connection.close();
    }
    const sent = fake.queries.find((q) => q.sql.startsWith('UPDATE binds'))!;
    expect(sent.binds).toEqual(['text', '7', 'true', null, '1.5']);
    expect(sent.bindTypes).toEqual(['TEXT', 'FIXED', 'BOOLEAN', 'TEXT', 'REAL']);
  });

  it('streams a chunked result in batches, and stopping early leaves the session usable', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => [String(i + 1), `row ${i + 1}`]);
    fake.on('FROM series', { columns: [{ name: 'I', type: 'fixed' }, { name: 'LABEL', type: 'text' }], rows });
    const connection = await warehouse.connect();
    try {
      const sizes: number[] = [];
      const seen: unknown[] = [];
      for await (const batch of connection.stream('SELECT * FROM series', [], 4)) {
        sizes.push(batch.length);
        seen.push(...batch.map((r) => r.i));
      }
      expect(sizes).toEqual([4, 4, 4, 4, 4]);
      expect(seen).toEqual(rows.map((r) => Number(r[0])));
      // 20 rows in chunks of 3: the first inline, six downloaded from cloud storage.
      expect(fake.chunkDownloads).toHaveLength(6);

      const before = fake.chunkDownloads.length;
      for await (const batch of connection.stream('SELECT * FROM series', [], 2)) {
        expect(batch).toHaveLength(2);
        break;
      }
      // Chunks are fetched as the stream is read (plus the driver's prefetch), not all at once.
      expect(fake.chunkDownloads.length - before).toBeLessThan(6);
      fake.on('SELECT 1 AS one', { columns: [{ name: 'ONE', type: 'fixed' }], rows: [['1']] });
      expect(await connection.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await connection.close();
    }
  });

  it('waits for a query Snowflake reports as still running', async () => {
    fake.on('FROM slow', { columns: [{ name: 'N', type: 'fixed' }], rows: [['3']] }, { pendingPolls: 2 });
    const connection = await warehouse.connect();
    try {
      expect(await connection.query('SELECT count(*) AS n FROM slow')).toEqual([{ n: 3 }]);
    } finally {
      await connection.close();
    }
  });

  it('runs a transaction as BEGIN ... COMMIT, and rolls back when the work throws', async () => {
    fake.on(/^INSERT INTO tx/, dmlResult({ 'number of rows inserted': 1 }));
    const connection = await warehouse.connect();
    const session = () => fake.queries.filter((q) => q.session === fake.queries.at(-1)!.session).map((q) => q.sql);
    try {
      await connection.transaction(async () => connection.execute("INSERT INTO tx VALUES ('a')"));
      expect(session().slice(-3)).toEqual(['BEGIN', "INSERT INTO tx VALUES ('a')", 'COMMIT']);
      await expect(
        connection.transaction(async () => {
          await connection.execute("INSERT INTO tx VALUES ('b')");
          throw new Error('lost');
        }),
      ).rejects.toThrow('lost');
      expect(session().slice(-3)).toEqual(['BEGIN', "INSERT INTO tx VALUES ('b')", 'ROLLBACK']);
    } finally {
      await connection.close();
    }
  });

  it('reports a failed statement with its Snowflake code and query id', async () => {
    fake.on('FROM missing_table', { error: { code: '002003', sqlState: '42S02', message: "SQL compilation error:\nObject 'MISSING_TABLE' does not exist or not authorized." } });
    const connection = await warehouse.connect();
    try {
      const error = await failure(connection.query('SELECT * FROM missing_table'));
      expect(error).toBeInstanceOf(WarehouseError);
      expect(error.message).toMatch(/^Snowflake: SQL compilation error:\nObject 'MISSING_TABLE' does not exist or not authorized\. \(code 002003, SQL state 42S02\), query [0-9a-f-]{36}$/);
    } finally {
      await connection.close();
    }
  });

  it('closes its sessions on the server', async () => {
    const connection = await warehouse.connect();
    const session = fake.sessions.at(-1)!;
    expect(session.closed).toBe(false);
    await connection.close();
    expect(session.closed).toBe(true);
  });
});

describe('snowflake: key-pair auth', () => {
  it('signs in with an encrypted PEM key file and its passphrase; the fake checks the JWT against the public key', async () => {
    const fake = fakeAccount('acme_keys');
    const path = join(temp.dir, 'rsa_key.p8');
    writeFileSync(path, keys.privateKey);
    const warehouse = await open('acme_keys', { password: undefined, private_key_path: path, private_key_passphrase: 'key secret' });
    await warehouse.close();
    expect(fake.logins.at(-1)).toMatchObject({ authenticator: 'SNOWFLAKE_JWT', ok: true });
  });

  it('signs in with an inline key (base64 DER, as dbt-snowflake accepts)', async () => {
    const fake = fakeAccount('acme_inline');
    const { createPrivateKey } = await import('node:crypto');
    const der = createPrivateKey({ key: keys.privateKey, passphrase: 'key secret' }).export({ format: 'der', type: 'pkcs8' });
    const warehouse = await open('acme_inline', { password: undefined, private_key: der.toString('base64') });
    await warehouse.close();
    expect(fake.logins.at(-1)).toMatchObject({ authenticator: 'SNOWFLAKE_JWT', ok: true });
  });

  it('a wrong passphrase or a key the user does not have are clear, exit-2 errors', async () => {
    fakeAccount('acme_badkey');
    const path = join(temp.dir, 'rsa_key2.p8');
    writeFileSync(path, keys.privateKey);
    const passphrase = await failure(open('acme_badkey', { password: undefined, private_key_path: path, private_key_passphrase: 'wrong' }));
    expect(passphrase).toBeInstanceOf(ConfigError);
    expect(passphrase.message).toBe('profiles.yml: shop.outputs.prod.private_key_path: the private key cannot be read (check private_key_passphrase)');

    const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const refused = await failure(open('acme_badkey', { password: undefined, private_key: other.privateKey }));
    expect(refused.exitCode).toBe(2);
    expect(refused.message).toMatch(/^snowflake \(profile shop, target prod, account acme_badkey, database analytics\): login failed: JWT token is invalid\. \(code 390144\); check that the public key/);
    expect(refused.message).not.toContain('PRIVATE KEY');
  });
});

describe('snowflake: the first errors a user meets are one clear message, exit 2, nothing sent', () => {
  it('a wrong password', async () => {
    const fake = fakeAccount('acme_pw');
    const error = await failure(open('acme_pw', { password: 'wrong password' }));
    expect(error).toBeInstanceOf(WarehouseError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(
      'snowflake (profile shop, target prod, account acme_pw, database analytics): login failed: Incorrect username or password was specified. (code 390100); ' +
        'check user and password for this target in profiles.yml (or the environment variables it reads)',
    );
    expect(error.message).not.toContain('wrong password');
    expect(fake.queries).toEqual([]);
  });

  it('an unreachable host', async () => {
    // A local port nothing listens on: a real ECONNREFUSED from the socket, no network involved.
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    await new Promise((done) => server.close(done));
    const error = await failure(open('acme_down', { host: '127.0.0.1', port }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(
      `snowflake (profile shop, target prod, account acme_down, database analytics): cannot reach Snowflake at https://127.0.0.1:${port}: ` +
        `connect ECONNREFUSED 127.0.0.1:${port}; check account (and host) for this target in profiles.yml, and the network or proxy`,
    );
  });

  it('a schema that does not exist (Snowflake accepts the login, with no current schema)', async () => {
    fakeAccount('acme_noschema', { schemas: [] });
    const error = await failure(open('acme_noschema'));
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(
      'snowflake (profile shop, target prod, account acme_noschema, database analytics): schema analytics.marts does not exist or role REPORTER cannot use it; ' +
        'activate keeps its temporary plan tables there: set schema for this target in profiles.yml to the schema dbt builds into (run dbt first), or grant USAGE on it',
    );
  });

  it('a warehouse the role cannot use', async () => {
    fakeAccount('acme_nowh', { warehouses: [] });
    const error = await failure(open('acme_nowh'));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/warehouse transforming does not exist or role REPORTER cannot use it; check warehouse for this target in profiles\.yml, or grant USAGE on it$/);
  });

  it('permission denied creating the state schema names the grant to give', async () => {
    const fake = fakeAccount('acme_grant');
    fake.on(/^CREATE SCHEMA/, { error: { code: '003001', sqlState: '42501', message: "SQL access control error:\nInsufficient privileges to operate on database 'ANALYTICS'" } });
    fake.on(/^CREATE TABLE/, { error: { code: '002003', sqlState: '02000', message: "SQL compilation error:\nSchema 'ANALYTICS.ACTIVATE' does not exist or not authorized." } });
    const warehouse = await open('acme_grant');
    const connection = await warehouse.connect();
    try {
      const error = await failure(new StateStore(connection, warehouse.dialect, 'activate').migrate());
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain('cannot create the state schema "activate": snowflake (profile shop, target prod, account acme_grant, database analytics): SQL access control error');
      expect(error.message).toContain('GRANT CREATE SCHEMA ON DATABASE analytics TO ROLE reporter');
      // The schema is the one dbt-snowflake would name for `activate`: upper case.
      expect(fake.statements()[0]).toBe('CREATE SCHEMA IF NOT EXISTS "ACTIVATE"');
    } finally {
      await connection.close();
      await warehouse.close();
    }
  });

  it('an interactive authenticator is refused before any request', async () => {
    const fake = fakeAccount('acme_sso');
    const error = await failure(open('acme_sso', { authenticator: 'externalbrowser' }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/not supported in CI\/headless runs/);
    expect(fake.logins).toEqual([]);
  });
});

describe('snowflake: the planner and the state store over the wire', () => {
  it("takes a sync's lease in one transaction: insert-if-absent (MERGE), then read back who holds it", async () => {
    const fake = fakeAccount('acme_lease');
    const holders = new Map<string, string>();
    const lockColumns = [
      { name: 'RUN_ID', type: 'text' as const },
      { name: 'HOLDER', type: 'text' as const },
      { name: 'EXPIRES_AT', type: 'timestamp_tz' as const },
    ];
    fake.on(/^SELECT run_id, holder, expires_at FROM "ACTIVATE"\."ACTIVATE_LOCKS" WHERE sync_id = :1$/, (q) => {
      const runId = holders.get(q.binds[0]!);
      return { columns: lockColumns, rows: runId ? [[runId, 'other-host:1', wire.timestampTz(new Date(Date.now() + 600_000).toISOString(), 0)]] : [] };
    });
    fake.on(/^MERGE INTO "ACTIVATE"\."ACTIVATE_LOCKS" AS t USING \(SELECT :1 AS "SYNC_ID", :2 AS "RUN_ID"/, (q) => {
      const syncId = q.binds[0]!;
      // 'sync-raced': another run's insert landed first, so this MERGE inserts nothing.
      if (!holders.has(syncId)) holders.set(syncId, syncId === 'sync-raced' ? 'run-other' : q.binds[1]!);
      return dmlResult({ 'number of rows inserted': 1 });
    });
    const warehouse = await open('acme_lease');
    const connection = await warehouse.connect();
    const store = new StateStore(connection, warehouse.dialect, 'activate');
    try {
      const lease = await store.acquireLease('sync-lease', 'run-a');
      expect(lease.runId).toBe('run-a');
      expect(fake.statements().map((sql) => sql.split(' ').slice(0, 2).join(' '))).toEqual(['BEGIN', 'SELECT run_id,', 'MERGE INTO', 'SELECT run_id,', 'COMMIT']);
      expect(fake.statements()[2]).not.toContain('WHEN MATCHED');
      await expect(store.acquireLease('sync-raced', 'run-b')).rejects.toThrow(/sync sync-raced is already running \(run run-other, held by other-host:1/);
      expect(fake.statements().at(-1)).toBe('ROLLBACK');
    } finally {
      await connection.close();
      await warehouse.close();
    }
  });

  it('plans a sync: Snowflake SQL out, upper-case result columns back into changes; a checkpoint is one transaction', async () => {
    const fake = fakeAccount('acme_plan', { chunkRows: 2 });
    const warehouse = await open('acme_plan');
    const spec = syncSpec('customers', 'ANALYTICS.MARTS.CUSTOMERS', { mode: 'mirror', primary_key: 'id', fields: { email: 'email', score: 'score' } });
    fake
      .on(/^SELECT \* FROM ANALYTICS\.MARTS\.CUSTOMERS LIMIT 0$/, {
        columns: [{ name: 'ID', type: 'fixed' }, { name: 'EMAIL', type: 'text' }, { name: 'SCORE', type: 'fixed', scale: 2 }],
        rows: [],
      })
      .on(/^SELECT count\(\*\) AS n FROM ANALYTICS\.MARTS\.CUSTOMERS$/, { columns: [{ name: 'N', type: 'fixed' }], rows: [['2']] })
      .on(/^CREATE OR REPLACE TEMPORARY TABLE "activate_plan_/, statusResult('Table ACTIVATE_PLAN successfully created.'))
      .on(/^SELECT __op AS op, count\(\*\) AS n, count\(__key\) AS keyed, count\(DISTINCT __key\) AS keys FROM "activate_plan_/, {
        columns: ['OP', 'N', 'KEYED', 'KEYS'].map((name, i) => ({ name, type: i === 0 ? ('text' as const) : ('fixed' as const) })),
        rows: [['added', '2', '2', '2'], ['removed', '1', '1', '1']],
      })
      .on(/^SELECT count\(\*\) AS n FROM "ACTIVATE"\."ACTIVATE_STATE" WHERE sync_id = :1$/, { columns: [{ name: 'N', type: 'fixed' }], rows: [['1']] })
      .on(/^SELECT count\(\*\) AS n FROM "ACTIVATE"\."ACTIVATE_REJECTIONS" WHERE sync_id = :1$/, { columns: [{ name: 'N', type: 'fixed' }], rows: [['1']] })
      // The values last sent are joined in only when sending starts, from a second temporary table.
      .on(/^SELECT \* FROM \(SELECT p\.\*, x\.__sent FROM "activate_plan_\w+" AS p LEFT JOIN "activate_plan_\w+_sent" AS x/, {
        columns: [
          ...['__OP', '__KEY', '__HASH', '__DESTINATION_ID', 'F0'].map((name) => ({ name, type: 'text' as const })),
          { name: 'F1', type: 'fixed', scale: 2 },
          { name: '__SENT', type: 'text' },
        ],
        rows: [
          ['removed', '9', 'h9', 'd-9', null, null, '{"email":"gone@x.com","score":1}'],
          ['added', '1', 'h1', null, 'a@x.com', '0.50', null],
          ['added', '2', 'h2', null, 'b@x.com', '9999999999999999.99', null],
        ],
      })
      .on(/^DROP TABLE IF EXISTS "activate_plan_/, statusResult())
      .on(/^(MERGE INTO|DELETE FROM) "ACTIVATE"\."ACTIVATE_/, dmlResult({ 'number of rows inserted': 1 }));

    const stateConnection = await warehouse.connect();
    const store = new StateStore(stateConnection, warehouse.dialect, 'activate');
    const plan = await planSync(spec, warehouse, { state: store, allowLargeChanges: true });
    expect(plan.counts).toMatchObject({ added: 2, changed: 0, removed: 1, modelRows: 2, syncedRecords: 1 });
    const changes = [];
    for await (const batch of plan.changes(10)) changes.push(batch.map((c) => ({ kind: c.kind, key: c.key, fields: c.fields, previous: c.previous })));
    await plan.close();
    expect(changes).toEqual([
      [{ kind: 'removed', key: '9', fields: { email: 'gone@x.com', score: 1 }, previous: { email: 'gone@x.com', score: 1 } }],
      [
        { kind: 'added', key: '1', fields: { email: 'a@x.com', score: 0.5 }, previous: null },
        { kind: 'added', key: '2', fields: { email: 'b@x.com', score: '9999999999999999.99' }, previous: null },
      ],
    ]);
    const [ctas, sent] = fake.queries.filter((q) => q.sql.startsWith('CREATE OR REPLACE TEMPORARY TABLE'));
    expect(ctas!.binds).toEqual([spec.id]);
    expect(ctas!.sql).toContain('FROM ANALYTICS.MARTS.CUSTOMERS');
    expect(ctas!.sql).toContain('MD5(');
    // The key check came from the change set's counts: the model was not scanned a second time.
    expect(fake.queries.some((q) => q.sql.startsWith('SELECT count(*) AS total'))).toBe(false);
    expect(sent!.sql).toContain('FROM "ACTIVATE"."ACTIVATE_STATE" WHERE sync_id = :1');

    await store.commit(spec.id, 'run-1', {
      upserted: [{ key: '1', hash: 'h1', sentValues: '{"email":"a@x.com"}', destinationId: 'd-1' }],
      deleted: ['9'],
      rejected: [],
      changelog: [],
    });
    await stateConnection.close();
    const state = fake.queries.filter((q) => q.session === fake.queries.find((x) => x.sql.startsWith('MERGE'))!.session).map((q) => q.sql);
    expect(state.slice(-6).map((s) => s.split(' ').slice(0, 3).join(' '))).toEqual([
      // Whether the sync has rejections to clear is asked once, outside the checkpoint's transaction.
      'SELECT count(*) AS',
      'BEGIN',
      'MERGE INTO "ACTIVATE"."ACTIVATE_STATE"',
      'DELETE FROM "ACTIVATE"."ACTIVATE_STATE"',
      'DELETE FROM "ACTIVATE"."ACTIVATE_REJECTIONS"',
      'COMMIT',
    ]);
    const merge = fake.queries.find((q) => q.sql.startsWith('MERGE INTO "ACTIVATE"."ACTIVATE_STATE"'))!;
    expect(merge.binds.slice(0, 2)).toEqual([spec.id, 'run-1']);
    expect(JSON.parse(merge.binds[2]!)).toEqual([{ k: '1', h: 'h1', v: '{"email":"a@x.com"}', d: 'd-1' }]);
    await warehouse.close();
  });
});
