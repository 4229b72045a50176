/**
 * The HTTP machinery the importers share, on Node's own `fetch`: a request retried on network
 * errors, 429 and 5xx inside the call (honouring `Retry-After`, else exponential backoff with
 * jitter), a stall timeout on the body, the caller's `signal` honoured promptly, and failures
 * mapped to {@link ImportError} with messages that name the provider, the job and what to do, and
 * never hold a token (URLs are redacted in every message and log line).
 *
 * The API, smallest first:
 * - {@link httpText}: one request, whole body as text, everything retried (JSON APIs).
 * - {@link httpOpen}: one request retried until it answers 2xx; the body is then read as a stream
 *   of chunks with the stall timeout ({@link HttpResponse.chunks}).
 * - {@link httpJson}: {@link httpText} parsed as JSON, a body that does not parse retried as cut off
 *   (pages of the paginated APIs).
 * - {@link retryDownload}: retries a whole streamed download whose body broke off (cut, stalled),
 *   the consumer skipping what it already handed out.
 *
 * Every importer is built on it: the file sources (webScraperData, thordataResults) with
 * {@link HttpRetryOptions} as their `retry` option, the paginated ones (apifyItems,
 * firecrawlDocuments) with their `maxRetries` / `retryDelayMs` / `timeoutMs` mapped by
 * {@link pageRetry}.
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import { nonNegativeInteger, positiveInteger } from '../check-options.ts';
import { backoffDelay } from '../dispatch/backoff.ts';
import { redactUrl, silentLogger } from '../log.ts';
import type { Logger } from '../types.ts';
import { ImportError, type ImportErrorCode } from './errors.ts';

/** Retry and timeout settings of the importers' HTTP calls. */
export interface HttpRetryOptions {
  /**
   * Attempts per call, the first included (a streamed download counts the attempts that made no
   * progress in a row). 1 means no retry.
   * @default 5
   */
  attempts?: number;
  /**
   * The backoff before the first retry when the API gives no `Retry-After`; it doubles for each later one (with jitter).
   * @default 1000
   */
  minDelayMs?: number;
  /**
   * The longest backoff between two attempts when the API gives no `Retry-After`.
   * @default 30_000
   */
  maxDelayMs?: number;
  /**
   * The longest `Retry-After` waited for inside the call. An API that asks for longer fails the call
   * with the retryable `import.unavailable`, so the delivery is retried later by the receiver's queue
   * instead of holding a worker.
   * @default 120_000 (2 minutes)
   */
  maxWaitMs?: number;
  /**
   * A response that sends no byte (headers or body) for this long is aborted and retried.
   * @default 30_000
   */
  stallTimeoutMs?: number;
}

/** The defaults of {@link HttpRetryOptions}. */
export const HTTP_DEFAULTS: Readonly<Required<HttpRetryOptions>> = {
  attempts: 5,
  minDelayMs: 1000,
  maxDelayMs: 30_000,
  maxWaitMs: 120_000,
  stallTimeoutMs: 30_000,
};

/** Retry options of the paginated sources (`apifyItems`, `firecrawlDocuments`), where one page is one request. */
export interface PageRetryOptions {
  /**
   * Retries of one page after a network error, a cut-off or unparsable body, 408, 429 or 5xx,
   * before the import fails with `import.unavailable` (`import.truncated` if the last answer was
   * cut off), and the delivery is retried later.
   * @default 8
   * @example 3
   */
  readonly maxRetries?: number;
  /**
   * The first retry's delay: each wait is random in [d, 2d] and d doubles, as Apify documents
   * (500 ms, 1 s, 2 s, ...), at most 60 s. A `Retry-After` wins (for Firecrawl, also the "retry
   * after Ns" of a 429's error text); one over 60 s fails the page at once with the retryable
   * `import.unavailable`, so the delivery is retried later.
   * @default 500
   * @example 1000
   */
  readonly retryDelayMs?: number;
  /**
   * How long one page request may take, its body included: a stalled answer is abandoned and retried.
   * @default 60_000
   * @example 120_000
   */
  readonly timeoutMs?: number;
}

