/**
 * BigQuery's REST API (v2) and Google's OAuth token endpoint as @google-cloud/bigquery and
 * google-auth-library speak them, reproduced with nock so the real client runs against it:
 * service-account JWT grants (signature checked against the key's public half) and refresh
 * tokens; datasets.get; jobs.insert, jobs.get, jobs.query, jobs.getQueryResults with
 * long-polling (`jobComplete: false`) and paging by maxResults/pageToken; sessions
 * (createSession, connectionProperties.session_id); errors in BigQuery's JSON shape, at insert
 * time or when results are read. SQL is not executed: tests answer statements by pattern
 * (`on`), and every job is recorded with its parameters, labels, location and session.
 */
import { createPublicKey, randomUUID, verify, type KeyObject } from 'node:crypto';
import nock from 'nock';

export const TOKEN_URL = 'https://oauth2.googleapis.com';
export const API_URL = 'https://bigquery.googleapis.com';

export interface FakeField {
  readonly name: string;
  readonly type: string;
  readonly mode?: 'NULLABLE' | 'REQUIRED' | 'REPEATED';
  readonly fields?: readonly FakeField[];
}

/** A cell in REST form: a string, null, a nested record `{f: [...]}` or a repeated `[{v}]`. */
export type FakeCell = string | null | { f: { v: FakeCell }[] } | { v: FakeCell }[];

export interface FakeResult {
  readonly schema: readonly FakeField[];
  readonly rows: readonly (readonly FakeCell[])[];
  readonly numDmlAffectedRows?: number;
}

export interface FakeError {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
  /** `insert`: jobs.insert itself is refused; `results` (default): the job fails and reading it says why. */
  readonly at?: 'insert' | 'results';
}

export interface FakeJob {
  readonly projectId: string;
  readonly jobId: string;
  readonly location: string;
  readonly sql: string;
  /** Parameters by name, values as the client sent them. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly paramTypes: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly jobTimeoutMs: string | undefined;
  readonly priority: string | undefined;
  readonly maximumBytesBilled: string | undefined;
  readonly sessionId: string | undefined;
  readonly createdSession: boolean;
  readonly principal: string;
  readonly via: 'jobs.insert' | 'jobs.query';
  pendingPolls: number;
  readonly outcome: FakeResult | { readonly error: FakeError };
  resultReads: number;
}

export type FakeAnswer = FakeResult | { readonly error: FakeError } | ((job: FakeJob) => FakeResult | { readonly error: FakeError });

export interface FakeServiceAccount {
  readonly client_email: string;
  /** PEM public key of the service account's key. */
  readonly publicKey: string;
}

export interface BigQueryFakeOptions {
  readonly serviceAccounts?: readonly FakeServiceAccount[];
  /** authorized_user refresh tokens (gcloud application-default login). */
  readonly refreshTokens?: readonly { readonly client_id: string; readonly refresh_token: string }[];
  /** Existing datasets as "project.dataset" -> location. */
  readonly datasets?: Readonly<Record<string, string>>;
  /** Rows per page when getQueryResults has no maxResults. */
  readonly defaultPageRows?: number;
}

interface Handler {
  readonly match: (sql: string) => boolean;
  readonly answer: FakeAnswer;
  remaining: number;
  readonly pendingPolls: number;
}

const STATUS: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  500: 'INTERNAL',
};

/** BigQuery's error body. */
export function apiError(code: number, reason: string, message: string): { error: object } {
  return { error: { code, message, errors: [{ message, domain: 'global', reason }], status: STATUS[code] ?? 'UNKNOWN' } };
}

/** A row in REST form from cells. */
export const row = (cells: readonly FakeCell[]) => ({ f: cells.map((v) => ({ v })) });

function form(body: unknown): URLSearchParams {
  return new URLSearchParams(typeof body === 'string' ? body : new URLSearchParams(body as Record<string, string>).toString());
}

