/**
 * An in-process Salesforce org on 127.0.0.1 for tests, built from the documented REST, sObject
 * Collections, Bulk API 2.0 and OAuth behaviour (../shared/reference/destination-apis.md §2):
 *
 * - OAuth token endpoint (refresh token and client credentials grants), Bearer tokens that can be
 *   expired on demand (401 INVALID_SESSION_ID), a token response naming the instance URL (a second
 *   listener when asked, as a refresh may move the instance);
 * - the daily API allocation (403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded.") and a
 *   concurrent request limit (403 REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn Limit
 *   exceeded."), `Sforce-Limit-Info` on every response;
 * - sObject Collections upsert/create/update/delete (≤200 records), per-record results in order,
 *   per-record errors (REQUIRED_FIELD_MISSING, INVALID_EMAIL_ADDRESS, STRING_TOO_LONG, restricted
 *   picklists, read-only fields, DUPLICATE_VALUE, UNABLE_TO_LOCK_ROW on demand), 400 for a body
 *   the JSON parser refuses, allOrNone rollback;
 * - SOQL `SELECT ... WHERE f IN (...)` lookups with paging, sObject describe;
 * - Bulk API 2.0 ingest jobs: Open -> UploadComplete -> InProgress (several polls) -> JobComplete
 *   or Failed, successfulResults / failedResults / unprocessedrecords CSVs (sf__Id, sf__Created,
 *   sf__Error) in shuffled order.
 *
 * Anything the real API would refuse because the client got it wrong (a wrong path or method,
 * more than 200 records per collection, a date not in YYYY-MM-DD, a dateTime with more than
 * milliseconds, a bad CSV, an upload after close, ...) is answered as Salesforce would AND
 * recorded in `violations`, which fail the test. The CSV reader here is written independently
 * of the connector's.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FieldType =
  | 'id' | 'string' | 'email' | 'textarea' | 'picklist' | 'multipicklist' | 'phone' | 'url' | 'reference'
  | 'double' | 'currency' | 'percent' | 'int' | 'boolean' | 'date' | 'datetime' | 'address';

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  readonly externalId?: boolean;
  readonly idLookup?: boolean;
  readonly unique?: boolean;
  readonly createable?: boolean;
  readonly updateable?: boolean;
  readonly calculated?: boolean;
  /** Must have a value when a record is created (nillable false, no default). */
  readonly required?: boolean;
  readonly length?: number;
  readonly picklistValues?: readonly string[];
  readonly restricted?: boolean;
}

export interface ObjectSpec {
  readonly name: string;
  readonly keyPrefix: string;
  readonly fields: readonly FieldSpec[];
}

const SYSTEM_FIELDS: readonly FieldSpec[] = [
  { name: 'Id', type: 'id', createable: false, updateable: false, idLookup: true },
  { name: 'CreatedDate', type: 'datetime', createable: false, updateable: false },
  { name: 'LastModifiedDate', type: 'datetime', createable: false, updateable: false },
];

export const CONTACT: ObjectSpec = {
  name: 'Contact',
  keyPrefix: '003',
  fields: [
    ...SYSTEM_FIELDS,
    { name: 'FirstName', type: 'string', length: 40 },
    { name: 'LastName', type: 'string', length: 80, required: true },
    { name: 'Name', type: 'string', createable: false, updateable: false, calculated: true },
    { name: 'Email', type: 'email', length: 80, idLookup: true },
    { name: 'Description', type: 'textarea', length: 32000 },
    { name: 'MailingAddress', type: 'address', createable: false, updateable: false },
    { name: 'Customer_Id__c', type: 'double', externalId: true, unique: true, idLookup: true },
    { name: 'External_Key__c', type: 'string', length: 64, externalId: true, unique: true, idLookup: true },
    { name: 'Plan__c', type: 'picklist', picklistValues: ['free', 'starter', 'pro', 'team', 'enterprise'], restricted: true },
    { name: 'Interests__c', type: 'multipicklist', picklistValues: ['a', 'b', 'c'] },
    { name: 'Lifetime_Value__c', type: 'currency' },
    { name: 'Order_Count__c', type: 'double' },
    { name: 'Rank__c', type: 'int' },
    { name: 'Last_Order_Date__c', type: 'date' },
    { name: 'Churn_Risk__c', type: 'double' },
    { name: 'Is_Active__c', type: 'boolean' },
    { name: 'Last_Seen_At__c', type: 'datetime' },
    { name: 'Score_Formula__c', type: 'double', createable: false, updateable: false, calculated: true },
  ],
};

export const ACCOUNT: ObjectSpec = {
  name: 'Account',
  keyPrefix: '001',
  fields: [
    ...SYSTEM_FIELDS,
    { name: 'Name', type: 'string', length: 255, required: true },
    { name: 'Account_Key__c', type: 'string', length: 64, externalId: true, unique: true, idLookup: true },
    { name: 'Industry', type: 'picklist', picklistValues: ['Retail', 'Tech'] },
    { name: 'AnnualRevenue', type: 'currency' },
  ],
};

export interface RecordError {
  readonly statusCode: string;
  readonly message: string;
  readonly fields: readonly string[];
}

export interface TwinRequest {
  readonly index: number;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly port: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly json: unknown;
  /** What the twin answered (undefined while pending). */
  status: number | undefined;
}

export type Scripted = { readonly status: number; readonly body?: unknown; readonly headers?: Readonly<Record<string, string>> };
/** Returns an answer for a request, or undefined to let the twin answer normally. */
export type TwinPlan = (request: TwinRequest) => Scripted | undefined;

export interface SalesforceTwinOptions {
  readonly objects?: readonly ObjectSpec[];
  /** A token valid from the start. Default "00Dtwin!initial-token". */
  readonly accessToken?: string;
  readonly oauth?: {
    readonly clientId: string;
    readonly clientSecret?: string;
    readonly refreshToken?: string;
    /** Allow grant_type=client_credentials (needs clientSecret). */
    readonly clientCredentials?: boolean;
  };
  /** API requests allowed in the rolling day (OAuth calls excluded). Default 1,000,000. */
  readonly dailyLimit?: number;
  /** Requests in flight at once; beyond, 403 REQUEST_LIMIT_EXCEEDED (concurrent limit). */
  readonly maxConcurrent?: number;
  /** Every API answer waits this long, so that requests overlap. */
  readonly latencyMs?: number;
  /** GETs of a job that see it InProgress before it completes. Default 2. */
  readonly bulkPolls?: number;
  /** Records per SOQL result page. Default 2000. */
  readonly queryPageSize?: number;
  /** Start a second listener; token responses then name it as instance_url. */
  readonly moveInstanceOnToken?: boolean;
}

interface StoredRecord {
  readonly id: string;
  values: Record<string, unknown>;
  deleted: boolean;
}

interface Job {
  readonly id: string;
  readonly object: ObjectSpec;
  readonly operation: 'insert' | 'update' | 'upsert' | 'delete' | 'hardDelete';
  readonly externalIdFieldName: string | undefined;
  readonly lineEnding: 'LF' | 'CRLF';
  readonly apiVersion: string;
  state: 'Open' | 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
  uploads: number;
  header: string[];
  rows: string[][];
  polls: number;
  errorMessage: string | undefined;
  successful: { row: string[]; id: string; created: boolean }[];
  failed: { row: string[]; id: string; error: string }[];
  unprocessed: string[][];
  numberRecordsProcessed: number;
  numberRecordsFailed: number;
}

