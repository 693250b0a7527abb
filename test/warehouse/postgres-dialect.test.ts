import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { ProfileTarget } from '../../src/dbt/profiles.js';
import { postgresDialect, splitRelationName } from '../../src/warehouse/postgres/postgres-dialect.js';
import { parsePostgresOutput, postgresSettings, startupOptions } from '../../src/warehouse/postgres/postgres-profile.js';
import { syncSpec } from './specs.js';

const d = postgresDialect({ database: 'analytics', target: 'profiles.yml: shop.outputs.prod' });
const model = (relationName: string | undefined, parts: { database?: string; schema?: string; alias?: string } = {}) => ({
  ...syncSpec('customers', relationName ?? '"x"', { primary_key: 'id', fields: { e: 'email' } }).model,
  relationName,
  ...parts,
});

describe('PostgreSQL dialect (no connection)', () => {
  it('quotes identifiers and literals', () => {
    expect(d.quote('first name')).toBe('"first name"');
    expect(d.quote('we"ird')).toBe('"we""ird"');
    // standard_conforming_strings is pinned on: a backslash is an ordinary character.
    expect(d.literal("it's a \\ path")).toBe("'it''s a \\ path'");
  });

  it('splits dbt relation names into their unquoted parts', () => {
    expect(splitRelationName('"analytics"."marts"."customers"')).toEqual(['analytics', 'marts', 'customers']);
    expect(splitRelationName('"we""ird"."a.b"')).toEqual(['we"ird', 'a.b']);
    expect(splitRelationName('Analytics.Marts."Customers"')).toEqual(['analytics', 'marts', 'Customers']);
  });

  it("uses the manifest's relation_name when it is in the connected database", () => {
    expect(d.modelRelation(model('"analytics"."marts"."customers"'))).toBe('"analytics"."marts"."customers"');
    expect(d.modelRelation(model('"marts"."customers"'))).toBe('"marts"."customers"');
    expect(d.modelRelation(model(undefined, { database: 'analytics', schema: 'marts', alias: 'Customers' }))).toBe('"marts"."Customers"');
  });

  it('refuses a model in another database, naming the model, both databases and the target', () => {
    expect(() => d.modelRelation(model('"raw"."marts"."customers"'))).toThrow(ConfigError);
    expect(() => d.modelRelation(model('"raw"."marts"."customers"'))).toThrow(
      'model customers ("raw"."marts"."customers") is in database "raw", but profiles.yml: shop.outputs.prod connects to database "analytics"',
    );
    expect(() => d.modelRelation(model(undefined, { database: 'raw', schema: 'marts', alias: 'c' }))).toThrow(/point the target's dbname at "raw"/);
    expect(d.table('activate', 'activate_state', 'analytics')).toBe('"activate"."activate_state"');
    expect(() => d.table('activate', 'activate_state', 'other')).toThrow(/activate\.activate_state is in database "other"/);
  });

  it('writes the hash and key expressions with text casts, as DuckDB writes them with VARCHAR', () => {
    expect(d.canonicalText('"x"')).toBe(`coalesce(CAST(length(CAST("x" AS text)) AS text) || ':' || CAST("x" AS text), '~')`);
    expect(d.recordKey(['"id"'])).toBe('CAST("id" AS text)');
    expect(d.recordKey(['"a"', '"b"'])).toBe(
      'CASE WHEN "a" IS NULL OR "b" IS NULL THEN NULL ELSE CAST(to_json(ARRAY[CAST("a" AS text), CAST("b" AS text)]) AS text) END',
    );
    expect(d.jsonRows(3, [{ name: 'k', type: 'text' }, { name: 't', type: 'timestamp' }])).toBe(
      '(SELECT * FROM json_to_recordset(CAST($3 AS json)) AS j("k" text, "t" timestamptz))',
    );
    expect(d.createTempTableAs('plan_1', 'SELECT 1')).toBe('CREATE TEMPORARY TABLE "plan_1" AS SELECT 1');
    expect(d.insertIfAbsent!('"s"."locks"', ['sync_id', 'run_id'], ['sync_id'], 'SELECT $1, $2')).toBe(
      'INSERT INTO "s"."locks" ("sync_id", "run_id") SELECT $1, $2 ON CONFLICT ("sync_id") DO NOTHING',
    );
  });
});

describe('dbt-postgres profile -> connection settings (no connection)', () => {
  const target = (output: Record<string, unknown>): ProfileTarget => ({
    file: 'profiles.yml',
    profile: 'shop',
    target: 'prod',
    output: { type: 'postgres', host: 'db.example.com', user: 'activate', dbname: 'analytics', schema: 'marts', ...output },
  });
  const settings = (output: Record<string, unknown>, cwd = '/') => postgresSettings(target(output), parsePostgresOutput(target(output)), cwd);

  it('maps the dbt-postgres keys, with dbt\'s aliases and defaults', () => {
    const s = settings({ pass: 's3cret', port: '6543', connect_timeout: 3, keepalives_idle: 30, database: undefined });
    const [attempt] = s.attempts;
    expect(attempt).toMatchObject({
      host: 'db.example.com',
      port: 6543,
      user: 'activate',
      password: 's3cret',
      database: 'analytics',
      application_name: 'dbt-activate',
      connectionTimeoutMillis: 3000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 30_000,
    });
    expect(settings({ database: 'warehouse', dbname: undefined }).database).toBe('warehouse');
    expect(settings({ application_name: 'growth-sync' }).attempts[0]!.application_name).toBe('growth-sync');
    expect(s.description).toBe('postgres (profile shop, target prod, activate@db.example.com:6543/analytics)');
    expect(s.description + s.where).not.toContain('s3cret');
  });

  it('pins the session settings and passes search_path, escaped as libpq options', () => {
    const options = settings({ search_path: 'marts, public' }).attempts[0]!.options;
    expect(options).toBe(
      '-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=1 -c bytea_output=hex ' +
        '-c standard_conforming_strings=on -c search_path=marts,\\ public',
    );
    expect(startupOptions({ a: 'x\\y z' })).toBe('-c a=x\\\\y\\ z');
  });

  it('honours sslmode as libpq does: the attempts and what each verifies', () => {
    const attempts = (sslmode?: string) => settings(sslmode ? { sslmode } : {}).attempts.map((a) => a.ssl);
    expect(attempts('disable')).toEqual([false]);
    expect(attempts('allow')).toEqual([false, expect.objectContaining({ rejectUnauthorized: false })]);
    expect(attempts()).toEqual([expect.objectContaining({ rejectUnauthorized: false }), false]);
    expect(attempts('require')).toEqual([expect.objectContaining({ rejectUnauthorized: false })]);
    const [verifyCa] = attempts('verify-ca') as [{ rejectUnauthorized: boolean; checkServerIdentity: () => unknown }];
    expect(verifyCa.rejectUnauthorized).toBe(true);
    expect(verifyCa.checkServerIdentity()).toBeUndefined();
    const [verifyFull] = attempts('verify-full') as [Record<string, unknown>];
    expect(verifyFull).toMatchObject({ rejectUnauthorized: true });
    expect(verifyFull.checkServerIdentity).toBeUndefined();
  });

  it('reads sslrootcert, sslcert and sslkey relative to the working directory; require with a root certificate verifies it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'activate-pg-certs-'));
    try {
      writeFileSync(join(dir, 'root.crt'), 'ROOT');
      writeFileSync(join(dir, 'client.crt'), 'CERT');
      writeFileSync(join(dir, 'client.key'), 'KEY');
      const [ssl] = settings({ sslmode: 'require', sslrootcert: 'root.crt', sslcert: 'client.crt', sslkey: 'client.key' }, dir).attempts.map(
        (a) => a.ssl,
      );
      expect(ssl).toMatchObject({ ca: 'ROOT', cert: 'CERT', key: 'KEY', rejectUnauthorized: true });
      expect(() => settings({ sslmode: 'verify-full', sslrootcert: 'missing.crt' }, dir)).toThrow(
        /^profiles\.yml: shop\.outputs\.prod\.sslrootcert: cannot read .*missing\.crt/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every problem in the output at once, with its key', () => {
    const problems = (output: Record<string, unknown>) => {
      try {
        parsePostgresOutput(target(output));
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).problems;
      }
      throw new Error('no error');
    };
    expect(problems({ host: undefined, sslmode: 'sometimes', port: 'x' })).toEqual([
      'profiles.yml: shop.outputs.prod: host: is required',
      'profiles.yml: shop.outputs.prod: port: Invalid input: expected number, received NaN',
      expect.stringMatching(/^profiles\.yml: shop\.outputs\.prod: sslmode: Invalid option: expected one of "disable"\|"allow"/),
    ]);
    expect(problems({ dbname: undefined })).toEqual(['profiles.yml: shop.outputs.prod: dbname: is required (or database:)']);
  });
});
