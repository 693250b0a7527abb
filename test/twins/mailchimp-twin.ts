/**
 * An in-process Mailchimp Marketing API (3.0) twin on 127.0.0.1, written from
 * ../shared/reference/destination-apis.md §3 independently of the connector: real sockets,
 * HTTP Basic auth (any user, the API key as password) or a bearer token, audiences with merge
 * fields and members keyed by the MD5 of the lower-cased address, batch subscribe (500 at most,
 * `update_existing`, `sync_tags`, per-member `errors[]`), member PUT/PATCH/DELETE (archive),
 * the tags endpoint (204, no body), problem-details errors, and a gate that answers 429 (or a
 * bodyless 403) when more than 10 requests are in flight. No rate-limit headers, no Retry-After.
 *
 * Anything the real API would refuse as a whole (a wrong path or method, a schema violation,
 * more than 500 members, a subscriber hash that does not match the address) is answered as
 * Mailchimp answers it and also listed in `violations`, which tests assert empty.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TwinMergeField {
  readonly tag: string;
  readonly name?: string;
  readonly type: 'text' | 'number' | 'address' | 'phone' | 'date' | 'birthday' | 'zip' | 'url' | 'imageurl' | 'dropdown' | 'radio';
  readonly required?: boolean;
  readonly options?: { readonly date_format?: string; readonly choices?: readonly string[] };
}

export interface TwinMember {
  readonly id: string;
  readonly email_address: string;
  readonly status: string;
  readonly merge_fields: Readonly<Record<string, unknown>>;
  readonly tags: readonly string[];
  readonly archived: boolean;
  readonly language?: string;
  readonly vip?: boolean;
}

export interface TwinRequest {
  readonly index: number;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly json: unknown;
  /** Requests in flight when this one arrived, itself included. */
  readonly inFlight: number;
  answer: number | undefined;
}

export type TwinAnswer = { readonly status: number; readonly body?: unknown; readonly headers?: Readonly<Record<string, string>> };
export type TwinFaultPlan = (request: TwinRequest) => TwinAnswer | undefined;

export interface MailchimpTwinOptions {
  readonly apiKey?: string;
  readonly oauthToken?: string;
  /** Audiences by id; default one audience `aud1` with DEFAULT_MERGE_FIELDS. */
  readonly lists?: Readonly<Record<string, { readonly name?: string; readonly mergeFields?: readonly TwinMergeField[] }>>;
  /** Simultaneous requests allowed (Mailchimp: 10). */
  readonly maxConnections?: number;
  /** How the gate answers past maxConnections: 429 problem details, or a 403 with no body. */
  readonly throttleAnswer?: '429' | 'bodyless-403';
  /** Time each request is held before it is answered, so that concurrent requests overlap. */
  readonly latencyMs?: number;
  /** Addresses at these domains are refused as fake. */
  readonly fakeDomains?: readonly string[];
}

export interface MailchimpTwin {
  /** The API root to configure as base_url (`http://127.0.0.1:<port>/3.0`). */
  readonly url: string;
  readonly requests: readonly TwinRequest[];
  readonly violations: readonly string[];
  /** Most requests in flight at once (gate rejections included). */
  readonly maxInFlight: number;
  /** Requests the concurrency gate refused. */
  readonly gateRejections: number;
  /** Most members in one batch request. */
  readonly maxBatchMembers: number;
  members(listId?: string): TwinMember[];
  member(email: string, listId?: string): TwinMember | undefined;
  seedMember(member: { email: string; status: string; merge_fields?: Record<string, unknown>; tags?: string[]; archived?: boolean }, listId?: string): void;
  /** From now on every credential is refused with 401 (the key was revoked). */
  revokeCredentials(): void;
  respondWith(plan: TwinFaultPlan | undefined): void;
  assertNoViolations(): void;
  close(): Promise<void>;
}