export interface TwinJob {
  readonly id: string;
  readonly object: string;
  readonly operation: string;
  readonly state: string;
  readonly rows: number;
  readonly polls: number;
}

export interface SalesforceTwin {
  /** The instance URL (also the login URL: the token endpoint is served here too). */
  readonly url: string;
  /** The second listener's URL when `moveInstanceOnToken`. */
  readonly movedUrl: string | undefined;
  readonly requests: readonly TwinRequest[];
  /** Requests that write records or jobs (not token, describe, query or job polls). */
  writeRequests(): readonly TwinRequest[];
  readonly violations: readonly string[];
  /** Live (not deleted) records of an object, with their Id. */
  records(object?: string): Record<string, unknown>[];
  /** Creates a record directly (as if someone entered it); returns its Id. */
  seed(object: string, values: Record<string, unknown>): string;
  jobs(): readonly TwinJob[];
  readonly tokenRequests: number;
  readonly apiUsage: number;
  readonly peakConcurrency: number;
  /** Every issued access token stops working (401 INVALID_SESSION_ID). */
  expireTokens(): void;
  revokeRefreshToken(): void;
  setDailyLimit(limit: number): void;
  resetUsage(): void;
  /** The next `times` writes touching a record matching `match` fail with UNABLE_TO_LOCK_ROW. */
  lock(object: string, match: (values: Readonly<Record<string, unknown>>) => boolean, times: number): void;
  /** A validation rule: return an error to refuse a record (create or update). */
  rule(object: string, check: (values: Readonly<Record<string, unknown>>) => RecordError | undefined): void;
  clearRules(): void;
  /** The next Bulk job fails after processing this many rows. */
  failNextJob(afterRows: number, message: string): void;
  respondWith(plan: TwinPlan | undefined): void;
  assertNoViolations(): void;
  close(): Promise<void>;
}

const API_VERSION_PATH = /^\/services\/data\/v(\d+)\.(\d+)(\/.*)?$/;
const MIN_VERSION = 41;
const MAX_VERSION = 64;
const COLLECTION_MAX = 200;
const UPLOAD_MAX_BYTES = 100_000_000;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)$/;
const SF_ID = /^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$/;

