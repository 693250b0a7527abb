/**
 * An in-process HubSpot CRM v3 twin on 127.0.0.1 for tests, built from HubSpot's documented
 * behaviour (../shared/reference/destination-apis.md §1 and the CRM object, properties and
 * error-handling guides):
 * - Bearer auth (401 INVALID_AUTHENTICATION), scopes (403 MISSING_SCOPES);
 * - GET /crm/v3/properties/{type}; POST /crm/v3/objects/{type}/batch/{create|read|update|upsert|archive}
 *   (and the date-versioned /crm/objects/2026-03/... paths), at most 100 inputs per request;
 * - per-token rolling 10-second limit and per-account daily limit: 429 with the RATE_LIMIT body
 *   (policyName TEN_SECONDLY_ROLLING / DAILY), X-HubSpot-RateLimit-* headers (daily ones omitted
 *   for OAuth tokens) and, as documented, no Retry-After unless asked for;
 * - values as strings only; date properties at midnight UTC (epoch ms or ISO 8601), datetime as
 *   epoch ms or ISO 8601, enumerations limited to their options (";" for multiple checkboxes),
 *   emails validated; invalid values answered per input (207, errors naming the input's
 *   objectWriteTraceId) or, without trace ids, by refusing the whole batch (400);
 * - unknown or read-only properties and non-unique idProperty refuse the whole batch (400).
 * Anything the real API would refuse because the client is wrong (a wrong path, more than 100
 * inputs, a non-string value, a record id that is not one) is also recorded as a violation,
 * which fails the test through assertNoViolations().
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const HUBSPOT_TWIN_TOKEN = 'pat-na1-0f6c2b9e-5d1a-4c7e-9b3f-twin-token';
export const MAX_INPUTS = 100;
const PORTAL_ID = 424242;

export interface TwinProperty {
  readonly name: string;
  readonly type: 'string' | 'number' | 'date' | 'datetime' | 'enumeration' | 'bool' | 'phone_number';
  readonly fieldType?: string;
  readonly hasUniqueValue?: boolean;
  readonly readOnly?: boolean;
  /** Internal option values of an enumeration. */
  readonly options?: readonly string[];
}

export interface TwinRecord {
  readonly id: string;
  properties: Record<string, string>;
  readonly createdAt: string;
  updatedAt: string;
  archived: boolean;
}

export interface TwinRequest {
  readonly index: number;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly json: unknown;
  /** Length of `inputs` for batch requests. */
  readonly inputs: number | undefined;
  readonly receivedAt: number;
  readonly monotonicMs: number;
  answer: number | 'reset' | undefined;
  /** Why the twin answered 429, when it did on its own. */
  throttledBy?: 'TEN_SECONDLY_ROLLING' | 'DAILY';
}

export type ScriptedAnswer =
  | {
      readonly status: number;
      readonly headers?: Readonly<Record<string, string>>;
      readonly body?: unknown;
      readonly delayMs?: number;
    }
  | { readonly reset: true };

/** Returns the answer for a request, or undefined to let the twin answer as HubSpot would. */
export type FaultPlan = (request: TwinRequest, index: number) => ScriptedAnswer | undefined;

export interface HubSpotTwinOptions {
  readonly token?: string;
  /** OAuth tokens get no daily limit and no daily headers. */
  readonly oauth?: boolean;
  /** Requests per rolling window for the token (HubSpot: 100 or 190 per 10 s). */
  readonly rateLimit?: { readonly requests: number; readonly intervalMs: number };
  /** Requests per day for the account (HubSpot: 250,000 on free/starter). */
  readonly dailyLimit?: number;
  /** Add Retry-After (seconds) to 429s; HubSpot does not document one. */
  readonly retryAfterSeconds?: number;
  /**
   * How invalid values in a batch are answered when inputs carry objectWriteTraceIds:
   * `multi-status` (default): 207 with the failed inputs in errors[]; `whole-batch`: 400.
   */
  readonly partialFailure?: 'multi-status' | 'whole-batch';
  /** Scopes the token lacks, e.g. crm.objects.contacts.write or crm.schemas.contacts.read. */
  readonly missingScopes?: readonly string[];
  /** More properties per object type (contacts, companies, deals or a custom type id such as 2-123). */
  readonly properties?: Readonly<Record<string, readonly TwinProperty[]>>;
}

export interface HubSpotTwin {
  /** Use as the destination's base_url. */
  readonly url: string;
  readonly token: string;
  readonly requests: readonly TwinRequest[];
  readonly violations: readonly string[];
  /** Active (not archived) records of an object type (contacts, companies, deals, 2-...). */
  records(objectType: string): TwinRecord[];
  archived(objectType: string): TwinRecord[];
  find(objectType: string, property: string, value: string): TwinRecord | undefined;
  /** Creates a record directly (as if someone had entered it in HubSpot). */
  seed(objectType: string, properties: Record<string, string>): TwinRecord;
  /** Archives a record directly (as if someone had deleted it in HubSpot). */
  remove(objectType: string, id: string): void;
  respondWith(plan: FaultPlan | undefined): void;
  assertNoViolations(): void;
  close(): Promise<void>;
}