function verifyJwt(token: string, key: KeyObject): Record<string, unknown> | undefined {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return undefined;
  if (!verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))) return undefined;
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export class BigQueryFake {
  readonly jobs: FakeJob[] = [];
  /** Access tokens issued, and to whom. */
  readonly tokens = new Map<string, string>();
  readonly tokenRequests: { grant: string; principal: string | undefined; scope: string | undefined; ok: boolean }[] = [];
  readonly sessions = new Set<string>();
  readonly #options: BigQueryFakeOptions;
  readonly #handlers: Handler[] = [];

  constructor(options: BigQueryFakeOptions = {}) {
    this.#options = options;
    this.#install();
    this.on(/^CALL BQ\.ABORT_SESSION\(\)/i, (job) => {
      if (job.sessionId) this.sessions.delete(job.sessionId);
      return { schema: [], rows: [] };
    });
  }

  /** Answers statements whose text matches (newest handler first); `pendingPolls` keeps the job running that many reads. */
  on(match: RegExp | string | ((sql: string) => boolean), answer: FakeAnswer, options: { times?: number; pendingPolls?: number } = {}): this {
    const test =
      typeof match === 'function' ? match : typeof match === 'string' ? (sql: string) => sql.includes(match) : (sql: string) => match.test(sql);
    this.#handlers.unshift({ match: test, answer, remaining: options.times ?? Infinity, pendingPolls: options.pendingPolls ?? 0 });
    return this;
  }

  /** Statements received, without session clean-up. */
  statements(): string[] {
    return this.jobs.map((j) => j.sql).filter((sql) => !/^CALL BQ\.ABORT_SESSION/i.test(sql));
  }

  #install(): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const fake = this;
    nock(TOKEN_URL)
      .persist()
      .post('/token')
      .reply((_uri, body) => fake.#token(form(body)));

    const api = nock(API_URL).persist();
    const authorized = (headers: Record<string, string | string[] | undefined>) =>
      fake.tokens.get(/^Bearer (.+)$/.exec(String(headers.authorization ?? ''))?.[1] ?? '');
    const unauthenticated = (): [number, object] => [
      401,
      apiError(401, 'unauthorized', 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.'),
    ];

    api
      .get(/^\/bigquery\/v2\/projects\/[^/]+\/datasets\/[^/?]+/)
      .query(true)
      .reply(function (this: nock.ReplyFnContext, uri) {
        if (!authorized(this.req.headers)) return unauthenticated();
        const [, project, dataset] = /projects\/([^/]+)\/datasets\/([^/?]+)/.exec(uri)!;
        const location = fake.#options.datasets?.[`${project}.${dataset}`];
        if (!location) return [404, apiError(404, 'notFound', `Not found: Dataset ${project}:${dataset}`)];
        return [200, { kind: 'bigquery#dataset', id: `${project}:${dataset}`, datasetReference: { projectId: project, datasetId: dataset }, location }];
      });

    api
      .post(/^\/bigquery\/v2\/projects\/[^/]+\/jobs(\?|$)/)
      .query(true)
      .reply(function (this: nock.ReplyFnContext, uri, body) {
        const principal = authorized(this.req.headers);
        if (!principal) return unauthenticated();
        const project = /projects\/([^/]+)\/jobs/.exec(uri)![1]!;
        return fake.#insert(project, principal, body as Record<string, unknown>);
      });

    api
      .post(/^\/bigquery\/v2\/projects\/[^/]+\/queries(\?|$)/)
      .query(true)
      .reply(function (this: nock.ReplyFnContext, uri, body) {
        const principal = authorized(this.req.headers);
        if (!principal) return unauthenticated();
        const project = /projects\/([^/]+)\/queries/.exec(uri)![1]!;
        return fake.#jobsQuery(project, principal, body as Record<string, unknown>);
      });

    api
      .get(/^\/bigquery\/v2\/projects\/[^/]+\/queries\/[^/?]+/)
      .query(true)
      .reply(function (this: nock.ReplyFnContext, uri) {
        if (!authorized(this.req.headers)) return unauthenticated();
        const url = new URL(uri, API_URL);
        const jobId = /queries\/([^/?]+)/.exec(url.pathname)![1]!;
        return fake.#results(jobId, url.searchParams);
      });

    api
      .get(/^\/bigquery\/v2\/projects\/[^/]+\/jobs\/[^/?]+(\?|$)/)
      .query(true)
      .reply(function (this: nock.ReplyFnContext, uri) {
        if (!authorized(this.req.headers)) return unauthenticated();
        const jobId = /jobs\/([^/?]+)/.exec(uri)![1]!;
        const job = fake.jobs.find((j) => j.jobId === jobId);
        return job ? [200, fake.#resource(job, true)] : [404, apiError(404, 'notFound', `Not found: Job ${jobId}`)];
      });

    api
      .post(/^\/bigquery\/v2\/projects\/[^/]+\/jobs\/[^/]+\/cancel/)
      .query(true)
      .reply(function (this: nock.ReplyFnContext, uri) {
        const jobId = /jobs\/([^/]+)\/cancel/.exec(uri)![1]!;
        const job = fake.jobs.find((j) => j.jobId === jobId);
        return job ? [200, { kind: 'bigquery#jobCancelResponse', job: fake.#resource(job, true) }] : [404, apiError(404, 'notFound', `Not found: Job ${jobId}`)];
      });
  }

  #token(body: URLSearchParams): [number, object] {
    const grant = body.get('grant_type') ?? '';
    const issue = (principal: string, scope: string | undefined): [number, object] => {
      const token = `ya29.fake-${randomUUID()}`;
      this.tokens.set(token, principal);
      this.tokenRequests.push({ grant, principal, scope, ok: true });
      return [200, { access_token: token, expires_in: 3599, token_type: 'Bearer', ...(scope ? { scope } : {}) }];
    };
    if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      const assertion = body.get('assertion') ?? '';
      const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8') || '{}') as Record<string, unknown>;
      const account = this.#options.serviceAccounts?.find((a) => a.client_email === payload.iss);
      const claims = account ? verifyJwt(assertion, createPublicKey(account.publicKey)) : undefined;
      if (!claims || claims.aud !== `${TOKEN_URL}/token`) {
        this.tokenRequests.push({ grant, principal: String(payload.iss ?? ''), scope: undefined, ok: false });
        return [400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }];
      }
      return issue(account!.client_email, typeof claims.scope === 'string' ? claims.scope : undefined);
    }
    if (grant === 'refresh_token') {
      const known = this.#options.refreshTokens?.find((r) => r.refresh_token === body.get('refresh_token') && r.client_id === body.get('client_id'));
      if (!known) {
        this.tokenRequests.push({ grant, principal: undefined, scope: undefined, ok: false });
        return [400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }];
      }
      return issue(`user:${known.client_id}`, undefined);
    }
    return [400, { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${grant}` }];
  }

  #newJob(
    projectId: string,
    principal: string,
    via: FakeJob['via'],
    request: {
      jobId: string;
      location: string | undefined;
      query: Record<string, unknown>;
      labels: unknown;
      jobTimeoutMs: unknown;
    },
  ): FakeJob | { error: [number, object] } {
    const q = request.query;
    const sql = String(q.query ?? '').trim();
    const params: Record<string, unknown> = {};
    const paramTypes: Record<string, string> = {};
    for (const p of (q.queryParameters ?? []) as { name?: string; parameterType: { type: string }; parameterValue: { value: unknown } }[]) {
      params[p.name ?? String(Object.keys(params).length)] = p.parameterValue?.value ?? null;
      paramTypes[p.name ?? String(Object.keys(paramTypes).length)] = p.parameterType.type;
    }
    const properties = (q.connectionProperties ?? []) as { key: string; value: string }[];
    let sessionId = properties.find((p) => p.key === 'session_id')?.value;
    if (sessionId !== undefined && !this.sessions.has(sessionId)) {
      return { error: [400, apiError(400, 'invalid', `Session ${sessionId} has expired and is no longer available.`)] };
    }
    const createdSession = q.createSession === true && sessionId === undefined;
    if (createdSession) {
      sessionId = `fake-session-${randomUUID()}`;
      this.sessions.add(sessionId);
    }
    const handler = this.#handlers.find((h) => h.remaining > 0 && h.match(sql));
    const job: FakeJob = {
      projectId,
      jobId: request.jobId,
      location: request.location ?? 'US',
      sql,
      params,
      paramTypes,
      labels: (request.labels ?? {}) as Record<string, string>,
      jobTimeoutMs: request.jobTimeoutMs === undefined ? undefined : String(request.jobTimeoutMs),
      priority: q.priority as string | undefined,
      maximumBytesBilled: q.maximumBytesBilled === undefined ? undefined : String(q.maximumBytesBilled),
      sessionId,
      createdSession,
      principal,
      via,
      pendingPolls: handler?.pendingPolls ?? 0,
      outcome: { schema: [], rows: [] },
      resultReads: 0,
    };
    let outcome: FakeJob['outcome'];
    if (!handler) {
      outcome = { error: { code: 400, reason: 'invalidQuery', message: `fake BigQuery has no answer for: ${sql.slice(0, 200)}` } };
    } else {
      handler.remaining--;
      outcome = typeof handler.answer === 'function' ? handler.answer(job) : handler.answer;
    }
    (job as { outcome: FakeJob['outcome'] }).outcome = outcome;
    this.jobs.push(job);
    if ('error' in outcome && outcome.error.at === 'insert') {
      return { error: [outcome.error.code, apiError(outcome.error.code, outcome.error.reason, outcome.error.message)] };
    }
    return job;
  }

  #insert(projectId: string, principal: string, body: Record<string, unknown>): [number, object] {
    const configuration = (body.configuration ?? {}) as Record<string, unknown>;
    const reference = (body.jobReference ?? {}) as { jobId?: string; location?: string };
    if (!configuration.query) return [400, apiError(400, 'invalid', 'Only query jobs are faked')];
    const job = this.#newJob(projectId, principal, 'jobs.insert', {
      jobId: reference.jobId ?? `job_${randomUUID()}`,
      location: reference.location,
      query: configuration.query as Record<string, unknown>,
      labels: configuration.labels,
      jobTimeoutMs: configuration.jobTimeoutMs,
    });
    if ('error' in job) return job.error;
    return [200, this.#resource(job, false, configuration)];
  }

  #jobsQuery(projectId: string, principal: string, body: Record<string, unknown>): [number, object] {
    const job = this.#newJob(projectId, principal, 'jobs.query', {
      jobId: `job_${randomUUID()}`,
      location: body.location as string | undefined,
      query: body,
      labels: body.labels,
      jobTimeoutMs: body.jobTimeoutMs,
    });
    if ('error' in job) return job.error;
    if (job.pendingPolls > 0) {
      job.pendingPolls--;
      return [200, { kind: 'bigquery#queryResponse', jobReference: this.#reference(job), jobComplete: false }];
    }
    const page = this.#page(job, body.maxResults === undefined ? undefined : Number(body.maxResults), 0);
    if ('error' in page) return page.error;
    return [200, { kind: 'bigquery#queryResponse', ...page.body, ...(job.sessionId ? { sessionInfo: { sessionId: job.sessionId } } : {}) }];
  }

  #results(jobId: string, query: URLSearchParams): [number, object] {
    const job = this.jobs.find((j) => j.jobId === jobId);
    if (!job) return [404, apiError(404, 'notFound', `Not found: Job ${jobId}`)];
    if (job.pendingPolls > 0) {
      job.pendingPolls--;
      return [200, { kind: 'bigquery#getQueryResultsResponse', etag: 'e', jobReference: this.#reference(job), jobComplete: false }];
    }
    job.resultReads++;
    const token = query.get('pageToken');
    const offset = token ? Number(/^page-(\d+)$/.exec(token)?.[1] ?? NaN) : 0;
    if (Number.isNaN(offset)) return [400, apiError(400, 'invalid', `Invalid page token: ${token}`)];
    const max = query.get('maxResults');
    const page = this.#page(job, max === null ? undefined : Number(max), offset);
    if ('error' in page) return page.error;
    return [200, { kind: 'bigquery#getQueryResultsResponse', etag: 'e', ...page.body }];
  }

  #page(job: FakeJob, maxResults: number | undefined, offset: number): { body: object } | { error: [number, object] } {
    const outcome = job.outcome;
    if ('error' in outcome) return { error: [outcome.error.code, apiError(outcome.error.code, outcome.error.reason, outcome.error.message)] };
    const size = maxResults ?? this.#options.defaultPageRows ?? 100_000;
    const rows = outcome.rows.slice(offset, offset + size);
    const next = offset + rows.length < outcome.rows.length && size > 0 ? `page-${offset + rows.length}` : undefined;
    return {
      body: {
        jobReference: this.#reference(job),
        jobComplete: true,
        schema: { fields: outcome.schema },
        totalRows: String(outcome.rows.length),
        ...(rows.length > 0 ? { rows: rows.map(row) } : {}),
        ...(next ? { pageToken: next } : {}),
        totalBytesProcessed: '0',
        cacheHit: false,
        ...(outcome.numDmlAffectedRows !== undefined ? { numDmlAffectedRows: String(outcome.numDmlAffectedRows) } : {}),
      },
    };
  }

  #reference(job: FakeJob) {
    return { projectId: job.projectId, jobId: job.jobId, location: job.location };
  }

  /** The job resource; `done` as jobs.get sees it once the job has finished. */
  #resource(job: FakeJob, done: boolean, configuration?: object): object {
    const failed = 'error' in job.outcome ? job.outcome.error : undefined;
    const finished = done && job.pendingPolls === 0;
    return {
      kind: 'bigquery#job',
      etag: 'e',
      id: `${job.projectId}:${job.location}.${job.jobId}`,
      jobReference: this.#reference(job),
      configuration: configuration ?? { query: { query: job.sql }, labels: job.labels, jobType: 'QUERY' },
      user_email: job.principal,
      statistics: {
        creationTime: String(Date.now()),
        startTime: String(Date.now()),
        ...(finished ? { endTime: String(Date.now()), totalBytesProcessed: '0', ...(job.sessionId ? { sessionInfo: { sessionId: job.sessionId } } : {}) } : {}),
      },
      status: finished
        ? { state: 'DONE', ...(failed ? { errorResult: { reason: failed.reason, message: failed.message }, errors: [{ reason: failed.reason, message: failed.message }] } : {}) }
        : { state: 'RUNNING' },
    };
  }
}
