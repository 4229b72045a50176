import { createHash } from 'node:crypto';
import { positiveInteger } from '../../check-options.ts';
import { RowStore, checkMockOptions, json, startMock, type MockFault, type MockRequest, type MockRows, type MockServer, type Reply } from './core.ts';

/** A scraped document, as the status endpoints list them. */
export interface FirecrawlMockDocument {
  markdown?: string;
  metadata: { scrapeId: string; sourceURL: string; url: string; statusCode: number; [key: string]: unknown };
  [key: string]: unknown;
}

/** A crawl or batch scrape the Firecrawl mock knows. */
export interface FirecrawlMockJob {
  /** The job id. */
  id: string;
  /**
   * A crawl (`/v2/crawl/:id`) or a batch scrape (`/v2/batch/scrape/:id`).
   * @default 'crawl'
   */
  kind?: 'crawl' | 'batch';
  /**
   * The job status; while `scraping`, pages keep a `next` and `push()` adds documents.
   * @default 'completed'
   */
  status?: 'scraping' | 'completed' | 'failed' | 'cancelled';
  /**
   * The documents in completion order, or how many to generate (see `document()`).
   * @default 0
   * @example 250
   */
  documents?: MockRows<FirecrawlMockDocument> | number;
  /**
   * The `total` reported.
   * @default the number of documents
   */
  total?: number;
  /** What `/errors` lists. @default [] */
  errors?: readonly { id: string; timestamp?: string; url: string; code?: string; error: string }[];
  /** What `/errors` lists as blocked by robots.txt. @default [] */
  robotsBlocked?: readonly string[];
  /**
   * When the job completed, in ms since the epoch: results expire `ttlMs` later.
   * @default when the mock started
   */
  completedAt?: number;
}

/** Options of {@link firecrawlApiMock}. */
export interface FirecrawlApiMockOptions {
  /**
   * The API key accepted as `Authorization: Bearer`.
   * @default 'fc-test-key'
   */
  apiKey?: string;
  /**
   * The crawls and batch scrapes.
   * @default []
   * @example [{ id: 'c1', documents: 250 }, { id: 'b1', kind: 'batch', status: 'scraping', documents: [] }]
   */
  jobs?: readonly FirecrawlMockJob[];
  /**
   * Extract jobs for `/v2/extract/:id`.
   * @default []
   */
  extracts?: readonly { id: string; status?: 'processing' | 'completed' | 'failed' | 'cancelled'; data: Record<string, unknown> }[];
  /**
   * The cap on a status page's summed `JSON.stringify(doc).length`: the document crossing it moves to
   * the next page unless it is alone.
   * @default 10_485_760 (10 MiB, as the server)
   * @example 4096
   */
  pageBytes?: number;
  /**
   * How long results live after completion, then `404 Job expired`.
   * @default 86_400_000 (24 h)
   */
  ttlMs?: number;
  /**
   * The clock, in milliseconds.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Faults to inject; a `429` gets the "Rate limit exceeded … retry after Ns" body, with
   * `Retry-After` only when the fault gives `retryAfter` (N is then that value, else 7).
   * @default []
   * @example [{ path: /crawl\/c1$/, requests: 2, fault: { kind: 'status', status: 429, retryAfter: 1 } }]
   */
  faults?: readonly MockFault[];
}

/** The running Firecrawl mock. */
export interface FirecrawlApiMock extends MockServer {
  /** Adds documents to a job (e.g. while it is `scraping`). */
  push(jobId: string, ...documents: FirecrawlMockDocument[]): void;
  /** Changes a job's status, e.g. to `completed` after the last `push`. */
  setStatus(jobId: string, status: 'scraping' | 'completed' | 'failed' | 'cancelled'): void;
  /** The generated document `index` of a job (what `documents: <number>` serves). */
  document(jobId: string, index: number): FirecrawlMockDocument;
}

