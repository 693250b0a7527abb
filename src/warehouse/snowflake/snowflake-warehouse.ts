import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type * as SnowflakeSdk from 'snowflake-sdk';
import { ConfigError, EXIT_BAD_INPUT, WarehouseError, errorMessage } from '../../errors.js';
import type { ProfileTarget } from '../../dbt/profiles.js';
import type { Connection, Row, Warehouse } from '../types.js';
import { parseSnowflakeOutput, type SnowflakeConfig } from './snowflake-config.js';
import { snowflakeDialect } from './snowflake-dialect.js';
import { FETCH_AS_STRING, fromSnowflake, type SnowflakeColumnInfo } from './snowflake-values.js';

export { snowflakeOutputSchema } from './snowflake-config.js';

type Sdk = typeof SnowflakeSdk;
type SdkConnection = SnowflakeSdk.Connection;
type SdkStatement = SnowflakeSdk.RowStatement;
type SdkError = SnowflakeSdk.SnowflakeError;

/**
 * Session parameters pinned on every connection, so that text forms (the row hash's canonical
 * text, and the values read back) do not depend on account or user settings: UTC, ISO 8601
 * with nanoseconds, hex binary, strict JSON in VARIANT output.
 */
export const SESSION_SETTINGS =
  "ALTER SESSION SET TIMEZONE = 'UTC' DATE_OUTPUT_FORMAT = 'YYYY-MM-DD' TIME_OUTPUT_FORMAT = 'HH24:MI:SS.FF9' " +
  `TIMESTAMP_OUTPUT_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.FF9TZH:TZM' TIMESTAMP_NTZ_OUTPUT_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.FF9' ` +
  `TIMESTAMP_LTZ_OUTPUT_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.FF9TZH:TZM' TIMESTAMP_TZ_OUTPUT_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.FF9TZH:TZM' ` +
  "BINARY_OUTPUT_FORMAT = 'HEX' STRICT_JSON_OUTPUT = TRUE";

/** Where the session stands after login; NULL where the profile names something missing or not granted. */
export const SESSION_PROBE =
  'SELECT CURRENT_DATABASE() AS db, CURRENT_SCHEMA() AS sch, CURRENT_WAREHOUSE() AS wh, CURRENT_ROLE() AS rl';

/**
 * Opens the Snowflake account a dbt-snowflake profile target points at. The first session is
 * opened here, so a wrong password, an unreachable host or a missing database, schema or
 * warehouse stops the run before anything else happens (exit 2, nothing sent).
 */
export async function openSnowflake(target: ProfileTarget, cwd: string): Promise<Warehouse> {
  const config = parseSnowflakeOutput(target);
  const privateKey = config.auth.kind === 'keypair' ? await loadPrivateKey(config, target, cwd) : undefined;
  // Telemetry only: the driver probes AWS/Azure/GCP metadata endpoints at every login otherwise.
  process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';
  // The driver bundles the AWS SDK (for stages activate never uses), which warns on Node 20 when loaded.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sdk = ((await import('snowflake-sdk')) as unknown as { default: Sdk }).default;
  sdk.configure({
    logLevel: 'OFF',
    // The driver's own logger would otherwise write snowflake.log into the working directory.
    customLogger: { error() {}, warn() {}, info() {}, debug() {}, trace() {} },
    additionalLogToConsole: false,
    ...(config.insecureMode ? { disableOCSPChecks: true } : {}),
  });
  const description = `snowflake (profile ${target.profile}, target ${target.target}, account ${config.account}, database ${config.database})`;
  const options = connectionOptions(config, privateKey);
  const open = new Set<SdkConnection>();
  const idle: SdkConnection[] = [];

  const login = async (): Promise<SdkConnection> => {
    let connection: SdkConnection;
    try {
      // A copy each time: the driver normalises (mutates) the options it is given.
      connection = sdk.createConnection({ ...options });
    } catch (error) {
      throw new ConfigError(`${target.file}: ${target.profile}.outputs.${target.target}: ${errorMessage(error)}`, { cause: error });
    }
    await new Promise<void>((done, fail) => connection.connect((error) => (error ? fail(error) : done()))).catch((error: unknown) => {
      throw loginError(error as SdkError, config, description);
    });
    open.add(connection);
    await execute(connection, SESSION_SETTINGS, [], false);
    return connection;
  };

  const first = await login();
  try {
    await checkSession(first, config, description);
  } catch (error) {
    await destroy(first);
    throw error;
  }
  idle.push(first);

  return {
    kind: 'snowflake',
    dialect: snowflakeDialect,
    description,
    async connect() {
      const connection = idle.pop() ?? (await login());
      return wrapConnection(connection, { description, config }, async () => {
        open.delete(connection);
        await destroy(connection);
      });
    },
    async close() {
      const all = [...open];
      open.clear();
      idle.length = 0;
      await Promise.all(all.map(destroy));
    },
  };
}

