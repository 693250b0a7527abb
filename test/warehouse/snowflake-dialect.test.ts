/**
 * The Snowflake dialect, profile parsing and value conversion: pure functions, no connection.
 * (The SQL runs against a real account only in snowflake-live.test.ts.)
 */
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { readManifest, type ModelNode } from '../../src/dbt/manifest.js';
import { ConfigError } from '../../src/errors.js';
import { diffQuery } from '../../src/plan/diff-query.js';
import { migrations, stateTables } from '../../src/state/state-tables.js';
import { duckdbDialect } from '../../src/warehouse/duckdb/duckdb-dialect.js';
import { fromDuckDB } from '../../src/warehouse/duckdb/duckdb-values.js';
import { parseSnowflakeOutput, snowflakeOutputSchema } from '../../src/warehouse/snowflake/snowflake-config.js';
import { snowflakeDialect as d, snowflakeName } from '../../src/warehouse/snowflake/snowflake-dialect.js';
import { fromSnowflake } from '../../src/warehouse/snowflake/snowflake-values.js';
import { manifestsDir } from '../support/fixtures.js';

const target = (output: Record<string, unknown>) => ({
  file: 'profiles.yml',
  profile: 'shop',
  target: 'prod',
  output: { type: 'snowflake', account: 'xy12345.eu-central-1', user: 'activate', database: 'analytics', schema: 'marts', ...output },
});

describe('snowflake dialect: names', () => {
  it('quotes identifiers exactly, and folds names the user wrote unquoted to upper case', () => {
    expect(d.quote('Email "x"')).toBe('"Email ""x"""');
    expect(d.quote('email')).toBe('"email"');
    expect(snowflakeName('activate_state')).toBe('"ACTIVATE_STATE"');
    expect(snowflakeName('My Schema')).toBe('"My Schema"');
    expect(d.table('activate', 'activate_state')).toBe('"ACTIVATE"."ACTIVATE_STATE"');
    expect(d.table('activate', 'activate_state', 'analytics')).toBe('"ANALYTICS"."ACTIVATE"."ACTIVATE_STATE"');
    // CREATE SCHEMA names the same schema the tables are created in.
    expect(d.schema!('activate')).toBe('"ACTIVATE"');
    expect(d.schema!('activate', 'analytics')).toBe('"ANALYTICS"."ACTIVATE"');
  });

  it("uses the manifest's relation_name verbatim, and builds dbt-snowflake's unquoted name when it is missing", async () => {
    const manifest = await readManifest(join(manifestsDir, 'v12_dbterd-jaffle-shop-snowflake_manifest.json'));
    const model = manifest.models.find((m) => m.name === 'stg_customers')!;
    expect(d.modelRelation(model)).toBe('shaman.dummy.stg_customers');
    const bare: ModelNode = { ...model, relationName: undefined };
    expect(d.modelRelation(bare)).toBe('"SHAMAN"."DUMMY"."STG_CUSTOMERS"');
  });

  it('escapes backslashes and quotes in literals (Snowflake reads \\ as an escape)', () => {
    expect(d.literal("it's a\\b")).toBe("'it''s a\\\\b'");
  });

  it('numbers parameters :1, :2 so a statement can use one twice', () => {
    expect(d.param(1)).toBe(':1');
    expect(d.param(12)).toBe(':12');
  });
});

describe('snowflake dialect: hashing and keys', () => {
  it('writes the shared canonical text: length-prefixed VARCHAR, ~ for NULL, md5 hex', () => {
    expect(d.canonicalText('"EMAIL"')).toBe(`COALESCE(CAST(LENGTH(CAST("EMAIL" AS VARCHAR)) AS VARCHAR) || ':' || CAST("EMAIL" AS VARCHAR), '~')`);
    expect(d.md5("'a'")).toBe("MD5('a')");
    expect(d.concat(["'a'", "'b'"])).toBe("'a' || 'b'");
  });

  it('keys: the value as text, or a JSON array of texts for composite keys, NULL when any part is NULL', () => {
    expect(d.recordKey(['"ID"'])).toBe('CAST("ID" AS VARCHAR)');
    expect(d.recordKey(['"A"', '"B"'])).toBe(
      'CASE WHEN "A" IS NULL OR "B" IS NULL THEN NULL ELSE TO_JSON(ARRAY_CONSTRUCT(CAST("A" AS VARCHAR), CAST("B" AS VARCHAR))) END',
    );
  });

  it('the diff query uses Snowflake placeholders and functions only', () => {
    const sql = diffQuery(d, {
      relation: 'analytics.marts.customers',
      keyColumns: ['ID'],
      valueColumns: ['EMAIL'],
      fingerprint: 'fp',
      mode: 'mirror',
      stateTable: d.table('activate', 'activate_state'),
    });
    expect(sql).toContain('FROM "ACTIVATE"."ACTIVATE_STATE" WHERE sync_id = :1');
    expect(sql).toContain(`MD5('fp|' || COALESCE(`);
    expect(sql).toContain('FULL OUTER JOIN');
    expect(sql).not.toMatch(/\$\d|::JSON|ON CONFLICT/);
  });
});

