/**
 * Local receivers for the webhook destination, in the benchmark's own process:
 * - an unthrottled sink that reads each request body and acknowledges it at once (200);
 * - a rate-limited twin: at most `requests` per `perMs` (sliding window, by arrival time), else
 *   429 with `Retry-After` (whole seconds until a slot frees) and a HubSpot-like error body.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkStats {
  /** Requests answered 2xx, and the records they carried. */
  readonly accepted: number;
  readonly records: number;
  /** Requests answered 429. */
  readonly throttled: number;
  readonly bytes: number;
  /** Arrival of the first request and answer to the last accepted one (performance.now()). */
  readonly firstAt: number | undefined;
  readonly lastAt: number | undefined;
}

export interface Sink {
  readonly url: string;
  stats(): SinkStats;
  /** Bodies accepted since the last reset, when capturing. */
  captured(): readonly string[];
  reset(options?: { capture?: boolean }): void;
  close(): Promise<void>;
}

export interface SinkOptions {
  readonly rateLimit?: { readonly requests: number; readonly perMs: number };
}

const RECORD_MARK = Buffer.from('{"operation":');

/** Records in a webhook body: each one starts with `{"operation":` (a native scan, no JSON parse). */
function countRecords(body: Buffer): number {
  let n = 0;
  for (let i = body.indexOf(RECORD_MARK); i >= 0; i = body.indexOf(RECORD_MARK, i + RECORD_MARK.length)) n++;
  return n;
}

export async function startSink(options: SinkOptions = {}): Promise<Sink> {
  let accepted = 0;
  let records = 0;
  let throttled = 0;
  let bytes = 0;
  let firstAt: number | undefined;
  let lastAt: number | undefined;
  let capture = false;
  let bodies: string[] = [];
  /** Arrival times of accepted requests inside the window. */
  let window: number[] = [];
  const limit = options.rateLimit;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const arrived = performance.now();
    firstAt ??= arrived;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      bytes += body.length;
      if (limit) {
        while (window.length > 0 && window[0]! <= arrived - limit.perMs) window.shift();
        if (window.length >= limit.requests) {
          throttled++;
          const waitMs = window[0]! + limit.perMs - arrived;
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) });
          res.end(JSON.stringify({ status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' }));
          return;
        }
        window.push(arrived);
      }
      accepted++;
      records += countRecords(body);
      if (capture) bodies.push(body.toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
      lastAt = performance.now();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/bench`,
    stats: () => ({ accepted, records, throttled, bytes, firstAt, lastAt }),
    captured: () => bodies,
    reset(resetOptions = {}) {
      accepted = records = throttled = bytes = 0;
      firstAt = lastAt = undefined;
      window = [];
      bodies = [];
      capture = resetOptions.capture ?? false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
