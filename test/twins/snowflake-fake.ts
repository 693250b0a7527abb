/**
 * Snowflake's REST protocol as snowflake-sdk speaks it, reproduced with nock so the real
 * driver runs against it: login-request (password and key-pair JWT, checked), session
 * parameters from ALTER SESSION, query-request with binds, results inline and in gzip chunks
 * downloaded from a fake cloud-storage host with SSE-C headers, "in progress" answers polled
 * through getResultUrl, query errors, session delete and telemetry. SQL is not executed:
 * tests answer statements by pattern (`on`), and every statement received is recorded.
 */
import { createHash, createPublicKey, randomUUID, verify, type KeyObject } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import nock from 'nock';

export type SnowflakeType =
  | 'fixed'
  | 'real'
  | 'text'
  | 'boolean'
  | 'date'
  | 'time'
  | 'timestamp_ntz'
  | 'timestamp_ltz'
  | 'timestamp_tz'
  | 'variant'
  | 'object'
  | 'array'
  | 'binary';

export interface FakeColumn {
  readonly name: string;
  readonly type: SnowflakeType;
  readonly scale?: number;
  readonly precision?: number;
}

/** A result in Snowflake's JSON wire form: every value a string (see `wire`) or null. */
export interface FakeResult {
  readonly columns: readonly FakeColumn[];
  readonly rows: readonly (readonly (string | null)[])[];
}

export interface FakeError {
  readonly code: string;
  readonly message: string;
  readonly sqlState?: string;
}

export interface ReceivedQuery {
  readonly sql: string;
  readonly binds: readonly (string | null)[];
  readonly bindTypes: readonly string[];
  readonly session: FakeSession;
  readonly queryId: string;
}

export type FakeAnswer = FakeResult | { readonly error: FakeError } | ((query: ReceivedQuery) => FakeResult | { readonly error: FakeError });

export interface FakeUser {
  readonly name: string;
  readonly password?: string;
  /** PEM public key registered as RSA_PUBLIC_KEY (key-pair auth). */
  readonly publicKey?: string;
  readonly roles?: readonly string[];
}

export interface FakeSession {
  readonly id: number;
  readonly token: string;
  readonly user: string;
  readonly authenticator: string;
  readonly database: string | null;
  readonly schema: string | null;
  readonly warehouse: string | null;
  readonly role: string;
  readonly queryTag: string | undefined;
  readonly application: string | undefined;
  readonly parameters: Map<string, string>;
  closed: boolean;
}

export interface SnowflakeFakeOptions {
  /** The account identifier the driver sends (ACCOUNT_NAME). */
  readonly account: string;
  /** Defaults to `https://<account with hyphens>.snowflakecomputing.com`. */
  readonly url?: string;
  readonly users: readonly FakeUser[];
  /** Existing objects, upper case: ["ANALYTICS"], ["ANALYTICS.PUBLIC"], ["TRANSFORMING"]. A login naming others gets NULL there, as Snowflake does. */
  readonly databases?: readonly string[];
  readonly schemas?: readonly string[];
  readonly warehouses?: readonly string[];
  /** Rows per result chunk; the first chunk is inline, the rest are downloaded. */
  readonly chunkRows?: number;
}

interface Handler {
  readonly match: (sql: string) => boolean;
  readonly answer: FakeAnswer;
  remaining: number;
  readonly pendingPolls: number;
}

interface PendingQuery {
  polls: number;
  readonly response: () => object;
}

const QRMK = Buffer.from('fake-query-result-master-key-32b').toString('base64');

/** Encoders from readable values to Snowflake's JSON result wire form. */
export const wire = {
  /** DATE: days since 1970-01-01. */
  date: (iso: string) => String(Math.round(Date.parse(`${iso}T00:00:00Z`) / 86_400_000)),
  /** TIMESTAMP_NTZ / LTZ: epoch seconds with 9 fractional digits, from `YYYY-MM-DDTHH:MM:SS[.fffffffff]` (UTC). */
  timestamp: (iso: string) => {
    const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z?$/.exec(iso);
    if (!match) throw new Error(`bad timestamp ${iso}`);
    const seconds = Math.floor(Date.parse(`${match[1]}Z`) / 1000);
    return `${seconds}.${(match[2] ?? '').padEnd(9, '0')}`;
  },
  /** TIMESTAMP_TZ (result version 1): "<epoch seconds.fraction> <offset minutes + 1440>". */
  timestampTz: (isoUtc: string, offsetMinutes: number) => `${wire.timestamp(isoUtc)} ${1440 + offsetMinutes}`,
  /** TIME: seconds since midnight with 9 fractional digits. */
  time: (hms: string) => {
    const [h, m, s] = hms.split(':');
    const [whole, fraction = ''] = (s ?? '0').split('.');
    return `${Number(h) * 3600 + Number(m) * 60 + Number(whole)}.${fraction.padEnd(9, '0')}`;
  },
  binary: (bytes: Buffer) => bytes.toString('hex').toUpperCase(),
  boolean: (value: boolean) => (value ? '1' : '0'),
  json: (value: unknown) => JSON.stringify(value, null, 2),
};