/** The longest wait of a paginated source between two attempts, `Retry-After` included: their APIs' limits are per minute. */
const PAGE_MAX_WAIT_MS = 60_000;

/**
 * The call settings of a paginated source's options: `maxRetries` retries after the first attempt
 * (default 8); waits random in [d, 2d] with d = `retryDelayMs` (default 500) doubling, as Apify
 * documents, which is the backoff's equal jitter from 2 × `retryDelayMs`, at most 60 s; a
 * `Retry-After` over 60 s fails the attempt as the retryable `import.unavailable`; `timeoutMs`
 * (default 60 s) for one page, body included.
 *
 * @throws {TypeError} when an option is not a (non-negative / positive) integer.
 */
export function pageRetry(options: PageRetryOptions): Pick<HttpCall, 'retry' | 'timeoutMs'> {
  const retries = nonNegativeInteger('maxRetries', options.maxRetries ?? 8);
  const delayMs = nonNegativeInteger('retryDelayMs', options.retryDelayMs ?? 500);
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs ?? 60_000);
  return { retry: { attempts: retries + 1, minDelayMs: 2 * delayMs, maxDelayMs: PAGE_MAX_WAIT_MS, maxWaitMs: PAGE_MAX_WAIT_MS, stallTimeoutMs: timeoutMs }, timeoutMs };
}

/** One HTTP call of an importer. */
export interface HttpCall {
  /** The provider's name, for messages (`webscraper`, `thordata`...). */
  readonly provider: string;
  /** The job (task, dataset) the call is for, for messages. */
  readonly jobId: string;
  /** What the call does, for messages: `download the job's data`. */
  readonly what: string;
  /**
   * How messages name the call, after the provider: `dataset d1` gives `apify: dataset d1: …`.
   * @default `could not {what} for job {jobId} ({method} {redacted URL})`
   */
  readonly subject?: string;
  readonly url: string;
  /** @default 'GET' */
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | URLSearchParams;
  readonly signal?: AbortSignal | undefined;
  readonly logger?: Logger | undefined;
  readonly retry?: HttpRetryOptions | undefined;
  /** Secrets that must never appear in a message (tokens sent in headers or bodies); URLs are redacted anyway. */
  readonly secrets?: readonly string[];
  /** What to do about a refused token (401/403), e.g. `check \`apiToken\``. @default 'check the API token' */
  readonly unauthorizedHint?: string;
  /** What a 404/410 means and what to do, a sentence. @default 'The job is gone (deleted or past its retention): nothing to import; replay the dead letter if it comes back' */
  readonly notFoundHint?: string;
  /** What to do about another 4xx, a sentence after the API's text, e.g. `Check \`baseUrl\``. @default none */
  readonly invalidHint?: string;
  /**
   * The longest one attempt may take, its body included (for answers read whole): past it the
   * attempt is abandoned and retried.
   * @default none (only `stallTimeoutMs`)
   */
  readonly timeoutMs?: number;
  /** Statuses (besides 2xx) handed back instead of failing, e.g. `[404]` for a repeated DELETE. */
  readonly accept?: readonly number[];
  /**
   * Milliseconds to wait before retrying a 429 or 5xx when the answer has no `Retry-After`, from a
   * provider-specific hint (Firecrawl's "retry after Ns" in the error text), or `undefined` for the backoff.
   */
  readonly retryAfter?: (response: Response, bodyText: string) => number | undefined;
  /**
   * The status to act on for an answer read whole, when the API puts it in the body (Thordata's
   * `code`): e.g. `200 {"code":401}` → 401.
   */
  readonly statusOf?: (status: number, bodyText: string) => number;
}

/** An answer with its body still to read. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Headers;
  /**
   * The body, chunk by chunk, with the stall timeout. A body that breaks off (connection cut,
   * stall) throws a {@link TransientHttpError}; an abort throws the signal's reason.
   */
  chunks(): AsyncGenerator<Uint8Array>;
  /** Bytes of the body received so far. */
  readonly bytes: number;
  /** Stops reading and releases the connection. */
  cancel(): void;
}

