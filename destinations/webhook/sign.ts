import { createHash, createHmac } from 'node:crypto';
import type { Change } from '../types.js';
import { WHSEC_PREFIX } from './config.js';

/** The HMAC key: the decoded bytes of a `whsec_<base64>` secret, else the UTF-8 bytes of the string. */
export function signingKey(secret: string): Buffer {
  return secret.startsWith(WHSEC_PREFIX)
    ? Buffer.from(secret.slice(WHSEC_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** Standard Webhooks `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. */
export function signatureHeader(key: Buffer, id: string, timestamp: string, body: string): string {
  const digest = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64');
  return `v1,${digest}`;
}

/**
 * An id that is the same whenever the same sync sends the same batch content (operations,
 * keys, row hashes), whatever the run, so receivers can drop a delivery they already processed.
 */
export function deliveryId(syncId: string, batch: readonly Change[]): string {
  const content = JSON.stringify([syncId, batch.map((change) => [change.operation, change.key, change.hash])]);
  return `msg_${createHash('sha256').update(content, 'utf8').digest('hex').slice(0, 32)}`;
}

/** Unix seconds, as Standard Webhooks wants in `webhook-timestamp`. */
export function unixTimestamp(now: number = Date.now()): string {
  return String(Math.floor(now / 1000));
}
