import { z } from 'zod';

/** Bulk API 2.0 needs v41, sObject Collections upsert v46; default: a current version. */
export const DEFAULT_API_VERSION = '62.0';
const MIN_API_VERSION = 46;
/** Records per sObject Collections request (documented limit). */
export const COLLECTION_LIMIT = 200;
const LOGIN_HOSTS = new Set(['login.salesforce.com', 'test.salesforce.com']);

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an https:// URL' })
  .transform((url) => url.replace(/\/+$/, ''));

/** `62.0`, `"62.0"`, `62` or `v62.0` -> "62.0". */
const apiVersion = z
  .union([z.number(), z.string()])
  .transform((value, ctx) => {
    const text = String(value).trim().replace(/^v/i, '');
    const match = /^(\d{2,3})(?:\.0)?$/.exec(text);
    if (!match || Number(match[1]) < MIN_API_VERSION) {
      ctx.addIssue({ code: 'custom', message: `must be an API version such as "${DEFAULT_API_VERSION}" (${MIN_API_VERSION}.0 or later)` });
      return z.NEVER;
    }
    return `${match[1]}.0`;
  })
  .default(DEFAULT_API_VERSION);

/** The salesforce entry in activate.yml. `retry:` and `rate_limit:` are read by the engine. */
export const salesforceConfigSchema = z
  .strictObject({
    type: z.literal('salesforce'),
    /** https://<my domain>.my.salesforce.com; with OAuth, the token response's instance_url wins. */
    instance_url: httpUrl.optional(),
    /** Where OAuth tokens are requested (refresh token and client credentials flows). */
    login_url: httpUrl.default('https://login.salesforce.com'),
    access_token: z.string().min(1).optional(),
    refresh_token: z.string().min(1).optional(),
    client_id: z.string().min(1).optional(),
    client_secret: z.string().min(1).optional(),
    api_version: apiVersion,
    /** Records per write: one Bulk API job, or Collections requests of 200. */
    batch_size: z.number().int().min(1).max(150_000).optional(),
    /** A write with at least this many records goes through Bulk API 2.0; `false`: never. Default 10,000. */
    bulk_threshold: z.union([z.number().int().min(1).max(150_000), z.literal(false)]).optional(),
    /** Writes in flight at once, and requests in flight for the account. */
    concurrency: z.number().int().min(1).max(25).default(4),
    /** Per-request timeout. Salesforce gives a request up to 10 minutes. */
    timeout_seconds: z.number().positive().max(600).default(120),
    /** Longest wait between two polls of a Bulk API job (polls start at 1 s and double). */
    bulk_poll_seconds: z.number().positive().max(300).default(10),
    /** A Bulk API job still running after this long is left to finish; its records are re-sent next run. */
    bulk_timeout_minutes: z.number().positive().max(24 * 60).default(60),
    /** Times a record refused with UNABLE_TO_LOCK_ROW is sent again within the same write. */
    lock_retries: z.number().int().min(0).max(5).default(1),
  })
  .superRefine((config, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const hasRefresh = config.refresh_token !== undefined;
    const hasClientCredentials = config.client_id !== undefined && config.client_secret !== undefined && !hasRefresh;
    if (hasRefresh && config.client_id === undefined) {
      issue('client_id', 'the refresh token flow needs client_id (the connected app\'s consumer key)');
    }
    if (config.client_secret !== undefined && config.client_id === undefined) {
      issue('client_id', 'client_secret needs client_id');
    }
    if (config.access_token === undefined && !hasRefresh && !hasClientCredentials) {
      issue(
        'access_token',
        'set access_token (with instance_url), or refresh_token with client_id (refresh token flow), ' +
          'or client_id with client_secret (client credentials flow)',
      );
    }
    if (config.access_token !== undefined && !hasRefresh && !hasClientCredentials && config.instance_url === undefined) {
      issue('instance_url', 'is required with access_token (e.g. https://mycompany.my.salesforce.com)');
    }
    if (hasClientCredentials && LOGIN_HOSTS.has(hostOf(config.login_url))) {
      issue(
        'login_url',
        'the client credentials flow does not work with login.salesforce.com or test.salesforce.com: ' +
          'set login_url to your My Domain URL (https://mycompany.my.salesforce.com)',
      );
    }
    if (config.batch_size !== undefined && typeof config.bulk_threshold === 'number' && config.bulk_threshold > config.batch_size) {
      issue(
        'bulk_threshold',
        `is above batch_size (${config.batch_size}), so no write would ever use Bulk API 2.0; ` +
          'raise batch_size, lower bulk_threshold, or set bulk_threshold: false to use sObject Collections only',
      );
    }
  });

export type SalesforceConfig = z.output<typeof salesforceConfigSchema>;

/** Connector options in meta.activation. */
export const salesforceOptionsSchema = z.strictObject({
  /** The sObject API name: Contact, Account, Lead, My_Object__c, ... */
  object: z
    .string({ error: 'is required: the sObject API name, e.g. Contact or My_Object__c' })
    .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'must be an sObject API name, e.g. Contact or My_Object__c'),
});

export type SalesforceOptions = z.output<typeof salesforceOptionsSchema>;

/** How the connector gets its access tokens. */
export type AuthFlow = 'access_token' | 'refresh_token' | 'client_credentials';

export function authFlow(config: SalesforceConfig): AuthFlow {
  if (config.refresh_token !== undefined) return 'refresh_token';
  if (config.client_id !== undefined && config.client_secret !== undefined) return 'client_credentials';
  return 'access_token';
}

export const DEFAULT_BULK_THRESHOLD = 10_000;

/** Records from which a write goes through Bulk API 2.0, or false for never. */
export function bulkThresholdOf(config: SalesforceConfig): number | false {
  return config.bulk_threshold ?? DEFAULT_BULK_THRESHOLD;
}

/**
 * Records per write unless `batch_size` says otherwise: the bulk threshold or 10,000, whichever
 * is larger (so a big change set reaches Bulk API 2.0), or 2,000 (ten Collections requests) when
 * Bulk API 2.0 is off. A `batch_size` under the default threshold, without a `bulk_threshold`,
 * means every write goes through Collections.
 */
export function batchSizeOf(config: SalesforceConfig): number {
  if (config.batch_size !== undefined) return config.batch_size;
  const threshold = bulkThresholdOf(config);
  return threshold === false ? 2_000 : Math.max(threshold, DEFAULT_BULK_THRESHOLD);
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return '';
  }
}
