/**
 * A Firecrawl crawl's or batch scrape's documents from its status endpoint
 * (`firecrawlDocuments({ apiKey })`), and the completeness check of page-by-page imports
 * (`firecrawlCompleteness({ apiKey, onPages })`).
 * @module
 */
import { baseUrlOption, nonNegativeInteger, positiveInteger } from '../check-options.ts';
import type { FirecrawlDocument, FirecrawlProvider } from '../providers/firecrawl/index.ts';
import type { Receiver } from '../receiver.ts';
import type { HandlerContext } from '../types.ts';
import { ImportError } from './errors.ts';
import { errorText, httpJson, pageRetry, type PageRetryOptions } from './http.ts';
import { batchNumbers } from './rows.ts';
import type { Batch, ImportState, ReadOptions, Source } from './types.ts';

export type { FirecrawlDocument } from '../providers/firecrawl/index.ts';

/** Options of {@link firecrawlDocuments}, with `maxRetries`, `retryDelayMs` and `timeoutMs` from {@link PageRetryOptions}. */
export interface FirecrawlDocumentsOptions extends PageRetryOptions {
  /**
   * The Firecrawl API key (`fc-…`), sent as `Authorization: Bearer` to `baseUrl` only, never in a
   * URL, a log line or an error.
   * @example process.env.FIRECRAWL_API_KEY!
   */
  readonly apiKey: string;
  /**
   * The API's origin (`/v2/...` is appended): a self-hosted Firecrawl, a proxy, or a local mock.
   * @default 'https://api.firecrawl.dev'
   */
  readonly baseUrl?: string;
}

/** What {@link firecrawlDocuments} imports: a crawl or a batch scrape. */
export interface FirecrawlJobRef {
  /** The job id (the `id` of the webhook events). */
  readonly jobId: string;
  /** `crawl` (`GET /v2/crawl/{id}`) or `batch` (`GET /v2/batch/scrape/{id}`). */
  readonly kind: 'crawl' | 'batch';
}

interface StatusPage {
  /** The `skip` this page started at. */
  readonly skip: number;
  readonly documents: FirecrawlDocument[];
  readonly bytes: number;
  /** The next page's `skip`, or `undefined` at the end (no `next`). */
  readonly next: number | undefined;
}

interface StatusBody {
  success?: unknown;
  status?: unknown;
  error?: unknown;
  next?: unknown;
  data?: unknown;
}

const COMPLETED_KINDS: Readonly<Record<string, FirecrawlJobRef['kind']>> = { 'crawl.completed': 'crawl', 'batch_scrape.completed': 'batch' };
const PAGE_KINDS: Readonly<Record<string, FirecrawlJobRef['kind']>> = { 'crawl.page': 'crawl', 'batch_scrape.page': 'batch' };

/** A document's `metadata.scrapeId`, when it has one. */
const scrapeIdOf = (doc: FirecrawlDocument): string | undefined => {
  const id = (doc as { metadata?: { scrapeId?: unknown } }).metadata?.scrapeId;
  return typeof id === 'string' && id !== '' ? id : undefined;
};

/** "… please retry after 7s, resets at …" in a 429's error text. */
function retryAfterText(body: string): number | undefined {
  const match = /retry after (\d+(?:\.\d+)?)\s*s/i.exec(errorText(body));
  return match ? Number(match[1]) * 1000 : undefined;
}