/** A 429 as HubSpot sends it for the rolling 10-second limit. */
export function tenSecondlyLimited(max = 100): ScriptedAnswer {
  return {
    status: 429,
    headers: { 'x-hubspot-ratelimit-interval-milliseconds': '10000', 'x-hubspot-ratelimit-max': String(max), 'x-hubspot-ratelimit-remaining': '0' },
    body: rateLimitBody('TEN_SECONDLY_ROLLING'),
  };
}

/** A 429 as HubSpot sends it when the account's daily limit is used up. */
export function dailyLimited(limit = 250_000): ScriptedAnswer {
  return {
    status: 429,
    headers: { 'x-hubspot-ratelimit-daily': String(limit), 'x-hubspot-ratelimit-daily-remaining': '0' },
    body: rateLimitBody('DAILY'),
  };
}

function rateLimitBody(policyName: 'TEN_SECONDLY_ROLLING' | 'DAILY'): unknown {
  return {
    status: 'error',
    message: policyName === 'DAILY' ? 'You have reached your daily limit.' : 'You have reached your ten_secondly_rolling limit.',
    errorType: 'RATE_LIMIT',
    correlationId: randomUUID(),
    policyName,
    requestId: randomUUID(),
  };
}

const OBJECT_ALIASES: Readonly<Record<string, string>> = { '0-1': 'contacts', '0-2': 'companies', '0-3': 'deals' };
const TYPE_IDS: Readonly<Record<string, string>> = { contacts: '0-1', companies: '0-2', deals: '0-3' };
const SINGULAR: Readonly<Record<string, string>> = { contacts: 'CONTACT', companies: 'COMPANY', deals: 'DEAL' };

const COMMON: readonly TwinProperty[] = [
  { name: 'hs_object_id', type: 'number', fieldType: 'number', readOnly: true },
  { name: 'createdate', type: 'datetime', fieldType: 'date', readOnly: true },
  { name: 'lastmodifieddate', type: 'datetime', fieldType: 'date', readOnly: true },
];

const DEFAULT_PROPERTIES: Readonly<Record<string, readonly TwinProperty[]>> = {
  contacts: [
    ...COMMON,
    { name: 'email', type: 'string', fieldType: 'text' },
    { name: 'firstname', type: 'string', fieldType: 'text' },
    { name: 'lastname', type: 'string', fieldType: 'text' },
    { name: 'phone', type: 'string', fieldType: 'phonenumber' },
    {
      name: 'lifecyclestage',
      type: 'enumeration',
      fieldType: 'radio',
      options: ['subscriber', 'lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer', 'evangelist', 'other'],
    },
  ],
  companies: [...COMMON, { name: 'name', type: 'string', fieldType: 'text' }, { name: 'domain', type: 'string', fieldType: 'text' }],
  deals: [
    ...COMMON,
    { name: 'dealname', type: 'string', fieldType: 'text' },
    { name: 'dealstage', type: 'enumeration', fieldType: 'select', options: ['appointmentscheduled', 'qualifiedtobuy', 'closedwon', 'closedlost'] },
    { name: 'pipeline', type: 'enumeration', fieldType: 'select', options: ['default'] },
    { name: 'amount', type: 'number', fieldType: 'number' },
    { name: 'closedate', type: 'datetime', fieldType: 'date' },
  ],
};

/** Properties a new record of the type must have (HubSpot: deals need name, stage and pipeline). */
const REQUIRED_ON_CREATE: Readonly<Record<string, readonly string[]>> = { deals: ['dealname', 'dealstage', 'pipeline'] };

const BATCH_KEYS: Readonly<Record<string, readonly string[]>> = {
  create: ['inputs'],
  upsert: ['inputs'],
  update: ['inputs'],
  archive: ['inputs'],
  read: ['inputs', 'idProperty', 'properties', 'propertiesWithHistory', 'archived'],
};
const INPUT_KEYS: Readonly<Record<string, readonly string[]>> = {
  create: ['properties', 'objectWriteTraceId', 'associations'],
  upsert: ['id', 'idProperty', 'properties', 'objectWriteTraceId'],
  update: ['id', 'idProperty', 'properties', 'objectWriteTraceId'],
  archive: ['id'],
  read: ['id'],
};

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const DAY_MS = 86_400_000;

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

type Json = Record<string, unknown>;

