import { z } from 'zod';
import { templateSyntaxError } from './template.js';

export const SLACK_API_URL = 'https://slack.com/api';

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .transform((url) => url.replace(/\/+$/, ''));

/**
 * The slack entry in activate.yml: an incoming webhook (`webhook_url`, which is the secret and
 * fixes the channel) or a bot token (`token`, posting with chat.postMessage to `channel`).
 */
export const slackConfigSchema = z
  .strictObject({
    type: z.literal('slack'),
    webhook_url: z.url({ protocol: /^https?$/, error: 'must be the https:// URL of a Slack incoming webhook' }).optional(),
    /** Bot token (xoxb-...) with chat:write. */
    token: z.string().min(1, 'must not be empty').optional(),
    /** Channel id (C0123...) or name (#alerts) for bot-token posting; a sync may set its own. */
    channel: z.string().min(1).optional(),
    /** Web API base for bot-token posting; tests point it at a local twin. */
    base_url: httpUrl.default(SLACK_API_URL),
    /** Rows per write: in summary mode, the most rows one message summarises. */
    batch_size: z.number().int().min(1).max(1000).default(50),
    timeout_seconds: z.number().positive().default(30),
  })
  .superRefine((config, ctx) => {
    if ((config.webhook_url === undefined) === (config.token === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: config.webhook_url === undefined ? ['webhook_url'] : ['token'],
        message: 'set either webhook_url (an incoming webhook) or token (a bot token, with channel), not both or neither',
      });
    }
    if (config.webhook_url !== undefined && config.channel !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['channel'],
        message: 'an incoming webhook posts to the channel chosen when it was created; remove channel, or use a bot token',
      });
    }
  });

export type SlackConfig = z.output<typeof slackConfigSchema>;

const template = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((source, ctx) => {
    const problem = templateSyntaxError(source);
    if (problem) ctx.addIssue({ code: 'custom', message: `is not a valid template: ${problem}` });
  });

/** Connector options in meta.activation. */
export const slackOptionsSchema = z.strictObject({
  /** Template of the message (or, with summary, of the line) for a row that entered the model. */
  message: template,
  /** For a changed row (modes upsert and mirror); without it, changed rows post nothing. */
  changed_message: template.optional(),
  /** For a row that left the model (mode mirror); without it, removed rows post nothing. */
  removed_message: template.optional(),
  /** One message per batch listing its rows (one line each) instead of one message per row. */
  summary: z.boolean().default(false),
  /** First line of a summary; `{{ count }}`, `{{ sync }}` and `{{ kind }}` are available. */
  summary_title: template.optional(),
  changed_summary_title: template.optional(),
  removed_summary_title: template.optional(),
  /** Most rows listed in one summary; the rest are counted ("and 12 more"). */
  max_lines: z.number().int().min(1).max(100).default(20),
  /** Bot-token posting: the channel for this sync (instead of the destination's). */
  channel: z.string().min(1).optional(),
});

export type SlackOptions = z.output<typeof slackOptionsSchema>;
