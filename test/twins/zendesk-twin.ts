/**
 * An in-process Zendesk Support API (v2) twin on 127.0.0.1, written from
 * ../shared/reference/destination-apis.md §4 independently of the connector: real sockets,
 * `email/token` Basic auth or a bearer token, `users/create_or_update_many` (100 at most),
 * `organizations/create_or_update`, `organizations/update_many` (by id), `destroy_many` (by ids
 * or external_ids), custom user/organization fields with typed values, and background jobs that
 * go queued -> working -> completed over several polls of `job_statuses/{id}`, whose `results[]`
 * follow the request order with `Created` / `Updated` / `Failed`. A per-minute style limit answers
 * 429 with `Retry-After` (JSON or text/plain), more than 30 unfinished jobs answer 429
 * `TooManyJobs`, and an account without bulk import answers 403.
 *
 * Requests the real API would refuse, or that would silently lose data there (a wrong path, more
 * than 100 records, an attribute Zendesk does not have, a retry sent before Retry-After said),
 * are listed in `violations`, which tests assert empty.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TwinField {
  readonly key: string;
  readonly type: 'text' | 'textarea' | 'integer' | 'decimal' | 'date' | 'checkbox' | 'dropdown' | 'regexp';
  readonly title?: string;
  readonly active?: boolean;
  readonly options?: readonly string[];
}

export interface TwinUser {
  readonly id: number;
  readonly name: string;
  readonly email: string | null;
  readonly external_id: string | null;
  readonly user_fields: Readonly<Record<string, unknown>>;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly suspended: boolean;
}

export interface TwinOrganization {
  readonly id: number;
  readonly name: string;
  readonly external_id: string | null;
  readonly organization_fields: Readonly<Record<string, unknown>>;
  readonly attributes: Readonly<Record<string, unknown>>;
}

export interface ZendeskRequest {
  readonly index: number;
  readonly method: string;
  /** Path without the query string and without a `.json` suffix. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly json: unknown;
  readonly receivedAt: number;
  answer: number | undefined;
}

export type ZendeskAnswer = { readonly status: number; readonly body?: unknown; readonly headers?: Readonly<Record<string, string>> };
export type ZendeskFaultPlan = (request: ZendeskRequest) => ZendeskAnswer | undefined;

export interface ZendeskTwinOptions {
  readonly email?: string;
  readonly apiToken?: string;
  readonly oauthToken?: string;
  /** Requests per window before 429; `retryAfterSeconds` fixes the header (0 keeps tests fast). */
  readonly rateLimit?: {
    readonly requests: number;
    readonly perMs: number;
    readonly retryAfterSeconds?: number;
    /** Answer 429 as text/plain, as field reports say it sometimes is. */
    readonly textPlain?: boolean;
  };
  /** Polls of job_statuses/{id} until a job completes (queued, working..., completed). */
  readonly pollsToComplete?: number;
  /** Unfinished jobs allowed at once (Zendesk: 30). */
  readonly maxJobs?: number;
  readonly bulkImportDisabled?: boolean;
  readonly userFields?: readonly TwinField[];
  readonly organizationFields?: readonly TwinField[];
  /** Results carry `index` (false: only their position says which record they are). */
  readonly resultIndex?: boolean;
}

export interface ZendeskTwin {
  /** The API root to configure as base_url (`http://127.0.0.1:<port>/api/v2`). */
  readonly url: string;
  readonly requests: readonly ZendeskRequest[];
  readonly violations: readonly string[];
  readonly maxRecordsPerRequest: number;
  readonly throttled: number;
  readonly jobsStarted: number;
  /** Most jobs unfinished at once. */
  readonly maxOpenJobs: number;
  users(): TwinUser[];
  user(externalIdOrEmail: string): TwinUser | undefined;
  organizations(): TwinOrganization[];
  organization(externalId: string): TwinOrganization | undefined;
  seedUser(user: { name: string; email?: string; external_id?: string; user_fields?: Record<string, unknown> }): TwinUser;
  seedOrganization(org: { name: string; external_id?: string }): TwinOrganization;
  /** Deletes a record behind the connector's back (an admin did it in Zendesk). */
  removeOrganization(externalId: string): void;
  revokeCredentials(): void;
  respondWith(plan: ZendeskFaultPlan | undefined): void;
  assertNoViolations(): void;
  close(): Promise<void>;
}