export async function startSalesforceTwin(options: SalesforceTwinOptions = {}): Promise<SalesforceTwin> {
  const objects = new Map((options.objects ?? [CONTACT, ACCOUNT]).map((o) => [o.name.toLowerCase(), o]));
  const store = new Map<string, Map<string, StoredRecord>>([...objects.values()].map((o) => [o.name, new Map()]));
  const requests: TwinRequest[] = [];
  const violations: string[] = [];
  const validTokens = new Set([options.accessToken ?? '00Dtwin!initial-token']);
  const jobs = new Map<string, Job>();
  const cursors = new Map<string, { records: Record<string, unknown>[]; version: string }>();
  const locks: { object: string; match: (v: Readonly<Record<string, unknown>>) => boolean; times: number }[] = [];
  const rules: { object: string; check: (v: Readonly<Record<string, unknown>>) => RecordError | undefined }[] = [];
  let jobFailure: { afterRows: number; message: string } | undefined;
  let plan: TwinPlan | undefined;
  let dailyLimit = options.dailyLimit ?? 1_000_000;
  let used = 0;
  let inFlight = 0;
  let peak = 0;
  let tokenRequests = 0;
  let tokenCounter = 0;
  let idCounter = 0;
  let refreshRevoked = false;
  const latencyMs = options.latencyMs ?? 0;
  const timers = new Set<NodeJS.Timeout>();

  const violate = (request: TwinRequest, problem: string) => violations.push(`${request.method} ${request.path}: ${problem}`);

  function newId(object: ObjectSpec): string {
    idCounter += 1;
    const base = `${object.keyPrefix}${'0'.repeat(6)}${idCounter.toString(36).toUpperCase().padStart(6, '0')}`;
    return base + idSuffix(base);
  }

  // ---------------------------------------------------------------- HTTP plumbing

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://twin');
      const body = Buffer.concat(chunks).toString('utf8');
      const request: TwinRequest = {
        index: requests.length,
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        port: req.socket.localPort ?? 0,
        headers: lowerCaseHeaders(req),
        body,
        json: parseJson(body),
        status: undefined,
      };
      requests.push(request);
      void handle(request, res);
    });
  };

  function send(request: TwinRequest, res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    request.status = status;
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    const type = body === undefined ? {} : typeof body === 'string' ? { 'content-type': 'text/csv; charset=UTF-8' } : { 'content-type': 'application/json;charset=UTF-8' };
    if (!res.destroyed) {
      res.writeHead(status, { ...type, 'sforce-limit-info': `api-usage=${used}/${dailyLimit}`, ...headers });
      res.end(text);
    }
  }

  const errorBody = (errorCode: string, message: string, fields?: string[]) => [{ message, errorCode, ...(fields ? { fields } : {}) }];

  async function handle(request: TwinRequest, res: ServerResponse): Promise<void> {
    if (request.path === '/services/oauth2/token') {
      tokenEndpoint(request, res);
      return;
    }
    const scripted = plan?.(request);
    if (scripted) {
      send(request, res, scripted.status, scripted.body, { ...scripted.headers });
      return;
    }
    const version = API_VERSION_PATH.exec(request.path);
    if (!version) {
      violate(request, 'not a Salesforce REST path');
      send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
      return;
    }
    const auth = request.headers.authorization ?? '';
    const token = /^Bearer (.+)$/.exec(auth)?.[1];
    if (!token || !validTokens.has(token)) {
      if (!auth.startsWith('Bearer ')) violate(request, 'no "Authorization: Bearer <token>" header');
      send(request, res, 401, errorBody('INVALID_SESSION_ID', 'Session expired or invalid'));
      return;
    }
    if (used >= dailyLimit) {
      send(request, res, 403, errorBody('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'));
      return;
    }
    used += 1;
    if (options.maxConcurrent !== undefined && inFlight >= options.maxConcurrent) {
      send(request, res, 403, errorBody('REQUEST_LIMIT_EXCEEDED', 'ConcurrentPerOrgLongTxn Limit exceeded.'));
      return;
    }
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    try {
      if (latencyMs > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            resolve();
          }, latencyMs);
          timers.add(timer);
        });
      }
      const major = Number(version[1]);
      const rest = version[3] ?? '/';
      if (major < MIN_VERSION || major > MAX_VERSION || version[2] !== '0') {
        violate(request, `API version v${version[1]}.${version[2]} is not served`);
        send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
        return;
      }
      route(request, res, rest, `${version[1]}.${version[2]}`, major);
    } finally {
      inFlight -= 1;
    }
  }

  function route(request: TwinRequest, res: ServerResponse, path: string, version: string, major: number): void {
    const { method } = request;
    let m: RegExpExecArray | null;
    if (method === 'GET' && (m = /^\/sobjects\/([^/]+)\/describe\/?$/.exec(path))) return describe(request, res, decodeURIComponent(m[1]!));
    if ((m = /^\/composite\/sobjects\/([^/]+)\/([^/]+)\/?$/.exec(path))) {
      if (method !== 'PATCH') return wrongMethod(request, res);
      if (major < 46) {
        violate(request, 'sObject Collections upsert needs API v46.0 or later');
        return send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
      }
      return collectionWrite(request, res, 'upsert', decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
    }
    if (/^\/composite\/sobjects\/?$/.test(path)) {
      if (method === 'POST') return collectionWrite(request, res, 'insert', undefined, undefined);
      if (method === 'PATCH') return collectionWrite(request, res, 'update', undefined, undefined);
      if (method === 'DELETE') return collectionDelete(request, res);
      return wrongMethod(request, res);
    }
    if (method === 'GET' && /^\/query\/?$/.test(path)) return query(request, res, version);
    if (method === 'GET' && (m = /^\/query\/([^/]+)$/.exec(path))) return queryMore(request, res, m[1]!);
    if (/^\/jobs\/ingest\/?$/.test(path)) {
      if (method !== 'POST') return wrongMethod(request, res);
      return createJob(request, res, version);
    }
    if ((m = /^\/jobs\/ingest\/([^/]+)\/batches\/?$/.exec(path))) {
      if (method !== 'PUT') return wrongMethod(request, res);
      return uploadJob(request, res, m[1]!);
    }
    if ((m = /^\/jobs\/ingest\/([^/]+)\/?$/.exec(path))) {
      if (method === 'PATCH') return patchJob(request, res, m[1]!);
      if (method === 'GET') return getJob(request, res, m[1]!);
      return wrongMethod(request, res);
    }
    if ((m = /^\/jobs\/ingest\/([^/]+)\/(successfulResults|failedResults|unprocessedrecords)\/?$/.exec(path))) {
      if (method !== 'GET') return wrongMethod(request, res);
      return jobResults(request, res, m[1]!, m[2] as 'successfulResults' | 'failedResults' | 'unprocessedrecords');
    }
    violate(request, 'no such resource');
    send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
  }

  function wrongMethod(request: TwinRequest, res: ServerResponse): void {
    violate(request, `method ${request.method} is not allowed here`);
    send(request, res, 405, errorBody('METHOD_NOT_ALLOWED', `HTTP Method '${request.method}' not allowed.`));
  }

  // ---------------------------------------------------------------- OAuth

  function tokenEndpoint(request: TwinRequest, res: ServerResponse): void {
    tokenRequests += 1;
    request.status = undefined;
    if (request.method !== 'POST') {
      violate(request, 'the token endpoint takes POST');
      return send(request, res, 405, { error: 'invalid_request', error_description: 'must use HTTP POST' });
    }
    if (!(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      violate(request, 'the token request must be application/x-www-form-urlencoded');
      return send(request, res, 400, { error: 'invalid_request', error_description: 'unsupported content type' });
    }
    const form = new URLSearchParams(request.body);
    const oauth = options.oauth;
    const grant = form.get('grant_type');
    if (!oauth || form.get('client_id') !== oauth.clientId) {
      return send(request, res, 400, { error: 'invalid_client_id', error_description: 'client identifier invalid' });
    }
    if (oauth.clientSecret !== undefined && form.get('client_secret') !== oauth.clientSecret) {
      return send(request, res, 400, { error: 'invalid_client', error_description: 'invalid client credentials' });
    }
    if (grant === 'refresh_token') {
      if (!oauth.refreshToken || refreshRevoked || form.get('refresh_token') !== oauth.refreshToken) {
        return send(request, res, 400, { error: 'invalid_grant', error_description: 'expired access/refresh token' });
      }
    } else if (grant === 'client_credentials') {
      if (!oauth.clientCredentials || oauth.clientSecret === undefined) {
        return send(request, res, 400, { error: 'invalid_grant', error_description: 'no client credentials user enabled' });
      }
    } else {
      violate(request, `unexpected grant_type ${grant}`);
      return send(request, res, 400, { error: 'unsupported_grant_type', error_description: 'grant type not supported' });
    }
    tokenCounter += 1;
    const token = `00Dtwin!token-${tokenCounter}-${Math.random().toString(36).slice(2)}`;
    validTokens.add(token);
    send(request, res, 200, {
      access_token: token,
      signature: 'twin-signature',
      scope: 'api',
      instance_url: movedUrl ?? url,
      id: `${url}/id/00Dtwin/005twin`,
      token_type: 'Bearer',
      issued_at: String(Date.now()),
    });
  }

  // ---------------------------------------------------------------- schema helpers

  function objectOf(name: string | undefined): ObjectSpec | undefined {
    return name === undefined ? undefined : objects.get(name.toLowerCase());
  }

  function fieldOf(object: ObjectSpec, name: string): FieldSpec | undefined {
    const lower = name.toLowerCase();
    return object.fields.find((f) => f.name.toLowerCase() === lower);
  }

  function describe(request: TwinRequest, res: ServerResponse, name: string): void {
    const object = objectOf(name);
    if (!object) return send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
    send(request, res, 200, {
      name: object.name,
      label: object.name,
      keyPrefix: object.keyPrefix,
      createable: true,
      updateable: true,
      deletable: true,
      fields: object.fields.map((f) => ({
        name: f.name,
        label: f.name,
        type: f.type,
        length: f.length ?? 0,
        createable: f.createable ?? true,
        updateable: f.updateable ?? true,
        externalId: f.externalId ?? false,
        idLookup: f.idLookup ?? false,
        unique: f.unique ?? false,
        nillable: !f.required && f.type !== 'boolean',
        calculated: f.calculated ?? false,
        defaultedOnCreate: f.type === 'boolean',
        picklistValues: (f.picklistValues ?? []).map((value) => ({ value, label: value, active: true })),
        restrictedPicklist: f.restricted ?? false,
      })),
    });
  }

  type Parsed = { ok: true; value: unknown } | { ok: false; whole?: string; record?: RecordError; violation?: string };

  /** A JSON value for a field, as the REST JSON parser takes it. */
  function fromJson(field: FieldSpec, value: unknown): Parsed {
    if (value === null) return { ok: true, value: null };
    const refuse = (what: string, violation?: string): Parsed => ({
      ok: false,
      whole: `Cannot deserialize instance of ${what} from ${typeof value === 'string' ? 'VALUE_STRING' : 'VALUE'} value ${String(value)} or request may be missing a required field`,
      violation,
    });
    switch (field.type) {
      case 'double':
      case 'currency':
      case 'percent':
      case 'int':
        if (typeof value === 'number') return field.type === 'int' && !Number.isInteger(value) ? refuse('int') : { ok: true, value };
        if (typeof value === 'string' && NUMBER_TEXT.test(value.trim())) return { ok: true, value: Number(value) };
        return refuse(field.type);
      case 'boolean':
        return typeof value === 'boolean' ? { ok: true, value } : refuse('boolean');
      case 'date':
        if (typeof value === 'string' && validDate(value)) return { ok: true, value };
        return refuse('date', `date field ${field.name} got ${JSON.stringify(value)}, not YYYY-MM-DD`);
      case 'datetime':
        if (typeof value === 'string' && DATETIME.test(value)) return { ok: true, value: canonicalDateTime(value) };
        return refuse('datetime', `dateTime field ${field.name} got ${JSON.stringify(value)}, not yyyy-MM-ddTHH:mm:ss(.SSS)Z`);
      default:
        if (typeof value === 'string') return { ok: true, value };
        if (typeof value === 'number' || typeof value === 'boolean') return { ok: true, value: String(value) };
        return refuse('string');
    }
  }

  /** A CSV cell for a field, as Bulk API 2.0 reads it; undefined: empty cell, field left alone. */
  function fromCsv(field: FieldSpec, cell: string): Parsed | undefined {
    if (cell === '') return undefined;
    if (cell === '#N/A') return { ok: true, value: null };
    const bad = (type: string, violation?: string): Parsed => ({
      ok: false,
      record: { statusCode: 'INVALID_FIELD', message: `Failed to deserialize field at col ${field.name}. Due to, '${cell}' is not a valid value for the type xsd:${type}`, fields: [field.name] },
      violation,
    });
    switch (field.type) {
      case 'double':
      case 'currency':
      case 'percent':
      case 'int':
        if (/e/i.test(cell)) return bad('double', `number in exponent notation for ${field.name}: ${cell}`);
        return NUMBER_TEXT.test(cell) ? { ok: true, value: Number(cell) } : bad('double');
      case 'boolean':
        if (/^(true|1)$/i.test(cell)) return { ok: true, value: true };
        if (/^(false|0)$/i.test(cell)) return { ok: true, value: false };
        return bad('boolean');
      case 'date':
        return validDate(cell) ? { ok: true, value: cell } : bad('date', `date field ${field.name} got "${cell}", not YYYY-MM-DD`);
      case 'datetime':
        return DATETIME.test(cell)
          ? { ok: true, value: canonicalDateTime(cell) }
          : bad('dateTime', `dateTime field ${field.name} got "${cell}", not yyyy-MM-ddTHH:mm:ss(.SSS)Z`);
      case 'multipicklist':
        return { ok: true, value: cell };
      default:
        return { ok: true, value: cell };
    }
  }

  interface WriteOutcome {
    readonly success: boolean;
    readonly id: string | null;
    readonly created: boolean;
    readonly errors: RecordError[];
  }

  /**
   * Applies one record write. `values` are canonical field name -> parsed value (already typed).
   * `target` is how the record is found: by Id (update), by external id (upsert) or none (insert).
   */
  function applyWrite(
    object: ObjectSpec,
    operation: 'insert' | 'update' | 'upsert',
    values: Record<string, unknown>,
    target: { id?: string; externalField?: FieldSpec },
  ): WriteOutcome {
    const records = store.get(object.name)!;
    const fail = (statusCode: string, message: string, fields: string[] = []): WriteOutcome => ({
      success: false,
      id: null,
      created: false,
      errors: [{ statusCode, message, fields }],
    });
    let existing: StoredRecord | undefined;
    if (operation === 'update') {
      const id = target.id ?? '';
      if (!SF_ID.test(id)) return fail('MALFORMED_ID', `Contact ID: id value of incorrect type: ${id}`, ['Id']);
      existing = find(records, id);
      if (!existing) return fail('INVALID_CROSS_REFERENCE_KEY', 'invalid cross reference id');
      if (existing.deleted) return fail('ENTITY_IS_DELETED', 'entity is deleted');
    } else if (operation === 'upsert') {
      const field = target.externalField!;
      const key = values[field.name];
      if (key === undefined || key === null || key === '') return fail('MISSING_ARGUMENT', `${field.name} not specified`);
      const matches = [...records.values()].filter((r) => !r.deleted && sameValue(field, r.values[field.name], key));
      if (matches.length > 1) return fail('DUPLICATE_EXTERNAL_ID', `${field.name}: more than one record found for external id field: ${matches.map((r) => r.id).join(', ')}`, [field.name]);
      existing = matches[0];
    }
    const creating = existing === undefined;
    for (const name of Object.keys(values)) {
      const field = fieldOf(object, name)!;
      const allowed = creating ? (field.createable ?? true) : (field.updateable ?? true);
      // On upsert the external id itself may be present on update.
      if (!allowed && !(operation === 'upsert' && field === target.externalField)) {
        return fail(
          'INVALID_FIELD_FOR_INSERT_UPDATE',
          `Unable to create/update fields: ${field.name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`,
          [field.name],
        );
      }
    }
    for (const [name, value] of Object.entries(values)) {
      const field = fieldOf(object, name)!;
      if (value === null || value === undefined) continue;
      if (field.type === 'email' && !EMAIL.test(String(value))) return fail('INVALID_EMAIL_ADDRESS', `${field.name}: invalid email address: ${String(value)}`, [field.name]);
      if (field.length && typeof value === 'string' && value.length > field.length) {
        return fail('STRING_TOO_LONG', `${field.name}: data value too large: ${value.slice(0, 40)} (max length=${field.length})`, [field.name]);
      }
      if (field.type === 'picklist' && field.restricted && !(field.picklistValues ?? []).includes(String(value))) {
        return fail('INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `${field.name}: bad value for restricted picklist field: ${String(value)}`, [field.name]);
      }
    }
    const merged = { ...(existing?.values ?? {}), ...values };
    for (const field of object.fields) {
      if (field.required && (merged[field.name] === undefined || merged[field.name] === null || merged[field.name] === '')) {
        return fail('REQUIRED_FIELD_MISSING', `Required fields are missing: [${field.name}]`, [field.name]);
      }
    }
    for (const field of object.fields) {
      if (!field.unique || merged[field.name] === undefined || merged[field.name] === null) continue;
      const clash = [...records.values()].find((r) => !r.deleted && r !== existing && sameValue(field, r.values[field.name], merged[field.name]));
      if (clash) return fail('DUPLICATE_VALUE', `duplicate value found: ${field.name} duplicates value on record with id: ${clash.id}`, [field.name]);
    }
    const lockIndex = locks.findIndex((l) => l.object === object.name && l.times > 0 && l.match(merged));
    if (lockIndex >= 0) {
      locks[lockIndex]!.times -= 1;
      return fail('UNABLE_TO_LOCK_ROW', 'unable to obtain exclusive access to this record or 1 records');
    }
    for (const r of rules) {
      if (r.object !== object.name) continue;
      const error = r.check(merged);
      if (error) return { success: false, id: null, created: false, errors: [error] };
    }
    const now = new Date().toISOString();
    if (existing) {
      existing.values = { ...merged, LastModifiedDate: now };
      if (object.name === 'Contact') existing.values.Name = fullName(existing.values);
      return { success: true, id: existing.id, created: false, errors: [] };
    }
    const id = newId(object);
    const stored: StoredRecord = { id, values: { ...merged, CreatedDate: now, LastModifiedDate: now }, deleted: false };
    if (object.name === 'Contact') stored.values.Name = fullName(stored.values);
    records.set(id, stored);
    return { success: true, id, created: true, errors: [] };
  }

  function applyDelete(id: string): WriteOutcome {
    const fail = (statusCode: string, message: string): WriteOutcome => ({ success: false, id, created: false, errors: [{ statusCode, message, fields: [] }] });
    if (!SF_ID.test(id)) return { ...fail('MALFORMED_ID', `malformed id ${id}`), id: null };
    for (const [name, records] of store) {
      const record = find(records, id);
      if (!record) continue;
      if (record.deleted) return fail('ENTITY_IS_DELETED', 'entity is deleted');
      const lockIndex = locks.findIndex((l) => l.object === name && l.times > 0 && l.match(record.values));
      if (lockIndex >= 0) {
        locks[lockIndex]!.times -= 1;
        return fail('UNABLE_TO_LOCK_ROW', 'unable to obtain exclusive access to this record or 1 records');
      }
      record.deleted = true;
      return { success: true, id, created: false, errors: [] };
    }
    return fail('INVALID_CROSS_REFERENCE_KEY', 'invalid cross reference id');
  }

  // ---------------------------------------------------------------- sObject Collections

  function collectionWrite(
    request: TwinRequest,
    res: ServerResponse,
    operation: 'insert' | 'update' | 'upsert',
    objectName: string | undefined,
    externalFieldName: string | undefined,
  ): void {
    if (!(request.headers['content-type'] ?? '').startsWith('application/json')) violate(request, 'body is not declared application/json');
    const body = request.json as { allOrNone?: unknown; records?: unknown } | undefined;
    if (!body || typeof body !== 'object' || !Array.isArray(body.records)) {
      violate(request, 'body must be { allOrNone, records: [...] }');
      return send(request, res, 400, errorBody('JSON_PARSER_ERROR', 'Unexpected body: records is required'));
    }
    const records = body.records as unknown[];
    if (records.length > COLLECTION_MAX) {
      violate(request, `${records.length} records in one sObject Collections request (at most ${COLLECTION_MAX})`);
      return send(request, res, 400, errorBody('EXCEEDED_ID_LIMIT', 'record limit reached. cannot submit more than 200 records into this call'));
    }
    if (records.length === 0) violate(request, 'an empty records list');
    const uriObject = objectOf(objectName);
    if (objectName !== undefined && !uriObject) return send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
    let externalField: FieldSpec | undefined;
    if (uriObject && externalFieldName !== undefined) {
      externalField = fieldOf(uriObject, externalFieldName);
      if (!externalField || !(externalField.externalId || externalField.name === 'Id')) {
        return send(request, res, 400, errorBody('INVALID_FIELD', `Field name provided, ${externalFieldName} is not an External ID or indexed field for ${uriObject.name}`));
      }
    }
    // Parse every record first: a value the JSON parser refuses fails the whole request.
    const parsed: { object: ObjectSpec; values: Record<string, unknown>; id?: string }[] = [];
    for (const [index, raw] of records.entries()) {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
        violate(request, `record ${index} is not an object`);
        return send(request, res, 400, errorBody('JSON_PARSER_ERROR', 'records must be objects'));
      }
      const { attributes, ...fields } = raw as Record<string, unknown>;
      const type = (attributes as { type?: unknown } | undefined)?.type;
      if (typeof type !== 'string') {
        violate(request, `record ${index} has no attributes.type`);
        return send(request, res, 400, errorBody('INVALID_TYPE', 'Must send a concrete entity type.'));
      }
      const object = objectOf(type);
      if (!object) return send(request, res, 400, errorBody('INVALID_TYPE', `sObject type '${type}' is not supported.`));
      if (uriObject && object !== uriObject) {
        violate(request, `record ${index} is a ${type} in a ${uriObject.name} collection`);
        return send(request, res, 400, errorBody('INVALID_TYPE', `Record type ${type} does not match ${uriObject.name}`));
      }
      let id: string | undefined;
      const values: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(fields)) {
        if (name.toLowerCase() === 'id') {
          if (operation !== 'update') {
            violate(request, `record ${index} carries an Id in a ${operation}`);
            return send(request, res, 400, errorBody('INVALID_FIELD', `Id not allowed in ${operation === 'upsert' ? 'an upsert; only external ids are supported' : 'an insert'}`));
          }
          id = typeof value === 'string' ? value : String(value);
          continue;
        }
        const field = fieldOf(object, name);
        if (!field) return send(request, res, 400, errorBody('INVALID_FIELD', `No such column '${name}' on sobject of type ${object.name}`));
        const result = fromJson(field, value);
        if (!result.ok) {
          if (result.violation) violate(request, result.violation);
          return send(request, res, 400, errorBody('JSON_PARSER_ERROR', result.whole ?? 'Cannot deserialize'));
        }
        values[field.name] = result.value;
      }
      if (operation === 'update' && id === undefined) {
        violate(request, `record ${index} has no id in an update`);
        return send(request, res, 400, errorBody('MISSING_ARGUMENT', 'Id not specified in an update call'));
      }
      parsed.push({ object, values, id });
    }
    const allOrNone = body.allOrNone === true;
    const snapshot = allOrNone ? snapshotStore() : undefined;
    const results = parsed.map((p) => {
      const outcome = applyWrite(p.object, operation, p.values, { id: p.id, externalField });
      return operation === 'upsert'
        ? { id: outcome.id, success: outcome.success, errors: outcome.errors, created: outcome.created }
        : { id: outcome.id, success: outcome.success, errors: outcome.errors };
    });
    if (allOrNone && results.some((r) => !r.success)) {
      restoreStore(snapshot!);
      for (const r of results) {
        if (r.success) {
          r.success = false;
          r.id = null;
          r.errors = [{ statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK', message: 'Record rolled back because not all records were valid and the request was using AllOrNone header', fields: [] }];
        }
      }
    }
    send(request, res, 200, results);
  }

  function collectionDelete(request: TwinRequest, res: ServerResponse): void {
    const ids = (request.query.get('ids') ?? '').split(',').filter(Boolean);
    if (ids.length === 0) {
      violate(request, 'DELETE without ids');
      return send(request, res, 400, errorBody('MISSING_ARGUMENT', 'ids parameter is required'));
    }
    if (ids.length > COLLECTION_MAX) {
      violate(request, `${ids.length} ids in one sObject Collections delete (at most ${COLLECTION_MAX})`);
      return send(request, res, 400, errorBody('EXCEEDED_ID_LIMIT', 'record limit reached. cannot submit more than 200 records into this call'));
    }
    if (request.body) violate(request, 'a DELETE with a body');
    const allOrNone = request.query.get('allOrNone') === 'true';
    const snapshot = allOrNone ? snapshotStore() : undefined;
    const results = ids.map((id) => {
      const outcome = applyDelete(id);
      return { id: outcome.id, success: outcome.success, errors: outcome.errors };
    });
    if (allOrNone && results.some((r) => !r.success)) restoreStore(snapshot!);
    send(request, res, 200, results);
  }

  // ---------------------------------------------------------------- SOQL

  function query(request: TwinRequest, res: ServerResponse, version: string): void {
    const soql = request.query.get('q') ?? '';
    const match = /^SELECT\s+(.+?)\s+FROM\s+(\w+)\s+WHERE\s+(\w+)\s+IN\s*\((.*)\)\s*$/is.exec(soql);
    if (!match) {
      violate(request, `SOQL the twin does not understand: ${soql.slice(0, 200)}`);
      return send(request, res, 400, errorBody('MALFORMED_QUERY', 'unexpected token'));
    }
    const object = objectOf(match[2]!);
    if (!object) return send(request, res, 400, errorBody('INVALID_TYPE', `sObject type '${match[2]}' is not supported.`));
    const selected = match[1]!.split(',').map((s) => s.trim());
    for (const name of [...selected, match[3]!]) {
      if (!fieldOf(object, name)) return send(request, res, 400, errorBody('INVALID_FIELD', `No such column '${name}' on entity '${object.name}'.`));
    }
    const field = fieldOf(object, match[3]!)!;
    const literals = parseSoqlList(match[4]!);
    if (!literals) {
      violate(request, `malformed IN list: ${match[4]!.slice(0, 200)}`);
      return send(request, res, 400, errorBody('MALFORMED_QUERY', 'unexpected token in IN list'));
    }
    const numeric = ['double', 'currency', 'percent', 'int'].includes(field.type);
    for (const literal of literals) {
      if (numeric !== (typeof literal === 'number')) {
        violate(request, `${numeric ? 'quoted' : 'bare'} literal ${String(literal)} for ${field.type} field ${field.name}`);
        return send(request, res, 400, errorBody('INVALID_QUERY_FILTER_OPERATOR', `invalid ID field: ${String(literal)}`));
      }
    }
    const matches = [...store.get(object.name)!.values()]
      .filter((r) => !r.deleted && literals.some((l) => sameValue(field, r.values[field.name], l)))
      .map((r) => ({
        attributes: { type: object.name, url: `/services/data/v${version}/sobjects/${object.name}/${r.id}` },
        ...Object.fromEntries(selected.map((name) => {
          const f = fieldOf(object, name)!;
          return [f.name, f.name === 'Id' ? r.id : (r.values[f.name] ?? null)];
        })),
      }));
    page(request, res, matches, version);
  }

  function page(request: TwinRequest, res: ServerResponse, records: Record<string, unknown>[], version: string): void {
    const size = options.queryPageSize ?? 2000;
    const first = records.slice(0, size);
    const rest = records.slice(size);
    let nextRecordsUrl: string | undefined;
    if (rest.length > 0) {
      const cursor = `01gtwin${cursors.size}-${size}`;
      cursors.set(cursor, { records: rest, version });
      nextRecordsUrl = `/services/data/v${version}/query/${cursor}`;
    }
    send(request, res, 200, { totalSize: records.length, done: rest.length === 0, ...(nextRecordsUrl ? { nextRecordsUrl } : {}), records: first });
  }

  function queryMore(request: TwinRequest, res: ServerResponse, cursor: string): void {
    const entry = cursors.get(cursor);
    if (!entry) {
      violate(request, `unknown query cursor ${cursor}`);
      return send(request, res, 400, errorBody('INVALID_QUERY_LOCATOR', 'invalid query locator'));
    }
    cursors.delete(cursor);
    page(request, res, entry.records, entry.version);
  }

  // ---------------------------------------------------------------- Bulk API 2.0

  function jobInfo(job: Job): Record<string, unknown> {
    return {
      id: job.id,
      operation: job.operation,
      object: job.object.name,
      createdById: '005twin',
      createdDate: new Date().toISOString(),
      systemModstamp: new Date().toISOString(),
      state: job.state,
      ...(job.externalIdFieldName ? { externalIdFieldName: job.externalIdFieldName } : {}),
      concurrencyMode: 'Parallel',
      contentType: 'CSV',
      apiVersion: Number(job.apiVersion),
      contentUrl: `services/data/v${job.apiVersion}/jobs/ingest/${job.id}/batches`,
      lineEnding: job.lineEnding,
      columnDelimiter: 'COMMA',
      numberRecordsProcessed: job.numberRecordsProcessed,
      numberRecordsFailed: job.numberRecordsFailed,
      ...(job.errorMessage ? { errorMessage: job.errorMessage } : {}),
    };
  }

  function createJob(request: TwinRequest, res: ServerResponse, version: string): void {
    const body = request.json as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') {
      violate(request, 'job body is not JSON');
      return send(request, res, 400, errorBody('INVALIDJOB', 'InvalidJob : request body is not valid JSON'));
    }
    const object = objectOf(typeof body.object === 'string' ? body.object : undefined);
    if (!object) return send(request, res, 400, errorBody('INVALIDENTITY', `Entity '${String(body.object)}' is not supported by the Bulk API.`));
    const operation = body.operation;
    if (!['insert', 'update', 'upsert', 'delete', 'hardDelete'].includes(String(operation))) {
      violate(request, `unknown operation ${String(operation)}`);
      return send(request, res, 400, errorBody('INVALIDJOB', `InvalidJob : Invalid operation: ${String(operation)}`));
    }
    if (body.contentType !== undefined && body.contentType !== 'CSV') {
      violate(request, `contentType ${String(body.contentType)} (CSV is the only one)`);
      return send(request, res, 400, errorBody('INVALIDJOB', 'InvalidJob : contentType must be CSV'));
    }
    if (body.columnDelimiter !== undefined && body.columnDelimiter !== 'COMMA') {
      violate(request, `the twin reads COMMA-delimited CSV only, got ${String(body.columnDelimiter)}`);
    }
    const lineEnding = body.lineEnding ?? 'LF';
    if (lineEnding !== 'LF' && lineEnding !== 'CRLF') {
      violate(request, `lineEnding ${String(lineEnding)}`);
      return send(request, res, 400, errorBody('INVALIDJOB', 'InvalidJob : lineEnding must be LF or CRLF'));
    }
    let externalIdFieldName: string | undefined;
    if (operation === 'upsert') {
      const name = typeof body.externalIdFieldName === 'string' ? body.externalIdFieldName : undefined;
      const field = name === undefined ? undefined : fieldOf(object, name);
      if (!name) {
        violate(request, 'upsert job without externalIdFieldName');
        return send(request, res, 400, errorBody('INVALIDJOB', 'InvalidJob : External ID was blank for upsert'));
      }
      if (!field || !(field.externalId || field.name === 'Id')) {
        return send(request, res, 400, errorBody('INVALIDJOB', `InvalidJob : Field name provided, ${name} is not an External ID or indexed field for ${object.name}`));
      }
      externalIdFieldName = field.name;
    } else if (body.externalIdFieldName !== undefined) {
      violate(request, `externalIdFieldName on a ${String(operation)} job`);
    }
    const id = `750twin${String(jobs.size + 1).padStart(8, '0')}`;
    const job: Job = {
      id,
      object,
      operation: operation as Job['operation'],
      externalIdFieldName,
      lineEnding: lineEnding as 'LF' | 'CRLF',
      apiVersion: version,
      state: 'Open',
      uploads: 0,
      header: [],
      rows: [],
      polls: 0,
      errorMessage: undefined,
      successful: [],
      failed: [],
      unprocessed: [],
      numberRecordsProcessed: 0,
      numberRecordsFailed: 0,
    };
    jobs.set(id, job);
    send(request, res, 200, jobInfo(job));
  }

  function uploadJob(request: TwinRequest, res: ServerResponse, id: string): void {
    const job = jobs.get(id);
    if (!job) {
      violate(request, `upload to unknown job ${id}`);
      return send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
    }
    if (job.state !== 'Open') {
      violate(request, `upload to job ${id} in state ${job.state}`);
      return send(request, res, 409, errorBody('INVALIDJOBSTATE', `Job is not in Open state: ${job.state}`));
    }
    if (!(request.headers['content-type'] ?? '').startsWith('text/csv')) violate(request, 'upload is not Content-Type: text/csv');
    if (job.uploads > 0) violate(request, 'a second upload to the same job (undocumented whether allowed)');
    const bytes = Buffer.byteLength(request.body);
    if (bytes > UPLOAD_MAX_BYTES) violate(request, `upload of ${bytes} bytes (at most ${UPLOAD_MAX_BYTES} raw)`);
    if (bytes === 0) {
      violate(request, 'empty upload');
      return send(request, res, 400, errorBody('INVALIDBATCH', 'InvalidBatch : empty CSV'));
    }
    let rows: string[][];
    try {
      rows = readCsv(request.body, job.lineEnding);
    } catch (error) {
      violate(request, `CSV the Bulk API would refuse: ${(error as Error).message}`);
      return send(request, res, 400, errorBody('INVALIDBATCH', `InvalidBatch : ${(error as Error).message}`));
    }
    const [header, ...data] = rows;
    if (!header || header.length === 0) {
      violate(request, 'CSV without a header row');
      return send(request, res, 400, errorBody('INVALIDBATCH', 'InvalidBatch : no header row'));
    }
    const lower = header.map((h) => h.toLowerCase());
    if (new Set(lower).size !== lower.length) violate(request, `duplicate columns in header ${header.join(',')}`);
    for (const [i, row] of data.entries()) {
      if (row.length !== header.length) violate(request, `row ${i + 1} has ${row.length} fields, the header ${header.length}`);
    }
    if (job.operation === 'upsert' && !lower.includes(job.externalIdFieldName!.toLowerCase())) {
      violate(request, `upsert CSV without the external id column ${job.externalIdFieldName}`);
    }
    if ((job.operation === 'update' || job.operation === 'delete') && !lower.includes('id')) violate(request, `${job.operation} CSV without an Id column`);
    if (job.operation === 'delete' && header.length !== 1) violate(request, 'delete CSV with columns other than Id');
    job.uploads += 1;
    job.header = header;
    job.rows.push(...data);
    send(request, res, 201);
  }

  function patchJob(request: TwinRequest, res: ServerResponse, id: string): void {
    const job = jobs.get(id);
    if (!job) return send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
    const state = (request.json as { state?: unknown } | undefined)?.state;
    if (state === 'UploadComplete') {
      if (job.state !== 'Open') {
        violate(request, `closing job ${id} in state ${job.state}`);
        return send(request, res, 409, errorBody('INVALIDJOBSTATE', `Job is not in Open state: ${job.state}`));
      }
      if (job.uploads === 0) violate(request, `closing job ${id} with no data uploaded`);
      job.state = 'UploadComplete';
      return send(request, res, 200, jobInfo(job));
    }
    if (state === 'Aborted') {
      if (['JobComplete', 'Failed', 'Aborted'].includes(job.state)) {
        return send(request, res, 409, errorBody('INVALIDJOBSTATE', `Job is already ${job.state}`));
      }
      job.state = 'Aborted';
      job.unprocessed = [...job.rows];
      return send(request, res, 200, jobInfo(job));
    }
    violate(request, `PATCH of job ${id} with state ${String(state)}`);
    send(request, res, 400, errorBody('INVALIDJOBSTATE', `Invalid state: ${String(state)}`));
  }

  function getJob(request: TwinRequest, res: ServerResponse, id: string): void {
    const job = jobs.get(id);
    if (!job) return send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
    job.polls += 1;
    if (job.state === 'UploadComplete') job.state = 'InProgress';
    else if (job.state === 'InProgress' && job.polls > (options.bulkPolls ?? 2)) processJob(job);
    send(request, res, 200, jobInfo(job));
  }

  function processJob(job: Job): void {
    const failure = jobFailure;
    jobFailure = undefined;
    const columns = job.header.map((name) => (name.toLowerCase() === 'id' ? ({ name: 'Id', type: 'id' } as FieldSpec) : fieldOf(job.object, name)));
    const unknown = job.header.find((_, i) => columns[i] === undefined);
    if (unknown !== undefined) {
      job.state = 'Failed';
      job.errorMessage = `InvalidBatch : Field name not found : ${unknown}`;
      job.unprocessed = [...job.rows];
      return;
    }
    const externalField = job.externalIdFieldName ? fieldOf(job.object, job.externalIdFieldName) : undefined;
    for (const [index, row] of job.rows.entries()) {
      if (failure && index >= failure.afterRows) {
        job.state = 'Failed';
        job.errorMessage = failure.message;
        job.unprocessed = job.rows.slice(index);
        return;
      }
      job.numberRecordsProcessed += 1;
      const fail = (error: RecordError, id = '') => {
        job.numberRecordsFailed += 1;
        job.failed.push({ row, id, error: `${error.statusCode}:${error.message}:${error.fields.join(',')} --` });
      };
      let id: string | undefined;
      const values: Record<string, unknown> = {};
      let problem: RecordError | undefined;
      for (const [i, cell] of row.entries()) {
        const field = columns[i]!;
        if (field.name === 'Id') {
          id = cell;
          continue;
        }
        const parsed = fromCsv(field, cell);
        if (parsed === undefined) continue;
        if (!parsed.ok) {
          if (parsed.violation) violations.push(`Bulk job ${job.id} row ${index + 1}: ${parsed.violation}`);
          problem ??= parsed.record;
          continue;
        }
        values[field.name] = parsed.value;
      }
      if (problem) {
        fail(problem);
        continue;
      }
      const outcome =
        job.operation === 'delete' || job.operation === 'hardDelete'
          ? applyDelete(id ?? '')
          : applyWrite(job.object, job.operation, values, { id, externalField });
      if (outcome.success) job.successful.push({ row, id: outcome.id ?? '', created: outcome.created });
      else fail(outcome.errors[0]!, outcome.id ?? '');
    }
    job.state = 'JobComplete';
  }

  function jobResults(
    request: TwinRequest,
    res: ServerResponse,
    id: string,
    kind: 'successfulResults' | 'failedResults' | 'unprocessedrecords',
  ): void {
    const job = jobs.get(id);
    if (!job) return send(request, res, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
    if (!['JobComplete', 'Failed', 'Aborted'].includes(job.state)) {
      violate(request, `${kind} of job ${id} read in state ${job.state}`);
      return send(request, res, 409, errorBody('INVALIDJOBSTATE', `Job is not complete: ${job.state}`));
    }
    const lines: string[][] = [];
    if (kind === 'successfulResults') {
      lines.push(['sf__Id', 'sf__Created', ...job.header]);
      for (const r of shuffled(job.successful, job.id)) lines.push([r.id, r.created ? 'true' : 'false', ...r.row]);
    } else if (kind === 'failedResults') {
      lines.push(['sf__Id', 'sf__Error', ...job.header]);
      for (const r of shuffled(job.failed, job.id)) lines.push([r.id, r.error, ...r.row]);
    } else {
      lines.push([...job.header]);
      for (const r of job.unprocessed) lines.push([...r]);
    }
    // Empty result sets come back as an empty body.
    const empty = lines.length === 1;
    send(request, res, 200, empty ? '' : lines.map((l) => l.map(quoteAll).join(',')).join('\n') + '\n');
  }

  // ---------------------------------------------------------------- store snapshots

  function snapshotStore(): Map<string, Map<string, StoredRecord>> {
    return new Map([...store].map(([name, records]) => [name, new Map([...records].map(([id, r]) => [id, { ...r, values: { ...r.values } }]))]));
  }

  function restoreStore(snapshot: Map<string, Map<string, StoredRecord>>): void {
    for (const [name, records] of snapshot) store.set(name, records);
  }

  // ---------------------------------------------------------------- servers

  const server = createServer(handler);
  const second: Server | undefined = options.moveInstanceOnToken ? createServer(handler) : undefined;
  const listen = (s: Server) =>
    new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port));
    });
  const url = `http://127.0.0.1:${await listen(server)}`;
  const movedUrl = second ? `http://127.0.0.1:${await listen(second)}` : undefined;

  return {
    url,
    movedUrl,
    requests,
    writeRequests: () =>
      requests.filter(
        (r) =>
          (r.path.includes('/composite/sobjects') && r.method !== 'GET') ||
          (r.path.includes('/jobs/ingest') && (r.method === 'POST' || r.method === 'PUT' || (r.method === 'PATCH' && (r.json as { state?: string } | undefined)?.state === 'UploadComplete'))),
      ),
    violations,
    records: (object = 'Contact') =>
      [...(store.get(objectOf(object)?.name ?? object)?.values() ?? [])].filter((r) => !r.deleted).map((r) => ({ Id: r.id, ...r.values })),
    seed: (object, values) => {
      const spec = objectOf(object)!;
      const id = newId(spec);
      const canonical = Object.fromEntries(Object.entries(values).map(([k, v]) => [fieldOf(spec, k)?.name ?? k, v]));
      store.get(spec.name)!.set(id, { id, values: spec.name === 'Contact' ? { ...canonical, Name: fullName(canonical) } : canonical, deleted: false });
      return id;
    },
    jobs: () =>
      [...jobs.values()].map((j) => ({ id: j.id, object: j.object.name, operation: j.operation, state: j.state, rows: j.rows.length, polls: j.polls })),
    get tokenRequests() {
      return tokenRequests;
    },
    get apiUsage() {
      return used;
    },
    get peakConcurrency() {
      return peak;
    },
    expireTokens: () => validTokens.clear(),
    revokeRefreshToken: () => {
      refreshRevoked = true;
    },
    setDailyLimit: (limit) => {
      dailyLimit = limit;
    },
    resetUsage: () => {
      used = 0;
    },
    lock: (object, match, times) => locks.push({ object: objectOf(object)!.name, match, times }),
    rule: (object, check) => rules.push({ object: objectOf(object)!.name, check }),
    clearRules: () => {
      rules.length = 0;
    },
    failNextJob: (afterRows, message) => {
      jobFailure = { afterRows, message };
    },
    respondWith: (next) => {
      plan = next;
    },
    assertNoViolations: () => {
      if (violations.length > 0) throw new Error(`the Salesforce twin saw requests the real API would refuse:\n${violations.join('\n')}`);
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      for (const s of [server, second]) {
        if (!s) continue;
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },
  };
}