/** The HTTP side shared by {@link firecrawlDocuments} and {@link firecrawlCompleteness}. */
function firecrawlApi(options: FirecrawlDocumentsOptions) {
  if (typeof options?.apiKey !== 'string' || options.apiKey === '') throw new TypeError('Expected `apiKey` to be the Firecrawl API key, a non-empty string');
  const origin = baseUrlOption(options.baseUrl ?? 'https://api.firecrawl.dev');
  const retry = pageRetry(options);
  const headers = { authorization: `Bearer ${options.apiKey}`, accept: 'application/json' };
  const path = (ref: FirecrawlJobRef) => `${origin}/v2/${ref.kind === 'crawl' ? 'crawl' : 'batch/scrape'}/${encodeURIComponent(ref.jobId)}`;
  const what = (ref: FirecrawlJobRef) => `${ref.kind === 'crawl' ? 'crawl' : 'batch scrape'} ${ref.jobId}`;

  const get = (ref: FirecrawlJobRef, url: string, read: Pick<ReadOptions, 'signal' | 'logger'>) =>
    httpJson({
      provider: 'firecrawl',
      jobId: ref.jobId,
      what: 'read a status page',
      subject: what(ref),
      url,
      headers,
      secrets: [options.apiKey],
      ...retry,
      signal: read.signal,
      logger: read.logger,
      retryAfter: (_response, body) => retryAfterText(body),
      notFoundHint: "Firecrawl keeps a job's results for 24 hours after it completes, for the team that ran it; past that they cannot be read: run the job again",
    });

  /**
   * The status pages from `skip`, following `next` until it is absent. Only `next`'s `skip` and
   * `limit` are used: the request goes to `baseUrl`, so the key never goes to another host.
   */
  async function* pages(ref: FirecrawlJobRef, skip: number, read: Pick<ReadOptions, 'signal' | 'logger'>): AsyncGenerator<StatusPage> {
    const base = path(ref);
    let query = skip > 0 ? `?skip=${skip}` : '';
    for (;;) {
      const page = await get(ref, base + query, read);
      const body = page.body as StatusBody;
      const invalid = (message: string) => new ImportError('import.invalid', `firecrawl: ${what(ref)}: ${message}`, { provider: 'firecrawl', jobId: ref.jobId });
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('expected a JSON object from the status endpoint');
      if (body.success === false) throw invalid(`the job failed (status ${String(body.status)}${typeof body.error === 'string' ? `: ${body.error.slice(0, 300)}` : ''})`);
      if (!Array.isArray(body.data)) throw invalid('the status answer has no `data` array');
      const documents = body.data as FirecrawlDocument[];
      let next: number | undefined;
      if (body.next !== undefined && body.next !== null) {
        let url: URL;
        try {
          url = new URL(String(body.next));
        } catch {
          throw invalid('`next` is not a URL');
        }
        const skipText = url.searchParams.get('skip') ?? '';
        if (!url.pathname.endsWith(`/${encodeURIComponent(ref.jobId)}`) || !/^\d+$/.test(skipText)) throw invalid('`next` is not a status page of this job with a `skip`');
        next = Number(skipText);
        if (next <= skip) {
          if (body.status === 'scraping' && documents.length === 0) {
            throw new ImportError('import.not.ready', `firecrawl: ${what(ref)}: the job is still scraping; it is read again on the next attempt`, { provider: 'firecrawl', jobId: ref.jobId });
          }
          throw invalid('`next` does not move forward');
        }
        if (new URL(base).origin !== url.origin) read.logger?.debug({ provider: 'firecrawl', jobId: ref.jobId }, 'firecrawl: `next` names another origin than baseUrl: its skip is read from baseUrl');
        const limit = url.searchParams.get('limit');
        query = `?skip=${next}${limit !== null && /^\d+$/.test(limit) ? `&limit=${limit}` : ''}`;
      }
      yield { skip, documents, bytes: page.bytes, next };
      if (next === undefined) return;
      skip = next;
    }
  }

  /** `GET …/errors`: the pages Firecrawl failed to scrape, and those robots.txt blocked. */
  async function errors(ref: FirecrawlJobRef, read: Pick<ReadOptions, 'signal' | 'logger'>) {
    const page = await get(ref, `${path(ref)}/errors`, read);
    const body = (page.body ?? {}) as { errors?: unknown; robotsBlocked?: unknown };
    return {
      failed: Array.isArray(body.errors) ? (body.errors as FirecrawlFailedPage[]) : [],
      robotsBlocked: Array.isArray(body.robotsBlocked) ? (body.robotsBlocked as string[]) : [],
    };
  }

  return { pages, errors };
}