/** A failure that another attempt may cure: a network error, a stall, a cut or unreadable end, 429, 5xx. */
export class TransientHttpError extends Error {
  override readonly name = 'TransientHttpError';
  constructor(
    message: string,
    /** Why: `stall` and `truncated` are the body breaking off; `timeout` is the call's `timeoutMs`. */
    readonly reason: 'network' | 'stall' | 'truncated' | 'timeout' | 'status',
    readonly status?: number,
    /** The wait the API asked for, in ms. */
    readonly waitMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

class StallSignal extends Error {}

/** Seconds or an HTTP date of a `Retry-After` header, as milliseconds from now; `undefined` when absent or malformed. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Removes every secret from a text (messages built from an API's answers, which may echo one). */
export function scrub(text: string, secrets: readonly string[] = []): string {
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) if (secret) text = text.replaceAll(secret, '[redacted]');
  return text;
}

/** A text with every URL in it redacted ({@link redactUrl}) and every secret removed. */
export function safeText(text: string, secrets: readonly string[] = []): string {
  return scrub(text.replace(/\bhttps?:\/\/[^\s"'<>]+/g, (url) => redactUrl(url)), secrets);
}

/** Query parameter names whose values are secrets wherever they show up (`api_token`, `api_key`, `sign`...). */
const SECRET_PARAM = /token|key|secret|sign|auth|pass|credential/i;

/** The call's secrets: those given, and the values of secret-looking query parameters of its URL (even an unparsable one). */
function secretsOf(call: HttpCall): string[] {
  const out = [...(call.secrets ?? [])];
  const mark = call.url.indexOf('?');
  if (mark !== -1) {
    for (const component of call.url.slice(mark + 1).split('&')) {
      const eq = component.indexOf('=');
      if (eq === -1 || !SECRET_PARAM.test(component.slice(0, eq))) continue;
      const value = component.slice(eq + 1).split('#', 1)[0]!;
      if (value.length < 4) continue;
      out.push(value);
      try {
        out.push(decodeURIComponent(value.replaceAll('+', ' ')));
      } catch {
        // not percent-encoded properly: the raw value is enough
      }
    }
  }
  return out;
}

/** `GET https://host/path?api_token=[redacted]`: how a call is named in messages. */
function describe(call: HttpCall): string {
  return scrub(`${call.method ?? 'GET'} ${redactUrl(call.url)}`, secretsOf(call));
}

function options(call: HttpCall): Required<HttpRetryOptions> {
  return { ...HTTP_DEFAULTS, ...call.retry };
}

/** An {@link ImportError} for a call, its message scrubbed of every secret. */
export function importError(call: HttpCall, code: ImportErrorCode, detail: string, extra: { status?: number; cause?: unknown; retryable?: boolean } = {}): ImportError {
  const subject = call.subject ?? `could not ${call.what} for job ${call.jobId} (${describe(call)})`;
  const message = scrub(`${call.provider}: ${subject}: ${safeText(detail)}`, secretsOf(call));
  return new ImportError(code, message, { provider: call.provider, jobId: call.jobId, ...extra });
}

/** Throws the signal's reason when it is aborted. */
function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** Waits `ms`, or throws the signal's reason as soon as it aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  checkAbort(signal);
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    checkAbort(signal);
    throw error;
  }
}

/**
 * What an error body says, short, URLs redacted (an API may echo the request): the message of a
 * JSON error (`{error: {message}}`, `{error: "…"}`, `{message}`, `{msg}`), else the first line of
 * a body that is not JSON; `''` when it says nothing readable.
 */
export function errorText(body: string): string {
  let text: string;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown; msg?: unknown } | null;
    const error = parsed?.error;
    const said = [typeof error === 'string' ? error : error?.message, parsed?.message, parsed?.msg].find((value) => typeof value === 'string');
    text = typeof said === 'string' ? said : '';
  } catch {
    text = body.trim().split('\n', 1)[0] ?? '';
  }
  return safeText(text.length > 300 ? `${text.slice(0, 300)}…` : text);
}