// ---------------------------------------------------------------- helpers (independent of the connector)

/** Strict RFC 4180 reading: quoted fields, doubled quotes, the job's line ending only. */
function readCsv(text: string, lineEnding: 'LF' | 'CRLF'): string[][] {
  const eol = lineEnding === 'LF' ? '\n' : '\r\n';
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  for (;;) {
    let value = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i];
        i++;
      }
      if (i < text.length && text[i] !== ',' && !text.startsWith(eol, i)) {
        throw new Error(`character ${JSON.stringify(text[i])} after a closing quote at ${i}`);
      }
    } else {
      while (i < text.length && text[i] !== ',' && !text.startsWith(eol, i)) {
        if (text[i] === '"') throw new Error(`a quote inside an unquoted field at ${i}`);
        if (text[i] === '\n' || text[i] === '\r') throw new Error(`a line ending other than ${lineEnding} at ${i}`);
        value += text[i];
        i++;
      }
    }
    row.push(value);
    if (i >= text.length) {
      rows.push(row);
      return rows;
    }
    if (text[i] === ',') {
      i++;
      continue;
    }
    i += eol.length;
    rows.push(row);
    row = [];
    if (i >= text.length) return rows;
  }
}

function quoteAll(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

function validDate(text: string): boolean {
  const m = DATE.exec(text);
  if (!m) return false;
  const d = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.getUTCDate() === Number(m[3]);
}

/** dateTime as Salesforce stores it: UTC with milliseconds. */
function canonicalDateTime(text: string): string {
  return new Date(text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')).toISOString();
}

function sameValue(field: FieldSpec, stored: unknown, given: unknown): boolean {
  if (stored === undefined || stored === null || given === undefined || given === null) return false;
  if (['double', 'currency', 'percent', 'int'].includes(field.type)) return Number(stored) === Number(given);
  return String(stored).toLowerCase() === String(given).toLowerCase();
}

function find(records: Map<string, StoredRecord>, id: string): StoredRecord | undefined {
  return records.get(id) ?? (id.length === 15 ? [...records.values()].find((r) => r.id.startsWith(id)) : undefined);
}

function fullName(values: Record<string, unknown>): string {
  return [values.FirstName, values.LastName].filter((v) => typeof v === 'string' && v !== '').join(' ');
}

/** The 3-character case-safety suffix of an 18-character Salesforce Id. */
function idSuffix(id15: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
  let suffix = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15[chunk * 5 + i]!;
      if (c >= 'A' && c <= 'Z') bits |= 1 << i;
    }
    suffix += alphabet[bits];
  }
  return suffix;
}