export const TWIN_API_KEY = '0123456789abcdef0123456789abcdef-us21';
export const TWIN_LIST_ID = 'aud1';
export const DEFAULT_MERGE_FIELDS: readonly TwinMergeField[] = [
  { tag: 'FNAME', name: 'First Name', type: 'text' },
  { tag: 'LNAME', name: 'Last Name', type: 'text' },
  { tag: 'PLAN', name: 'Plan', type: 'dropdown', options: { choices: ['free', 'starter', 'pro', 'team', 'enterprise'] } },
  { tag: 'LTV', name: 'Lifetime value', type: 'number' },
  { tag: 'ORDERS', name: 'Orders', type: 'number' },
  { tag: 'LASTORDER', name: 'Last order', type: 'date', options: { date_format: 'MM/DD/YYYY' } },
  { tag: 'BDAY', name: 'Birthday', type: 'birthday', options: { date_format: 'MM/DD' } },
  { tag: 'CHURN', name: 'Churn risk', type: 'number' },
];

const STATUSES = ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional'];
const BATCH_KEYS = new Set(['members', 'update_existing', 'sync_tags']);
const BATCH_MEMBER_KEYS = new Set([
  'email_address', 'email_type', 'status', 'status_if_new', 'merge_fields', 'interests', 'language', 'vip', 'location',
  'ip_signup', 'timestamp_signup', 'ip_opt', 'timestamp_opt', 'tags', 'marketing_permissions',
]);
const PUT_KEYS = new Set([
  'email_address', 'status_if_new', 'email_type', 'status', 'merge_fields', 'interests', 'language', 'vip', 'location',
  'marketing_permissions', 'ip_signup', 'timestamp_signup', 'ip_opt', 'timestamp_opt',
]);
const PATCH_KEYS = new Set([...PUT_KEYS].filter((k) => k !== 'status_if_new'));
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s.]+$/;
const ERRORS_DOC = 'https://mailchimp.com/developer/marketing/docs/errors/';

interface StoredMember {
  id: string;
  email_address: string;
  status: string;
  merge_fields: Record<string, unknown>;
  tags: Set<string>;
  archived: boolean;
  language?: string;
  vip?: boolean;
}

interface List {
  readonly id: string;
  readonly name: string;
  readonly mergeFields: readonly TwinMergeField[];
  readonly members: Map<string, StoredMember>;
}

export function md5Email(email: string): string {
  return createHash('md5').update(email.trim().toLowerCase(), 'utf8').digest('hex');
}