describe('snowflake dialect: state writes', () => {
  it('upserts with MERGE, naming the source columns by position', () => {
    const sql = d.upsert(
      '"ACTIVATE"."ACTIVATE_SYNCS"',
      ['sync_id', 'fingerprint', 'updated_at'],
      ['sync_id'],
      'SELECT :1, :2, CURRENT_TIMESTAMP()',
    );
    expect(sql).toBe(
      'MERGE INTO "ACTIVATE"."ACTIVATE_SYNCS" AS t USING (SELECT :1 AS "SYNC_ID", :2 AS "FINGERPRINT", CURRENT_TIMESTAMP() AS "UPDATED_AT") AS s ' +
        'ON t."SYNC_ID" = s."SYNC_ID" WHEN MATCHED THEN UPDATE SET "FINGERPRINT" = s."FINGERPRINT", "UPDATED_AT" = s."UPDATED_AT" ' +
        'WHEN NOT MATCHED THEN INSERT ("SYNC_ID", "FINGERPRINT", "UPDATED_AT") VALUES (s."SYNC_ID", s."FINGERPRINT", s."UPDATED_AT")',
    );
  });

  it('reads a JSON array parameter as rows with FLATTEN, with names the outer query can use unquoted', () => {
    const rows = d.jsonRows(3, [
      { name: 'k', type: 'text' },
      { name: 'at', type: 'timestamp' },
    ]);
    expect(rows).toBe(
      `(SELECT GET(f.value, 'k')::VARCHAR AS "K", TO_TIMESTAMP_TZ(GET(f.value, 'at')::VARCHAR) AS "AT" FROM TABLE(FLATTEN(INPUT => PARSE_JSON(:3))) AS f)`,
    );
    // The state store's commit: the MERGE source keeps the JSON rows and the parameters in order.
    const merge = d.upsert('"S"', ['sync_id', 'record_key', 'synced_at'], ['sync_id', 'record_key'], `SELECT :1, r.k, CURRENT_TIMESTAMP() FROM ${rows} AS r`);
    expect(merge).toContain(`USING (SELECT :1 AS "SYNC_ID", r.k AS "RECORD_KEY", CURRENT_TIMESTAMP() AS "SYNCED_AT" FROM ${rows} AS r) AS s`);
  });

  it('inserts a key only when absent (the lease row), and declares keys as Snowflake accepts', () => {
    expect(d.insertIfAbsent!('"L"', ['sync_id', 'run_id'], ['sync_id'], 'SELECT :1, :2')).toBe(
      'MERGE INTO "L" AS t USING (SELECT :1 AS "SYNC_ID", :2 AS "RUN_ID") AS s ON t."SYNC_ID" = s."SYNC_ID" ' +
        'WHEN NOT MATCHED THEN INSERT ("SYNC_ID", "RUN_ID") VALUES (s."SYNC_ID", s."RUN_ID")',
    );
    expect(d.primaryKey!(['sync_id', 'record_key'])).toBe('PRIMARY KEY ("SYNC_ID", "RECORD_KEY")');
  });

  it('finds the state tables by the names Snowflake stores (upper case for plain names)', () => {
    expect(d.tableExists(1, 2)).toBe(
      "SELECT COUNT(*) AS n FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = IFF(REGEXP_LIKE(:1, '[A-Za-z_][A-Za-z0-9_$]*'), UPPER(:1), :1) " +
        "AND TABLE_NAME = IFF(REGEXP_LIKE(:2, '[A-Za-z_][A-Za-z0-9_$]*'), UPPER(:2), :2)",
    );
  });

  it('the state DDL uses Snowflake types', () => {
    const ddl = migrations(d, stateTables(d, 'activate')).flat().join('\n');
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS "ACTIVATE"."ACTIVATE_STATE"');
    expect(ddl).toMatch(/synced_at TIMESTAMP_TZ NOT NULL/);
    expect(ddl).not.toMatch(/TIMESTAMPTZ|\bJSON\b/);
  });

  it('plans into a session temporary table', () => {
    expect(d.createTempTableAs('activate_plan_1', 'SELECT 1')).toBe('CREATE OR REPLACE TEMPORARY TABLE "activate_plan_1" AS SELECT 1');
  });
});