/** SOQL IN-list literals: 'text' with backslash escapes, numbers, true/false. */
function parseSoqlList(text: string): (string | number | boolean)[] | undefined {
  const out: (string | number | boolean)[] = [];
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const escapes: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', b: '\b', '"': '"', "'": "'", '\\': '\\' };
  for (;;) {
    skip();
    if (text[i] === "'") {
      i++;
      let value = '';
      for (;;) {
        if (i >= text.length) return undefined;
        const c = text[i]!;
        if (c === '\\') {
          const e = escapes[text[i + 1] ?? ''];
          if (e === undefined) return undefined;
          value += e;
          i += 2;
          continue;
        }
        if (c === "'") {
          i++;
          break;
        }
        value += c;
        i++;
      }
      out.push(value);
    } else {
      const m = /^([+-]?\d+(?:\.\d+)?|true|false)/i.exec(text.slice(i));
      if (!m) return undefined;
      out.push(/^(true|false)$/i.test(m[1]!) ? m[1]!.toLowerCase() === 'true' : Number(m[1]));
      i += m[1]!.length;
    }
    skip();
    if (i >= text.length) return out;
    if (text[i] !== ',') return undefined;
    i++;
  }
}

/** A deterministic shuffle (results order is not upload order). */
function shuffled<T>(items: readonly T[], seed: string): T[] {
  const out = [...items];
  let state = [...seed].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) >>> 0;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function lowerCaseHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