export async function startHubSpotTwin(options: HubSpotTwinOptions = {}): Promise<HubSpotTwin> {
  const token = options.token ?? HUBSPOT_TWIN_TOKEN;
  const rate = options.rateLimit ?? { requests: 100, intervalMs: 10_000 };
  const dailyLimit = options.dailyLimit ?? 250_000;
  const missingScopes = new Set(options.missingScopes ?? []);
  const requests: TwinRequest[] = [];
  const violations: string[] = [];
  const accepted: number[] = [];
  let dailyUsed = 0;
  let nextId = 101;
  let plan: FaultPlan | undefined;
  const pendingTimers = new Set<NodeJS.Timeout>();

  const schemas = new Map<string, Map<string, TwinProperty>>();
  const addSchema = (type: string, props: readonly TwinProperty[]) => {
    const schema = schemas.get(type) ?? new Map<string, TwinProperty>();
    for (const p of props) schema.set(p.name, p);
    schemas.set(type, schema);
  };
  for (const [type, props] of Object.entries(DEFAULT_PROPERTIES)) addSchema(type, props);
  for (const [type, props] of Object.entries(options.properties ?? {})) {
    addSchema(OBJECT_ALIASES[type] ?? type, schemas.has(OBJECT_ALIASES[type] ?? type) ? props : [...COMMON, ...props]);
  }
  const stores = new Map<string, Map<string, TwinRecord>>();
  const storeOf = (type: string) => {
    let store = stores.get(type);
    if (!store) stores.set(type, (store = new Map()));
    return store;
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => {});
  });

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const headers = lowerCaseHeaders(req);
    const url = new URL(req.url ?? '/', 'http://twin');
    const json = parseJson(body);
    const inputs = (json as { inputs?: unknown } | undefined)?.inputs;
    const request: TwinRequest = {
      index: requests.length,
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
      json,
      inputs: Array.isArray(inputs) ? inputs.length : undefined,
      receivedAt: Date.now(),
      monotonicMs: performance.now(),
      answer: undefined,
    };
    requests.push(request);
    const violation = (text: string) => violations.push(`request ${request.index} (${request.method} ${request.path}): ${text}`);

    // Authentication.
    const auth = headers.authorization;
    if (!auth || !/^Bearer \S+$/.test(auth)) violation(`no "Authorization: Bearer <token>" header (got ${auth === undefined ? 'none' : 'another scheme'})`);
    if (auth !== `Bearer ${token}`) {
      send(res, request, 401, {
        status: 'error',
        message: 'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
        correlationId: randomUUID(),
        category: 'INVALID_AUTHENTICATION',
      });
      return;
    }

    const scripted = plan?.(request, request.index);
    if (scripted) {
      answerScripted(res, request, scripted);
      return;
    }

    // Rate limits: the rolling window per token, then the account's daily quota.
    const now = request.monotonicMs;
    while (accepted.length > 0 && accepted[0]! <= now - rate.intervalMs) accepted.shift();
    if (accepted.length >= rate.requests) {
      request.throttledBy = 'TEN_SECONDLY_ROLLING';
      send(res, request, 429, rateLimitBody('TEN_SECONDLY_ROLLING'), retryAfter());
      return;
    }
    if (!options.oauth && dailyUsed >= dailyLimit) {
      request.throttledBy = 'DAILY';
      send(res, request, 429, rateLimitBody('DAILY'), retryAfter());
      return;
    }
    accepted.push(now);
    dailyUsed += 1;

    let answer: HttpAnswer;
    try {
      answer = route(request, violation);
    } catch (error) {
      if (!(error instanceof HttpAnswer)) throw error;
      answer = error;
    }
    send(res, request, answer.status, answer.body);
  }

  function retryAfter(): Record<string, string> {
    return options.retryAfterSeconds === undefined ? {} : { 'retry-after': String(options.retryAfterSeconds) };
  }

  function rateHeaders(): Record<string, string> {
    const remaining = Math.max(0, rate.requests - accepted.length);
    return {
      'x-hubspot-ratelimit-interval-milliseconds': String(rate.intervalMs),
      'x-hubspot-ratelimit-max': String(rate.requests),
      'x-hubspot-ratelimit-remaining': String(remaining),
      ...(options.oauth
        ? {}
        : { 'x-hubspot-ratelimit-daily': String(dailyLimit), 'x-hubspot-ratelimit-daily-remaining': String(Math.max(0, dailyLimit - dailyUsed)) }),
    };
  }

  function send(res: ServerResponse, request: TwinRequest, status: number, body: unknown, extra: Record<string, string> = {}): void {
    request.answer = status;
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      ...(text ? { 'content-type': 'application/json;charset=utf-8' } : {}),
      ...rateHeaders(),
      ...extra,
    });
    res.end(text);
  }

  function answerScripted(res: ServerResponse, request: TwinRequest, scripted: ScriptedAnswer): void {
    const go = () => {
      if (res.destroyed || res.writableEnded) return;
      if ('reset' in scripted) {
        request.answer = 'reset';
        res.socket?.destroy();
        return;
      }
      request.answer = scripted.status;
      const text = scripted.body === undefined ? '' : typeof scripted.body === 'string' ? scripted.body : JSON.stringify(scripted.body);
      res.writeHead(scripted.status, { ...(text ? { 'content-type': 'application/json;charset=utf-8' } : {}), ...scripted.headers });
      res.end(text);
    };
    const delayMs = 'reset' in scripted ? 0 : (scripted.delayMs ?? 0);
    if (delayMs === 0) return go();
    const timer = setTimeout(() => {
      pendingTimers.delete(timer);
      go();
    }, delayMs);
    pendingTimers.add(timer);
  }

  // ---- routing --------------------------------------------------------------------------------

  function route(request: TwinRequest, violation: (text: string) => void): HttpAnswer {
    const objects = /^\/crm\/(?:v3\/objects|objects\/\d{4}-\d{2})\/([^/]+)\/batch\/(create|read|update|upsert|archive)$/.exec(request.path);
    const properties = /^\/crm\/(?:v3\/properties|properties\/\d{4}-\d{2})\/([^/]+)$/.exec(request.path);
    if (properties) {
      if (request.method !== 'GET') return wrong(request, violation, 405);
      const type = objectType(decodeURIComponent(properties[1]!));
      requireScope(`crm.schemas.${scopeName(type)}.read`);
      return new HttpAnswer(200, { results: [...schemas.get(type)!.values()].map(propertyJson) });
    }
    if (!objects) return wrong(request, violation, 404);
    if (request.method !== 'POST') return wrong(request, violation, 405);
    const type = objectType(decodeURIComponent(objects[1]!));
    const operation = objects[2]!;
    requireScope(`crm.objects.${scopeName(type)}.${operation === 'read' ? 'read' : 'write'}`);
    if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
      violation(`content-type is ${request.headers['content-type'] ?? 'missing'}, not application/json`);
      throw validation('Invalid input JSON: the body must be application/json');
    }
    const body = request.json;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray((body as Json).inputs)) {
      violation('the body is not a JSON object with an "inputs" array');
      throw validation('Invalid input JSON: "inputs" is required');
    }
    for (const key of Object.keys(body)) if (!BATCH_KEYS[operation]!.includes(key)) violation(`unknown body key "${key}"`);
    const inputs = (body as { inputs: unknown[] }).inputs;
    if (inputs.length === 0) violation('an empty batch (no inputs)');
    if (inputs.length > MAX_INPUTS) {
      violation(`${inputs.length} inputs in one request; HubSpot allows ${MAX_INPUTS}`);
      throw validation(`Batch input limit exceeded: ${inputs.length} inputs given, ${MAX_INPUTS} allowed`);
    }
    inputs.forEach((input, i) => {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        violation(`inputs[${i}] is not an object`);
        throw validation(`Invalid input JSON at inputs[${i}]`);
      }
      for (const key of Object.keys(input)) if (!INPUT_KEYS[operation]!.includes(key)) violation(`inputs[${i}] has an unknown key "${key}"`);
      const props = (input as Json).properties;
      if (props !== undefined) {
        if (typeof props !== 'object' || props === null || Array.isArray(props)) {
          violation(`inputs[${i}].properties is not an object`);
          throw validation(`Invalid input JSON at inputs[${i}].properties`);
        }
        for (const [name, value] of Object.entries(props)) {
          if (typeof value !== 'string') {
            violation(`inputs[${i}].properties.${name} is ${JSON.stringify(value)} (${typeof value}); property values are strings`);
            throw validation(`Invalid input JSON at inputs[${i}].properties.${name}: expected a string`);
          }
        }
      }
    });
    const typed = inputs as Json[];
    switch (operation) {
      case 'upsert':
        return upsert(type, typed, violation);
      case 'update':
        return update(type, typed, violation);
      case 'create':
        return create(type, typed);
      case 'read':
        return read(type, body as Json, typed, violation);
      default:
        return archive(type, typed, violation);
    }
  }

  function wrong(request: TwinRequest, violation: (text: string) => void, status: number): HttpAnswer {
    violation(`no such HubSpot endpoint (${request.method} ${request.path})`);
    return new HttpAnswer(status, { status: 'error', message: `No route for ${request.method} ${request.path}`, correlationId: randomUUID(), category: 'OBJECT_NOT_FOUND' });
  }

  function objectType(name: string): string {
    const type = OBJECT_ALIASES[name] ?? name;
    if (!schemas.has(type)) throw validation(`Unable to infer object type from: ${name}`);
    return type;
  }

  function scopeName(type: string): string {
    return TYPE_IDS[type] ? type : 'custom';
  }

  function requireScope(scope: string): void {
    if (!missingScopes.has(scope)) return;
    throw new HttpAnswer(403, {
      status: 'error',
      message: "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
      correlationId: randomUUID(),
      errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: [scope] } }],
      links: { scopes: 'https://developers.hubspot.com/scopes' },
      category: 'MISSING_SCOPES',
    });
  }

  // ---- operations -------------------------------------------------------------------------------

  function upsert(type: string, inputs: Json[], violation: (text: string) => void): HttpAnswer {
    const idProperty = sharedIdProperty(type, inputs, violation, { required: true, allowEmail: true });
    checkProperties(type, inputs);
    uniqueIds(inputs.map((input) => normal(idProperty!, String(input.id))));
    const checked = inputs.map((input) => {
      const id = String(input.id);
      const props = lowerEmail(type, { ...(input.properties as Record<string, string>) });
      const existing = findBy(type, idProperty!, id);
      return { input, id, props, existing, invalid: invalidValues(type, props, existing ? [] : REQUIRED_ON_CREATE[type] ?? []) };
    });
    refuseWholeBatch(checked);
    const results: Json[] = [];
    const errors: Json[] = [];
    for (const { input, id, props, existing, invalid } of checked) {
      if (invalid) {
        errors.push(perInputError(input, invalid, id));
        continue;
      }
      if (existing) {
        apply(existing, props);
        results.push(recordJson(existing, { new: false, traceId: input.objectWriteTraceId }));
      } else {
        const record = insert(type, { ...props, [idProperty!]: idProperty === 'email' ? id.toLowerCase() : id });
        results.push(recordJson(record, { new: true, traceId: input.objectWriteTraceId }));
      }
    }
    return batchAnswer(results, errors, 200);
  }

  function update(type: string, inputs: Json[], violation: (text: string) => void): HttpAnswer {
    const idProperty = sharedIdProperty(type, inputs, violation, { required: false, allowEmail: false });
    checkProperties(type, inputs);
    uniqueIds(inputs.map((input) => String(input.id)));
    const checked = inputs.map((input) => {
      const id = String(input.id);
      if (idProperty === undefined && !/^\d+$/.test(id)) violation(`update input id "${id}" is not a record id (and no idProperty is given)`);
      const props = lowerEmail(type, { ...(input.properties as Record<string, string>) });
      return { input, id, props, invalid: invalidValues(type, props, []) };
    });
    refuseWholeBatch(checked);
    const results: Json[] = [];
    const errors: Json[] = [];
    for (const { input, id, props, invalid } of checked) {
      const record = idProperty === undefined ? activeRecord(type, id) : findBy(type, idProperty, id);
      if (!record) {
        errors.push({ status: 'error', category: 'OBJECT_NOT_FOUND', message: notFoundMessage(type), context: { ids: [id] } });
        continue;
      }
      if (invalid) {
        errors.push(perInputError(input, invalid, id));
        continue;
      }
      apply(record, props);
      results.push(recordJson(record, { traceId: input.objectWriteTraceId }));
    }
    return batchAnswer(results, errors, 200);
  }

  function create(type: string, inputs: Json[]): HttpAnswer {
    checkProperties(type, inputs);
    const results: Json[] = [];
    const errors: Json[] = [];
    const uniques = [...schemas.get(type)!.values()].filter((p) => p.hasUniqueValue || (type === 'contacts' && p.name === 'email'));
    const checked = inputs.map((input) => {
      const props = lowerEmail(type, { ...((input.properties ?? {}) as Record<string, string>) });
      return { input, id: undefined, props, invalid: invalidValues(type, props, REQUIRED_ON_CREATE[type] ?? []) };
    });
    refuseWholeBatch(checked);
    for (const { input, props, invalid } of checked) {
      if (invalid) {
        errors.push(perInputError(input, invalid, undefined));
        continue;
      }
      const clash = uniques.map((p) => (props[p.name] ? findBy(type, p.name, props[p.name]!) : undefined)).find((r) => r !== undefined);
      if (clash) {
        const conflict = { status: 'error', category: 'CONFLICT', message: `${titleCase(SINGULAR[type] ?? 'Object')} already exists. Existing ID: ${clash.id}` };
        if (typeof input.objectWriteTraceId !== 'string') throw new HttpAnswer(409, { ...conflict, correlationId: randomUUID() });
        errors.push({ ...conflict, context: { objectWriteTraceId: [input.objectWriteTraceId] } });
        continue;
      }
      results.push(recordJson(insert(type, props), { traceId: input.objectWriteTraceId }));
    }
    return batchAnswer(results, errors, 201);
  }

  function read(type: string, body: Json, inputs: Json[], violation: (text: string) => void): HttpAnswer {
    const idProperty = typeof body.idProperty === 'string' ? body.idProperty : undefined;
    if (idProperty !== undefined) {
      const definition = schemas.get(type)!.get(idProperty);
      if (!definition) throw propertyMissing(idProperty);
      if (!definition.hasUniqueValue && !(type === 'contacts' && idProperty === 'email')) throw nonUnique(type, idProperty);
    }
    const wanted = Array.isArray(body.properties) ? (body.properties as unknown[]).filter((p): p is string => typeof p === 'string') : [];
    const results: Json[] = [];
    const missing: string[] = [];
    for (const input of inputs) {
      const id = String(input.id);
      if (idProperty === undefined && !/^\d+$/.test(id)) violation(`read input id "${id}" is not a record id (and no idProperty is given)`);
      const record = idProperty === undefined ? activeRecord(type, id) : findBy(type, idProperty, id);
      if (!record) missing.push(id);
      else results.push(recordJson(record, { only: wanted }));
    }
    const errors = missing.length === 0 ? [] : [{ status: 'error', category: 'OBJECT_NOT_FOUND', message: notFoundMessage(type), context: { ids: missing } }];
    return batchAnswer(results, errors, 200);
  }

  function archive(type: string, inputs: Json[], violation: (text: string) => void): HttpAnswer {
    for (const input of inputs) {
      const id = String(input.id);
      if (!/^\d+$/.test(id)) {
        violation(`archive input id "${id}" is not a record id; HubSpot would answer 204 and archive nothing`);
        continue;
      }
      const record = storeOf(type).get(id);
      if (record) {
        record.archived = true;
        record.updatedAt = new Date().toISOString();
      }
    }
    return new HttpAnswer(204, undefined);
  }

  // ---- validation ---------------------------------------------------------------------------------

  function sharedIdProperty(
    type: string,
    inputs: Json[],
    violation: (text: string) => void,
    rules: { required: boolean; allowEmail: boolean },
  ): string | undefined {
    const names = new Set<string | undefined>();
    inputs.forEach((input, i) => {
      if (typeof input.id !== 'string' || input.id === '') {
        violation(`inputs[${i}].id is ${JSON.stringify(input.id)}; a non-empty string is required`);
        throw validation(`Invalid input JSON at inputs[${i}].id`);
      }
      if (input.idProperty !== undefined && typeof input.idProperty !== 'string') violation(`inputs[${i}].idProperty is not a string`);
      if (rules.required && typeof input.idProperty !== 'string') {
        violation(`inputs[${i}] has no idProperty; upsert matches on a unique property named in each input`);
        throw validation('idProperty is required for upsert');
      }
      names.add(typeof input.idProperty === 'string' ? input.idProperty : undefined);
    });
    if (names.size > 1) throw validation('All inputs of a batch must use the same idProperty');
    const idProperty = [...names][0];
    if (idProperty === undefined) return undefined;
    const definition = schemas.get(type)!.get(idProperty);
    if (!definition) throw propertyMissing(idProperty);
    const emailAllowed = rules.allowEmail && type === 'contacts' && idProperty === 'email';
    if (!definition.hasUniqueValue && !emailAllowed) throw nonUnique(type, idProperty);
    return idProperty;
  }

  /** Unknown and read-only properties refuse the whole batch. */
  function checkProperties(type: string, inputs: Json[]): void {
    const schema = schemas.get(type)!;
    for (const input of inputs) {
      for (const name of Object.keys((input.properties ?? {}) as Json)) {
        const definition = schema.get(name);
        if (!definition) throw propertyMissing(name);
        if (definition.readOnly) {
          throw new HttpAnswer(400, {
            status: 'error',
            message: `Property values were not valid: [${JSON.stringify({ isValid: false, message: `"${name}" is a read only property; its value cannot be set.`, error: 'READ_ONLY_VALUE', name })}]`,
            correlationId: randomUUID(),
            category: 'VALIDATION_ERROR',
            errors: [{ message: `"${name}" is a read only property; its value cannot be set.`, code: 'READ_ONLY_VALUE', context: { propertyName: [name] } }],
          });
        }
      }
    }
  }

  function uniqueIds(ids: string[]): void {
    const seen = new Set<string>();
    const duplicates = ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
    if (duplicates.length > 0) throw validation(`Duplicate IDs found in batch input: [${duplicates.join(', ')}]. IDs must be unique`);
  }

  /** Validation results for bad values (HubSpot's "Property values were not valid" entries), or undefined. */
  function invalidValues(type: string, props: Record<string, string>, required: readonly string[]): Json[] | undefined {
    const schema = schemas.get(type)!;
    const problems: Json[] = [];
    for (const [name, value] of Object.entries(props)) {
      if (value === '') continue;
      const p = schema.get(name)!;
      const problem = valueProblem(type, p, value);
      if (problem) problems.push({ isValid: false, message: problem.message, error: problem.code, name });
    }
    for (const name of required) {
      if (!props[name]) problems.push({ isValid: false, message: `Property "${name}" is required`, error: 'REQUIRED_PROPERTY', name });
    }
    return problems.length > 0 ? problems : undefined;
  }

  function valueProblem(type: string, p: TwinProperty, value: string): { code: string; message: string } | undefined {
    if (type === 'contacts' && p.name === 'email' && !EMAIL.test(value)) return { code: 'INVALID_EMAIL', message: `Email address ${value} is invalid` };
    if (p.type === 'bool' || p.fieldType === 'booleancheckbox') {
      return value === 'true' || value === 'false' ? undefined : { code: 'INVALID_BOOLEAN', message: `${value} is not a valid boolean: use true or false` };
    }
    switch (p.type) {
      case 'number':
        return /^-?\d+(\.\d+)?$/.test(value) ? undefined : { code: 'INVALID_DECIMAL', message: `${value} was not a valid number.` };
      case 'date': {
        const ms = /^-?\d+$/.test(value) ? Number(value) : isoMs(value);
        if (ms === undefined) return { code: 'INVALID_DATE', message: `${value} is not a valid date (epoch milliseconds at midnight UTC, or ISO 8601)` };
        if (((ms % DAY_MS) + DAY_MS) % DAY_MS !== 0) {
          return { code: 'INVALID_DATE', message: `${value} is at ${new Date(ms).toISOString().slice(11, 23)} UTC, not midnight!` };
        }
        return undefined;
      }
      case 'datetime':
        return /^-?\d+$/.test(value) || isoMs(value) !== undefined
          ? undefined
          : { code: 'INVALID_DATE', message: `${value} is not a valid datetime (epoch milliseconds or ISO 8601)` };
      case 'enumeration': {
        const allowed = p.options ?? [];
        const values = p.fieldType === 'checkbox' ? value.split(';') : [value];
        const bad = values.filter((v) => !allowed.includes(v));
        return bad.length === 0 ? undefined : { code: 'INVALID_OPTION', message: `${bad.join(';')} was not one of the allowed options: [${allowed.join(', ')}]` };
      }
      default:
        return value.length > 65_536 ? { code: 'INVALID_STRING', message: `the value of ${p.name} is longer than 65536 characters` } : undefined;
    }
  }

  /**
   * Without objectWriteTraceIds the API cannot say which input failed, and in `whole-batch` mode
   * it refuses any batch with an invalid value: then nothing of the batch is written.
   */
  function refuseWholeBatch(checked: readonly { input: Json; id: string | undefined; invalid: Json[] | undefined }[]): void {
    for (const { input, id, invalid } of checked) {
      if (invalid && (typeof input.objectWriteTraceId !== 'string' || options.partialFailure === 'whole-batch')) {
        perInputError({ ...input, objectWriteTraceId: undefined }, invalid, id);
      }
    }
  }

  function perInputError(input: Json, invalid: Json[], id: string | undefined): Json {
    const error = {
      status: 'error',
      category: 'VALIDATION_ERROR',
      message: `Property values were not valid: ${JSON.stringify(invalid)}`,
      errors: invalid.map((v) => ({ message: v.message, code: v.error, context: { propertyName: [v.name] } })),
    };
    if (typeof input.objectWriteTraceId !== 'string') {
      // HubSpot does not document whether upsert/update answer 207 or refuse the batch: both are played.
      throw new HttpAnswer(400, { ...error, correlationId: randomUUID(), ...(id === undefined ? {} : { context: { ids: [id] } }) });
    }
    return { ...error, context: { objectWriteTraceId: [input.objectWriteTraceId] } };
  }

  function batchAnswer(results: Json[], errors: Json[], okStatus: number): HttpAnswer {
    const at = new Date().toISOString();
    const body: Json = { status: 'COMPLETE', results, requestedAt: at, startedAt: at, completedAt: at };
    if (errors.length > 0) {
      body.errors = errors;
      body.numErrors = errors.length;
    }
    return new HttpAnswer(errors.length > 0 ? 207 : okStatus, body);
  }

  // ---- records --------------------------------------------------------------------------------------

  function insert(type: string, props: Record<string, string>): TwinRecord {
    const id = String(nextId++);
    const at = new Date().toISOString();
    const record: TwinRecord = { id, properties: {}, createdAt: at, updatedAt: at, archived: false };
    apply(record, props);
    storeOf(type).set(id, record);
    return record;
  }

  function apply(record: TwinRecord, props: Record<string, string>): void {
    for (const [name, value] of Object.entries(props)) {
      if (value === '') delete record.properties[name];
      else record.properties[name] = value;
    }
    record.updatedAt = new Date().toISOString();
  }

  function activeRecord(type: string, id: string): TwinRecord | undefined {
    const record = storeOf(type).get(id);
    return record && !record.archived ? record : undefined;
  }

  function findBy(type: string, property: string, value: string): TwinRecord | undefined {
    if (property === 'hs_object_id') return activeRecord(type, value);
    const wanted = normal(property, value);
    for (const record of storeOf(type).values()) {
      const have = record.properties[property];
      if (!record.archived && have !== undefined && normal(property, have) === wanted) return record;
    }
    return undefined;
  }

  function recordJson(record: TwinRecord, extra: { new?: boolean; traceId?: unknown; only?: readonly string[] }): Json {
    const base = { hs_object_id: record.id, createdate: record.createdAt, lastmodifieddate: record.updatedAt };
    const properties =
      extra.only && extra.only.length > 0
        ? { ...base, ...Object.fromEntries(extra.only.map((name) => [name, record.properties[name] ?? null])) }
        : { ...base, ...record.properties };
    return {
      id: record.id,
      properties,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      archived: record.archived,
      ...(extra.new === undefined ? {} : { new: extra.new }),
      ...(typeof extra.traceId === 'string' ? { objectWriteTraceId: extra.traceId } : {}),
    };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    token,
    requests,
    violations,
    records: (type) => [...storeOf(OBJECT_ALIASES[type] ?? type).values()].filter((r) => !r.archived),
    archived: (type) => [...storeOf(OBJECT_ALIASES[type] ?? type).values()].filter((r) => r.archived),
    find: (type, property, value) => findBy(OBJECT_ALIASES[type] ?? type, property, value),
    seed: (type, props) => insert(OBJECT_ALIASES[type] ?? type, props),
    remove: (type, id) => {
      const record = storeOf(OBJECT_ALIASES[type] ?? type).get(id);
      if (record) record.archived = true;
    },
    respondWith: (next) => {
      plan = next;
    },
    assertNoViolations: () => {
      if (violations.length > 0) throw new Error(`the HubSpot twin saw requests the real API would refuse:\n${violations.join('\n')}`);
    },
    close: async () => {
      for (const timer of pendingTimers) clearTimeout(timer);
      pendingTimers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- answers and helpers ------------------------------------------------------------------------------

function validation(message: string): HttpAnswer {
  return new HttpAnswer(400, { status: 'error', message, correlationId: randomUUID(), category: 'VALIDATION_ERROR' });
}

function propertyMissing(name: string): HttpAnswer {
  return new HttpAnswer(400, {
    status: 'error',
    message: `Property values were not valid: [${JSON.stringify({ isValid: false, message: `Property "${name}" does not exist`, error: 'PROPERTY_DOESNT_EXIST', name })}]`,
    correlationId: randomUUID(),
    category: 'VALIDATION_ERROR',
    errors: [{ message: `Property "${name}" does not exist`, code: 'PROPERTY_DOESNT_EXIST', context: { propertyName: [name] } }],
  });
}

function nonUnique(type: string, property: string): HttpAnswer {
  return validation(`Unable to perform update/upsert by non-unique ${TYPE_IDS[type] ?? type} property ${property} in portal ID ${PORTAL_ID}`);
}

function notFoundMessage(type: string): string {
  return `Could not get some ${SINGULAR[type] ?? 'OBJECT'} objects, they may be deleted or not exist. Check that ids are valid.`;
}

function propertyJson(p: TwinProperty): Json {
  return {
    name: p.name,
    label: p.name,
    type: p.type,
    fieldType: p.fieldType ?? (p.type === 'number' ? 'number' : p.type === 'date' || p.type === 'datetime' ? 'date' : 'text'),
    description: '',
    groupName: 'twin',
    options: (p.options ?? []).map((value, i) => ({ label: value, value, displayOrder: i, hidden: false })),
    hasUniqueValue: p.hasUniqueValue === true,
    calculated: false,
    modificationMetadata: { archivable: true, readOnlyDefinition: p.readOnly === true, readOnlyValue: p.readOnly === true },
    formField: true,
    hidden: false,
  };
}

/** HubSpot stores contact emails in lower case. */
function lowerEmail(type: string, props: Record<string, string>): Record<string, string> {
  if (type === 'contacts' && typeof props.email === 'string') props.email = props.email.toLowerCase();
  return props;
}

function normal(property: string, value: string): string {
  return property === 'email' ? value.toLowerCase() : value;
}

function isoMs(value: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(value)) return undefined;
  const ms = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  return Number.isNaN(ms) ? undefined : ms;
}

function titleCase(word: string): string {
  return word.charAt(0) + word.slice(1).toLowerCase();
}

function lowerCaseHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