function connectionOptions(config: SnowflakeConfig, privateKey: string | undefined): SnowflakeSdk.ConnectionOptions {
  const auth: Partial<SnowflakeSdk.ConnectionOptions> =
    config.auth.kind === 'password'
      ? { password: config.auth.password }
      : config.auth.kind === 'keypair'
        ? { authenticator: 'SNOWFLAKE_JWT', privateKey: privateKey! }
        : config.auth.kind === 'oauth'
          ? { authenticator: 'OAUTH', token: config.auth.token }
          : { authenticator: 'PROGRAMMATIC_ACCESS_TOKEN', token: config.auth.token };
  return {
    account: config.account,
    accessUrl: config.accessUrl,
    ...(config.user !== undefined ? { username: config.user } : {}),
    ...auth,
    database: config.database,
    schema: config.schema,
    ...(config.warehouse !== undefined ? { warehouse: config.warehouse } : {}),
    ...(config.role !== undefined ? { role: config.role } : {}),
    application: 'dbt_activate',
    queryTag: config.queryTag,
    sfRetryMaxLoginRetries: config.connectRetries,
    ...(config.clientSessionKeepAlive !== undefined ? { clientSessionKeepAlive: config.clientSessionKeepAlive } : {}),
    ...(config.proxy ? { proxyHost: config.proxy.host, ...(config.proxy.port ? { proxyPort: config.proxy.port } : {}) } : {}),
    // NULL stays null (not the text "NULL") in values fetched as strings.
    representNullAsStringNull: false,
    rowMode: 'array',
  };
}

/** The profile's key as unencrypted PKCS#8 PEM (kept in memory only); PEM or base64 DER, as dbt-snowflake accepts. */
async function loadPrivateKey(config: SnowflakeConfig, target: ProfileTarget, cwd: string): Promise<string> {
  const auth = config.auth as Extract<SnowflakeConfig['auth'], { kind: 'keypair' }>;
  const where = `${target.file}: ${target.profile}.outputs.${target.target}`;
  let material: Buffer | string;
  let key = 'private_key';
  if (auth.privateKeyPath !== undefined) {
    key = 'private_key_path';
    const path = resolve(cwd, auth.privateKeyPath.replace(/^~(?=$|[\\/])/, homedir()));
    try {
      material = await readFile(path);
    } catch (error) {
      throw new ConfigError(`${where}.private_key_path: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`);
    }
  } else {
    material = auth.privateKey!;
  }
  const text = Buffer.isBuffer(material) ? material.toString('utf8') : material;
  try {
    const parsed = text.includes('-----BEGIN')
      ? createPrivateKey({ key: text, format: 'pem', ...(auth.passphrase ? { passphrase: auth.passphrase } : {}) })
      : createPrivateKey({
          key: Buffer.isBuffer(material) && !/^[A-Za-z0-9+/=\s]+$/.test(text) ? material : Buffer.from(text.replace(/\s+/g, ''), 'base64'),
          format: 'der',
          type: 'pkcs8',
          ...(auth.passphrase ? { passphrase: auth.passphrase } : {}),
        });
    return parsed.export({ format: 'pem', type: 'pkcs8' }).toString();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const hint = /PASSPHRASE|decrypt/i.test(`${code} ${errorMessage(error)}`)
      ? auth.passphrase
        ? 'check private_key_passphrase'
        : 'the key is encrypted: set private_key_passphrase'
      : 'expected an RSA private key in PEM (or base64 DER) form';
    throw new ConfigError(`${where}.${key}: the private key cannot be read (${hint})`);
  }
}