/** A stable uuid-shaped id from text. */
function uuidOf(text: string): string {
  const h = createHash('sha1').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function generated(jobId: string, index: number): FirecrawlMockDocument {
  const url = `https://example.com/page/${index}`;
  return {
    markdown: `# Page ${index}\n\nContent of page ${index}.`,
    metadata: { title: `Page ${index}`, sourceURL: url, url, statusCode: 200, scrapeId: uuidOf(`${jobId}/${index}`), contentType: 'text/html', proxyUsed: 'basic', cacheState: 'miss', creditsUsed: 1 },
  };
}

/**
 * A local Firecrawl API (`/v2`, and `/v1`) as documented (see the README): crawl and batch-scrape
 * status pages with `skip`/`limit`, the byte cap, an absolute `next` from the Host header that is
 * omitted at the end, jobs still scraping, `Job not found` / `Job expired`, `/errors`, extract
 * status, Bearer auth, and fault injection.
 *
 * @example
 * ```ts
 * const api = await firecrawlApiMock({ jobs: [{ id: 'c1', documents: 250 }] });
 * const page = await (await fetch(`${api.url}/v2/crawl/c1`, { headers: { authorization: 'Bearer fc-test-key' } })).json();
 * // page.data.length === 100, page.next === `${api.url}/v2/crawl/c1?skip=100`
 * ```
 */
export async function firecrawlApiMock(options: FirecrawlApiMockOptions = {}): Promise<FirecrawlApiMock> {
  const apiKey = options.apiKey ?? 'fc-test-key';
  const now = options.now ?? Date.now;
  const ttl = options.ttlMs ?? 24 * 3600_000;
  const cap = options.pageBytes ?? 10 * 1024 * 1024;
  checkMockOptions(options.faults, [...(options.jobs ?? []), ...(options.extracts ?? [])].map((j) => j.id), 'job');
  positiveInteger('pageBytes', cap);
  positiveInteger('ttlMs', ttl);
  const started = now();
  const jobs = new Map(
    (options.jobs ?? []).map((spec) => {
      const docs = typeof spec.documents === 'number' ? { count: spec.documents, row: (i: number) => generated(spec.id, i) } : spec.documents;
      return [spec.id, { spec, status: spec.status ?? 'completed', docs: new RowStore(docs) }];
    }),
  );
  const extracts = new Map((options.extracts ?? []).map((e) => [e.id, e]));

  const error = (status: number, message?: string, retryAfter?: number): Reply => {
    if (status === 429 && message === undefined) {
      const seconds = retryAfter ?? 7;
      message = `Rate limit exceeded. Consumed (req/min): 5001, Remaining (req/min): 0. Upgrade your plan at https://firecrawl.dev/pricing for increased rate limits or please retry after ${seconds}s, resets at ${new Date(now() + seconds * 1000).toString()}`;
    }
    return json(status, { success: false, error: message ?? (status === 404 ? 'Not found' : `Error ${status}`) });
  };
  const expiresAt = (job: { spec: FirecrawlMockJob; status: string }): number => (job.status === 'scraping' ? now() : (job.spec.completedAt ?? started)) + ttl;
  const find = (req: MockRequest, kind: 'crawl' | 'batch') => {
    const job = jobs.get(req.params.id!);
    if (!job || (job.spec.kind ?? 'crawl') !== kind) return error(404, 'Job not found');
    if (now() > expiresAt(job)) return error(404, 'Job expired');
    return job;
  };

  const status = (kind: 'crawl' | 'batch') => (req: MockRequest): Reply => {
    const job = find(req, kind);
    if (!('spec' in job)) return job;
    const skipText = req.query.get('skip');
    const limitText = req.query.get('limit');
    const skip = skipText === null ? 0 : /^\d+$/.test(skipText) ? Number(skipText) : Number.NaN;
    const limit = limitText === null ? undefined : /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN;
    if (Number.isNaN(skip)) return error(400, 'Invalid pagination: skip must be a non-negative integer');
    if (limit !== undefined && !(limit >= 1 && limit <= 1000)) return error(400, 'Invalid pagination: limit must be an integer between 1 and 1000');
    const count = job.docs.length;
    const data: FirecrawlMockDocument[] = [];
    let bytes = 0;
    for (let i = skip; i < count && data.length < (limit ?? 100); i++) {
      const doc = job.docs.at(i);
      bytes += JSON.stringify(doc).length;
      if (bytes > cap && data.length > 0) break;
      data.push(doc);
    }
    const after = skip + data.length;
    const more = after < count || job.status === 'scraping';
    const base = req.path.replace(/\/[^/]+$/, '');
    return json(200, {
      success: true,
      status: job.status,
      completed: count,
      total: job.spec.total ?? count,
      creditsUsed: count,
      expiresAt: new Date(expiresAt(job)).toISOString(),
      ...(more ? { next: `${req.origin}${base}/${job.spec.id}?skip=${after}${limit === undefined ? '' : `&limit=${limit}`}` } : {}),
      data,
    });
  };

  const errors = (kind: 'crawl' | 'batch') => (req: MockRequest): Reply => {
    const job = find(req, kind);
    if (!('spec' in job)) return job;
    return json(200, { errors: (job.spec.errors ?? []).map((e) => ({ timestamp: new Date(started).toISOString(), ...e })), robotsBlocked: job.spec.robotsBlocked ?? [] });
  };

  const routes = (['v1', 'v2'] as const).flatMap((v) => [
    { methods: ['GET'], pattern: new RegExp(`^/${v}/crawl/(?<id>[^/]+)$`), handle: status('crawl') },
    { methods: ['GET'], pattern: new RegExp(`^/${v}/batch/scrape/(?<id>[^/]+)$`), handle: status('batch') },
    { methods: ['GET'], pattern: new RegExp(`^/${v}/crawl/(?<id>[^/]+)/errors$`), handle: errors('crawl') },
    { methods: ['GET'], pattern: new RegExp(`^/${v}/batch/scrape/(?<id>[^/]+)/errors$`), handle: errors('batch') },
    {
      methods: ['GET'],
      pattern: new RegExp(`^/${v}/extract/(?<id>[^/]+)$`),
      handle: (req: MockRequest): Reply => {
        const found = extracts.get(req.params.id!);
        if (!found) return error(404, 'Job not found');
        return json(200, { success: true, status: found.status ?? 'completed', data: found.data, expiresAt: new Date(started + ttl).toISOString() });
      },
    },
  ]);

  const server = await startMock<never>({
    faults: options.faults,
    error,
    authorize: (req) => (req.headers.authorization === `Bearer ${apiKey}` ? undefined : error(401, 'Unauthorized: Invalid token')),
    routes,
  });
  const job = (id: string) => {
    const found = jobs.get(id);
    if (!found) throw new TypeError(`Expected a job id the mock knows, got ${JSON.stringify(id)}`);
    return found;
  };
  return {
    ...server,
    push: (id, ...documents) => job(id).docs.push(...documents),
    setStatus: (id, value) => void (job(id).status = value),
    document: (id, index) => generated(id, index),
  };
}