export async function startMailchimpTwin(options: MailchimpTwinOptions = {}): Promise<MailchimpTwin> {
  const apiKey = options.apiKey ?? TWIN_API_KEY;
  const maxConnections = options.maxConnections ?? 10;
  const latencyMs = options.latencyMs ?? 3;
  const fakeDomains = new Set((options.fakeDomains ?? ['fake-domain.invalid']).map((d) => d.toLowerCase()));
  const lists = new Map<string, List>();
  for (const [id, def] of Object.entries(options.lists ?? { [TWIN_LIST_ID]: {} })) {
    lists.set(id, { id, name: def.name ?? `Audience ${id}`, mergeFields: def.mergeFields ?? DEFAULT_MERGE_FIELDS, members: new Map() });
  }
  const requests: TwinRequest[] = [];
  const violations: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let inFlight = 0;
  let maxInFlight = 0;
  let gateRejections = 0;
  let maxBatchMembers = 0;
  let revoked = false;
  let plan: TwinFaultPlan | undefined;

  const server = createServer((req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const arrivedWith = inFlight;
    // Released when the answer is written (the client cannot reuse the connection before), or if it never is.
    let released = false;
    const release = () => {
      if (!released) inFlight -= 1;
      released = true;
    };
    res.on('close', release);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        handle(req, res, Buffer.concat(chunks).toString('utf8'), arrivedWith, release);
      }, latencyMs);
      timers.add(timer);
    });
  });

  function handle(req: IncomingMessage, res: ServerResponse, body: string, arrivedWith: number, release: () => void): void {
    const url = new URL(req.url ?? '/', 'http://twin');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    const request: TwinRequest = {
      index: requests.length,
      method: req.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      headers,
      json: parse(body),
      inFlight: arrivedWith,
      answer: undefined,
    };
    requests.push(request);
    const send = (status: number, payload?: unknown, extra: Record<string, string> = {}) => {
      request.answer = status;
      release();
      if (payload === undefined) {
        res.writeHead(status, extra).end();
        return;
      }
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      res.writeHead(status, { 'content-type': typeof payload === 'string' ? 'text/plain' : 'application/problem+json', ...extra }).end(text);
    };
    const problem = (status: number, title: string, detail: string, errors?: { field: string; message: string }[]) =>
      send(status, { type: ERRORS_DOC, title, status, detail, instance: randomUUID(), ...(errors ? { errors } : {}) });
    const violation = (text: string) => violations.push(`${request.method} ${request.path} (#${request.index}): ${text}`);

    if (arrivedWith > maxConnections) {
      gateRejections += 1;
      if (options.throttleAnswer === 'bodyless-403') return send(403);
      return problem(429, 'Too Many Requests', `You have exceeded the limit of ${maxConnections} simultaneous connections.`);
    }
    const scripted = plan?.(request);
    if (scripted) return send(scripted.status, scripted.body, { ...scripted.headers });

    const auth = headers.authorization;
    if (!auth) {
      violation('no Authorization header');
      return problem(401, 'API Key Missing', 'Your request did not include an API key.');
    }
    if (revoked || !credentialOk(auth)) {
      return problem(401, 'API Key Invalid', "Your API key may be invalid, or you've attempted to access the wrong datacenter.");
    }
    if (body !== '' && request.json === undefined) {
      violation('body is not JSON');
      return problem(400, 'JSON Parse Exception', "We encountered an unspecified JSON parsing error.");
    }
    if (body !== '' && headers['content-type'] !== 'application/json') violation(`content-type ${headers['content-type']} with a JSON body`);

    const route = /^\/3\.0\/lists\/([^/]+)(?:\/(merge-fields|members)(?:\/([^/]+)(?:\/(tags))?)?)?\/?$/.exec(url.pathname);
    if (!route) {
      violation('no such endpoint');
      return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
    }
    const [, listId, sub, hash, tags] = route as unknown as [string, string, string | undefined, string | undefined, string | undefined];
    const list = lists.get(decodeURIComponent(listId));
    if (!list) return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
    const method = request.method;
    const json = request.json as Record<string, unknown> | undefined;

    if (sub === undefined) {
      if (method === 'GET') return send(200, { id: list.id, name: list.name, stats: { member_count: [...list.members.values()].filter((m) => !m.archived).length } });
      if (method === 'POST') return batch(list, json, url.searchParams, send, problem, violation);
      violation(`method ${method} on a list`);
      return problem(405, 'Method Not Allowed', 'The requested method and resource are not compatible.');
    }
    if (sub === 'merge-fields') {
      if (method !== 'GET' || hash !== undefined) {
        violation('merge-fields is only read');
        return problem(405, 'Method Not Allowed', 'The requested method and resource are not compatible.');
      }
      const count = Number(url.searchParams.get('count') ?? '10');
      if (count > 1000) violation(`count ${count} above 1000`);
      return send(200, {
        merge_fields: list.mergeFields.slice(0, count).map((f, i) => ({
          merge_id: i + 1, tag: f.tag, name: f.name ?? f.tag, type: f.type, required: f.required ?? false, options: f.options ?? {}, list_id: list.id,
        })),
        list_id: list.id,
        total_items: list.mergeFields.length,
      });
    }
    if (hash === undefined) {
      violation('member listing or POST /members is not what the connector should use');
      return problem(405, 'Method Not Allowed', 'The requested method and resource are not compatible.');
    }
    const existing = list.members.get(hash);
    if (tags !== undefined) {
      if (method !== 'POST') {
        violation(`method ${method} on member tags`);
        return problem(405, 'Method Not Allowed', 'The requested method and resource are not compatible.');
      }
      if (!existing) return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
      const given = json?.tags;
      const keys = Object.keys(json ?? {}).filter((k) => k !== 'tags' && k !== 'is_syncing');
      if (!Array.isArray(given) || keys.length > 0 || !given.every((t) => isTag(t))) {
        violation(`tags body ${JSON.stringify(json)}`);
        return problem(400, 'Invalid Resource', 'The resource submitted could not be validated.', [{ field: 'tags', message: 'Schema describes array of {name, status}' }]);
      }
      for (const t of given as { name: string; status: string }[]) {
        if (t.status === 'active') existing.tags.add(t.name);
        else existing.tags.delete(t.name);
      }
      return send(204);
    }
    if (method === 'GET') return existing ? send(200, view(list, existing)) : problem(404, 'Resource Not Found', 'The requested resource could not be found.');
    if (method === 'DELETE') {
      if (!existing || existing.archived) return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
      existing.archived = true;
      return send(204);
    }
    if (method === 'PUT' || method === 'PATCH') {
      const allowed = method === 'PUT' ? PUT_KEYS : PATCH_KEYS;
      const unknown = Object.keys(json ?? {}).filter((k) => !allowed.has(k));
      if (!json || unknown.length > 0) {
        violation(`${method} member with ${unknown.length > 0 ? `unknown keys ${unknown.join(', ')}` : 'no body'}`);
        return problem(400, 'Invalid Resource', 'The resource submitted could not be validated.', unknown.map((k) => ({ field: k, message: 'Schema describes object, unknown property' })));
      }
      const email = json.email_address;
      if (email !== undefined && (typeof email !== 'string' || md5Email(email) !== hash)) {
        violation(`subscriber hash ${hash} is not the MD5 of the lower-cased ${String(email)}`);
        return problem(400, 'Invalid Resource', 'The resource submitted could not be validated.', [{ field: 'email_address', message: 'does not match the subscriber hash' }]);
      }
      const isNew = !existing || existing.archived;
      if (method === 'PATCH' && isNew) return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
      if (isNew && typeof email !== 'string') {
        violation('PUT of a new member without email_address');
        return problem(400, 'Invalid Resource', 'The resource submitted could not be validated.', [{ field: 'email_address', message: 'This value should not be blank.' }]);
      }
      const addressProblem = typeof email === 'string' ? emailProblem(email) : undefined;
      if (addressProblem) return problem(400, 'Invalid Resource', addressProblem);
      const status = (json.status ?? (isNew ? json.status_if_new : undefined)) as string | undefined;
      if (isNew && status === undefined) {
        return problem(400, 'Invalid Resource', 'The resource submitted could not be validated.', [{ field: 'status_if_new', message: 'required for a new member' }]);
      }
      for (const key of ['status', 'status_if_new'] as const) {
        if (json[key] !== undefined && !STATUSES.includes(json[key] as string)) {
          violation(`${key} ${String(json[key])}`);
          return problem(400, 'Invalid Resource', 'The resource submitted could not be validated.', [{ field: key, message: 'not a valid status' }]);
        }
      }
      const mergeProblems = validateMerge(list, json.merge_fields, isNew, url.searchParams.get('skip_merge_validation') === 'true');
      if (mergeProblems.length > 0) return problem(400, 'Invalid Resource', 'Your merge fields were invalid.', mergeProblems);
      const member = upsertMember(list, hash, json, status, isNew);
      return send(200, view(list, member));
    }
    violation(`method ${method} on a member`);
    return problem(405, 'Method Not Allowed', 'The requested method and resource are not compatible.');
  }

  function batch(
    list: List,
    json: Record<string, unknown> | undefined,
    query: URLSearchParams,
    send: (status: number, payload?: unknown) => void,
    problem: (status: number, title: string, detail: string, errors?: { field: string; message: string }[]) => void,
    violation: (text: string) => void,
  ): void {
    const unknown = Object.keys(json ?? {}).filter((k) => !BATCH_KEYS.has(k));
    const members = json?.members;
    if (!json || unknown.length > 0 || !Array.isArray(members)) {
      violation(`batch body: ${unknown.length > 0 ? `unknown keys ${unknown.join(', ')}` : 'members missing'}`);
      return problem(400, 'Invalid Resource', 'The resource submitted could not be validated.', [{ field: 'members', message: 'Schema describes array' }]);
    }
    maxBatchMembers = Math.max(maxBatchMembers, members.length);
    if (members.length > 500) {
      violation(`${members.length} members in one batch (at most 500)`);
      return problem(400, 'Invalid Resource', 'The resource submitted could not be validated.', [{ field: 'members', message: 'Array can contain at most 500 items' }]);
    }
    for (const [i, m] of members.entries()) {
      const keys = m && typeof m === 'object' ? Object.keys(m as object) : [];
      const bad = keys.filter((k) => !BATCH_MEMBER_KEYS.has(k));
      const member = m as Record<string, unknown>;
      const tagsOk = member.tags === undefined || (Array.isArray(member.tags) && member.tags.every((t) => typeof t === 'string'));
      if (bad.length > 0 || typeof member.email_address !== 'string' || !STATUSES.includes(member.status as string) || !tagsOk) {
        violation(`member ${i}: ${JSON.stringify(m)}`);
        return problem(400, 'Invalid Resource', 'The resource submitted could not be validated.', [{ field: `members.item:${i}`, message: 'Schema describes object' }]);
      }
    }
    const updateExisting = json.update_existing === true;
    const syncTags = json.sync_tags === true;
    const skipMerge = query.get('skip_merge_validation') === 'true';
    const skipDuplicates = query.get('skip_duplicate_check') === 'true';
    const created: unknown[] = [];
    const updated: unknown[] = [];
    const errors: unknown[] = [];
    const seen = new Set<string>();
    for (const m of members as Record<string, unknown>[]) {
      const email = m.email_address as string;
      const hash = md5Email(email);
      const fail = (error: string, code = 'ERROR_GENERIC', field?: string, fieldMessage?: string) =>
        errors.push({ email_address: email, error, error_code: code, ...(field ? { field, field_message: fieldMessage } : {}) });
      const addressProblem = emailProblem(email);
      if (addressProblem) {
        fail(addressProblem);
        continue;
      }
      if (seen.has(hash)) {
        if (!skipDuplicates) fail(`${email} appears more than once in this request`);
        continue;
      }
      seen.add(hash);
      const current = list.members.get(hash);
      const isNew = !current || current.archived;
      if (!isNew && !updateExisting) {
        fail(`${email} is already a list member. Use PUT to insert or update list members.`, 'ERROR_CONTACT_EXISTS');
        continue;
      }
      const mergeProblems = validateMerge(list, m.merge_fields, isNew, skipMerge);
      if (mergeProblems.length > 0) {
        fail('Your merge fields were invalid.', 'ERROR_GENERIC', mergeProblems[0]!.field, mergeProblems[0]!.message);
        continue;
      }
      const stored = upsertMember(list, hash, m, m.status as string, isNew, syncTags);
      for (const t of (m.tags as string[] | undefined) ?? []) stored.tags.add(t);
      (isNew ? created : updated).push(view(list, stored));
    }
    send(200, {
      new_members: created,
      updated_members: updated,
      errors,
      total_created: created.length,
      total_updated: updated.length,
      error_count: errors.length,
      _links: [],
    });
  }

  function upsertMember(list: List, hash: string, body: Record<string, unknown>, status: string | undefined, isNew: boolean, replaceTags = false): StoredMember {
    const previous = list.members.get(hash);
    const member: StoredMember =
      isNew || !previous
        ? { id: hash, email_address: body.email_address as string, status: status!, merge_fields: {}, tags: new Set(previous?.tags ?? []), archived: false }
        : previous;
    if (!isNew && status !== undefined) member.status = status;
    if (replaceTags) member.tags = new Set();
    Object.assign(member.merge_fields, (body.merge_fields as Record<string, unknown> | undefined) ?? {});
    if (typeof body.language === 'string') member.language = body.language;
    if (typeof body.vip === 'boolean') member.vip = body.vip;
    list.members.set(hash, member);
    return member;
  }

  function validateMerge(list: List, given: unknown, isNew: boolean, skipValidation: boolean): { field: string; message: string }[] {
    const problems: { field: string; message: string }[] = [];
    if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
      return [{ field: 'merge_fields', message: 'Schema describes object' }];
    }
    const values = (given ?? {}) as Record<string, unknown>;
    for (const [tag, value] of Object.entries(values)) {
      const field = list.mergeFields.find((f) => f.tag === tag);
      if (!field) {
        problems.push({ field: tag, message: 'This merge field does not exist in the audience.' });
        continue;
      }
      const problem = valueProblem(field, value);
      if (problem) problems.push({ field: tag, message: problem });
    }
    if (isNew && !skipValidation) {
      for (const f of list.mergeFields) {
        if (f.required && (values[f.tag] === undefined || values[f.tag] === '')) problems.push({ field: f.tag, message: 'Please enter a value' });
      }
    }
    return problems;
  }

  function emailProblem(email: string): string | undefined {
    if (!EMAIL.test(email.trim())) return `${email} looks fake or invalid, please enter a real email address.`;
    const domain = email.trim().split('@')[1]!.toLowerCase();
    if (fakeDomains.has(domain)) return `${email} looks fake or invalid, please enter a real email address.`;
    return undefined;
  }

  function credentialOk(auth: string): boolean {
    if (auth.startsWith('Bearer ')) return options.oauthToken !== undefined && auth.slice(7) === options.oauthToken;
    if (!auth.startsWith('Basic ')) return false;
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 && decoded.slice(colon + 1) === apiKey;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const listOf = (listId: string) => {
    const list = lists.get(listId);
    if (!list) throw new Error(`no audience ${listId} in the twin`);
    return list;
  };
  const copy = (m: StoredMember): TwinMember => ({ ...m, merge_fields: { ...m.merge_fields }, tags: [...m.tags].sort() });

  return {
    url: `http://127.0.0.1:${port}/3.0`,
    requests,
    violations,
    get maxInFlight() {
      return maxInFlight;
    },
    get gateRejections() {
      return gateRejections;
    },
    get maxBatchMembers() {
      return maxBatchMembers;
    },
    members: (listId = TWIN_LIST_ID) => [...listOf(listId).members.values()].map(copy),
    member: (email, listId = TWIN_LIST_ID) => {
      const m = listOf(listId).members.get(md5Email(email));
      return m && copy(m);
    },
    seedMember(m, listId = TWIN_LIST_ID) {
      const hash = md5Email(m.email);
      listOf(listId).members.set(hash, {
        id: hash, email_address: m.email, status: m.status, merge_fields: { ...m.merge_fields }, tags: new Set(m.tags ?? []), archived: m.archived ?? false,
      });
    },
    revokeCredentials: () => void (revoked = true),
    respondWith: (next) => void (plan = next),
    assertNoViolations() {
      if (violations.length > 0) throw new Error(`the Mailchimp twin saw requests the real API would refuse:\n${violations.join('\n')}`);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function valueProblem(field: TwinMergeField, value: unknown): string | undefined {
  if (value === null) return 'Value must be a string; send "" to clear a merge field';
  if (value === '') return undefined;
  switch (field.type) {
    case 'number':
      return (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
        ? undefined
        : 'Please enter a number';
    case 'date':
    case 'birthday': {
      const format = field.options?.date_format ?? (field.type === 'birthday' ? 'MM/DD' : 'MM/DD/YYYY');
      const pattern = new RegExp(`^${format.replace(/YYYY/, '\\d{4}').replace(/MM|DD/g, '\\d{2}').replace(/\//g, '\\/')}$`);
      return typeof value === 'string' && pattern.test(value) ? undefined : `Please enter the date in the format ${format}`;
    }
    case 'address':
      if (typeof value === 'string') return undefined;
      return value && typeof value === 'object' && ['addr1', 'city', 'state', 'zip'].every((k) => k in (value as object))
        ? undefined
        : 'Please enter a complete address (addr1, city, state, zip)';
    case 'dropdown':
    case 'radio':
      return typeof value === 'string' && (field.options?.choices ?? []).includes(value) ? undefined : `"${String(value)}" is not one of the choices`;
    default:
      return typeof value === 'string' ? undefined : 'Value must be a string';
  }
}

function isTag(t: unknown): boolean {
  if (!t || typeof t !== 'object') return false;
  const { name, status } = t as { name?: unknown; status?: unknown };
  return typeof name === 'string' && name.length > 0 && (status === 'active' || status === 'inactive');
}

function view(list: List, m: StoredMember): unknown {
  return {
    id: m.id,
    email_address: m.email_address,
    unique_email_id: m.id.slice(0, 10),
    status: m.archived ? 'archived' : m.status,
    merge_fields: m.merge_fields,
    tags_count: m.tags.size,
    tags: [...m.tags].map((name, i) => ({ id: i + 1, name })),
    list_id: list.id,
  };
}

function parse(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