/** The rowtype entry Snowflake sends for a column. */
function rowtype(column: FakeColumn): object {
  const scale = column.scale ?? (column.type.startsWith('timestamp') || column.type === 'time' ? 9 : column.type === 'fixed' ? 0 : null);
  return {
    name: column.name,
    database: '',
    schema: '',
    table: '',
    type: column.type,
    nullable: true,
    byteLength: column.type === 'text' ? 16_777_216 : null,
    length: column.type === 'text' ? 16_777_216 : null,
    scale,
    precision: column.precision ?? (column.type === 'fixed' ? 38 : null),
    collation: null,
  };
}

const ok = (data: object) => ({ data, code: null, message: null, success: true });
const failure = (code: string, message: string, data: object | null = null) => ({ data, code, message, success: false, headers: null });

/** nock hands over JSON bodies parsed, other bodies as text or hex (gzip). */
function decodeBody(body: unknown): Record<string, unknown> {
  if (body && typeof body === 'object') return body as Record<string, unknown>;
  const text = String(body ?? '');
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return JSON.parse(gunzipSync(Buffer.from(text, 'hex')).toString('utf8')) as Record<string, unknown>;
  }
}

function verifyJwt(token: string, publicKey: KeyObject): Record<string, unknown> | undefined {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return undefined;
  const valid = verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url'));
  return valid ? (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>) : undefined;
}

const fingerprint = (publicKey: KeyObject) =>
  `SHA256:${createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('base64')}`;

export class SnowflakeFake {
  readonly url: string;
  /** The cloud-storage host result chunks are downloaded from (presigned URLs, SSE-C headers). */
  readonly storageUrl: string;
  readonly sessions: FakeSession[] = [];
  readonly queries: ReceivedQuery[] = [];
  /** Login attempts: what the driver sent (without secrets). */
  readonly logins: { account: string; user: string; authenticator: string; ok: boolean; params: Record<string, string> }[] = [];
  readonly chunkDownloads: string[] = [];
  readonly telemetry: unknown[] = [];
  readonly #options: SnowflakeFakeOptions;
  readonly #handlers: Handler[] = [];
  readonly #pending = new Map<string, PendingQuery>();
  readonly #chunks = new Map<string, Buffer>();
  readonly #scopes: nock.Scope[] = [];

  constructor(options: SnowflakeFakeOptions) {
    this.#options = options;
    this.url = options.url ?? `https://${options.account.toLowerCase().replaceAll('_', '-')}.snowflakecomputing.com`;
    this.storageUrl = `https://sfc-${options.account.toLowerCase().replace(/[^a-z0-9]/g, '-')}-stage.s3.us-west-2.amazonaws.com`;
    this.#install();
    // What every session does first; tests may answer these differently with their own `on` (newest first).
    this.on(/^ALTER SESSION SET /i, (q) => {
      for (const [, name, value] of q.sql.matchAll(/([A-Z_]+)\s*=\s*('(?:[^'\\]|\\.|'')*'|\S+)/gi)) {
        q.session.parameters.set(name!.toUpperCase(), value!.replace(/^'|'$/g, ''));
      }
      return statusResult();
    });
    this.on(/^(BEGIN|COMMIT|ROLLBACK)\b/i, () => statusResult());
    this.on(/^SELECT CURRENT_DATABASE\(\)/i, (q) => ({
      columns: [
        { name: 'DB', type: 'text' },
        { name: 'SCH', type: 'text' },
        { name: 'WH', type: 'text' },
        { name: 'RL', type: 'text' },
      ],
      rows: [[q.session.database, q.session.schema, q.session.warehouse, q.session.role]],
    }));
  }