export const TWIN_EMAIL = 'sync-bot@acme.test';
export const TWIN_TOKEN = 'zd-api-token-0123456789abcdef';
export const DEFAULT_USER_FIELDS: readonly TwinField[] = [
  { key: 'plan', type: 'dropdown', title: 'Plan', options: ['free', 'starter', 'pro', 'team', 'enterprise'] },
  { key: 'lifetime_value', type: 'decimal', title: 'Lifetime value' },
  { key: 'order_count', type: 'integer', title: 'Orders' },
  { key: 'last_order_date', type: 'date', title: 'Last order' },
  { key: 'churn_risk', type: 'decimal', title: 'Churn risk' },
  { key: 'is_active', type: 'checkbox', title: 'Active customer' },
  { key: 'legacy_score', type: 'integer', title: 'Legacy', active: false },
];
export const DEFAULT_ORGANIZATION_FIELDS: readonly TwinField[] = [
  { key: 'tier', type: 'text', title: 'Tier' },
  { key: 'arr', type: 'decimal', title: 'ARR' },
];

const USER_KEYS = new Set([
  'id', 'name', 'email', 'external_id', 'alias', 'details', 'notes', 'phone', 'shared_phone_number', 'locale', 'locale_id',
  'moderator', 'only_private_comments', 'organization_id', 'default_group_id', 'restricted_agent', 'role', 'custom_role_id',
  'signature', 'suspended', 'tags', 'ticket_restriction', 'time_zone', 'verified', 'remote_photo_url', 'skip_verify_email',
  'user_fields', 'identities', 'organization',
]);
const ORG_KEYS = new Set(['id', 'name', 'external_id', 'details', 'notes', 'domain_names', 'group_id', 'shared_tickets', 'shared_comments', 'tags', 'organization_fields']);
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s.]+$/;

interface Job {
  readonly id: string;
  readonly total: number;
  status: 'queued' | 'working' | 'completed' | 'failed';
  polls: number;
  results: unknown[] | null;
  readonly run: () => unknown[];
}

type MutableUser = { -readonly [K in keyof TwinUser]: TwinUser[K] } & { user_fields: Record<string, unknown>; attributes: Record<string, unknown> };
type MutableOrg = { -readonly [K in keyof TwinOrganization]: TwinOrganization[K] } & { organization_fields: Record<string, unknown>; attributes: Record<string, unknown> };

