import { z } from 'zod';

/** A Mailchimp data center, the part of an API key after the dash (`us21`). */
const DATA_CENTER = /^[a-z]{2,}\d+$/;

/** Statuses a member the sync creates may get. `unsubscribed`/`cleaned` make no sense for new members. */
export const NEW_MEMBER_STATUSES = ['subscribed', 'pending', 'transactional'] as const;
export type NewMemberStatus = (typeof NEW_MEMBER_STATUSES)[number];

/** Mailchimp's cap on members per `POST /lists/{list_id}` (SDK types generated from its schema). */
export const MAX_MEMBERS_PER_BATCH = 500;
/** Mailchimp allows 10 simultaneous connections per user. */
export const MAX_CONNECTIONS = 10;

/** The mailchimp entry in activate.yml. */
export const mailchimpConfigSchema = z
  .strictObject({
    type: z.literal('mailchimp'),
    /** `<key>-<dc>`: sent as the password of HTTP Basic auth; its suffix names the data center. */
    api_key: z.string().min(1, 'must not be empty').optional(),
    /** An OAuth 2 access token, sent as a bearer token; needs `server` or `base_url`. */
    oauth_token: z.string().min(1, 'must not be empty').optional(),
    /** The data center (`us21`) when it cannot be read from the api_key (OAuth). */
    server: z.string().regex(DATA_CENTER, 'must be a Mailchimp data center such as us21').optional(),
    /** The API root, default `https://<dc>.api.mailchimp.com/3.0` (tests, proxies). */
    base_url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    batch_size: z.number().int().min(1).max(MAX_MEMBERS_PER_BATCH).default(MAX_MEMBERS_PER_BATCH),
    /** Requests in flight at once for this account; Mailchimp refuses more than 10. */
    concurrency: z.number().int().min(1).max(MAX_CONNECTIONS).default(MAX_CONNECTIONS),
    /** Mailchimp itself stops a call after 120 s. */
    timeout_seconds: z.number().positive().max(600).default(120),
  })
  .superRefine((config, ctx) => {
    if ((config.api_key === undefined) === (config.oauth_token === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['api_key'], message: 'set either api_key or oauth_token (one of them)' });
      return;
    }
    if (config.base_url === undefined && config.server === undefined) {
      if (config.oauth_token !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['server'], message: 'an oauth_token needs server (the data center, e.g. us21) or base_url' });
      } else if (dataCenterOf(config.api_key!) === undefined) {
        // Never echo the key: it is a secret.
        ctx.addIssue({
          code: 'custom',
          path: ['api_key'],
          message: 'does not end in a data center ("-us21"); copy the whole key from Mailchimp, or set server',
        });
      }
    }
  });

export type MailchimpConfig = z.output<typeof mailchimpConfigSchema>;

/** Connector options in meta.activation. */
export const mailchimpOptionsSchema = z.strictObject({
  /** The audience (list) id, as shown in Audience settings. */
  list_id: z.string().regex(/^[A-Za-z0-9]+$/, 'must be the audience id (letters and digits), as in Audience settings'),
  /** Status of members the sync creates; existing members keep theirs unless update_existing_status. */
  status_if_new: z.enum(NEW_MEMBER_STATUSES, {
    error: `must be one of ${NEW_MEMBER_STATUSES.join(', ')}: the status members the sync adds get (only add people who agreed to it)`,
  }),
  /** true: existing members get status_if_new too (one batch request, `update_existing: true`). */
  update_existing_status: z.boolean().default(false),
  /** Tags given to every member the sync sends; in audience mode, removed when a row leaves the model. */
  tags: z.array(z.string().trim().min(1).max(100)).default([]),
  /** Accept members even when required merge fields are missing. */
  skip_merge_validation: z.boolean().default(false),
});

export type MailchimpOptions = z.output<typeof mailchimpOptionsSchema>;

/** `us21` from `0123abcd-us21`, or undefined. */
export function dataCenterOf(apiKey: string): string | undefined {
  const dash = apiKey.lastIndexOf('-');
  if (dash < 0) return undefined;
  const suffix = apiKey.slice(dash + 1);
  return DATA_CENTER.test(suffix) ? suffix : undefined;
}

/** The API root requests go to, without a trailing slash. */
export function apiRoot(config: MailchimpConfig): string {
  if (config.base_url !== undefined) return config.base_url.replace(/\/+$/, '');
  const dc = config.server ?? dataCenterOf(config.api_key ?? '');
  return `https://${dc}.api.mailchimp.com/3.0`;
}