/**
 * A crawl's or batch scrape's documents as batches, read after `crawl.completed` /
 * `batch_scrape.completed` from `GET /v2/crawl/{id}` (`/v2/batch/scrape/{id}`), following `next`
 * until it is absent, with Node's `fetch`.
 *
 * - Documents are deduplicated by `metadata.scrapeId` within a read (a status listing may repeat a
 *   document across pages).
 * - The cursor's position is the `skip` after the batch's last document (`next`'s `skip` when the
 *   batch ends a page): a resumed read starts there and gives the same remaining batches.
 * - The API key goes to `baseUrl` only: `next` is read for its `skip` (and `limit`), and that page is
 *   asked from `baseUrl`, whatever host `next` names (a self-hosted server behind a proxy names its own).
 * - 408, 429 (its `Retry-After`, or the "retry after Ns" of its error text), 5xx, network errors and
 *   cut-off bodies are retried. 401/403 fail at once with `import.unauthorized`; 404 `Job expired` /
 *   `Job not found` with `import.not.found` (results live 24 h after the job completed).
 *
 * @example
 * ```ts
 * hooks.on(['crawl.completed', 'batch_scrape.completed'], importRows(firecrawlDocuments({ apiKey }), { batchSize: 100, async write(docs) { await db.upsert(docs) } }));
 * ```
 */
export function firecrawlDocuments(options: FirecrawlDocumentsOptions): Source<FirecrawlJobRef, FirecrawlDocument> {
  const api = firecrawlApi(options);

  async function* read(ref: FirecrawlJobRef, readOptions: ReadOptions = {}): AsyncGenerator<Batch<FirecrawlDocument>> {
    const batchSize = positiveInteger('batchSize', readOptions.batchSize ?? 1000);
    const after = readOptions.after;
    const numbers = batchNumbers(ref.jobId, after);
    const seen = new Set<string>();
    let buffer: FirecrawlDocument[] = [];
    let bytes = 0;
    const batch = (position: number): Batch<FirecrawlDocument> => {
      const out = numbers.batch(buffer, bytes, position);
      buffer = [];
      bytes = 0;
      return out;
    };
    for await (const page of api.pages(ref, nonNegativeInteger('after.position', Number(after?.position ?? 0)), readOptions)) {
      bytes += page.bytes;
      for (let i = 0; i < page.documents.length; i++) {
        const doc = page.documents[i]!;
        const id = scrapeIdOf(doc);
        if (id !== undefined) {
          if (seen.has(id)) continue;
          seen.add(id);
        }
        buffer.push(doc);
        if (buffer.length === batchSize) yield batch(page.skip + i + 1);
      }
      if (page.next === undefined && buffer.length > 0) yield batch(page.skip + page.documents.length);
    }
  }

  return {
    provider: 'firecrawl',
    refOf(event) {
      const kind = COMPLETED_KINDS[event.type];
      const id = (event.payload as { id?: unknown } | undefined)?.id;
      return kind !== undefined && typeof id === 'string' && id !== '' ? { jobId: id, kind } : undefined;
    },
    jobIdOf: (ref) => ref.jobId,
    read,
  };
}

/** A page Firecrawl failed to scrape, as `GET /v2/crawl/{id}/errors` lists it. */
export interface FirecrawlFailedPage {
  /** The scrape job id (the id space of `metadata.scrapeId`). */
  readonly id: string;
  readonly url: string;
  readonly error: string;
  readonly code?: string;
  readonly timestamp?: string;
}

/** Where documents handed to `onPages` come from. */
export interface FirecrawlPagesInfo {
  readonly jobId: string;
  readonly kind: 'crawl' | 'batch';
  /** `webhook`: a `crawl.page` / `batch_scrape.page` event; `status`: the completion check found it missing. */
  readonly from: 'webhook' | 'status';
}

/** Options of {@link firecrawlCompleteness}. */
export interface FirecrawlCompletenessOptions extends FirecrawlDocumentsOptions {
  /**
   * Your page handler: called with the documents of each page event, and, when the job completes,
   * with those the status endpoint lists that no page event brought. A throw fails the event's
   * delivery, which is retried; the documents are recorded as received only after it resolved.
   * @example async (documents) => { await db.upsert(documents.map((d) => ({ id: d.metadata?.scrapeId, markdown: d.markdown }))) }
   */
  readonly onPages: (documents: FirecrawlDocument[], info: FirecrawlPagesInfo, ctx: HandlerContext) => unknown;
  /**
   * Where the received `scrapeId`s are kept.
   * @default the receiver's `ctx.importState` (its store or Redis), as its handlers run
   */
  readonly state?: ImportState;
  /**
   * How long a job's received ids are kept after its latest page.
   * @default 259_200_000 (72 h: the crawl's run, then Firecrawl's 24 h of results)
   */
  readonly ttlMs?: number;
}