/** One clear message per way a login fails; all are bad input (exit 2): nothing has been sent. */
function loginError(error: SdkError, config: SnowflakeConfig, description: string): WarehouseError {
  const code = String(error.code ?? '');
  const message = error.message ?? String(error);
  let hint: string;
  if (code === '390100') {
    hint = `check user and password for this target in profiles.yml (or the environment variables it reads)`;
  } else if (code === '390144' || code === '394304' || /JWT/i.test(message)) {
    hint =
      `check that the public key of this target's private key is set on user ${config.user ?? ''} ` +
      '(ALTER USER ... SET RSA_PUBLIC_KEY = ...), and private_key_passphrase';
  } else if (code === '390189') {
    hint = `grant role ${config.role ?? ''} to user ${config.user ?? ''}, or change role in profiles.yml`;
  } else if (code === '390303' || code === '390318' || (/oauth|token/i.test(message) && config.auth.kind !== 'password')) {
    hint = 'the token was refused: give a current token for this target';
  } else if (code === '401001' || code === '401002' || error.name === 'NetworkError' || error.name === 'RequestFailedError') {
    const cause = error.cause ? `: ${errorMessage(error.cause)}` : '';
    return new WarehouseError(
      `${description}: cannot reach Snowflake at ${config.accessUrl}${cause}; check account (and host) for this target in profiles.yml, and the network or proxy`,
      { cause: error, exitCode: EXIT_BAD_INPUT },
    );
  } else {
    hint = 'check the credentials for this target in profiles.yml';
  }
  return new WarehouseError(`${description}: login failed: ${message}${code ? ` (code ${code})` : ''}; ${hint}`, {
    cause: error,
    exitCode: EXIT_BAD_INPUT,
  });
}

/** Snowflake accepts a login whose database, schema or warehouse is missing; find out now, not at the first query. */
async function checkSession(connection: SdkConnection, config: SnowflakeConfig, description: string): Promise<void> {
  const { rows } = await execute(connection, SESSION_PROBE, [], false);
  const [db, schema, warehouse, role] = (rows?.[0] ?? []) as (string | null)[];
  const as = role ? ` role ${role}` : ' the role';
  const fail = (message: string) => new WarehouseError(`${description}: ${message}`, { exitCode: EXIT_BAD_INPUT });
  if (!db) {
    throw fail(`database ${config.database} does not exist or${as} cannot use it; check database for this target in profiles.yml, or grant USAGE on it`);
  }
  if (!schema) {
    throw fail(
      `schema ${config.database}.${config.schema} does not exist or${as} cannot use it; activate keeps its temporary plan tables there: ` +
        'set schema for this target in profiles.yml to the schema dbt builds into (run dbt first), or grant USAGE on it',
    );
  }
  if (!warehouse) {
    throw fail(
      config.warehouse
        ? `warehouse ${config.warehouse} does not exist or${as} cannot use it; check warehouse for this target in profiles.yml, or grant USAGE on it`
        : 'no warehouse is selected: set warehouse for this target in profiles.yml',
    );
  }
}

interface Executed {
  readonly statement: SdkStatement;
  readonly rows: readonly unknown[][] | undefined;
}

