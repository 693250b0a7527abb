import { z } from 'zod';

export const HUBSPOT_API_URL = 'https://api.hubapi.com';
export const HUBSPOT_APP_URL = 'https://app.hubspot.com';

/** HubSpot's own limit on inputs per batch request (create, read, update, upsert, archive). */
export const HUBSPOT_MAX_BATCH = 100;

/**
 * Requests per 10 seconds HubSpot allows an app, by account tier (usage-guidelines page as
 * quoted in ../shared/reference/destination-apis.md §1; marked (S) there, so it is a setting,
 * and `rate_limit:` in activate.yml overrides it).
 */
export const HUBSPOT_TIER_REQUESTS_PER_10S = {
  free: 100,
  starter: 100,
  professional: 190,
  enterprise: 190,
  /** With the API limit increase pack (it does not stack). */
  api_limit_increase: 250,
  /** Public (marketplace, OAuth) apps: per installing account. */
  public_app: 110,
} as const;
export type HubSpotTier = keyof typeof HUBSPOT_TIER_REQUESTS_PER_10S;
const TIERS = Object.keys(HUBSPOT_TIER_REQUESTS_PER_10S) as [HubSpotTier, ...HubSpotTier[]];

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .transform((url) => url.replace(/\/+$/, ''));

/** The hubspot entry in activate.yml. */
export const hubspotConfigSchema = z.strictObject({
  type: z.literal('hubspot'),
  /** A private app access token, an OAuth access token or a service key (sent as Bearer). */
  token: z.string().min(1, 'must not be empty'),
  /** API host; tests point it at a local twin. */
  base_url: httpUrl.default(HUBSPOT_API_URL),
  /**
   * `v3` for the /crm/v3/... paths (HubSpot files them under "legacy" but documents them), or a
   * date version such as `2026-03` for /crm/objects/2026-03/... and /crm/properties/2026-03/....
   */
  api_version: z
    .string()
    .regex(/^(v3|\d{4}-\d{2})$/, 'must be v3 or a date version such as 2026-03')
    .default('v3'),
  /** Sets the default request rate (see HUBSPOT_TIER_REQUESTS_PER_10S). */
  tier: z.enum(TIERS).default('free'),
  /** Records per batch request: at most 100 (HubSpot's limit). */
  batch_size: z.number().int().min(1).max(HUBSPOT_MAX_BATCH).default(HUBSPOT_MAX_BATCH),
  /** Batch requests in flight at once. */
  concurrency: z.number().int().min(1).max(16).default(4),
  timeout_seconds: z.number().positive().default(30),
  /**
   * Stop the sync (committing what was delivered) once X-HubSpot-RateLimit-Daily-Remaining
   * falls to this many, leaving the rest of the account's daily quota to other integrations.
   */
  daily_reserve: z.number().int().min(0).default(0),
  /** HubSpot account (portal) id: only used to link exposures to the object in HubSpot. */
  portal_id: z
    .union([z.number().int().positive(), z.string().regex(/^\d+$/, 'must be the numeric account id')])
    .transform(String)
    .optional(),
  /** HubSpot's web app, for those links (EU accounts: https://app-eu1.hubspot.com). */
  app_url: httpUrl.default(HUBSPOT_APP_URL),
});

export type HubSpotConfig = z.output<typeof hubspotConfigSchema>;

/** Object names (contacts, companies, deals, tickets, p_<name>...) or object type ids (0-1, 2-1234567). */
const OBJECT_TYPE = /^([a-z][a-z0-9_]*|\d+-\d+)$/;

/** Connector options in meta.activation. */
export const hubspotOptionsSchema = z.strictObject({
  object: z
    .string({ error: 'set object: contacts, companies, deals, or a custom object type id such as 2-1234567' })
    .regex(OBJECT_TYPE, 'must be contacts, companies, deals (or another object name), or an object type id such as 2-1234567'),
  /**
   * How dates and timestamps are sent: `epoch_ms` (milliseconds; dates at midnight UTC) or `iso`
   * (YYYY-MM-DD for date properties, ISO 8601 UTC for datetime properties). HubSpot documents both.
   */
  date_format: z.enum(['epoch_ms', 'iso']).default('epoch_ms'),
  /**
   * Read the object's property definitions before the first write: values are formatted by
   * property type, and a mapped property that does not exist or is read-only stops the sync
   * before anything is sent. Without them, values are formatted by their shape.
   */
  check_properties: z.boolean().default(true),
});

export type HubSpotOptions = z.output<typeof hubspotOptionsSchema>;

/** Standard object names and their object type ids. */
export const OBJECT_TYPE_IDS: Readonly<Record<string, string>> = {
  contacts: '0-1',
  companies: '0-2',
  deals: '0-3',
  tickets: '0-5',
};

/** Contacts may be matched by email although email is not a "unique value" property. */
export function isContacts(object: string): boolean {
  return object === 'contacts' || object === '0-1';
}