/** A job's completeness, from {@link FirecrawlCompleteness.report}. */
export interface FirecrawlCompletenessReport {
  readonly jobId: string;
  readonly kind: 'crawl' | 'batch';
  /** Documents the status endpoint lists (distinct `scrapeId`s). */
  readonly listed: number;
  /** Distinct documents handed to `onPages` from page events. */
  readonly received: number;
  /** Distinct documents handed to `onPages` by the completion check (their page event was lost). */
  readonly recovered: number;
  /** Documents the status endpoint lists that `onPages` never got (before the completion check ran, or it failed). */
  readonly missing: readonly { readonly scrapeId: string; readonly url: string | undefined }[];
  /** Pages Firecrawl failed to scrape (`/errors`): never in the status listing, never sent as page events. */
  readonly failed: readonly FirecrawlFailedPage[];
  /** URLs robots.txt kept Firecrawl from (`/errors`). */
  readonly robotsBlocked: readonly string[];
  /** No document missing. */
  readonly complete: boolean;
}

/** The part of a Firecrawl event the completeness handlers read. */
export interface FirecrawlJobEvent {
  readonly type: string;
  readonly payload: { readonly id: string; readonly data?: readonly unknown[] };
}

/** What {@link firecrawlCompleteness} returns. */
export interface FirecrawlCompleteness {
  /** The handler for `crawl.page` and `batch_scrape.page`: `onPages`, then the ids recorded. */
  readonly page: (event: FirecrawlJobEvent, ctx: HandlerContext) => Promise<void>;
  /** The handler for `crawl.completed` and `batch_scrape.completed`: hands the missing documents to `onPages`. */
  readonly completed: (event: FirecrawlJobEvent, ctx: HandlerContext) => Promise<void>;
  /** Registers `page` and `completed` on a Firecrawl receiver. */
  track(hooks: Pick<Receiver<FirecrawlProvider>, 'on'>): void;
  /**
   * A job's completeness: the status listing (every page of it) against the ids received, and `/errors`.
   * `state` is needed outside a handler unless the option was given or a handler already ran.
   */
  report(jobId: string, options?: { kind?: 'crawl' | 'batch'; state?: ImportState; signal?: AbortSignal }): Promise<FirecrawlCompletenessReport>;
}

/**
 * Every page of a crawl or batch scrape once, even when page events were lost: the receiver records
 * the `scrapeId`s `onPages` handled from `crawl.page` / `batch_scrape.page`, durably (in the
 * receiver's backend), and on `crawl.completed` / `batch_scrape.completed` reads the status listing
 * and hands `onPages` the documents it never got. A page event that arrives after that check is not
 * handed again. Pages Firecrawl failed to scrape are in `report(jobId).failed`.
 *
 * @example
 * ```ts
 * const pages = firecrawlCompleteness({ apiKey, async onPages(documents) { await db.upsert(documents) } });
 * pages.track(hooks); // hooks.on(['crawl.page', 'batch_scrape.page'], pages.page) and the same for *.completed
 * const { missing, failed } = await pages.report(crawlId);
 * ```
 */
