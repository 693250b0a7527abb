/**
 * The BigQuery dialect, profile parsing, value conversion and the SQL-text helpers the
 * Snowflake and BigQuery dialects share: pure functions, no connection.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, type ModelNode } from '../../src/dbt/manifest.js';
import { ConfigError } from '../../src/errors.js';
import { diffQuery } from '../../src/plan/diff-query.js';
import { bigqueryOutputSchema, DEFAULT_SCOPES, parseBigQueryOutput } from '../../src/warehouse/bigquery/bigquery-config.js';
import { bigqueryDialect } from '../../src/warehouse/bigquery/bigquery-dialect.js';
import { fromBigQuery, rowFromBigQuery, secondsTextToMicros } from '../../src/warehouse/bigquery/bigquery-values.js';
import { aliasSelectColumns, findTopLevelKeyword, renameNamedParams, splitTopLevel } from '../../src/warehouse/sql-text.js';
import { manifestsDir } from '../support/fixtures.js';

const d = bigqueryDialect({ project: 'acme-data', location: 'EU' });
const target = (output: Record<string, unknown>) => ({
  file: 'profiles.yml',
  profile: 'shop',
  target: 'prod',
  output: { type: 'bigquery', method: 'service-account', keyfile: '/keys/sa.json', project: 'acme-data', dataset: 'marts', ...output },
});

describe('bigquery dialect: names', () => {
  it('backtick-quotes identifiers; state tables and the state dataset are in the profile project', () => {
    expect(d.quote('my`col')).toBe('`my\\`col`');
    expect(d.table('activate', 'activate_state')).toBe('`acme-data`.`activate`.`activate_state`');
    expect(d.table('activate', 'activate_state', 'other-project')).toBe('`other-project`.`activate`.`activate_state`');
    expect(d.schema!('activate')).toBe('`acme-data`.`activate`');
    expect(bigqueryDialect().table('activate', 'activate_state')).toBe('`activate`.`activate_state`');
  });

  it("uses the manifest's relation_name verbatim, and quotes database/schema/alias when it is missing", async () => {
    const manifest = await readManifest(join(manifestsDir, 'v12_dbt-artifacts-parser-bigquery_manifest.json'));
    const model = manifest.models.find((m) => m.name === 'customers' && m.packageName === 'jaffle_shop')!;
    expect(d.modelRelation(model)).toBe('`your-project`.`jaffle_shop`.`customers`');
    const bare: ModelNode = { ...model, relationName: undefined };
    expect(d.modelRelation(bare)).toBe('`your-project`.`jaffle_shop`.`customers`');
  });

  it('escapes literals with backslashes; newlines and control characters cannot appear raw', () => {
    expect(d.literal("it's a\\b\nc\u0001")).toBe("'it\\'s a\\\\b\\nc\\u0001'");
  });

  it('names parameters @p1, @p2 (named parameters, usable in any order and more than once)', () => {
    expect(d.param(3)).toBe('@p3');
  });
});

describe('bigquery dialect: hashing and keys', () => {
  it('canonical text: the scalar JSON form unquoted, JSON text for arrays and structs, ~ for NULL', () => {
    const text = 'COALESCE(JSON_VALUE(TO_JSON_STRING(`email`)), TO_JSON_STRING(`email`))';
    expect(d.canonicalText('`email`')).toBe(`IF(\`email\` IS NULL, '~', CONCAT(CAST(LENGTH(${text}) AS STRING), ':', ${text}))`);
    expect(d.md5("'a'")).toBe("TO_HEX(MD5('a'))");
    expect(d.concat(["'a'", "'b'"])).toBe("CONCAT('a', 'b')");
  });

  it('keys: text, or a JSON array of texts for composite keys, NULL when a part is NULL', () => {
    expect(d.recordKey(['`id`'])).toBe('CAST(`id` AS STRING)');
    expect(d.recordKey(['`a`', '`b`'])).toBe('IF(`a` IS NULL OR `b` IS NULL, NULL, TO_JSON_STRING([CAST(`a` AS STRING), CAST(`b` AS STRING)]))');
  });

  it('the diff query is BigQuery SQL', () => {
    const sql = diffQuery(d, {
      relation: '`acme-data`.`marts`.`customers`',
      keyColumns: ['id'],
      valueColumns: ['email'],
      fingerprint: 'fp',
      mode: 'upsert',
      stateTable: d.table('activate', 'activate_state'),
    });
    expect(sql).toContain('FROM `acme-data`.`activate`.`activate_state` WHERE sync_id = @p1');
    expect(sql).toContain("TO_HEX(MD5(CONCAT('fp|', IF(`email` IS NULL");
    expect(sql).not.toMatch(/\$\d|::|ON CONFLICT|\bmd5\(/);
  });
});

describe('bigquery dialect: state writes', () => {
  it('upserts with MERGE, naming the source columns by position', () => {
    expect(d.upsert('`s`', ['sync_id', 'fingerprint'], ['sync_id'], 'SELECT @p1, @p2')).toBe(
      'MERGE INTO `s` AS t USING (SELECT @p1 AS `sync_id`, @p2 AS `fingerprint`) AS s ON t.`sync_id` = s.`sync_id` ' +
        'WHEN MATCHED THEN UPDATE SET `fingerprint` = s.`fingerprint` WHEN NOT MATCHED THEN INSERT (`sync_id`, `fingerprint`) VALUES (s.`sync_id`, s.`fingerprint`)',
    );
  });

  it('reads a JSON array parameter as rows with JSON_QUERY_ARRAY and UNNEST', () => {
    expect(d.jsonRows(3, [{ name: 'k', type: 'text' }, { name: 'at', type: 'timestamp' }])).toBe(
      "(SELECT JSON_VALUE(r, '$.k') AS `k`, CAST(JSON_VALUE(r, '$.at') AS TIMESTAMP) AS `at` FROM UNNEST(JSON_QUERY_ARRAY(@p3)) AS r)",
    );
  });

  it('declares keys NOT ENFORCED, inserts a key only when absent, and finds tables in the region INFORMATION_SCHEMA', () => {
    expect(d.primaryKey!(['sync_id', 'record_key'])).toBe('PRIMARY KEY (`sync_id`, `record_key`) NOT ENFORCED');
    expect(d.insertIfAbsent!('`l`', ['sync_id', 'run_id'], ['sync_id'], 'SELECT @p1, @p2')).toBe(
      'MERGE INTO `l` AS t USING (SELECT @p1 AS `sync_id`, @p2 AS `run_id`) AS s ON t.`sync_id` = s.`sync_id` ' +
        'WHEN NOT MATCHED THEN INSERT (`sync_id`, `run_id`) VALUES (s.`sync_id`, s.`run_id`)',
    );
    expect(d.tableExists(1, 2)).toBe(
      'SELECT COUNT(*) AS n FROM `acme-data`.`region-eu`.INFORMATION_SCHEMA.TABLES WHERE table_schema = @p1 AND table_name = @p2',
    );
    expect(d.createTempTableAs('activate_plan_1', 'SELECT 1')).toBe('CREATE OR REPLACE TEMP TABLE `activate_plan_1` AS SELECT 1');
    expect([d.textType, d.timestampType, d.bigintType, d.now]).toEqual(['STRING', 'TIMESTAMP', 'INT64', 'CURRENT_TIMESTAMP()']);
  });
});

describe('SQL text helpers (activate-generated SQL only)', () => {
  it('finds the top-level FROM, skipping quotes and parentheses', () => {
    const sql = "SELECT EXTRACT(YEAR FROM x), 'FROM', `from` FROM t";
    expect(findTopLevelKeyword(sql, 'FROM')).toBe(sql.lastIndexOf('FROM'));
    expect(splitTopLevel("a, f(b, c), 'x,y', [1, 2]")).toEqual(['a', 'f(b, c)', "'x,y'", '[1, 2]']);
  });

  it('names select columns by position, replacing aliases, and refuses a column count that does not match', () => {
    const q = (n: string) => `"${n}"`;
    expect(aliasSelectColumns('SELECT a AS x, f(b, c) FROM t WHERE y = 1', ['p', 'q'], q)).toBe('SELECT a AS "p", f(b, c) AS "q" FROM t WHERE y = 1');
    expect(aliasSelectColumns('SELECT DISTINCT a', ['p'], q)).toBe('SELECT DISTINCT a AS "p"');
    expect(() => aliasSelectColumns('SELECT a, b', ['p'], q)).toThrow(/has 2 columns where 1 \(p\) were expected/);
  });

  it('renames @parameters outside quotes, leaving @@system variables alone', () => {
    expect(renameNamedParams("SELECT @p1, '@p1', @p12 + @@error.message, `@p2`", (n) => `s1_${n}`)).toBe(
      "SELECT @s1_p1, '@p1', @s1_p12 + @@error.message, `@p2`",
    );
  });
});

describe('bigquery profile (dbt-bigquery outputs)', () => {
  it('service-account with keyfile; location, timeouts and defaults', () => {
    expect(parseBigQueryOutput(target({ location: 'EU', job_execution_timeout_seconds: 300, priority: 'batch', maximum_bytes_billed: 1e9 }))).toEqual({
      auth: { kind: 'keyfile', path: '/keys/sa.json' },
      project: 'acme-data',
      executionProject: 'acme-data',
      dataset: 'marts',
      location: 'EU',
      priority: 'BATCH',
      maximumBytesBilled: '1000000000',
      jobTimeoutMs: 300_000,
      retries: 1,
      scopes: [...DEFAULT_SCOPES],
      apiEndpoint: undefined,
    });
  });

  it("accepts dbt-bigquery's aliases: database, schema, timeout_seconds, retries; and numbers rendered from env vars", () => {
    const config = parseBigQueryOutput({
      file: 'profiles.yml',
      profile: 'shop',
      target: 'prod',
      output: { type: 'bigquery', method: 'oauth', database: 'p2', schema: 'd2', timeout_seconds: '60', retries: '3', execution_project: 'billing' },
    });
    expect(config).toMatchObject({ auth: { kind: 'adc' }, project: 'p2', executionProject: 'billing', dataset: 'd2', jobTimeoutMs: 60_000, retries: 3 });
    expect(() => parseBigQueryOutput(target({ schema: 'other' }))).toThrow(/\.schema: is an alias of dataset; set only one of them/);
  });

  it('service-account-json, oauth-secrets; unsupported methods say what to use', () => {
    const key = { type: 'service_account', client_email: 'sa@acme.iam.gserviceaccount.com', private_key: '-----BEGIN PRIVATE KEY-----\n...' };
    expect(parseBigQueryOutput(target({ method: 'service-account-json', keyfile: undefined, keyfile_json: key })).auth).toEqual({ kind: 'key', key });
    expect(parseBigQueryOutput(target({ method: 'oauth-secrets', token: 'ya29' })).auth).toMatchObject({ kind: 'oauth-secrets', token: 'ya29' });
    expect(() => parseBigQueryOutput(target({ method: 'service-account', keyfile: undefined }))).toThrow(/\.keyfile: is required with method service-account/);
    expect(() => parseBigQueryOutput(target({ method: 'service-account-json', keyfile_json: { a: 1 } }))).toThrow(/keyfile_json: must be a service account key/);
    expect(() => parseBigQueryOutput(target({ method: 'external-oauth-wif' }))).toThrow(/external-oauth-wif is not supported by activate yet/);
    expect(() => parseBigQueryOutput(target({ impersonate_service_account: 'x@y' }))).toThrow(ConfigError);
    expect(() => parseBigQueryOutput(target({ dataset: undefined }))).toThrow(/shop\.outputs\.prod\.dataset: is required/);
    expect(bigqueryOutputSchema.safeParse({ type: 'bigquery', method: 'oauth', dataset: 'd', threads: 4, dataproc_region: 'x' }).success).toBe(true);
    expect(() => parseBigQueryOutput(target({ method: 'magic' }))).toThrow(/shop\.outputs\.prod: method: /);
  });
});

describe('bigquery values -> the shared forms (REST cells read without the client conversions)', () => {
  const f = (type: string, mode?: string) => ({ name: 'x', type, ...(mode ? { mode } : {}) });

  it('INT64, NUMERIC and BIGNUMERIC stay exact; FLOAT64 is a number or NaN/Infinity', () => {
    expect(fromBigQuery('42', f('INTEGER'))).toBe(42);
    expect(fromBigQuery('9007199254740993', f('INT64'))).toBe('9007199254740993');
    expect(fromBigQuery('-9223372036854775808', f('INTEGER'))).toBe('-9223372036854775808');
    expect(fromBigQuery('12.5', f('NUMERIC'))).toBe(12.5);
    expect(fromBigQuery('123456789012345678.12', f('BIGNUMERIC'))).toBe('123456789012345678.12');
    expect(fromBigQuery('0.1', f('NUMERIC'))).toBe(0.1);
    expect(fromBigQuery('1.5', f('FLOAT'))).toBe(1.5);
    expect(fromBigQuery('Infinity', f('FLOAT64'))).toBe('Infinity');
    expect(fromBigQuery('-Infinity', f('FLOAT64'))).toBe('-Infinity');
    expect(fromBigQuery('NaN', f('FLOAT64'))).toBe('NaN');
  });

  it('TIMESTAMP from int64 microseconds or float seconds; DATETIME read as UTC; DATE and TIME as text', () => {
    expect(fromBigQuery('1704164645123456', f('TIMESTAMP'))).toBe('2024-01-02T03:04:05.123456Z');
    expect(fromBigQuery('1704157445500000', f('TIMESTAMP'))).toBe('2024-01-02T01:04:05.500Z');
    expect(fromBigQuery('1.704164645123456E9', f('TIMESTAMP'))).toBe('2024-01-02T03:04:05.123456Z');
    expect(fromBigQuery('-1', f('TIMESTAMP'))).toBe('1969-12-31T23:59:59.999999Z');
    expect(fromBigQuery('2024-01-02T03:04:05.123456', f('DATETIME'))).toBe('2024-01-02T03:04:05.123456Z');
    expect(fromBigQuery('0001-01-01T00:00:00', f('DATETIME'))).toBe('0001-01-01T00:00:00.000Z');
    expect(fromBigQuery('2024-02-29', f('DATE'))).toBe('2024-02-29');
    expect(fromBigQuery('03:04:05.123000', f('TIME'))).toBe('03:04:05.123000');
    expect(fromBigQuery('03:04:05', f('TIME'))).toBe('03:04:05');
    expect(secondsTextToMicros('1.5e-6')).toBe(1n);
  });

  it('BOOL, BYTES (base64 as sent), JSON parsed, STRUCT and ARRAY nested, NULL', () => {
    expect(fromBigQuery('true', f('BOOLEAN'))).toBe(true);
    expect(fromBigQuery('false', f('BOOL'))).toBe(false);
    expect(fromBigQuery('aGk=', f('BYTES'))).toBe('aGk=');
    expect(fromBigQuery('{"a":[1,2],"b":"x"}', f('JSON'))).toEqual({ a: [1, 2], b: 'x' });
    expect(fromBigQuery(null, f('STRING'))).toBeNull();
    expect(fromBigQuery([{ v: '1' }, { v: '9007199254740993' }], f('INTEGER', 'REPEATED'))).toEqual([1, '9007199254740993']);
    const struct = { name: 's', type: 'RECORD', fields: [{ name: 'at', type: 'TIMESTAMP' }, { name: 'tags', type: 'STRING', mode: 'REPEATED' }] };
    expect(rowFromBigQuery({ f: [{ v: { f: [{ v: '0' }, { v: [{ v: 'a' }] }] } }] }, [struct])).toEqual({
      s: { at: '1970-01-01T00:00:00.000Z', tags: ['a'] },
    });
  });
});