  /**
   * Answers statements whose text matches (newest handler first). `times` limits how often;
   * `pendingPolls` makes Snowflake report the query as still running that many times first.
   */
  on(match: RegExp | string | ((sql: string) => boolean), answer: FakeAnswer, options: { times?: number; pendingPolls?: number } = {}): this {
    const test =
      typeof match === 'function' ? match : typeof match === 'string' ? (sql: string) => sql.includes(match) : (sql: string) => match.test(sql);
    this.#handlers.unshift({ match: test, answer, remaining: options.times ?? Infinity, pendingPolls: options.pendingPolls ?? 0 });
    return this;
  }

  /** Statements received, without the session set-up the adapter sends on its own. */
  statements(): string[] {
    return this.queries.map((q) => q.sql).filter((sql) => !/^(ALTER SESSION|SELECT CURRENT_DATABASE\(\))/i.test(sql));
  }

  /** Removes every nock interceptor (this fake's and any other's). */
  close(): void {
    for (const scope of this.#scopes) scope.persist(false);
    nock.cleanAll();
  }

  #install(): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const fake = this;
    const api = nock(this.url).persist();
    api.post('/session/v1/login-request').query(true).reply((uri, body) => this.#login(new URL(uri, this.url), decodeBody(body)));
    api
      .post('/queries/v1/query-request')
      .query(true)
      .reply(function (this: nock.ReplyFnContext, _uri, body) {
        return fake.#query(this.req.headers.authorization, decodeBody(body));
      });
    api
      .get(/^\/queries\/[^/]+\/result/)
      .query(true)
      .reply(function (this: nock.ReplyFnContext, uri) {
        return fake.#poll(this.req.headers.authorization, uri);
      });
    api
      .post('/session')
      .query((q) => q.delete === 'true')
      .reply(function (this: nock.ReplyFnContext) {
        const session = fake.#session(this.req.headers.authorization);
        if (session) session.closed = true;
        return [200, ok({})];
      });
    api.post('/telemetry/send').query(true).reply((_uri, body) => {
      fake.telemetry.push(decodeBody(body));
      return [200, { success: true }];
    });
    api.post('/session/heartbeat').query(true).reply(200, ok({}));
    const storage = nock(this.storageUrl)
      .persist()
      .get(/^\/results\//)
      .query(true)
      .reply(function (this: nock.ReplyFnContext, uri) {
        const path = uri.split('?')[0]!;
        fake.chunkDownloads.push(path);
        if (this.req.headers['x-amz-server-side-encryption-customer-key'] !== QRMK) {
          return [403, '<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', { 'Content-Type': 'application/xml' }];
        }
        const chunk = fake.#chunks.get(path);
        return chunk
          ? [200, chunk, { 'Content-Encoding': 'gzip', 'Content-Type': 'binary/octet-stream' }]
          : [404, '<Error><Code>NoSuchKey</Code></Error>', { 'Content-Type': 'application/xml' }];
      });
    this.#scopes.push(api, storage);
  }

  #session(authorization: string | string[] | undefined): FakeSession | undefined {
    const token = /Snowflake Token="([^"]+)"/.exec(String(authorization ?? ''))?.[1];
    return this.sessions.find((s) => s.token === token && !s.closed);
  }

  #login(url: URL, body: Record<string, unknown>): [number, object] {
    const data = (body.data ?? {}) as Record<string, unknown>;
    const account = String(data.ACCOUNT_NAME ?? '');
    const loginName = String(data.LOGIN_NAME ?? '');
    const authenticator = String(data.AUTHENTICATOR ?? 'SNOWFLAKE');
    const params = Object.fromEntries(url.searchParams);
    const user = this.#options.users.find((u) => u.name.toUpperCase() === loginName.toUpperCase());
    const record = (okay: boolean) => this.logins.push({ account, user: loginName, authenticator, ok: okay, params });
    if (account.toUpperCase() !== this.#options.account.split('.')[0]!.toUpperCase()) {
      record(false);
      return [200, failure('390100', 'Incorrect username or password was specified.', { nextAction: 'RETRY_LOGIN', authnMethod: 'USERNAME_PASSWORD' })];
    }
    if (authenticator === 'SNOWFLAKE_JWT') {
      const publicKey = user?.publicKey ? createPublicKey(user.publicKey) : undefined;
      const claims = publicKey ? verifyJwt(String(data.TOKEN ?? ''), publicKey) : undefined;
      const subject = `${account.toUpperCase()}.${loginName.toUpperCase()}`;
      if (!publicKey || !claims || claims.sub !== subject || claims.iss !== `${subject}.${fingerprint(publicKey)}`) {
        record(false);
        return [200, failure('390144', 'JWT token is invalid.', { nextAction: 'RETRY_LOGIN', authnMethod: 'KEY_PAIR' })];
      }
    } else if (!user || user.password === undefined || user.password !== data.PASSWORD) {
      record(false);
      return [200, failure('390100', 'Incorrect username or password was specified.', { nextAction: 'RETRY_LOGIN', authnMethod: 'USERNAME_PASSWORD' })];
    }
    const role = (params.roleName ?? user!.roles?.[0] ?? 'PUBLIC').toUpperCase();
    if (params.roleName && user!.roles && !user!.roles.map((r) => r.toUpperCase()).includes(role)) {
      record(false);
      return [200, failure('390189', `Role '${role}' specified in the connect string is not granted to this user. Contact your local system administrator, or attempt to login with another role, e.g. PUBLIC.`)];
    }
    record(true);
    const upper = (v: string | undefined) => (v === undefined ? undefined : v.toUpperCase());
    const database = upper(params.databaseName);
    const schema = upper(params.schemaName);
    const warehouse = upper(params.warehouse);
    const exists = (list: readonly string[] | undefined, name: string | undefined) =>
      name !== undefined && (list === undefined || list.map((n) => n.toUpperCase()).includes(name));
    const sessionParams = ((data.SESSION_PARAMETERS ?? {}) as Record<string, unknown>);
    const session: FakeSession = {
      id: 1000 + this.sessions.length,
      token: `session-token-${randomUUID()}`,
      user: loginName.toUpperCase(),
      authenticator,
      database: exists(this.#options.databases, database) ? database! : null,
      schema: exists(this.#options.databases, database) && exists(this.#options.schemas, `${database}.${schema}`) ? schema! : null,
      warehouse: exists(this.#options.warehouses, warehouse) ? warehouse! : null,
      role,
      queryTag: sessionParams.QUERY_TAG as string | undefined,
      application: (data.CLIENT_ENVIRONMENT as Record<string, unknown> | undefined)?.APPLICATION as string | undefined,
      parameters: new Map([
        ['TIMEZONE', 'America/Los_Angeles'],
        ['TIMESTAMP_OUTPUT_FORMAT', 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM'],
        ['DATE_OUTPUT_FORMAT', 'YYYY-MM-DD'],
        ['TIME_OUTPUT_FORMAT', 'HH24:MI:SS'],
        ['BINARY_OUTPUT_FORMAT', 'HEX'],
      ]),
      closed: false,
    };
    this.sessions.push(session);
    return [
      200,
      ok({
        masterToken: `master-token-${randomUUID()}`,
        token: session.token,
        validityInSeconds: 3600,
        masterValidityInSeconds: 14_400,
        displayUserName: session.user,
        serverVersion: '9.20.0',
        firstLogin: false,
        remMeToken: null,
        remMeValidityInSeconds: 0,
        healthCheckInterval: 45,
        newClientForUpgrade: null,
        sessionId: session.id,
        parameters: this.#parameters(session),
        sessionInfo: { databaseName: session.database, schemaName: session.schema, warehouseName: session.warehouse, roleName: session.role },
        idToken: null,
        idTokenValidityInSeconds: 0,
        responseData: null,
        mfaToken: null,
        mfaTokenValidityInSeconds: 0,
      }),
    ];
  }

  #parameters(session: FakeSession): { name: string; value: string | boolean }[] {
    return [...session.parameters].map(([name, value]) => ({ name, value: value === 'TRUE' ? true : value }));
  }

  #query(authorization: string | string[] | undefined, body: Record<string, unknown>): [number, object] {
    const session = this.#session(authorization);
    if (!session) return [200, failure('390104', 'Session no longer exists.  New login required to access the service.')];
    const sql = String(body.sqlText ?? '').trim();
    const bindings = (body.bindings ?? {}) as Record<string, { type: string; value: string | null }>;
    const indexes = Object.keys(bindings).map(Number).sort((a, b) => a - b);
    const query: ReceivedQuery = {
      sql,
      binds: indexes.map((i) => bindings[i]!.value),
      bindTypes: indexes.map((i) => bindings[i]!.type),
      session,
      queryId: randomUUID(),
    };
    this.queries.push(query);
    const handler = this.#handlers.find((h) => h.remaining > 0 && h.match(sql));
    if (!handler) {
      return [200, this.#error(query, { code: '002003', sqlState: '42S02', message: `fake Snowflake has no answer for: ${sql.slice(0, 200)}` })];
    }
    handler.remaining--;
    const answer = typeof handler.answer === 'function' ? handler.answer(query) : handler.answer;
    const response = () => ('error' in answer ? this.#error(query, answer.error) : this.#result(query, answer));
    if (handler.pendingPolls > 0) {
      this.#pending.set(query.queryId, { polls: handler.pendingPolls, response });
      return [200, this.#inProgress(query.queryId)];
    }
    return [200, response()];
  }

  #inProgress(queryId: string): object {
    return { data: { queryId, getResultUrl: `/queries/${queryId}/result`, queryAbortsAfterSecs: 300, progressDesc: null }, code: '333333', message: 'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.', success: true };
  }

  #poll(authorization: string | string[] | undefined, uri: string): [number, object] {
    if (!this.#session(authorization)) return [200, failure('390104', 'Session no longer exists.  New login required to access the service.')];
    const queryId = /^\/queries\/([^/]+)\/result/.exec(uri)?.[1] ?? '';
    const pending = this.#pending.get(queryId);
    if (!pending) return [200, failure('000709', `Statement ${queryId} not found`)];
    if (--pending.polls > 0) return [200, this.#inProgress(queryId)];
    this.#pending.delete(queryId);
    return [200, pending.response()];
  }

  #error(query: ReceivedQuery, error: FakeError): object {
    return failure(error.code, error.message, {
      internalError: false,
      errorCode: error.code,
      age: 0,
      sqlState: error.sqlState ?? '42000',
      queryId: query.queryId,
      line: -1,
      pos: -1,
      type: 'COMPILATION',
    });
  }

  #result(query: ReceivedQuery, result: FakeResult): object {
    const size = this.#options.chunkRows ?? 1000;
    const inline = result.rows.slice(0, size);
    const chunks: object[] = [];
    for (let start = size, index = 0; start < result.rows.length; start += size, index++) {
      const rows = result.rows.slice(start, start + size);
      const path = `/results/${query.queryId}/main/data_0_0_${index}`;
      // Chunk files hold the rows without the enclosing brackets.
      const text = rows.map((r) => JSON.stringify(r)).join(',');
      this.#chunks.set(path, gzipSync(Buffer.from(text)));
      chunks.push({ url: `${this.storageUrl}${path}?x-amz-signature=fake`, rowCount: rows.length, uncompressedSize: text.length, compressedSize: text.length });
    }
    const session = query.session;
    return ok({
      parameters: this.#parameters(session),
      rowtype: result.columns.map(rowtype),
      rowset: inline,
      total: result.rows.length,
      returned: result.rows.length,
      queryId: query.queryId,
      databaseProvider: null,
      finalDatabaseName: session.database,
      finalSchemaName: session.schema,
      finalWarehouseName: session.warehouse,
      finalRoleName: session.role,
      numberOfBinds: query.binds.length,
      arrayBindSupported: false,
      statementTypeId: /^SELECT|^WITH/i.test(query.sql) ? 4096 : 24_576,
      version: 1,
      sendResultTime: Date.now(),
      queryResultFormat: 'json',
      queryContext: { entries: [{ id: 0, timestamp: Date.now(), priority: 0, context: {} }] },
      ...(chunks.length > 0
        ? {
            chunks,
            qrmk: QRMK,
            chunkHeaders: {
              'x-amz-server-side-encryption-customer-algorithm': 'AES256',
              'x-amz-server-side-encryption-customer-key': QRMK,
              'x-amz-server-side-encryption-customer-key-md5': createHash('md5').update(Buffer.from(QRMK, 'base64')).digest('base64'),
            },
          }
        : {}),
    });
  }
}

/** What Snowflake answers to DDL, DML without counts, and session statements. */
export function statusResult(text = 'Statement executed successfully.'): FakeResult {
  return { columns: [{ name: 'status', type: 'text' }], rows: [[text]] };
}

/** The answer to INSERT/UPDATE/DELETE/MERGE: affected-row counts. */
export function dmlResult(counts: Record<string, number>): FakeResult {
  return {
    columns: Object.keys(counts).map((name) => ({ name, type: 'fixed' as const })),
    rows: [Object.values(counts).map(String)],
  };
}
