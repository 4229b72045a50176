/**
 * GET one page of JSON from a paginated data API (Apify dataset items, Firecrawl status pages),
 * retrying network errors, 408, 429, 5xx and unreadable bodies with backoff. Local to the paginated
 * sources (apify.ts, firecrawl.ts): a page is small (one batch, or Firecrawl's 10 MiB cap), so it is
 * read whole; the streaming file sources have their own helper.
 * @module
 */
import type { Logger } from '../types.ts';
import { ImportError } from './errors.ts';

/** How a paginated source retries. */
export interface PageRetry {
  /** Retries after the first attempt. */
  readonly retries: number;
  /** The first backoff delay: waits are random in [d, 2d], d doubling each retry (Apify's rule). */
  readonly delayMs: number;
  /** How long one request may take, its body included, before it is abandoned and retried. */
  readonly timeoutMs: number;
}

/** One page request. */
export interface PageRequest {
  readonly url: string;
  /** Request headers (the credentials travel here, never in the URL, logs or errors). */
  readonly headers: Readonly<Record<string, string>>;
  /** The credential the headers carry: removed from any text of the API's that a message quotes. */
  readonly secret: string;
  readonly provider: string;
  readonly jobId: string;
  /** What the job is called in messages, e.g. `dataset d1` or `crawl c1`. */
  readonly what: string;
  readonly retry: PageRetry;
  readonly signal?: AbortSignal | undefined;
  readonly logger?: Logger | undefined;
  /** The provider's wait for a 429 (e.g. a `Retry-After` header, or a time in the error text), in ms. */
  readonly retryAfterMs?: ((response: Response, body: string) => number | undefined) | undefined;
  /** The error for a 404, from the provider's body (what to do differs per provider). */
  readonly notFound: (body: string) => ImportError;
}

/** A page answered 2xx with a JSON body. */
export interface Page {
  readonly headers: Headers;
  readonly body: unknown;
  /** The body's length in bytes. */
  readonly bytes: number;
}

/** Longest wait honoured from a `Retry-After` or an error text: Firecrawl's limits are per minute. */
const MAX_WAIT_MS = 60_000;

const RETRIED = new Set([408, 429, 500, 502, 503, 504]);

/** The `Retry-After` header, in ms (delta-seconds or an HTTP date). */
export function retryAfterHeader(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  if (value === null) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A wait that ends early, rejecting with the signal's reason, when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error text of a provider's error body (`{error:{message}}` or `{error:"…"}`), bounded. */
export function apiErrorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    const error = parsed.error;
    const text = typeof error === 'string' ? error : typeof (error as { message?: unknown })?.message === 'string' ? (error as { message: string }).message : typeof parsed.message === 'string' ? parsed.message : '';
    return text.slice(0, 300);
  } catch {
    return '';
  }
}

/**
 * GETs `request.url` and parses its JSON body, retrying inside the call. Rejects with an
 * {@link ImportError} (`import.unauthorized` for 401/403 and `request.notFound` for 404, at once;
 * `import.unavailable` or `import.truncated` once retries ran out; `import.invalid` for another 4xx),
 * or with the signal's reason when it aborts.
 */
export async function getPage(request: PageRequest): Promise<Page> {
  const { provider, jobId, what, retry, signal, logger } = request;
  const fail = (code: 'import.unavailable' | 'import.truncated' | 'import.invalid' | 'import.unauthorized', message: string, status?: number, cause?: unknown) =>
    new ImportError(code, `${provider}: ${what}: ${message}`, { provider, jobId, ...(status === undefined ? {} : { status }), cause });
  // An API's error text may echo what it was sent: never quote the credential.
  const errorText = (body: string) => apiErrorText(body).replaceAll(request.secret, '[redacted]');
  let last: ImportError | undefined;
  for (let attempt = 0; ; attempt++) {
    let wait: number | undefined;
    const timeout = AbortSignal.timeout(retry.timeoutMs);
    let answered = false;
    try {
      const response = await fetch(request.url, { headers: { accept: 'application/json', ...request.headers }, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      answered = true;
      const text = await response.text();
      if (response.ok) {
        try {
          return { headers: response.headers, body: JSON.parse(text) as unknown, bytes: Buffer.byteLength(text) };
        } catch (cause) {
          last = fail('import.truncated', `the API answered a body that is not complete JSON (${Buffer.byteLength(text)} bytes), every retry included`, response.status, cause);
        }
      } else if (response.status === 401 || response.status === 403) {
        throw fail('import.unauthorized', `the API refused the credentials (HTTP ${response.status}${errorText(text) ? `: ${errorText(text)}` : ''}): check the API token, then replay the dead letter`, response.status);
      } else if (response.status === 404) {
        throw request.notFound(text.replaceAll(request.secret, '[redacted]'));
      } else if (RETRIED.has(response.status)) {
        last = fail('import.unavailable', `the API kept answering HTTP ${response.status}${errorText(text) ? ` (${errorText(text)})` : ''} until the retries ran out; the delivery is retried later`, response.status);
        if (response.status === 429) wait = request.retryAfterMs?.(response, text);
      } else {
        throw fail('import.invalid', `the API answered HTTP ${response.status}${errorText(text) ? `: ${errorText(text)}` : ''}`, response.status);
      }
    } catch (error) {
      if (error instanceof ImportError) throw error;
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        last = fail('import.unavailable', `the API did not answer a page within ${retry.timeoutMs} ms, every retry included`, undefined, error);
      } else if (answered) {
        last = fail('import.truncated', `the answer was cut off (${(error as Error).message}), every retry included`, undefined, error);
      } else {
        last = fail('import.unavailable', `the API could not be reached (${(error as Error).message}), every retry included`, undefined, error);
      }
    }
    if (attempt >= retry.retries) throw last;
    const d = retry.delayMs * 2 ** attempt;
    const ms = Math.min(MAX_WAIT_MS, wait ?? d + Math.random() * d);
    logger?.warn({ provider, jobId, attempt: attempt + 1, status: last.status, code: last.code, waitMs: Math.round(ms) }, `${provider}: ${what}: retrying a page in ${Math.round(ms)} ms`);
    await sleep(ms, signal);
  }
}
