import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { BigQuery, BigQueryOptions, Job, Query } from '@google-cloud/bigquery';
import { ConfigError, EXIT_BAD_INPUT, WarehouseError, errorMessage } from '../../errors.js';
import type { ProfileTarget } from '../../dbt/profiles.js';
import { renameNamedParams } from '../sql-text.js';
import type { Connection, Row, SqlDialect, Warehouse } from '../types.js';
import { parseBigQueryOutput, type BigQueryConfig } from './bigquery-config.js';
import { bigqueryDialect } from './bigquery-dialect.js';
import { rowFromBigQuery, type BigQueryField, type RawRow } from './bigquery-values.js';

export { bigqueryOutputSchema } from './bigquery-config.js';

/** Rows per page when reading a whole small result. */
const QUERY_PAGE = 10_000;

interface Context {
  readonly client: BigQuery;
  readonly config: BigQueryConfig;
  readonly project: string;
  readonly location: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly description: string;
}

/** A label value as BigQuery accepts it: lower case letters, digits, `_` and `-`, at most 63 characters. */
export const labelValue = (text: string) => text.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);

/**
 * Opens the BigQuery project a dbt-bigquery profile target points at. Credentials, the
 * project and the profile's dataset are checked here (one REST call), so wrong credentials,
 * an unreachable API or a missing dataset stop the run before anything else (exit 2).
 */
export async function openBigQuery(target: ProfileTarget, cwd: string): Promise<Warehouse> {
  const config = parseBigQueryOutput(target);
  const where = `${target.file}: ${target.profile}.outputs.${target.target}`;
  const auth = await credentials(config, where, cwd);
  const { BigQuery: Client } = await import('@google-cloud/bigquery');
  const client = new Client({
    ...auth,
    ...(config.executionProject ? { projectId: config.executionProject } : {}),
    ...(config.location ? { location: config.location } : {}),
    ...(config.apiEndpoint ? { apiEndpoint: config.apiEndpoint } : {}),
    // The client asks for the BigQuery scope itself; these come in addition.
    scopes: config.scopes.filter((scope) => scope !== 'https://www.googleapis.com/auth/bigquery'),
    userAgent: 'dbt-activate',
    retryOptions: { autoRetry: config.retries > 0, maxRetries: config.retries },
  });
  const label = `bigquery (profile ${target.profile}, target ${target.target}`;
  let project = config.project;
  if (!project) {
    try {
      project = await client.getProjectId();
    } catch (error) {
      throw openError(error, config, `${label})`);
    }
    if (!project) throw new ConfigError(`${where}.project: is required (the credentials name no default project)`);
  }
  const description = `${label}, project ${project}, dataset ${config.dataset})`;
  let location = config.location;
  try {
    const [metadata] = await client.dataset(config.dataset, { projectId: project }).getMetadata();
    location ??= (metadata as { location?: string }).location;
  } catch (error) {
    throw openError(error, config, description, project);
  }
  const context: Context = {
    client,
    config,
    project,
    location,
    labels: { application: 'dbt-activate', dbt_target: labelValue(target.target) },
    description,
  };
  const dialect = bigqueryDialect({ project, ...(location ? { location } : {}) });
  const open = new Set<BigQueryConnection>();
  return {
    kind: 'bigquery',
    dialect,
    description,
    async connect() {
      const connection = new BigQueryConnection(context, dialect, () => open.delete(connection));
      open.add(connection);
      return connection;
    },
    async close() {
      const all = [...open];
      open.clear();
      await Promise.all(all.map((c) => c.close()));
    },
  };
}

/** The client's credentials for the profile's method; key files are read and checked here. */
async function credentials(config: BigQueryConfig, where: string, cwd: string): Promise<Partial<BigQueryOptions>> {
  const auth = config.auth;
  switch (auth.kind) {
    case 'adc':
      return {};
    case 'keyfile': {
      const path = resolve(cwd, auth.path.replace(/^~(?=$|[\\/])/, homedir()));
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        throw new ConfigError(`${where}.keyfile: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`);
      }
      let key: Record<string, unknown>;
      try {
        key = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new ConfigError(`${where}.keyfile: ${path} is not JSON (expected a service account key file)`);
      }
      if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string') {
        throw new ConfigError(`${where}.keyfile: ${path} is not a service account key (no client_email and private_key)`);
      }
      return { credentials: key as BigQueryOptions['credentials'] };
    }
    case 'key': {
      const key = { ...auth.key };
      // A key pasted into YAML often keeps its "\n" escapes.
      if (typeof key.private_key === 'string' && !key.private_key.includes('\n')) key.private_key = key.private_key.replaceAll('\\n', '\n');
      return { credentials: key as BigQueryOptions['credentials'] };
    }
    case 'oauth-secrets': {
      if (auth.refreshToken && auth.clientId && auth.clientSecret) {
        return {
          credentials: {
            type: 'authorized_user',
            client_id: auth.clientId,
            client_secret: auth.clientSecret,
            refresh_token: auth.refreshToken,
          } as BigQueryOptions['credentials'],
        };
      }
      // A bare access token: the same google-auth-library the BigQuery client uses.
      const require = createRequire(createRequire(import.meta.url).resolve('@google-cloud/bigquery'));
      const { OAuth2Client } = require('google-auth-library') as typeof import('google-auth-library');
      const client = new OAuth2Client();
      client.setCredentials({ access_token: auth.token ?? null });
      return { authClient: client };
    }
  }
}