/**
 * The error for a status that is not retried, or `undefined` when it is retried (429, 5xx, 408).
 * `via` says where the status came from: the HTTP status, or the body's `code` (Thordata).
 */
function refusal(call: HttpCall, status: number, bodyText: string, via: 'HTTP' | 'code' = 'HTTP'): ImportError | undefined {
  const text = errorText(bodyText);
  if (status === 401 || status === 403) {
    return importError(call, 'import.unauthorized', `the API refused the credentials (${via} ${status}${text ? `: ${text}` : ''}): ${call.unauthorizedHint ?? 'check the API token'}, then replay the dead letter.`, { status });
  }
  if (status === 404 || status === 410) {
    return importError(call, 'import.not.found', `${text || 'Not found'} (${via} ${status}). ${call.notFoundHint ?? 'The job is gone (deleted or past its retention): nothing to import; replay the dead letter if it comes back'}.`, { status });
  }
  if (status === 408 || status === 429 || status >= 500) return undefined;
  return importError(call, 'import.invalid', `the API answered ${via} ${status}${text ? `: ${text}` : ''}${call.invalidHint ? `. ${call.invalidHint}.` : ''}`, { status });
}

/** A 429/5xx answer (or `code`), to retry after `Retry-After`, the call's hint, or the backoff. */
function retried(call: HttpCall, status: number, response: Response, bodyText: string, via: 'HTTP' | 'code' = 'HTTP'): TransientHttpError {
  const text = errorText(bodyText);
  const wait = parseRetryAfter(response.headers.get('retry-after')) ?? call.retryAfter?.(response, bodyText);
  return new TransientHttpError(`${via} ${status}${text ? ` (${text})` : ''}`, 'status', status, wait);
}

/**
 * What follows failure number `failures` (in a row) of a call, at attempt `attempt`: an abort, or
 * an error that is not a {@link TransientHttpError}, is thrown as it is; when the attempts ran out
 * or the API asks for a wait over `maxWaitMs`, the {@link ImportError}; else the wait before the
 * next attempt, logged.
 */
async function backOff(call: HttpCall, error: unknown, failures: number, attempt: number, streamed: boolean): Promise<void> {
  checkAbort(call.signal);
  if (!(error instanceof TransientHttpError)) throw error;
  const opts = options(call);
  const status = error.reason === 'status';
  const detail = scrub(`${status ? 'the API answered ' : ''}${error.message}`, secretsOf(call));
  const code = error.reason === 'truncated' || error.reason === 'stall' ? 'import.truncated' : 'import.unavailable';
  if (failures >= opts.attempts) {
    const then = streamed ? 'The import is not complete; the delivery is retried later and resumes after the last written batch.' : 'The delivery is retried later; if it keeps failing, check the API\'s status.';
    throw importError(call, code, `${status ? 'the API kept answering ' : ''}${error.message}, ${failures} time(s) in a row. ${then}`, { status: error.status });
  }
  if (error.waitMs !== undefined && error.waitMs > opts.maxWaitMs) {
    throw importError(call, 'import.unavailable', `${detail}; the API asks to wait ${Math.ceil(error.waitMs / 1000)} s, more than maxWaitMs (${opts.maxWaitMs} ms). The delivery is retried later.`, { status: error.status });
  }
  const wait = error.waitMs ?? backoffDelay(failures, opts.minDelayMs, opts.maxDelayMs);
  (call.logger ?? silentLogger).warn(
    // `code`: what the failure becomes if it is the last.
    { provider: call.provider, jobId: call.jobId, request: describe(call), attempt, waitMs: wait, reason: error.reason, status: error.status, code },
    scrub(`${call.provider}: ${call.subject ?? `job ${call.jobId}`}: ${detail}; ${streamed ? 'downloading again' : 'retrying'} in ${wait} ms`, secretsOf(call)),
  );
  await sleep(wait, call.signal);
}

/**
 * Runs `attempt` until it succeeds, retrying {@link TransientHttpError}s with `Retry-After` or
 * backoff; any other error is thrown as it is. Gives up with `import.unavailable` (or
 * `import.truncated` when the body kept breaking off) after `attempts` failures.
 */
