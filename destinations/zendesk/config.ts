import { z } from 'zod';

/** Zendesk's cap on users or organizations per bulk request. */
export const MAX_PER_REQUEST = 100;
/** Zendesk keeps at most 30 queued or running jobs per account; each write has one job at a time. */
export const MAX_CONCURRENCY = 10;

/** The zendesk entry in activate.yml. */
export const zendeskConfigSchema = z
  .strictObject({
    type: z.literal('zendesk'),
    /** `acme` for https://acme.zendesk.com. */
    subdomain: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/i, 'must be the subdomain only: acme for https://acme.zendesk.com')
      .optional(),
    /** The API root, default `https://<subdomain>.zendesk.com/api/v2` (tests, proxies, host mapping). */
    base_url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    /** The agent or admin whose API token is used (`email/token` Basic auth). */
    email: z.string().min(3).optional(),
    api_token: z.string().min(1, 'must not be empty').optional(),
    /** An OAuth access token, sent as a bearer token (instead of email + api_token). */
    oauth_token: z.string().min(1, 'must not be empty').optional(),
    batch_size: z.number().int().min(1).max(MAX_PER_REQUEST).default(MAX_PER_REQUEST),
    /** Batches (each one background job) in flight at once. */
    concurrency: z.number().int().min(1).max(MAX_CONCURRENCY).default(4),
    /** Wait between two looks at a background job's status. */
    job_poll_interval_seconds: z.number().min(0).max(60).default(1),
    /** Give up on a job (its records are sent again next run) after this long. */
    job_timeout_seconds: z.number().positive().max(86_400).default(600),
    timeout_seconds: z.number().positive().max(600).default(30),
  })
  .superRefine((config, ctx) => {
    if (config.subdomain === undefined && config.base_url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['subdomain'], message: 'set subdomain (acme for https://acme.zendesk.com) or base_url' });
    }
    const token = config.api_token !== undefined;
    const oauth = config.oauth_token !== undefined;
    if (token === oauth) {
      ctx.addIssue({ code: 'custom', path: ['api_token'], message: 'set either email and api_token, or oauth_token (one of them)' });
    } else if (token && config.email === undefined) {
      ctx.addIssue({ code: 'custom', path: ['email'], message: 'an api_token needs the email of the agent it belongs to' });
    } else if (oauth && config.email !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['email'], message: 'email goes with api_token; an oauth_token needs none' });
    }
  });

export type ZendeskConfig = z.output<typeof zendeskConfigSchema>;

export const ZENDESK_OBJECTS = ['users', 'organizations'] as const;
export type ZendeskObject = (typeof ZENDESK_OBJECTS)[number];

/** Connector options in meta.activation. */
export const zendeskOptionsSchema = z.strictObject({
  object: z.enum(ZENDESK_OBJECTS, { error: `must be one of ${ZENDESK_OBJECTS.join(', ')}` }),
  /** Users: send `verified: true`, so new users' addresses count as verified (no verification email). */
  verified: z.boolean().default(false),
});

export type ZendeskOptions = z.output<typeof zendeskOptionsSchema>;

/** The API root requests go to, without a trailing slash. */
export function apiRoot(config: ZendeskConfig): string {
  if (config.base_url !== undefined) return config.base_url.replace(/\/+$/, '');
  return `https://${config.subdomain}.zendesk.com/api/v2`;
}