const NETWORK = /ENOTFOUND|ECONNREFUSED|ECONNRESET|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|socket hang up|network/i;

function details(error: unknown): { status: number | undefined; reason: string | undefined; message: string } {
  const e = error as {
    code?: unknown;
    status?: unknown;
    errors?: { reason?: string; message?: string }[];
    response?: { status?: number; data?: { error?: unknown; error_description?: string } };
  };
  const status = typeof e.code === 'number' ? e.code : typeof e.response?.status === 'number' ? e.response.status : undefined;
  const data = e.response?.data;
  const oauth = typeof data?.error === 'string' ? `${data.error}${data.error_description ? `: ${data.error_description}` : ''}` : undefined;
  return { status, reason: e.errors?.[0]?.reason ?? (typeof data?.error === 'string' ? data.error : undefined), message: oauth ?? errorMessage(error) };
}

/** One clear message per way opening fails; all are bad input (exit 2): nothing has been sent. */
function openError(error: unknown, config: BigQueryConfig, description: string, project?: string): WarehouseError {
  const { status, reason, message } = details(error);
  const code = String((error as { code?: unknown }).code ?? '');
  let advice: string;
  if (/default credentials/i.test(message)) {
    advice =
      'method oauth uses application-default credentials and none were found: run `gcloud auth application-default login`, ' +
      'set GOOGLE_APPLICATION_CREDENTIALS, or use method service-account with a keyfile';
  } else if (/invalid_grant|invalid_client|unauthorized_client|Invalid JWT/i.test(message) || status === 401) {
    advice = `the credentials were refused (${message}): check the service account key or token for this target (a deleted key or revoked token is refused)`;
  } else if (NETWORK.test(code) || NETWORK.test(message)) {
    advice = `cannot reach BigQuery${config.apiEndpoint ? ` at ${config.apiEndpoint}` : ''} or Google's token service (${message}): check the network or proxy${config.apiEndpoint ? ', and api_endpoint' : ''}`;
  } else if (status === 404 || reason === 'notFound') {
    advice = `dataset ${project ?? ''}.${config.dataset} does not exist (${message}): check project and dataset for this target in profiles.yml (dbt builds models there; run dbt first)`;
  } else if (status === 403 || reason === 'accessDenied') {
    advice = `access denied (${message}): grant the account BigQuery Data Viewer on dataset ${config.dataset} and BigQuery Job User on project ${config.executionProject ?? project ?? ''}`;
  } else {
    advice = `cannot connect: ${message}`;
  }
  return new WarehouseError(`${description}: ${advice}`, { cause: error, exitCode: EXIT_BAD_INPUT });
}

function queryError(error: unknown, sql: string, context: Context, jobId: string | undefined): WarehouseError {
  const { status, reason, message } = details(error);
  const job = jobId ? `, job ${jobId}` : '';
  const create = /^\s*CREATE\s+(SCHEMA|TABLE)\b/i.exec(sql);
  if (create && (status === 403 || reason === 'accessDenied')) {
    const grant =
      create[1]!.toUpperCase() === 'SCHEMA'
        ? `grant the account BigQuery Data Editor on project ${context.project} (it creates the state dataset), or create the dataset and grant BigQuery Data Editor on it`
        : 'grant the account BigQuery Data Editor on the state dataset';
    return new WarehouseError(`${context.description}: ${message}; ${grant}`, { cause: error, exitCode: EXIT_BAD_INPUT });
  }
  return new WarehouseError(`BigQuery: ${message}${reason ? ` (${reason}${job})` : job ? ` (${job.slice(2)})` : ''}`, { cause: error });
}

