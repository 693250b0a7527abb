/** The one HTTP layer every connector uses: keep-alive, a shared rate limit per account, retries. */
export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Exact bytes to send (signatures cover them), already serialised. */
  readonly body?: string;
  /** Per-attempt timeout; defaults to the client's. */
  readonly timeoutMs?: number;
  /**
   * Called before every attempt; the headers it returns are added to that attempt.
   * Used for values that must be fresh per attempt, such as a signature timestamp.
   */
  readonly prepare?: (attempt: number) => Readonly<Record<string, string>>;
  /**
   * The connector's reading of a response the layer would otherwise judge by status alone:
   * `final` hands it back as is (e.g. a 429 for a daily quota, which waiting will not lift);
   * `{ retryAfterMs }` retries it as throttling after that wait (e.g. 423 Locked, or a wait the
   * vendor gives in its own header). Undefined keeps the default (429 and 5xx retried).
   */
  readonly classify?: (response: HttpResponse) => 'final' | { readonly retryAfterMs: number } | undefined;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
}

export interface HttpLimits {
  /** Requests allowed per `perSeconds`, shared by every sync using the same account. */
  readonly requests: number;
  readonly perSeconds: number;
  /** Requests in flight at once for the account. */
  readonly concurrency: number;
}

export interface RetryPolicy {
  /** Attempts after the first for network errors, timeouts and 5xx. */
  readonly retries: number;
  /** Waits on 429 before giving up; throttling does not use up `retries`. */
  readonly throttleRetries: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

export interface HttpClient {
  /**
   * Sends the request within the account's rate limit. Retries network errors, timeouts,
   * 5xx and 429 (honouring Retry-After, seconds or HTTP date) with exponential backoff and
   * jitter. Resolves with the final response for any other status (2xx, 3xx, 4xx), which the
   * connector interprets. Rejects with HttpRetryError when the retries are used up, and with
   * the abort reason when `signal` aborts.
   */
  request(request: HttpRequest): Promise<HttpResponse>;
  /** Must be called when done: rate-limit slots are held for a window after each answer. */
  close(): Promise<void>;
}