export function firecrawlCompleteness(options: FirecrawlCompletenessOptions): FirecrawlCompleteness {
  const api = firecrawlApi(options);
  if (typeof options.onPages !== 'function') throw new TypeError('Expected `onPages` to be a function that handles a list of documents');
  const ttlMs = positiveInteger('ttlMs', options.ttlMs ?? 72 * 3600_000);
  let seenState: ImportState | undefined = options.state;
  const stateOf = (ctx: HandlerContext): ImportState => {
    const state = options.state ?? (ctx.importState as ImportState | undefined);
    if (!state) throw new TypeError('firecrawlCompleteness needs durable state: run its handlers in a receiver (ctx.importState), or give it `state`');
    return (seenState = state);
  };
  const keys = (jobId: string) => ({ webhook: `firecrawl:pages:${jobId}:webhook`, status: `firecrawl:pages:${jobId}:status` });

  async function page(event: FirecrawlJobEvent, ctx: HandlerContext): Promise<void> {
    const kind = PAGE_KINDS[event.type];
    if (kind === undefined) return;
    const jobId = event.payload.id;
    const state = stateOf(ctx);
    const key = keys(jobId);
    // Usually empty: the documents the completion check already handed over (this event came late).
    const recovered = new Set(await state.members(key.status));
    const fresh = ((event.payload.data ?? []) as FirecrawlDocument[]).filter((doc) => {
      const id = scrapeIdOf(doc);
      return id === undefined || !recovered.has(id);
    });
    if (fresh.length === 0) return;
    await options.onPages(fresh, { jobId, kind, from: 'webhook' }, ctx);
    const ids = fresh.map(scrapeIdOf).filter((id): id is string => id !== undefined);
    if (ids.length > 0) await state.addToSet(key.webhook, ids, ttlMs);
  }

  async function completed(event: FirecrawlJobEvent, ctx: HandlerContext): Promise<void> {
    const kind = COMPLETED_KINDS[event.type];
    if (kind === undefined) return;
    const ref = { jobId: event.payload.id, kind };
    const state = stateOf(ctx);
    const key = keys(ref.jobId);
    const have = new Set([...(await state.members(key.webhook)), ...(await state.members(key.status))]);
    const received = have.size;
    let recovered = 0;
    for await (const listing of api.pages(ref, 0, { signal: ctx.signal, logger: ctx.logger })) {
      const missing: FirecrawlDocument[] = [];
      for (const doc of listing.documents) {
        const id = scrapeIdOf(doc);
        if (id === undefined || have.has(id)) continue;
        have.add(id);
        missing.push(doc);
      }
      if (missing.length === 0) continue;
      await options.onPages(missing, { jobId: ref.jobId, kind, from: 'status' }, ctx);
      await state.addToSet(key.status, missing.map((doc) => scrapeIdOf(doc)!), ttlMs);
      recovered += missing.length;
    }
    ctx.logger.info({ provider: 'firecrawl', jobId: ref.jobId, received, recovered }, `firecrawl: ${ref.kind} ${ref.jobId}: ${received} pages received by webhook, ${recovered} missing ones handed from the status listing`);
  }

  async function report(jobId: string, reportOptions: { kind?: 'crawl' | 'batch'; state?: ImportState; signal?: AbortSignal } = {}): Promise<FirecrawlCompletenessReport> {
    const state = reportOptions.state ?? seenState;
    if (!state) throw new TypeError('report() needs the receiver\'s import state: pass `state`, give the option `state`, or call it after a handler ran');
    const ref: FirecrawlJobRef = { jobId, kind: reportOptions.kind ?? 'crawl' };
    const key = keys(jobId);
    const webhook = new Set(await state.members(key.webhook));
    const status = new Set(await state.members(key.status));
    const listedIds = new Set<string>();
    const missing: { scrapeId: string; url: string | undefined }[] = [];
    const read = reportOptions.signal === undefined ? {} : { signal: reportOptions.signal };
    for await (const listing of api.pages(ref, 0, read)) {
      for (const doc of listing.documents) {
        const id = scrapeIdOf(doc);
        if (id === undefined || listedIds.has(id)) continue;
        listedIds.add(id);
        if (!webhook.has(id) && !status.has(id)) {
          const meta = (doc as { metadata?: { sourceURL?: unknown; url?: unknown } }).metadata;
          const url = typeof meta?.sourceURL === 'string' ? meta.sourceURL : typeof meta?.url === 'string' ? meta.url : undefined;
          missing.push({ scrapeId: id, url });
        }
      }
    }
    const { failed, robotsBlocked } = await api.errors(ref, read);
    return { jobId, kind: ref.kind, listed: listedIds.size, received: webhook.size, recovered: status.size, missing, failed, robotsBlocked, complete: missing.length === 0 };
  }

  return {
    page,
    completed,
    track(hooks) {
      hooks.on(['crawl.page', 'batch_scrape.page'], page);
      hooks.on(['crawl.completed', 'batch_scrape.completed'], completed);
    },
    report,
  };
}