function bind(value: unknown): SnowflakeSdk.Bind {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

/** For messages: which warehouse, and the role and database that grants are about. */
interface Context {
  readonly description: string;
  readonly config: SnowflakeConfig;
}

function execute(connection: SdkConnection, sql: string, params: readonly unknown[], stream: boolean, context?: Context): Promise<Executed> {
  return new Promise((done, fail) => {
    try {
      connection.execute({
        sqlText: sql,
        ...(params.length > 0 ? { binds: params.map(bind) } : {}),
        fetchAsString: FETCH_AS_STRING as unknown as SnowflakeSdk.DataType[],
        rowMode: 'array',
        streamResult: stream,
        complete: (error, statement, rows) =>
          error ? fail(queryError(error, sql, context)) : done({ statement: statement as SdkStatement, rows: rows as unknown[][] | undefined }),
      });
    } catch (error) {
      fail(queryError(error as SdkError, sql, context));
    }
  });
}

function queryError(error: SdkError, sql?: string, context?: Context): WarehouseError {
  const code = error.code !== undefined ? ` (code ${String(error.code)}${error.sqlState ? `, SQL state ${error.sqlState}` : ''})` : '';
  const queryId = typeof error.data?.queryId === 'string' ? `, query ${error.data.queryId}` : '';
  const create = sql ? /^\s*CREATE\s+(SCHEMA|TABLE)\b/i.exec(sql) : null;
  if (context && create && (String(error.code) === '003001' || error.sqlState === '42501')) {
    // Creating the state schema or its tables: say which grant is missing.
    const role = context.config.role ?? 'the role activate uses';
    const grant =
      create[1]!.toUpperCase() === 'SCHEMA'
        ? `GRANT CREATE SCHEMA ON DATABASE ${context.config.database} TO ROLE ${role}, or create the state schema and GRANT ALL ON SCHEMA <schema> TO ROLE ${role}`
        : `GRANT CREATE TABLE ON SCHEMA <state schema> TO ROLE ${role}`;
    return new WarehouseError(`${context.description}: ${error.message}${code}; as an administrator: ${grant}`, {
      cause: error,
      exitCode: EXIT_BAD_INPUT,
    });
  }
  return new WarehouseError(`Snowflake: ${error.message}${code}${queryId}`, { cause: error });
}

/** Snowflake reports unquoted names in upper case; activate's own aliases (`__op`, `f0`, `n`) are lower case. */
const resultName = (name: string) => (name === name.toUpperCase() && /[A-Z]/.test(name) ? name.toLowerCase() : name);

function columnsOf(statement: SdkStatement): SnowflakeColumnInfo[] {
  return (statement.getColumns() ?? []).map((c) => ({ name: c.getName(), type: c.getType() }));
}

function toRow(columns: readonly SnowflakeColumnInfo[], names: readonly string[], values: readonly unknown[]): Row {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < columns.length; i++) out[names[i]!] = fromSnowflake(values[i], columns[i]!);
  return out;
}

function destroy(connection: SdkConnection): Promise<void> {
  return new Promise((done) => {
    try {
      connection.destroy(() => done());
    } catch {
      done();
    }
  });
}

function wrapConnection(connection: SdkConnection, context: Context, onClose: () => Promise<void>): Connection {
  const run = (sql: string, params: readonly unknown[], stream: boolean) => execute(connection, sql, params, stream, context);
  let inTransaction = false;
  let closed = false;
  return {
    async execute(sql, params) {
      await run(sql, params ?? [], false);
    },
    async describe(sql) {
      const { statement } = await run(sql, [], false);
      return columnsOf(statement).map((c) => c.name);
    },
    async query<T extends Row>(sql: string, params?: readonly unknown[]) {
      const { statement, rows } = await run(sql, params ?? [], false);
      const columns = columnsOf(statement);
      const names = columns.map((c) => resultName(c.name));
      return (rows ?? []).map((values) => toRow(columns, names, values) as T);
    },
    async *stream(sql, params, batchSize) {
      const { statement } = await run(sql, params, true);
      const columns = columnsOf(statement);
      const names = columns.map((c) => resultName(c.name));
      // Rows arrive chunk by chunk (the first inline, the rest downloaded as they are read).
      const rows: Readable = statement.streamRows();
      let batch: Row[] = [];
      try {
        for await (const values of rows) {
          batch.push(toRow(columns, names, values as unknown[]));
          if (batch.length >= batchSize) {
            yield batch;
            batch = [];
          }
        }
      } catch (error) {
        throw error instanceof WarehouseError ? error : queryError(error as SdkError);
      } finally {
        rows.destroy();
      }
      if (batch.length > 0) yield batch;
    },
    async transaction(work) {
      if (inTransaction) return work();
      await run('BEGIN', [], false);
      inTransaction = true;
      try {
        const out = await work();
        await run('COMMIT', [], false);
        return out;
      } catch (error) {
        await run('ROLLBACK', [], false).catch(() => undefined);
        throw error;
      } finally {
        inTransaction = false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await onClose();
    },
  };
}