export async function withRetries<T>(call: HttpCall, attempt: (n: number) => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    checkAbort(call.signal);
    try {
      return await attempt(n);
    } catch (error) {
      await backOff(call, error, n, n, false);
    }
  }
}

/**
 * One attempt: sends the request and waits for the status, with the stall timeout; 2xx (or an
 * accepted status) gives the open response; 429/5xx a {@link TransientHttpError}; others an
 * {@link ImportError}.
 */
async function attemptOpen(call: HttpCall): Promise<HttpResponse> {
  const { stallTimeoutMs } = options(call);
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(call.signal?.reason);
  call.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  let stalled = false;
  let timedOut = false;
  const deadline =
    call.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort(new StallSignal());
        }, call.timeoutMs);
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort(new StallSignal());
    }, stallTimeoutMs);
  };
  const release = (): void => {
    clearTimeout(timer);
    clearTimeout(deadline);
    call.signal?.removeEventListener('abort', onAbort);
  };
  /** What a failure while sending or reading becomes. */
  const failure = (error: unknown, reading: boolean): unknown => {
    release();
    if (call.signal?.aborted) return call.signal.reason;
    if (timedOut) return new TransientHttpError(`the API did not answer within ${call.timeoutMs} ms (timeoutMs)`, 'timeout');
    if (stalled) return new TransientHttpError(`no byte received for ${stallTimeoutMs} ms (stallTimeoutMs)${reading ? ' in the middle of the body' : ''}`, 'stall');
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    // fetch's own messages may quote the URL (`Failed to parse URL from …?api_token=…`): the raw
    // error is not kept, and its text is redacted.
    const message = safeText(error instanceof Error ? `${error.message}${cause}` : String(error), secretsOf(call));
    return new TransientHttpError(reading ? `the answer was cut off (${message})` : `network error (${message})`, reading ? 'truncated' : 'network');
  };

  arm();
  let response: Response;
  try {
    response = await fetch(call.url, {
      method: call.method ?? 'GET',
      headers: { accept: '*/*', ...call.headers },
      ...(call.body === undefined ? {} : { body: call.body }),
      signal: controller.signal,
      redirect: 'follow',
    });
  } catch (error) {
    const failed = failure(error, false);
    // A URL fetch cannot parse will not parse on the next attempt either.
    if (failed instanceof TransientHttpError && error instanceof TypeError && /parse URL|Invalid URL/i.test(error.message)) {
      throw importError(call, 'import.invalid', `the URL is not valid (${failed.message}). Check \`baseUrl\`, or the URL the webhook gave.`);
    }
    throw failed;
  }
  clearTimeout(timer); // from here the stall clock runs only while a read waits: a slow consumer is not a stall

  const ok = (response.status >= 200 && response.status < 300) || call.accept?.includes(response.status) === true;
  if (!ok) {
    let text = '';
    arm();
    try {
      text = await response.text();
    } catch {
      // the error body is only for the message
    }
    release();
    throw refusal(call, response.status, text) ?? retried(call, response.status, response, text);
  }

  let bytes = 0;
  let done = false;
  const body = response.body;
  return {
    status: response.status,
    headers: response.headers,
    get bytes() {
      return bytes;
    },
    cancel() {
      done = true;
      release();
      if (!controller.signal.aborted) controller.abort(new StallSignal());
    },
    async *chunks() {
      if (!body) {
        release();
        return;
      }
      const reader = body.getReader();
      try {
        for (;;) {
          let result: Awaited<ReturnType<typeof reader.read>>;
          arm();
          try {
            result = await reader.read();
          } catch (error) {
            throw failure(error, true);
          }
          clearTimeout(timer);
          if (result.done) break;
          bytes += result.value.byteLength;
          yield result.value;
        }
      } finally {
        if (!done) {
          done = true;
          release();
          reader.cancel().catch(() => undefined);
          reader.releaseLock();
        }
      }
    },
  };
}