export async function startZendeskTwin(options: ZendeskTwinOptions = {}): Promise<ZendeskTwin> {
  const email = options.email ?? TWIN_EMAIL;
  const apiToken = options.apiToken ?? TWIN_TOKEN;
  const pollsToComplete = options.pollsToComplete ?? 3;
  const maxJobs = options.maxJobs ?? 30;
  const userFields = options.userFields ?? DEFAULT_USER_FIELDS;
  const organizationFields = options.organizationFields ?? DEFAULT_ORGANIZATION_FIELDS;
  const withIndex = options.resultIndex ?? false;
  const users = new Map<number, MutableUser>();
  const orgs = new Map<number, MutableOrg>();
  const jobs = new Map<string, Job>();
  const requests: ZendeskRequest[] = [];
  const violations: string[] = [];
  const window: number[] = [];
  /** Earliest time a request may come back after a 429, by request fingerprint. */
  const notBefore = new Map<string, number>();
  let nextId = 1000;
  let nextJob = 1;
  let maxRecords = 0;
  let throttled = 0;
  let maxOpenJobs = 0;
  let revoked = false;
  let plan: ZendeskFaultPlan | undefined;
  let base = '';

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://twin');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    const request: ZendeskRequest = {
      index: requests.length,
      method: req.method ?? '',
      path: url.pathname.replace(/\.json$/, ''),
      query: url.searchParams,
      headers,
      json: parse(body),
      receivedAt: Date.now(),
      answer: undefined,
    };
    requests.push(request);
    const violation = (text: string) => violations.push(`${request.method} ${request.path} (#${request.index}): ${text}`);
    const rateHeaders = (): Record<string, string> =>
      options.rateLimit
        ? {
            'x-rate-limit': String(options.rateLimit.requests),
            'x-rate-limit-remaining': String(Math.max(0, options.rateLimit.requests - window.length)),
            'ratelimit-limit': String(options.rateLimit.requests),
            'ratelimit-remaining': String(Math.max(0, options.rateLimit.requests - window.length)),
            'ratelimit-reset': String(Math.ceil(options.rateLimit.perMs / 1000)),
          }
        : {};
    const send = (status: number, payload?: unknown, extra: Record<string, string> = {}) => {
      request.answer = status;
      const all = { ...rateHeaders(), ...extra };
      if (payload === undefined) return void res.writeHead(status, all).end();
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      res.writeHead(status, { 'content-type': typeof payload === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8', ...all }).end(text);
    };
    const fingerprint = createHash('sha1').update(`${request.method} ${url.pathname}${url.search} ${body}`).digest('hex');
    const earliest = notBefore.get(fingerprint);
    if (earliest !== undefined && request.receivedAt < earliest - 20) {
      violation(`retried ${earliest - request.receivedAt} ms before Retry-After allowed`);
    }
    notBefore.delete(fingerprint);
    const throttle = (seconds: number, payload: unknown) => {
      throttled += 1;
      notBefore.set(fingerprint, Date.now() + seconds * 1000);
      send(429, payload, { 'retry-after': String(seconds) });
    };

    const scripted = plan?.(request);
    if (scripted) {
      if (scripted.status === 429) {
        throttled += 1;
        const after = scripted.headers?.['retry-after'];
        if (after !== undefined) notBefore.set(fingerprint, Date.now() + Number(after) * 1000);
      }
      return send(scripted.status, scripted.body, { ...scripted.headers });
    }

    if (options.rateLimit) {
      const now = performance.now();
      while (window.length > 0 && window[0]! <= now - options.rateLimit.perMs) window.shift();
      if (window.length >= options.rateLimit.requests) {
        const seconds = options.rateLimit.retryAfterSeconds ?? Math.max(1, Math.ceil((window[0]! + options.rateLimit.perMs - now) / 1000));
        return throttle(seconds, options.rateLimit.textPlain ? 'Rate limit exceeded' : { error: 'TooManyRequests', description: 'You have exceeded the rate limit' });
      }
      window.push(now);
    }

    if (!authorised(headers.authorization)) {
      if (!headers.authorization) violation('no Authorization header');
      return send(401, { error: "Couldn't authenticate you" });
    }
    if (body !== '' && request.json === undefined) {
      violation('body is not JSON');
      return send(400, { error: 'InvalidJSON', description: 'The request body is not valid JSON' });
    }
    if (body !== '' && !(headers['content-type'] ?? '').startsWith('application/json')) violation(`content-type ${headers['content-type']} with a JSON body`);

    const path = request.path;
    const json = (request.json ?? {}) as Record<string, unknown>;
    const route = `${request.method} ${path.replace(/^\/api\/v2/, '').replace(/\/job_statuses\/[^/]+$/, '/job_statuses/:id')}`;
    const startJob = (total: number, run: () => unknown[]) => {
      const open = [...jobs.values()].filter((j) => j.status === 'queued' || j.status === 'working').length;
      if (open >= maxJobs) return throttle(options.rateLimit?.retryAfterSeconds ?? 0, { error: 'TooManyJobs', description: 'Number of allowed queued jobs exceeded' });
      const job: Job = { id: `V3-${(nextJob++).toString(16).padStart(8, '0')}`, total, status: 'queued', polls: 0, results: null, run };
      jobs.set(job.id, job);
      maxOpenJobs = Math.max(maxOpenJobs, open + 1);
      send(200, { job_status: view(job) });
    };
    const tooMany = (what: string, n: number) => {
      maxRecords = Math.max(maxRecords, n);
      if (n > 100) {
        violation(`${n} ${what} in one request (at most 100)`);
        send(400, { error: 'InvalidValue', description: `Too many ${what}, the maximum is 100` });
        return true;
      }
      return false;
    };
    const keysOnly = (allowed: string[]) => {
      const extra = Object.keys(json).filter((k) => !allowed.includes(k));
      if (extra.length > 0) violation(`unexpected keys ${extra.join(', ')}`);
    };

    switch (route) {
      case 'POST /users/create_or_update_many': {
        if (options.bulkImportDisabled) return send(403, { error: 'Forbidden', description: 'Data imports are not enabled for this account' });
        keysOnly(['users']);
        const list = json.users;
        if (!Array.isArray(list)) {
          violation('users is not an array');
          return send(400, { error: 'InvalidValue', description: 'users must be an array' });
        }
        if (tooMany('users', list.length)) return;
        list.forEach((u, i) => checkKeys(u, USER_KEYS, `users[${i}]`, violation));
        return startJob(list.length, () => list.map((u, i) => upsertUser(u as Record<string, unknown>, i, violation)));
      }
      case 'POST /organizations/create_or_update': {
        keysOnly(['organization']);
        const o = json.organization as Record<string, unknown> | undefined;
        if (!o || typeof o !== 'object') return send(400, { error: 'InvalidValue', description: 'organization is required' });
        checkKeys(o, ORG_KEYS, 'organization', violation);
        const outcome = upsertOrganization(o, violation, { allowCreate: true });
        if ('error' in outcome) return send(422, { error: 'RecordInvalid', description: 'Record validation errors', details: outcome.error });
        return send(outcome.created ? 201 : 200, { organization: orgView(outcome.org) });
      }
      case 'PUT /organizations/update_many': {
        keysOnly(['organizations']);
        const list = json.organizations;
        if (request.query.size > 0) violation('bulk update with a query string: that form applies one change to all');
        if (!Array.isArray(list)) {
          violation('organizations is not an array');
          return send(400, { error: 'InvalidValue', description: 'organizations must be an array' });
        }
        if (tooMany('organizations', list.length)) return;
        list.forEach((o, i) => {
          checkKeys(o, ORG_KEYS, `organizations[${i}]`, violation);
          if (typeof (o as { id?: unknown }).id !== 'number') violation(`organizations[${i}] has no numeric id`);
        });
        return startJob(list.length, () =>
          list.map((o, i) => {
            const id = (o as { id: number }).id;
            if (!orgs.has(id)) return { id, ...(withIndex ? { index: i } : {}), status: 'Failed', error: 'RecordNotFound', details: 'Not found' };
            const outcome = upsertOrganization(o as Record<string, unknown>, violation, { allowCreate: false });
            if ('error' in outcome) return { id, ...(withIndex ? { index: i } : {}), status: 'Failed', error: 'RecordInvalid', details: outcome.error };
            return { id, ...(withIndex ? { index: i } : {}), status: 'Updated', action: 'update', success: true };
          }),
        );
      }
      case 'DELETE /users/destroy_many':
      case 'DELETE /organizations/destroy_many': {
        const ids = request.query.get('ids');
        const externalIds = request.query.get('external_ids');
        if ((ids === null) === (externalIds === null)) {
          violation('destroy_many needs ids or external_ids');
          return send(400, { error: 'InvalidValue', description: 'ids or external_ids required' });
        }
        const values = (ids ?? externalIds)!.split(',').filter((v) => v !== '');
        if (tooMany(route.includes('users') ? 'users' : 'organizations', values.length)) return;
        const store: Map<number, { id: number; external_id: string | null }> = route.includes('users') ? users : orgs;
        return startJob(values.length, () =>
          values.map((value, i) => {
            const found =
              ids !== null ? store.get(Number(value)) : [...store.values()].find((r) => r.external_id?.toLowerCase() === value.toLowerCase());
            const ref = ids !== null ? { id: Number(value) } : { external_id: value };
            if (!found) return { ...ref, ...(withIndex ? { index: i } : {}), status: 'Failed', error: 'RecordNotFound', details: 'Not found' };
            store.delete(found.id);
            return { id: found.id, ...(withIndex ? { index: i } : {}), status: 'Deleted', action: 'delete', success: true };
          }),
        );
      }
      case 'GET /job_statuses/:id': {
        const id = decodeURIComponent(path.split('/').pop()!);
        const job = jobs.get(id);
        if (!job) return send(404, { error: 'RecordNotFound', description: 'Not found' });
        job.polls += 1;
        if (job.status === 'queued' || job.status === 'working') {
          if (job.polls >= pollsToComplete) {
            job.results = job.run();
            job.status = 'completed';
          } else {
            job.status = 'working';
          }
        }
        return send(200, { job_status: view(job) });
      }
      case 'GET /user_fields':
        return send(200, { user_fields: fieldsView(userFields), next_page: null, previous_page: null, count: userFields.length });
      case 'GET /organization_fields':
        return send(200, { organization_fields: fieldsView(organizationFields), next_page: null, previous_page: null, count: organizationFields.length });
      default:
        violation('no such endpoint');
        return send(404, { error: 'InvalidEndpoint', description: 'Not found' });
    }
  }

  function view(job: Job): unknown {
    const done = job.status === 'completed';
    return {
      id: job.id,
      url: `${base}/job_statuses/${job.id}.json`,
      total: job.total,
      progress: done ? job.total : job.status === 'working' ? Math.floor(job.total / 2) : 0,
      status: job.status,
      message: done ? `Completed at ${new Date().toISOString()}` : null,
      results: done ? job.results : null,
    };
  }

  function upsertUser(u: Record<string, unknown>, index: number, violation: (t: string) => void): unknown {
    const ref = {
      ...(withIndex ? { index } : {}),
      ...(u.external_id !== undefined ? { external_id: u.external_id } : {}),
      ...(u.email !== undefined ? { email: u.email } : {}),
    };
    const failed = (error: string, details: string) => ({ ...ref, status: 'Failed', error, details });
    if (u.external_id !== undefined && u.external_id !== null && typeof u.external_id !== 'string') {
      violation(`users[${index}].external_id is ${typeof u.external_id}, Zendesk external ids are strings`);
    }
    const externalId = typeof u.external_id === 'string' && u.external_id !== '' ? u.external_id : undefined;
    const address = typeof u.email === 'string' && u.email !== '' ? u.email : undefined;
    if (!externalId && !address) return failed('RecordInvalid', 'Email: cannot be blank without an external_id');
    if (address && !EMAIL.test(address)) return failed('RecordInvalid', `Email: ${address} is not properly formatted`);
    const existing =
      (externalId && [...users.values()].find((x) => x.external_id?.toLowerCase() === externalId.toLowerCase())) ||
      (address && [...users.values()].find((x) => x.email?.toLowerCase() === address.toLowerCase())) ||
      undefined;
    if (existing && address && externalId && existing.external_id && existing.external_id.toLowerCase() !== externalId.toLowerCase()) {
      return failed('RecordInvalid', `Email: ${address} is already being used by another user (DuplicateValue)`);
    }
    if (!existing && (typeof u.name !== 'string' || u.name.trim() === '')) return failed('RecordInvalid', 'Name: is too short (minimum is 1 character)');
    if (existing && u.name !== undefined && (typeof u.name !== 'string' || u.name.trim() === '')) return failed('RecordInvalid', 'Name: is too short (minimum is 1 character)');
    const fieldProblem = customProblem(u.user_fields, userFields, 'user_fields', violation);
    if (fieldProblem) return failed('RecordInvalid', fieldProblem);
    const user: MutableUser = existing ?? { id: nextId++, name: '', email: null, external_id: null, user_fields: {}, attributes: {}, suspended: false };
    for (const [k, v] of Object.entries(u)) {
      if (k === 'name') user.name = v as string;
      else if (k === 'email') user.email = (v as string | null) ?? null;
      else if (k === 'external_id') user.external_id = (v as string | null) ?? null;
      else if (k === 'user_fields') Object.assign(user.user_fields, v);
      else if (k === 'suspended') user.suspended = v === true;
      else user.attributes[k] = v;
    }
    users.set(user.id, user);
    return { ...ref, id: user.id, status: existing ? 'Updated' : 'Created', action: existing ? 'update' : 'create', success: true };
  }

  function upsertOrganization(
    o: Record<string, unknown>,
    violation: (t: string) => void,
    how: { allowCreate: boolean },
  ): { org: MutableOrg; created: boolean } | { error: Record<string, { description: string; error: string }[]> } {
    const externalId = typeof o.external_id === 'string' && o.external_id !== '' ? o.external_id : undefined;
    if (o.external_id !== undefined && o.external_id !== null && typeof o.external_id !== 'string') violation(`organization external_id is ${typeof o.external_id}`);
    const existing =
      (typeof o.id === 'number' ? orgs.get(o.id) : undefined) ??
      (externalId ? [...orgs.values()].find((x) => x.external_id?.toLowerCase() === externalId.toLowerCase()) : undefined);
    if (!existing && !how.allowCreate) return { error: { id: [{ description: 'Not found', error: 'RecordNotFound' }] } };
    const name = o.name;
    if (!existing && (typeof name !== 'string' || name.trim() === '')) return { error: { name: [{ description: 'Name: cannot be blank', error: 'BlankValue' }] } };
    if (typeof name === 'string') {
      const clash = [...orgs.values()].find((x) => x !== existing && x.name.toLowerCase() === name.toLowerCase());
      if (clash) return { error: { name: [{ description: `Name: ${name} has already been taken`, error: 'DuplicateValue' }] } };
    }
    const problem = customProblem(o.organization_fields, organizationFields, 'organization_fields', violation);
    if (problem) return { error: { organization_fields: [{ description: problem, error: 'InvalidValue' }] } };
    const org: MutableOrg = existing ?? { id: nextId++, name: '', external_id: null, organization_fields: {}, attributes: {} };
    for (const [k, v] of Object.entries(o)) {
      if (k === 'id') continue;
      if (k === 'name') org.name = v as string;
      else if (k === 'external_id') org.external_id = (v as string | null) ?? null;
      else if (k === 'organization_fields') Object.assign(org.organization_fields, v);
      else org.attributes[k] = v;
    }
    orgs.set(org.id, org);
    return { org, created: !existing };
  }

  function authorised(header: string | undefined): boolean {
    if (revoked || !header) return false;
    if (header.startsWith('Bearer ')) return options.oauthToken !== undefined && header.slice(7) === options.oauthToken;
    if (!header.startsWith('Basic ')) return false;
    return Buffer.from(header.slice(6), 'base64').toString('utf8') === `${email}/token:${apiToken}`;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}/api/v2`;
  const userCopy = (u: MutableUser): TwinUser => ({ ...u, user_fields: { ...u.user_fields }, attributes: { ...u.attributes } });
  const orgCopy = (o: MutableOrg): TwinOrganization => ({ ...o, organization_fields: { ...o.organization_fields }, attributes: { ...o.attributes } });

  return {
    url: base,
    requests,
    violations,
    get maxRecordsPerRequest() {
      return maxRecords;
    },
    get throttled() {
      return throttled;
    },
    get jobsStarted() {
      return jobs.size;
    },
    get maxOpenJobs() {
      return maxOpenJobs;
    },
    users: () => [...users.values()].map(userCopy),
    user: (id) => {
      const u = [...users.values()].find((x) => x.external_id?.toLowerCase() === id.toLowerCase() || x.email?.toLowerCase() === id.toLowerCase());
      return u && userCopy(u);
    },
    organizations: () => [...orgs.values()].map(orgCopy),
    organization: (id) => {
      const o = [...orgs.values()].find((x) => x.external_id?.toLowerCase() === id.toLowerCase());
      return o && orgCopy(o);
    },
    seedUser(u) {
      const user: MutableUser = {
        id: nextId++, name: u.name, email: u.email ?? null, external_id: u.external_id ?? null, user_fields: { ...u.user_fields }, attributes: {}, suspended: false,
      };
      users.set(user.id, user);
      return userCopy(user);
    },
    seedOrganization(o) {
      const org: MutableOrg = { id: nextId++, name: o.name, external_id: o.external_id ?? null, organization_fields: {}, attributes: {} };
      orgs.set(org.id, org);
      return orgCopy(org);
    },
    removeOrganization(externalId) {
      for (const o of orgs.values()) if (o.external_id === externalId) orgs.delete(o.id);
    },
    revokeCredentials: () => void (revoked = true),
    respondWith: (next) => void (plan = next),
    assertNoViolations() {
      if (violations.length > 0) throw new Error(`the Zendesk twin saw requests the real API would refuse:\n${violations.join('\n')}`);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function checkKeys(record: unknown, allowed: ReadonlySet<string>, where: string, violation: (t: string) => void): void {
  if (!record || typeof record !== 'object') {
    violation(`${where} is not an object`);
    return;
  }
  const unknown = Object.keys(record).filter((k) => !allowed.has(k));
  if (unknown.length > 0) violation(`${where} has attributes Zendesk does not know: ${unknown.join(', ')}`);
}

function customProblem(values: unknown, fields: readonly TwinField[], where: string, violation: (t: string) => void): string | undefined {
  if (values === undefined) return undefined;
  if (!values || typeof values !== 'object' || Array.isArray(values)) return `${where} must be an object`;
  for (const [key, value] of Object.entries(values)) {
    const field = fields.find((f) => f.key === key);
    if (!field) {
      // Zendesk drops unknown keys without a word: the data would be lost.
      violation(`${where}.${key} is not a field of the account`);
      continue;
    }
    if (value === null) continue;
    const ok = (() => {
      switch (field.type) {
        case 'integer':
          return (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value));
        case 'decimal':
          return (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value));
        case 'date':
          return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value);
        case 'checkbox':
          return typeof value === 'boolean';
        case 'dropdown':
          return typeof value === 'string' && (field.options ?? []).includes(value);
        default:
          return typeof value === 'string';
      }
    })();
    if (!ok) return `${field.title ?? key}: ${JSON.stringify(value)} is not a valid ${field.type} value`;
  }
  return undefined;
}

function fieldsView(fields: readonly TwinField[]): unknown[] {
  return fields.map((f, i) => ({
    id: 360000 + i,
    key: f.key,
    type: f.type,
    title: f.title ?? f.key,
    active: f.active ?? true,
    ...(f.options ? { custom_field_options: f.options.map((value, j) => ({ id: j + 1, name: value, value })) } : {}),
  }));
}

function orgView(o: TwinOrganization): unknown {
  return { id: o.id, name: o.name, external_id: o.external_id, organization_fields: o.organization_fields, ...o.attributes };
}

function parse(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