describe('the dialect members added for Snowflake and BigQuery, on DuckDB', () => {
  it('keep the SQL DuckDB had, and insertIfAbsent leaves an existing key alone', async () => {
    expect(duckdbDialect.schema!('activate')).toBe('"activate"');
    expect(duckdbDialect.primaryKey!(['a', 'b'])).toBe('PRIMARY KEY ("a", "b")');
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      await connection.run('CREATE TABLE locks (sync_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, PRIMARY KEY (sync_id))');
      const insert = duckdbDialect.insertIfAbsent!('locks', ['sync_id', 'run_id'], ['sync_id'], 'SELECT $1, $2');
      await connection.run(insert, ['s', 'first']);
      await connection.run(insert, ['s', 'second']);
      const reader = await connection.runAndReadAll('SELECT sync_id, run_id FROM locks');
      expect(reader.getRows().map((r) => r.map(fromDuckDB))).toEqual([['s', 'first']]);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});

describe('snowflake profile (dbt-snowflake outputs)', () => {
  it('password auth; the account host has hyphens for underscores; query_tag defaults to dbt-activate', () => {
    const config = parseSnowflakeOutput(target({ account: 'myorg-my_account', password: 'pw', warehouse: 'transforming', role: 'reporter' }));
    expect(config).toMatchObject({
      account: 'myorg-my_account',
      accessUrl: 'https://myorg-my-account.snowflakecomputing.com',
      user: 'activate',
      auth: { kind: 'password', password: 'pw' },
      database: 'analytics',
      schema: 'marts',
      warehouse: 'transforming',
      role: 'reporter',
      queryTag: 'dbt-activate',
      connectRetries: 1,
    });
  });

  it('keeps a query_tag, host, port and the account with region; reads numbers rendered from env vars', () => {
    const config = parseSnowflakeOutput(target({ password: 'pw', query_tag: 'nightly', host: 'sf.internal.example.com', port: '8443', connect_retries: '0' }));
    expect(config).toMatchObject({ account: 'xy12345.eu-central-1', accessUrl: 'https://sf.internal.example.com:8443', queryTag: 'nightly', connectRetries: 0 });
    expect(parseSnowflakeOutput(target({ password: 'pw' })).accessUrl).toBe('https://xy12345.eu-central-1.snowflakecomputing.com');
  });

  it('key pair from private_key_path or private_key (with passphrase); both at once is an error', () => {
    expect(parseSnowflakeOutput(target({ private_key_path: '~/.ssh/sf.p8', private_key_passphrase: 'secret' })).auth).toEqual({
      kind: 'keypair',
      privateKeyPath: '~/.ssh/sf.p8',
      passphrase: 'secret',
    });
    expect(parseSnowflakeOutput(target({ private_key: 'MIIEvQ...' })).auth).toEqual({ kind: 'keypair', privateKey: 'MIIEvQ...' });
    // The key wins over a password, as in dbt-snowflake.
    expect(parseSnowflakeOutput(target({ private_key_path: 'k.p8', password: 'pw' })).auth.kind).toBe('keypair');
    expect(() => parseSnowflakeOutput(target({ private_key: 'x', private_key_path: 'y' }))).toThrow(
      /profiles\.yml: shop\.outputs\.prod: private_key: set either private_key or private_key_path, not both/,
    );
  });

  it('names interactive authenticators as not supported in CI/headless runs, with what to use instead', () => {
    for (const authenticator of ['externalbrowser', 'username_password_mfa', 'https://acme.okta.com']) {
      let error: unknown;
      try {
        parseSnowflakeOutput(target({ authenticator, password: 'pw' }));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(2);
      expect((error as Error).message).toMatch(/profiles\.yml: shop\.outputs\.prod\.authenticator: .* not supported in CI\/headless runs/);
      expect((error as Error).message).toMatch(/key-pair auth \(private_key_path or private_key/);
    }
  });

  it('oauth and jwt take an access token; oauth with client id/secret (refresh flow) is refused clearly', () => {
    expect(parseSnowflakeOutput(target({ authenticator: 'oauth', token: 't0k' })).auth).toEqual({ kind: 'oauth', token: 't0k' });
    expect(parseSnowflakeOutput(target({ authenticator: 'jwt', token: 't0k', user: undefined })).auth).toEqual({ kind: 'oauth', token: 't0k' });
    expect(parseSnowflakeOutput(target({ authenticator: 'programmatic_access_token', token: 'pat' })).auth).toEqual({ kind: 'pat', token: 'pat' });
    expect(() => parseSnowflakeOutput(target({ authenticator: 'oauth' }))).toThrow(/\.token: is required with authenticator oauth/);
    expect(() => parseSnowflakeOutput(target({ authenticator: 'oauth', token: 'r', oauth_client_id: 'c', oauth_client_secret: 's' }))).toThrow(
      /refresh token\) is not supported/,
    );
  });

  it('reports every missing key of the output, with the file and target', () => {
    expect(() => parseSnowflakeOutput({ file: 'profiles.yml', profile: 'shop', target: 'prod', output: { type: 'snowflake' } })).toThrow(ConfigError);
    try {
      parseSnowflakeOutput({ file: 'profiles.yml', profile: 'shop', target: 'prod', output: { type: 'snowflake' } });
    } catch (error) {
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toMatch(/shop\.outputs\.prod: account: is required/);
      expect(problems).toMatch(/database: is required/);
      expect(problems).toMatch(/schema: is required/);
    }
    expect(() => parseSnowflakeOutput(target({}))).toThrow(/\.password: is required \(or key-pair auth/);
    expect(snowflakeOutputSchema.safeParse({ type: 'snowflake', account: 'a', database: 'd', schema: 's', threads: 8, retry_all: true }).success).toBe(true);
  });
});

describe('snowflake values -> the shared forms', () => {
  const sfDate = (epochSeconds: number, nanos: number) =>
    Object.assign(new Date(epochSeconds * 1000 + Math.floor(nanos / 1e6)), { getEpochSeconds: () => epochSeconds, getNanoSeconds: () => nanos });
  const col = (type: string) => ({ name: 'X', type });

  it('NUMBER fetched as text stays exact; FLOAT is a number or NaN/Infinity', () => {
    expect(fromSnowflake('42', col('fixed'))).toBe(42);
    expect(fromSnowflake('9007199254740993', col('fixed'))).toBe('9007199254740993');
    expect(fromSnowflake('12.50', col('fixed'))).toBe(12.5);
    expect(fromSnowflake('123456789012345678.12', col('fixed'))).toBe('123456789012345678.12');
    expect(fromSnowflake('-0.00', col('fixed'))).toBe(0);
    expect(fromSnowflake('1.5', col('real'))).toBe(1.5);
    expect(fromSnowflake('inf', col('real'))).toBe('Infinity');
    expect(fromSnowflake('-inf', col('real'))).toBe('-Infinity');
    expect(fromSnowflake('NaN', col('real'))).toBe('NaN');
  });

  it('dates, times and every timestamp type; microseconds kept, ISO UTC', () => {
    expect(fromSnowflake(sfDate(19_782 * 86_400, 0), col('date'))).toBe('2024-02-29');
    expect(fromSnowflake(sfDate(-86_400, 0), col('date'))).toBe('1969-12-31');
    expect(fromSnowflake(sfDate(1_704_164_645, 123_456_789), col('timestamp_ntz'))).toBe('2024-01-02T03:04:05.123456Z');
    expect(fromSnowflake(sfDate(1_704_157_445, 500_000_000), col('timestamp_tz'))).toBe('2024-01-02T01:04:05.500Z');
    expect(fromSnowflake(sfDate(-1, 999_999_000), col('timestamp_ltz'))).toBe('1969-12-31T23:59:59.999999Z');
    expect(fromSnowflake('03:04:05.123456000', col('time'))).toBe('03:04:05.123456');
    expect(fromSnowflake('03:04:05.000000000', col('time'))).toBe('03:04:05');
  });

  it('VARIANT, OBJECT and ARRAY text is parsed; BINARY is base64; BOOLEAN and NULL as they are', () => {
    expect(fromSnowflake('{\n  "a": [1, 2],\n  "b": "x"\n}', col('variant'))).toEqual({ a: [1, 2], b: 'x' });
    expect(fromSnowflake('"just text"', col('variant'))).toBe('just text');
    expect(fromSnowflake('[1,2]', col('array'))).toEqual([1, 2]);
    expect(fromSnowflake('<a>xml</a>', col('variant'))).toBe('<a>xml</a>');
    expect(fromSnowflake(Buffer.from('hi'), col('binary'))).toBe('aGk=');
    expect(fromSnowflake(true, col('boolean'))).toBe(true);
    expect(fromSnowflake(null, col('fixed'))).toBeNull();
    expect(fromSnowflake('text', col('text'))).toBe('text');
  });

  it('structured OBJECT values the driver converted keep nested dates and numbers in the shared forms', () => {
    expect(fromSnowflake({ at: sfDate(0, 1000), n: 1, bytes: Buffer.from('a') }, col('object_structured'))).toEqual({
      at: '1970-01-01T00:00:00.000001Z',
      n: 1,
      bytes: 'YQ==',
    });
  });
});