/**
 * Sends a request, retried until it answers 2xx (or a status in `accept`); the body is then
 * the caller's to read with {@link HttpResponse.chunks} (a break in it is not retried here: see
 * {@link retryDownload}).
 *
 * @throws {ImportError} `import.unauthorized` (401/403), `import.not.found` (404/410),
 * `import.invalid` (another 4xx), `import.unavailable` (retries exhausted); the signal's reason on abort.
 */
export function httpOpen(call: HttpCall): Promise<HttpResponse> {
  return withRetries(call, () => attemptOpen(call));
}

/** The answer of {@link httpText}. */
export interface HttpTextResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body's length in bytes. */
  readonly bytes: number;
}

/**
 * Sends a request and reads the whole answer as text, everything retried: network errors, 429,
 * 5xx, a stalled or cut body, and the statuses `statusOf` finds in the body. For JSON APIs and
 * small answers.
 *
 * @example
 * ```ts
 * const { text } = await httpText({ provider: 'thordata', jobId, what: 'get the download URL', url, method: 'POST', body: form });
 * ```
 */
export function httpText(call: HttpCall): Promise<HttpTextResponse> {
  return withRetries(call, () => textOnce(call));
}

/** One attempt of {@link httpText}. */
async function textOnce(call: HttpCall): Promise<HttpTextResponse> {
  const response = await attemptOpen(call);
  const parts: Uint8Array[] = [];
  for await (const chunk of response.chunks()) parts.push(chunk);
  const text = Buffer.concat(parts).toString('utf8');
  const status = call.statusOf?.(response.status, text) ?? response.status;
  if (status !== response.status && !(status >= 200 && status < 300) && !call.accept?.includes(status)) {
    throw refusal(call, status, text, 'code') ?? retried(call, status, new Response(null, { status: 200, headers: response.headers }), text, 'code');
  }
  return { status, headers: response.headers, text, bytes: response.bytes };
}

/** The answer of {@link httpJson}. */
export interface HttpJsonResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  /** The body's length in bytes. */
  readonly bytes: number;
}

/**
 * {@link httpText} whose 2xx body is parsed as JSON: a body that does not parse is taken as cut off
 * (a proxy or the API ended it early) and asked again, as `import.truncated` once the attempts ran
 * out. For pages of JSON APIs, small enough to read whole.
 *
 * @example
 * ```ts
 * const { body } = await httpJson({ provider: 'apify', jobId, what: 'read the items', subject: `dataset ${jobId}`, url, retry: { attempts: 9 }, timeoutMs: 60_000 });
 * ```
 */
export function httpJson(call: HttpCall): Promise<HttpJsonResponse> {
  return withRetries(call, async () => {
    const { status, headers, text, bytes } = await textOnce(call);
    try {
      return { status, headers, body: JSON.parse(text) as unknown, bytes };
    } catch (cause) {
      throw new TransientHttpError(`the answer is not complete JSON (${bytes} bytes)`, 'truncated', status, undefined, { cause });
    }
  });
}

/**
 * Retries a streamed download that breaks off: `open(attempt)` opens it (with {@link openOnce})
 * and yields what it reads; when it throws a {@link TransientHttpError} (cut, stall, unreadable
 * end, 429, 5xx, network) it is called again after the wait, and must skip what was already
 * yielded (e.g. by counting rows), since the APIs have no Range support. `progress()` tells
 * whether the attempt got further than every earlier one: that resets the count of failures, so
 * `attempts` bounds the failures in a row without progress.
 */
export async function* retryDownload<T>(call: HttpCall, open: (attempt: number) => AsyncIterable<T>, progress: () => boolean): AsyncGenerator<T> {
  let failures = 0;
  for (let n = 1; ; n++) {
    checkAbort(call.signal);
    try {
      yield* open(n);
      return;
    } catch (error) {
      failures = progress() ? 1 : failures + 1;
      await backOff(call, error, failures, n, true);
    }
  }
}

/** Opens the download of an attempt: {@link attemptOpen} without its own retries (they are {@link retryDownload}'s). */
export function openOnce(call: HttpCall): Promise<HttpResponse> {
  return attemptOpen(call);
}
