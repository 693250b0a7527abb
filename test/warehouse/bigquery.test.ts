/**
 * The BigQuery adapter with the real @google-cloud/bigquery client (and google-auth-library)
 * against the REST fake (test/twins/bigquery-fake.ts): credentials from the profile, jobs with
 * labels/location/timeout, sessions for temporary tables, paged results, exact values, state
 * writes as one script job per checkpoint, the planner over the wire, and the errors a user
 * meets first. No request leaves the process: nock refuses every host but 127.0.0.1.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, WarehouseError } from '../../src/errors.js';
import { planSync } from '../../src/plan/planner.js';
import { StateStore } from '../../src/state/state-store.js';
import { openWarehouse } from '../../src/warehouse/registry.js';
import type { Warehouse } from '../../src/warehouse/types.js';
import { makeTempDir } from '../support/fixtures.js';
import { BigQueryFake, type FakeField } from '../twins/bigquery-fake.js';
import { syncSpec } from './specs.js';

const unmatched: string[] = [];
const temp = makeTempDir('bigquery');
const rsa = () =>
  generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const serviceAccount = rsa();
const EMAIL = 'activate@acme-data.iam.gserviceaccount.com';
const key = {
  type: 'service_account',
  project_id: 'acme-data',
  private_key_id: 'k1',
  private_key: serviceAccount.privateKey,
  client_email: EMAIL,
  client_id: '1234',
  token_uri: 'https://oauth2.googleapis.com/token',
};
const keyfile = join(temp.dir, 'sa.json');
writeFileSync(keyfile, JSON.stringify(key));

let fake: BigQueryFake;
const savedEnv = { ...process.env };

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  nock.emitter.on('no match', (req: { method?: string; href?: string; path?: string; options?: { href?: string } }) =>
    unmatched.push(`${req.method ?? ''} ${req.href ?? req.options?.href ?? req.path ?? ''}`),
  );
  fake = new BigQueryFake({
    serviceAccounts: [{ client_email: EMAIL, publicKey: serviceAccount.publicKey }],
    refreshTokens: [{ client_id: 'desktop-client', refresh_token: '1//refresh' }],
    datasets: { 'acme-data.marts': 'EU' },
  });
});
afterEach(() => {
  process.env = { ...savedEnv };
});
afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
  temp.remove();
});

const output = (extra: Record<string, unknown> = {}) => ({
  type: 'bigquery',
  method: 'service-account',
  keyfile,
  project: 'acme-data',
  dataset: 'marts',
  job_retries: 0,
  ...extra,
});
const open = (extra: Record<string, unknown> = {}) =>
  openWarehouse({ file: 'profiles.yml', profile: 'shop', target: 'prod', output: output(extra) }, temp.dir);

async function failure(promise: Promise<unknown>): Promise<WarehouseError | ConfigError> {
  try {
    await promise;
  } catch (error) {
    return error as WarehouseError;
  }
  throw new Error('expected a failure');
}

const jobsSince = (n: number) => fake.jobs.slice(n);

describe('bigquery: credentials from the profile', () => {
  it("the client's traffic goes to the fake (token, datasets.get), and a host without a fake is refused before the network", async () => {
    const warehouse = await open();
    await warehouse.close();
    expect(fake.tokenRequests.at(-1)).toMatchObject({ grant: 'urn:ietf:params:oauth:grant-type:jwt-bearer', principal: EMAIL, ok: true });
    expect(fake.tokenRequests.at(-1)!.scope).toBe(
      'https://www.googleapis.com/auth/bigquery https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/drive',
    );
    expect(warehouse.description).toBe('bigquery (profile shop, target prod, project acme-data, dataset marts)');

    const error = await failure(open({ api_endpoint: 'https://bigquery.nowhere.example' }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/cannot reach BigQuery at https:\/\/bigquery\.nowhere\.example or Google's token service/);
    expect(unmatched.some((u) => u.includes('bigquery.nowhere.example'))).toBe(true);
  });

  it('service-account-json (keyfile_json), with the "\\n" escapes a YAML paste often keeps', async () => {
    const before = fake.tokenRequests.length;
    const warehouse = await open({ method: 'service-account-json', keyfile: undefined, keyfile_json: { ...key, private_key: key.private_key.replaceAll('\n', '\\n') } });
    await warehouse.close();
    expect(fake.tokenRequests.slice(before)).toEqual([expect.objectContaining({ principal: EMAIL, ok: true })]);
  });

  it('oauth: application-default credentials (GOOGLE_APPLICATION_CREDENTIALS), project from the key', async () => {
    process.env.GOOGLE_APPLICATION_CREDENTIALS = keyfile;
    const warehouse = await open({ method: 'oauth', keyfile: undefined, project: undefined });
    await warehouse.close();
    expect(warehouse.description).toBe('bigquery (profile shop, target prod, project acme-data, dataset marts)');
  });

  it('oauth-secrets with an access token only', async () => {
    fake.tokens.set('ya29.given-by-ci', 'user:ci');
    const start = fake.jobs.length;
    const warehouse = await open({ method: 'oauth-secrets', keyfile: undefined, token: 'ya29.given-by-ci' });
    fake.on('SELECT 2 AS two', { schema: [{ name: 'two', type: 'INTEGER' }], rows: [['2']] });
    const connection = await warehouse.connect();
    expect(await connection.query('SELECT 2 AS two')).toEqual([{ two: 2 }]);
    await connection.close();
    await warehouse.close();
    expect(jobsSince(start)[0]).toMatchObject({ principal: 'user:ci' });
  });

  it('oauth-secrets with a refresh token (an authorized user)', async () => {
    const before = fake.tokenRequests.length;
    const warehouse = await open({ method: 'oauth-secrets', keyfile: undefined, refresh_token: '1//refresh', client_id: 'desktop-client', client_secret: 's' });
    await warehouse.close();
    expect(fake.tokenRequests.slice(before)).toEqual([expect.objectContaining({ grant: 'refresh_token', principal: 'user:desktop-client', ok: true })]);
  });
});

describe('bigquery: jobs, sessions, pages and values', () => {
  let warehouse: Warehouse;
  beforeAll(async () => {
    warehouse = await open({ job_execution_timeout_seconds: 600, priority: 'batch', maximum_bytes_billed: 5_000_000_000 });
  });
  afterAll(() => warehouse.close());

  it('every job carries the labels, the location of the profile dataset, the job timeout, priority and byte cap', async () => {
    fake.on('SELECT 1 AS one', { schema: [{ name: 'one', type: 'INTEGER' }], rows: [['1']] });
    const start = fake.jobs.length;
    const connection = await warehouse.connect();
    try {
      expect(await connection.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await connection.close();
    }
    expect(jobsSince(start)[0]).toMatchObject({
      via: 'jobs.insert',
      location: 'EU',
      labels: { application: 'dbt-activate', dbt_target: 'prod' },
      jobTimeoutMs: '600000',
      priority: 'BATCH',
      maximumBytesBilled: '5000000000',
      principal: EMAIL,
    });
  });

  it('one BigQuery session per connection: created by the first job, named by the next, ended on close', async () => {
    fake.on(/^CREATE OR REPLACE TEMP TABLE `t1`/, { schema: [], rows: [] });
    fake.on(/^SELECT \* FROM `t1`/, { schema: [{ name: 'x', type: 'STRING' }], rows: [['a']] });
    const start = fake.jobs.length;
    const a = await warehouse.connect();
    const b = await warehouse.connect();
    await a.execute('CREATE OR REPLACE TEMP TABLE `t1` AS SELECT 1');
    await a.query('SELECT * FROM `t1`');
    await b.query('SELECT * FROM `t1`');
    const [create, readA, readB] = jobsSince(start);
    expect(create).toMatchObject({ createdSession: true });
    expect(readA).toMatchObject({ createdSession: false, sessionId: create!.sessionId });
    expect(readB!.sessionId).not.toBe(create!.sessionId);
    expect(fake.sessions.has(create!.sessionId!)).toBe(true);
    await a.close();
    await b.close();
    expect(fake.jobs.at(-1)!.sql).toBe('CALL BQ.ABORT_SESSION()');
    expect(fake.sessions.has(create!.sessionId!)).toBe(false);
  });

  it('reads every kind of value exactly, from the REST cells (no client-side conversion)', async () => {
    const schema: FakeField[] = [
      { name: 'i', type: 'INTEGER' },
      { name: 'big', type: 'INTEGER' },
      { name: 'num', type: 'NUMERIC' },
      { name: 'bignum', type: 'BIGNUMERIC' },
      { name: 'f', type: 'FLOAT' },
      { name: 's', type: 'STRING' },
      { name: 'b', type: 'BOOLEAN' },
      { name: 'd', type: 'DATE' },
      { name: 'dt', type: 'DATETIME' },
      { name: 'ts', type: 'TIMESTAMP' },
      { name: 'j', type: 'JSON' },
      { name: 'bytes', type: 'BYTES' },
      { name: 'tags', type: 'STRING', mode: 'REPEATED' },
      { name: 'rec', type: 'RECORD', fields: [{ name: 'n', type: 'INTEGER' }] },
      { name: 'nul', type: 'STRING' },
    ];
    fake.on('FROM typed', {
      schema,
      rows: [
        [
          '42',
          '9007199254740993',
          '12.5',
          '123456789012345678.12',
          '1.5',
          'ünï "q" \\ |~',
          'true',
          '2024-02-29',
          '2024-01-02T03:04:05.123456',
          '1704157445500000',
          '{"a":[1,2],"b":"x"}',
          'aGk=',
          [{ v: 'x' }, { v: 'y' }],
          { f: [{ v: '18446744073709551615' }] },
          null,
        ],
      ],
    });
    const connection = await warehouse.connect();
    try {
      expect(await connection.query('SELECT * FROM typed')).toEqual([
        {
          i: 42,
          big: '9007199254740993',
          num: 12.5,
          bignum: '123456789012345678.12',
          f: 1.5,
          s: 'ünï "q" \\ |~',
          b: true,
          d: '2024-02-29',
          dt: '2024-01-02T03:04:05.123456Z',
          ts: '2024-01-02T01:04:05.500Z',
          j: { a: [1, 2], b: 'x' },
          bytes: 'aGk=',
          tags: ['x', 'y'],
          rec: { n: '18446744073709551615' },
          nul: null,
        },
      ]);
      expect(await connection.describe('SELECT * FROM typed')).toEqual(schema.map((f) => f.name));
    } finally {
      await connection.close();
    }
  });

  it('streams one job in pages of the batch size (maxResults, pageToken), waiting while the job runs; stopping early reads no more pages', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => [String(i + 1)]);
    fake.on('FROM series', { schema: [{ name: 'i', type: 'INTEGER' }], rows }, { pendingPolls: 2 });
    const connection = await warehouse.connect();
    try {
      const start = fake.jobs.length;
      const sizes: number[] = [];
      for await (const batch of connection.stream('SELECT i FROM series', [], 4)) sizes.push(batch.length);
      expect(sizes).toEqual([4, 4, 2]);
      const job = jobsSince(start)[0]!;
      expect(fake.jobs.filter((j) => j.sql === 'SELECT i FROM series')).toHaveLength(1);
      expect(job.resultReads).toBe(3);

      fake.on('FROM again', { schema: [{ name: 'i', type: 'INTEGER' }], rows });
      for await (const batch of connection.stream('SELECT i FROM again', [], 3)) {
        expect(batch.map((r) => r.i)).toEqual([1, 2, 3]);
        break;
      }
      expect(fake.jobs.at(-1)!.resultReads).toBe(1);
    } finally {
      await connection.close();
    }
  });

  it('passes parameters by name with their types; NULL is typed so BigQuery accepts it', async () => {
    fake.on(/^UPDATE params/, { schema: [], rows: [], numDmlAffectedRows: 1 });
    const connection = await warehouse.connect();
    try {
      await connection.execute('UPDATE params SET a = @p1, b = @p2, c = @p3, d = @p4 WHERE e = @p5', ['text', 7, true, null, 1.5]);
    } finally {
      await connection.close();
    }
    const job = fake.jobs.find((j) => j.sql.startsWith('UPDATE params'))!;
    expect(job.params).toEqual({ p1: 'text', p2: 7, p3: true, p4: null, p5: 1.5 });
    expect(job.paramTypes).toEqual({ p1: 'STRING', p2: 'INT64', p3: 'BOOL', p4: 'STRING', p5: 'FLOAT64' });
  });

  it('a transaction is one script job: BEGIN TRANSACTION, the statements with their own parameters, COMMIT, ROLLBACK on error', async () => {
    fake.on(/^BEGIN\n/, { schema: [], rows: [] });
    // Whether the sync has rejections to clear is asked once, before the checkpoint's transaction.
    fake.on(/^SELECT count\(\*\) AS n FROM `acme-data`\.`activate`\.`activate_rejections`/, { schema: [{ name: 'n', type: 'INTEGER' }], rows: [['1']] });
    const connection = await warehouse.connect();
    const store = new StateStore(connection, warehouse.dialect, 'activate');
    const start = fake.jobs.length;
    try {
      await store.commit('sync-1', 'run-1', {
        upserted: [{ key: '1', hash: 'h1', sentValues: '{"email":"a@x.com"}', destinationId: null }],
        deleted: ['9'],
        rejected: [{ key: '7', operation: 'upsert', code: 'INVALID', error: 'bad email', retryable: false }],
        changelog: [],
      });
    } finally {
      await connection.close();
    }
    const [question, script, ...rest] = jobsSince(start);
    expect(question!.sql).toMatch(/^SELECT count\(\*\) AS n FROM `acme-data`\.`activate`\.`activate_rejections`/);
    expect(rest.map((j) => j.sql)).toEqual(['CALL BQ.ABORT_SESSION()']);
    const lines = script!.sql.split('\n').map((l) => l.trim());
    expect(lines.slice(0, 2)).toEqual(['BEGIN', 'BEGIN TRANSACTION;']);
    expect(lines.slice(2, 6).map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual([
      'MERGE INTO `acme-data`.`activate`.`activate_state`',
      'DELETE FROM `acme-data`.`activate`.`activate_state`',
      'DELETE FROM `acme-data`.`activate`.`activate_rejections`',
      'INSERT INTO `acme-data`.`activate`.`activate_rejections`',
    ]);
    expect(lines.slice(6)).toEqual(['COMMIT TRANSACTION;', 'EXCEPTION WHEN ERROR THEN', 'ROLLBACK TRANSACTION;', 'RAISE USING MESSAGE = @@error.message;', 'END;']);
    expect(lines[2]).toContain('SELECT @s1_p1 AS `sync_id`, r.k AS `record_key`');
    expect(script!.params).toMatchObject({ s1_p1: 'sync-1', s1_p2: 'run-1', s2_p1: 'sync-1', s3_p1: 'sync-1', s4_p1: 'run-1', s4_p2: 'sync-1' });
    expect(JSON.parse(String(script!.params.s1_p3))).toEqual([{ k: '1', h: 'h1', v: '{"email":"a@x.com"}', d: null }]);
    expect(JSON.parse(String(script!.params.s3_p2))).toEqual([{ k: '1' }, { k: '9' }]);
  });

  it('a transaction whose work throws sends nothing; a read inside one first commits the writes before it', async () => {
    fake.on(/^BEGIN\n/, { schema: [], rows: [] });
    fake.on('SELECT 1 AS one', { schema: [{ name: 'one', type: 'INTEGER' }], rows: [['1']] });
    const connection = await warehouse.connect();
    const start = fake.jobs.length;
    try {
      await expect(
        connection.transaction(async () => {
          await connection.execute('DELETE FROM x WHERE TRUE');
          throw new Error('lost');
        }),
      ).rejects.toThrow('lost');
      expect(jobsSince(start)).toEqual([]);
      await connection.transaction(async () => {
        await connection.execute('DELETE FROM a WHERE k = @p1', ['1']);
        await connection.execute('DELETE FROM b WHERE k = @p1', ['2']);
        await connection.query('SELECT 1 AS one');
        await connection.execute('DELETE FROM c WHERE k = @p1', ['3']);
      });
    } finally {
      await connection.close();
    }
    const sent = jobsSince(start).map((j) => j.sql.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('DELETE') || l.startsWith('SELECT')));
    expect(sent).toEqual([
      ['DELETE FROM a WHERE k = @s1_p1;', 'DELETE FROM b WHERE k = @s2_p1;'],
      ['SELECT 1 AS one'],
      ['DELETE FROM c WHERE k = @s1_p1;'],
      [],
    ]);
  });

  it("takes a sync's lease: insert-if-absent in one script, then reads back who holds it", async () => {
    const holders = new Map<string, string>();
    fake.on(/^SELECT run_id, holder, expires_at FROM `acme-data`\.`activate`\.`activate_locks`/, (job) => {
      const runId = holders.get(String(job.params.p1));
      return {
        schema: ['run_id', 'holder', 'expires_at'].map((name) => ({ name, type: name === 'expires_at' ? 'TIMESTAMP' : 'STRING' })),
        rows: runId ? [[runId, 'other-host:1', String((Date.now() + 600_000) * 1000)]] : [],
      };
    });
    fake.on(/^BEGIN\n {2}BEGIN TRANSACTION;\n {2}MERGE INTO `acme-data`\.`activate`\.`activate_locks`/, (job) => {
      const syncId = String(job.params.s1_p1);
      // 'sync-raced': another run's insert landed first, so this one inserts nothing.
      if (!holders.has(syncId)) holders.set(syncId, syncId === 'sync-raced' ? 'run-other' : String(job.params.s1_p2));
      return { schema: [], rows: [] };
    });
    const connection = await warehouse.connect();
    const store = new StateStore(connection, warehouse.dialect, 'activate');
    const start = fake.jobs.length;
    try {
      const lease = await store.acquireLease('sync-lease', 'run-a');
      expect(lease.runId).toBe('run-a');
      const script = jobsSince(start)[1]!;
      expect(script.sql).toContain('WHEN NOT MATCHED THEN INSERT (`sync_id`, `run_id`, `holder`, `acquired_at`, `expires_at`)');
      expect(script.sql).not.toContain('WHEN MATCHED');
      // Free when looked at, taken by another run by the time of the insert: the read-back refuses it.
      await expect(store.acquireLease('sync-raced', 'run-b')).rejects.toThrow(/sync sync-raced is already running \(run run-other, held by other-host:1/);
    } finally {
      await connection.close();
    }
  });

  it('DDL in a transaction (a migration step) runs as a plain script: BigQuery has no DDL in transactions', async () => {
    fake.on(/^CREATE TABLE IF NOT EXISTS `acme-data`\.`activate`\.`a`;/, { schema: [], rows: [] });
    const connection = await warehouse.connect();
    const start = fake.jobs.length;
    try {
      await connection.transaction(async () => {
        await connection.execute('CREATE TABLE IF NOT EXISTS `acme-data`.`activate`.`a` (x INT64)');
        await connection.execute('INSERT INTO `acme-data`.`activate`.`a` VALUES (@p1)', [1]);
      });
    } catch {
      // The fake has no handler for this exact text: what matters is what was sent.
    } finally {
      await connection.close();
    }
    expect(jobsSince(start)[0]!.sql).toBe(
      'CREATE TABLE IF NOT EXISTS `acme-data`.`activate`.`a` (x INT64);\nINSERT INTO `acme-data`.`activate`.`a` VALUES (@s2_p1);',
    );
  });

  it('reports a failed job with its reason and id', async () => {
    fake.on('FROM broken', { error: { code: 400, reason: 'invalidQuery', message: 'Syntax error: Unexpected identifier "FROMM" at [1:10]' } });
    const connection = await warehouse.connect();
    try {
      const error = await failure(connection.query('SELECT * FROM broken'));
      expect(error).toBeInstanceOf(WarehouseError);
      expect(error.message).toMatch(/^BigQuery: Syntax error: Unexpected identifier "FROMM" at \[1:10\] \(invalidQuery, job [0-9a-f-]{36}\)$/);
    } finally {
      await connection.close();
    }
  });
});

describe('bigquery: the fake also serves the jobs.query fast path the client uses for plain queries', () => {
  it('jobs.query answers the first page with a job reference; getQueryResults pages the rest', async () => {
    const { BigQuery } = await import('@google-cloud/bigquery');
    const client = new BigQuery({ projectId: 'acme-data', credentials: key, location: 'EU' });
    fake.on('FROM fast', { schema: [{ name: 'n', type: 'INTEGER' }], rows: [['1'], ['2'], ['3']] });
    const [rows] = await client.query({ query: 'SELECT n FROM fast WHERE n > @min', params: { min: 0 }, maxResults: 2, location: 'EU' });
    expect(rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const job = fake.jobs.at(-1)!;
    expect(job).toMatchObject({ via: 'jobs.query', params: { min: 0 }, location: 'EU' });
    // The first page came with the jobs.query answer; the second was read with its pageToken.
    expect(job.resultReads).toBe(1);
  });
});

describe('bigquery: the first errors a user meets are one clear message, exit 2, nothing sent', () => {
  it('a key that is not (or no longer) valid', async () => {
    const other = rsa();
    const start = fake.jobs.length;
    const error = await failure(open({ method: 'service-account-json', keyfile: undefined, keyfile_json: { ...key, private_key: other.privateKey } }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(
      'bigquery (profile shop, target prod, project acme-data, dataset marts): the credentials were refused (invalid_grant: Invalid JWT Signature.): ' +
        'check the service account key or token for this target (a deleted key or revoked token is refused)',
    );
    expect(error.message).not.toContain('PRIVATE KEY');
    expect(fake.jobs.length).toBe(start);
  });

  it('a key file that is missing', async () => {
    const error = await failure(open({ keyfile: 'missing.json' }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(`profiles.yml: shop.outputs.prod.keyfile: cannot read ${join(temp.dir, 'missing.json')}: ENOENT`);
  });

  it('an unreachable API', async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    await new Promise((done) => server.close(done));
    const error = await failure(open({ api_endpoint: `http://127.0.0.1:${port}` }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(
      new RegExp(`^bigquery \\(profile shop, target prod, project acme-data, dataset marts\\): cannot reach BigQuery at http://127\\.0\\.0\\.1:${port} or Google's token service \\(.*ECONNREFUSED.*\\): check the network or proxy, and api_endpoint$`),
    );
  });

  it('a dataset that does not exist', async () => {
    const error = await failure(open({ dataset: 'nope' }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(
      'bigquery (profile shop, target prod, project acme-data, dataset nope): dataset acme-data.nope does not exist (Not found: Dataset acme-data:nope): ' +
        'check project and dataset for this target in profiles.yml (dbt builds models there; run dbt first)',
    );
  });

  it('no application-default credentials for method oauth', async () => {
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    const home = join(temp.dir, 'empty-home');
    mkdirSync(home, { recursive: true });
    process.env.HOME = home;
    process.env.CLOUDSDK_CONFIG = join(home, 'gcloud');
    process.env.METADATA_SERVER_DETECTION = 'none';
    const error = await failure(open({ method: 'oauth', keyfile: undefined }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/method oauth uses application-default credentials and none were found: run `gcloud auth application-default login`/);
  });

  it('permission denied creating the state dataset names the role to grant', async () => {
    const warehouse = await open();
    fake.on(/^CREATE SCHEMA IF NOT EXISTS `acme-data`\.`activate_denied`/, {
      error: { code: 403, reason: 'accessDenied', message: 'Access Denied: Project acme-data: User does not have bigquery.datasets.create permission in project acme-data.' },
    });
    fake.on(/^CREATE TABLE IF NOT EXISTS `acme-data`\.`activate_denied`/, {
      error: { code: 404, reason: 'notFound', message: 'Not found: Dataset acme-data:activate_denied was not found in location EU' },
    });
    const connection = await warehouse.connect();
    try {
      const error = await failure(new StateStore(connection, warehouse.dialect, 'activate_denied').migrate());
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain(
        'cannot create the state schema "activate_denied": bigquery (profile shop, target prod, project acme-data, dataset marts): Access Denied: Project acme-data: ' +
          'User does not have bigquery.datasets.create permission in project acme-data.; grant the account BigQuery Data Editor on project acme-data',
      );
    } finally {
      await connection.close();
      await warehouse.close();
    }
  });
});

describe('bigquery: the planner over the wire', () => {
  it('plans a sync as one diff job into a session temp table, and reads the change set back in pages', async () => {
    const warehouse = await open();
    const relation = '`acme-data`.`marts`.`customers`';
    const spec = syncSpec('customers', relation, { mode: 'upsert', primary_key: 'id', fields: { email: 'email', ltv: 'ltv' } });
    fake
      .on('SELECT * FROM `acme-data`.`marts`.`customers` LIMIT 0', {
        schema: [{ name: 'id', type: 'INTEGER' }, { name: 'email', type: 'STRING' }, { name: 'ltv', type: 'NUMERIC' }],
        rows: [],
      })
      .on('SELECT count(*) AS n FROM `acme-data`.`marts`.`customers`', { schema: [{ name: 'n', type: 'INTEGER' }], rows: [['3']] })
      .on(/^CREATE OR REPLACE TEMP TABLE `activate_plan_/, { schema: [], rows: [] })
      .on(/^SELECT __op AS op, count\(\*\) AS n, count\(__key\) AS keyed, count\(DISTINCT __key\) AS keys FROM `activate_plan_/, {
        schema: ['op', 'n', 'keyed', 'keys'].map((name, i) => ({ name, type: i === 0 ? 'STRING' : 'INTEGER' })),
        rows: [['added', '3', '3', '3']],
      })
      .on(/^SELECT \* FROM \(SELECT \*, CAST\(NULL AS STRING\) AS __sent FROM `activate_plan_\w+` WHERE __op IN \('added', 'changed'\)\) AS c ORDER BY/, {
        schema: [
          ...['__op', '__key', '__hash', '__destination_id', 'f0'].map((name) => ({ name, type: 'STRING' })),
          { name: 'f1', type: 'NUMERIC' },
          { name: '__sent', type: 'STRING' },
        ],
        rows: [
          ['added', '1', 'h1', null, 'a@x.com', '0.5', null],
          ['added', '2', 'h2', null, 'b@x.com', '99999999999999999999.99', null],
          ['added', '3', 'h3', null, 'c@x.com', null, null],
        ],
      })
      .on(/^DROP TABLE IF EXISTS `activate_plan_/, { schema: [], rows: [] });
    const start = fake.jobs.length;
    const plan = await planSync(spec, warehouse, { state: undefined, allowLargeChanges: false });
    expect(plan.counts).toMatchObject({ added: 3, changed: 0, removed: 0, modelRows: 3 });
    const batches = [];
    for await (const batch of plan.changes(2)) batches.push(batch.map((c) => [c.key, c.fields]));
    await plan.close();
    await warehouse.close();
    expect(batches).toEqual([
      [
        ['1', { email: 'a@x.com', ltv: 0.5 }],
        ['2', { email: 'b@x.com', ltv: '99999999999999999999.99' }],
      ],
      [['3', { email: 'c@x.com', ltv: null }]],
    ]);
    const jobs = jobsSince(start);
    const diff = jobs.find((j) => j.sql.startsWith('CREATE OR REPLACE TEMP TABLE'))!;
    expect(jobs.filter((j) => /FROM `acme-data`\.`marts`\.`customers`/.test(j.sql)).map((j) => j.sql.split(' ').slice(0, 3).join(' '))).toEqual([
      'SELECT * FROM',
      'SELECT count(*) AS',
      'CREATE OR REPLACE',
    ]);
    // The model's keys were checked from the change set's counts, not by a second scan.
    expect(jobs.some((j) => j.sql.startsWith('SELECT count(*) AS total'))).toBe(false);
    expect(diff.params).toEqual({ p1: spec.id });
    // Every job of the plan ran in the session the first one created, where the temp table lives.
    expect(new Set(jobs.map((j) => j.sessionId)).size).toBe(1);
    const read = jobs.find((j) => j.sql.startsWith('SELECT * FROM (SELECT *, CAST(NULL AS STRING) AS __sent FROM `activate_plan_'))!;
    expect(read.resultReads).toBe(2);
  });
});