/** A statement's parameters by name (`@p1`...), with types where BigQuery cannot infer them (NULL). */
function parameters(params: readonly unknown[], name: (i: number) => string): { params: Record<string, unknown>; types: Record<string, string> } {
  const out: Record<string, unknown> = {};
  const types: Record<string, string> = {};
  params.forEach((value, i) => {
    const key = name(i + 1);
    if (value === null || value === undefined) {
      out[key] = null;
      types[key] = 'STRING';
    } else if (typeof value === 'bigint') {
      out[key] = value.toString();
      types[key] = 'INT64';
    } else if (value instanceof Date) {
      out[key] = value.toISOString();
      types[key] = 'TIMESTAMP';
    } else if (typeof value === 'object') {
      out[key] = JSON.stringify(value);
    } else {
      out[key] = value;
    }
  });
  return { params: out, types };
}

interface Page {
  readonly rows: readonly RawRow[];
  readonly fields: readonly BigQueryField[];
  readonly pageToken: string | undefined;
}

interface Statement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

const isDdl = (sql: string) => /^\s*(CREATE|DROP|ALTER)\s/i.test(sql) && !/^\s*(CREATE\s+(OR\s+REPLACE\s+)?TEMP(ORARY)?\s+TABLE|DROP\s+TABLE\s+IF\s+EXISTS\s+`activate_plan_)/i.test(sql);

/**
 * One activate connection = one BigQuery session, created by the first job and named in every
 * later one: temporary tables (the plan's change set) live in it. A transaction's statements
 * are sent together as one script job, with BEGIN/COMMIT and a ROLLBACK on error, so a state
 * checkpoint is one job whatever the number of statements (BigQuery DML is slow and quota-bound).
 * BigQuery runs no DDL on permanent tables in a transaction: a script holding DDL (a migration
 * step) runs its statements in order, stopping at the first error, without one.
 */
export class BigQueryConnection implements Connection {
  #session: string | undefined;
  /** Jobs of one session run one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #buffer: Statement[] | undefined;
  #closed = false;

  constructor(
    private readonly context: Context,
    private readonly dialect: SqlDialect,
    private readonly onClose: () => void,
  ) {}

  /** The BigQuery session's id once the first job has run (for tests and messages). */
  get sessionId(): string | undefined {
    return this.#session;
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<void> {
    if (this.#buffer) {
      this.#buffer.push({ sql, params });
      return;
    }
    await this.#run(sql, params, 0);
  }

  async describe(sql: string): Promise<string[]> {
    await this.#flush();
    const page = await this.#run(sql, [], 0);
    return page.fields.map((f) => f.name);
  }

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    await this.#flush();
    const out: T[] = [];
    for await (const rows of this.#pages(sql, params, QUERY_PAGE)) out.push(...(rows as T[]));
    return out;
  }

  async *stream(sql: string, params: readonly unknown[], batchSize: number): AsyncIterable<readonly Row[]> {
    await this.#flush();
    let batch: Row[] = [];
    for await (const rows of this.#pages(sql, params, batchSize)) {
      for (const row of rows) {
        batch.push(row);
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
    }
    if (batch.length > 0) yield batch;
  }

  /**
   * Buffers the work's writes and sends them as one script job (BEGIN TRANSACTION ... COMMIT)
   * when it returns; when it throws, unsent writes are dropped. A read inside the work first
   * sends the writes before it, as one atomic script, so the read sees them (the state store's
   * lease reads its insert back); the writes after it go in the closing script.
   */
  async transaction<T>(work: () => Promise<T>): Promise<T> {
    if (this.#buffer) return work();
    this.#buffer = [];
    try {
      const out = await work();
      await this.#flush();
      return out;
    } finally {
      this.#buffer = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose();
    const session = this.#session;
    if (!session) return;
    // Ends the session now rather than after 24 idle hours; its temporary tables go with it.
    await this.#run('CALL BQ.ABORT_SESSION()', [], 0).catch(() => undefined);
  }

  /** Sends the writes buffered by the current transaction, if any, as one script. */
  async #flush(): Promise<void> {
    if (!this.#buffer || this.#buffer.length === 0) return;
    await this.#script(this.#buffer.splice(0));
  }

  /** The statements of one transaction as one script job. */
  async #script(statements: readonly Statement[]): Promise<void> {
    const params: unknown[] = [];
    const names: string[] = [];
    const bodies = statements.map((s, n) => {
      const rename = (name: string) => {
        const match = /^p(\d+)$/.exec(name);
        if (!match) return name;
        const renamed = `s${n + 1}_p${match[1]}`;
        if (!names.includes(renamed)) {
          names.push(renamed);
          params.push(s.params[Number(match[1]) - 1]);
        }
        return renamed;
      };
      return `${renameNamedParams(s.sql.trim().replace(/;\s*$/, ''), rename)};`;
    });
    // DDL on permanent tables cannot run in a BigQuery transaction; such a script runs its statements in order and stops at the first error.
    const transactional = !statements.some((s) => isDdl(s.sql));
    const sql = transactional
      ? `BEGIN\n  BEGIN TRANSACTION;\n  ${bodies.join('\n  ')}\n  COMMIT TRANSACTION;\nEXCEPTION WHEN ERROR THEN\n  ROLLBACK TRANSACTION;\n  RAISE USING MESSAGE = @@error.message;\nEND;`
      : bodies.join('\n');
    const byName = new Map(names.map((name, i) => [name, params[i]]));
    await this.#run(sql, [], 0, byName);
  }

  async *#pages(sql: string, params: readonly unknown[], pageSize: number): AsyncGenerator<Row[]> {
    let { page, job } = await this.#job(sql, params, pageSize);
    for (;;) {
      yield page.rows.map((r) => rowFromBigQuery(r, page.fields));
      if (!page.pageToken) return;
      page = await this.#page(job, sql, pageSize, page.pageToken);
    }
  }

  #run(sql: string, params: readonly unknown[], pageSize: number, named?: ReadonlyMap<string, unknown>): Promise<Page> {
    return this.#job(sql, params, pageSize, named).then((r) => r.page);
  }

  /**
   * Runs one query job in the session and waits for it; returns the first page of its result.
   * `named` gives parameters by name (scripts); otherwise `params` are @p1, @p2, ...
   */
  #job(sql: string, params: readonly unknown[], pageSize: number, named?: ReadonlyMap<string, unknown>): Promise<{ page: Page; job: Job }> {
    const work = async (): Promise<{ page: Page; job: Job }> => {
      if (this.#closed && !/^CALL BQ\.ABORT_SESSION/.test(sql)) throw new WarehouseError('internal: the BigQuery connection is closed');
      const { client, config, location, labels } = this.context;
      const p = named
        ? parameters([...named.values()], (i) => [...named.keys()][i - 1]!)
        : parameters(params, (i) => this.dialect.param(i).slice(1));
      const request: Query = {
        query: sql,
        useLegacySql: false,
        ...(Object.keys(p.params).length > 0 ? { params: p.params, ...(Object.keys(p.types).length > 0 ? { types: p.types } : {}) } : {}),
        ...(location ? { location } : {}),
        labels: { ...labels },
        priority: config.priority,
        ...(config.maximumBytesBilled ? { maximumBytesBilled: config.maximumBytesBilled } : {}),
        ...(config.jobTimeoutMs ? { jobTimeoutMs: config.jobTimeoutMs } : {}),
        ...(this.#session ? { connectionProperties: [{ key: 'session_id', value: this.#session }] } : { createSession: true }),
      };
      let job: Job;
      let inserted: { statistics?: { sessionInfo?: { sessionId?: string } } };
      try {
        [job, inserted] = (await client.createQueryJob(request)) as unknown as [Job, typeof inserted];
      } catch (error) {
        throw queryError(error, sql, this.context, undefined);
      }
      const page = await this.#page(job, sql, pageSize, undefined);
      if (!this.#session) {
        this.#session = inserted?.statistics?.sessionInfo?.sessionId ?? (await this.#sessionOf(job, sql));
      }
      return { page, job };
    };
    const result = this.#queue.then(work, work);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #sessionOf(job: Job, sql: string): Promise<string | undefined> {
    try {
      const [metadata] = await job.getMetadata();
      return (metadata as { statistics?: { sessionInfo?: { sessionId?: string } } }).statistics?.sessionInfo?.sessionId;
    } catch (error) {
      throw queryError(error, sql, this.context, job.id);
    }
  }

  /** One page of a job's result (getQueryResults), waiting while the job runs. */
  async #page(job: Job, sql: string, pageSize: number, pageToken: string | undefined): Promise<Page> {
    for (;;) {
      let response: { jobComplete?: boolean; schema?: { fields?: BigQueryField[] }; rows?: RawRow[]; pageToken?: string };
      let rows: unknown[];
      try {
        const result = await job.getQueryResults({
          autoPaginate: false,
          skipParsing: true,
          maxResults: pageSize,
          // No timeoutMs: the client turns it into an error when the job is still running; the server waits ~10 s per call.
          ...(pageToken ? { pageToken } : {}),
        });
        rows = result[0] as unknown[];
        response = (result[2] ?? {}) as typeof response;
      } catch (error) {
        throw queryError(error, sql, this.context, job.id);
      }
      if (response.jobComplete === false) continue;
      return { rows: (rows ?? []) as RawRow[], fields: response.schema?.fields ?? [], pageToken: response.pageToken ?? undefined };
    }
  }
}
