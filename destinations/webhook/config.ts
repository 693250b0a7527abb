import { z } from 'zod';

export const WHSEC_PREFIX = 'whsec_';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A raw string, or `whsec_<base64>` (Standard Webhooks) whose decoded bytes are the key. */
const secret = z
  .string()
  .min(1, 'must not be empty')
  .refine(
    (value) => !value.startsWith(WHSEC_PREFIX) || isUsableBase64(value.slice(WHSEC_PREFIX.length)),
    `a secret starting with "${WHSEC_PREFIX}" must continue with the base64 of the key`,
  );

/** The webhook entry in activate.yml. */
export const webhookConfigSchema = z.strictObject({
  type: z.literal('webhook'),
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  /** Added to every request; values often carry tokens, so they are treated as secrets. */
  headers: z.record(z.string(), z.string()).optional(),
  secret: secret.optional(),
  batch_size: z.number().int().min(1).max(10_000).default(100),
  timeout_seconds: z.number().positive().default(30),
  rate_limit: z
    .strictObject({
      requests: z.number().int().positive(),
      per_seconds: z.number().positive(),
    })
    .default({ requests: 10, per_seconds: 1 }),
  concurrency: z.number().int().min(1).max(64).default(4),
});

export type WebhookConfig = z.output<typeof webhookConfigSchema>;

/** Connector options in meta.activation. The webhook needs none; `object` is echoed in the payload. */
export const webhookOptionsSchema = z.strictObject({
  object: z.string().min(1).optional(),
});

export type WebhookOptions = z.output<typeof webhookOptionsSchema>;

function isUsableBase64(text: string): boolean {
  return text.length > 0 && BASE64.test(text);
}
