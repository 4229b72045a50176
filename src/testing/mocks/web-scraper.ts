import { positiveInteger } from '../../check-options.ts';
import { RowStore, checkMockOptions, chunks, csvLines, intParam, json, jsonLines, startMock, type MockFault, type MockRequest, type MockRows, type MockServer, type Reply } from './core.ts';

/** A record of a job's data: flat values. */
export type WebScraperRecord = Record<string, unknown>;

/** A scraping job the Web Scraper Cloud mock knows. */
export interface WebScraperMockJob {
  /** The scraping job id. */
  id: number;
  /**
   * The scraped records. Each record lacking them gets `web-scraper-order` (`"<id>-<n>"`) and
   * `web-scraper-start-url`.
   * @default [] (an empty download, as for a job without data)
   */
  rows?: MockRows<WebScraperRecord>;
  /**
   * CSV columns after `web-scraper-order` and `web-scraper-start-url`.
   * @default the other keys of the first record
   */
  columns?: readonly string[];
  /**
   * Fields merged over the job info (`status`, `sitemap_id`, `custom_id`, …).
   * @default {} (a finished job)
   * @example { status: 'stopped', custom_id: 'nightly' }
   */
  info?: Record<string, unknown>;
  /**
   * The job's problematic URLs.
   * @default []
   */
  problematicUrls?: readonly { url: string; type: 'empty' | 'failed' }[];
  /** The data-quality report's `data`. @default a passing report */
  dataQuality?: Record<string, unknown>;
}

/** Options of {@link webScraperApiMock}. */
export interface WebScraperApiMockOptions {
  /**
   * The API token accepted in `?api_token=`.
   * @default 'wsc-test-token'
   */
  token?: string;
  /**
   * The jobs.
   * @default []
   * @example [{ id: 7, rows: [{ title: 'a' }] }, { id: 8, rows: { count: 1e6, row: (i) => ({ title: `t${i}` }) } }]
   */
  jobs?: readonly WebScraperMockJob[];
  /**
   * The job for an id that `jobs` lacks, made when a request first names it and kept from then on
   * (so it can be downloaded again, grown with `push` and deleted); `undefined` answers 404 as
   * without this option. Lets any `scrapingjob_id` a notification carries be imported, as in the
   * demo (`npm start`).
   * @default none: only the ids in `jobs` exist
   * @example (id) => ({ rows: { count: 25, row: (i) => ({ title: `Item ${i + 1} of job ${id}` }) } })
   */
  jobFor?: (id: number) => Omit<WebScraperMockJob, 'id'> | undefined;
  /**
   * Calls allowed per token in a fixed window; `false` for no limit.
   * @default { limit: 200, windowMs: 900_000 } (200 calls per 15 minutes, as documented)
   */
  rateLimit?: { limit: number; windowMs: number } | false;
  /**
   * Compress downloads (`json`, `csv`) with gzip when the request sends `Accept-Encoding: gzip`
   * (whether the real server does is unconfirmed).
   * @default false
   */
  gzip?: boolean;
  /**
   * Items per page of the paged lists.
   * @default 100
   */
  perPage?: number;
  /**
   * Faults to inject.
   * @default []
   * @example [{ path: '/json', requests: 1, fault: { kind: 'truncate' } }]
   */
  faults?: readonly MockFault[];
  /**
   * The clock, in milliseconds (for the rate-limit window).
   * @default Date.now
   */
  now?: () => number;
}

/** The running Web Scraper Cloud mock. */
export interface WebScraperApiMock extends MockServer {
  /** The API base to use instead of `https://api.webscraper.io/api/v1/`. */
  readonly apiUrl: string;
  /** Appends records to a job's data (data grows between downloads). */
  push(jobId: number, ...rows: WebScraperRecord[]): void;
  /** Ids of the jobs deleted through the API. */
  readonly deleted: ReadonlySet<number>;
}

interface Job {
  spec: WebScraperMockJob;
  rows: RowStore<WebScraperRecord>;
}

function paged<T>(items: readonly T[], page: number, perPage: number): Record<string, unknown> {
  const lastPage = Math.max(1, Math.ceil(items.length / perPage));
  return { success: true, data: items.slice((page - 1) * perPage, page * perPage), current_page: page, last_page: lastPage, total: items.length, per_page: perPage };
}

/**
 * A local Web Scraper Cloud API (`/api/v1`) as documented (see the README): job info, JSON Lines
 * and CSV downloads streamed from the rows, problematic URLs, data quality, delete, the job list,
 * `api_token` auth, the 200-per-15-minutes rate limit with its headers, and fault injection.
 *
 * @example
 * ```ts
 * const api = await webScraperApiMock({ token: 'tok', jobs: [{ id: 7, rows: [{ title: 'a' }] }] });
 * const res = await fetch(`${api.apiUrl}scraping-job/7/json?api_token=tok`); // '{"title":"a",…}\n'
 * await api.close();
 * ```
 */
export async function webScraperApiMock(options: WebScraperApiMockOptions = {}): Promise<WebScraperApiMock> {
  const token = options.token ?? 'wsc-test-token';
  const perPage = options.perPage ?? 100;
  const now = options.now ?? Date.now;
  const limit = options.rateLimit === false ? undefined : (options.rateLimit ?? { limit: 200, windowMs: 15 * 60_000 });
  checkMockOptions(options.faults, (options.jobs ?? []).map((j) => j.id), 'job');
  positiveInteger('perPage', perPage);
  if (limit) {
    positiveInteger('rateLimit.limit', limit.limit);
    positiveInteger('rateLimit.windowMs', limit.windowMs);
  }
  const jobs = new Map<number, Job>((options.jobs ?? []).map((spec) => [spec.id, { spec, rows: new RowStore(spec.rows) }]));
  const deleted = new Set<number>();
  let window = { start: 0, used: 0 };
  const started = Math.floor(now() / 1000);

  const error = (status: number, message?: string): Reply => json(status, { success: false, error: message ?? (status === 429 ? 'Too Many Attempts.' : `Error ${status}`) });
  if (options.jobFor !== undefined && typeof options.jobFor !== 'function') {
    throw new TypeError(`Expected \`jobFor\` to be a function (id) => job, got ${typeof options.jobFor}`);
  }
  const jobOf = (id: number): Job | undefined => {
    const known = jobs.get(id);
    if (known || !options.jobFor || !Number.isSafeInteger(id) || id < 1) return known;
    const made = options.jobFor(id);
    if (made === undefined) return undefined;
    const job: Job = { spec: { ...made, id }, rows: new RowStore(made.rows) };
    jobs.set(id, job);
    return job;
  };
  const find = (req: MockRequest): Job | Reply => {
    const job = jobOf(Number(req.params.id));
    return job && !deleted.has(job.spec.id) ? job : error(404, 'Scraping job not found');
  };
  const record = (job: Job, index: number): WebScraperRecord => ({
    'web-scraper-order': `${job.spec.id}-${index + 1}`,
    'web-scraper-start-url': 'https://example.com/',
    ...job.rows.at(index),
  });
  const records = function* (job: Job): Generator<WebScraperRecord> {
    for (let i = 0; i < job.rows.length; i++) yield record(job, i);
  };
  const info = (job: Job): Record<string, unknown> => ({
    id: job.spec.id,
    custom_id: null,
    sitemap_name: 'sitemap',
    status: 'finished',
    sitemap_id: 1,
    test_run: 0,
    jobs_scheduled: job.rows.length,
    jobs_executed: job.rows.length,
    jobs_failed: 0,
    jobs_empty: 0,
    stored_record_count: job.rows.length,
    request_interval: 2000,
    page_load_delay: 2000,
    driver: 'fast',
    scheduled: 0,
    time_created: started,
    scraping_duration: 60,
    ...job.spec.info,
  });
  const withJob = (handle: (job: Job, req: MockRequest) => Reply) => (req: MockRequest): Reply => {
    const job = find(req);
    return 'spec' in job ? handle(job, req) : job;
  };
  const download = (type: string, body: (job: Job) => Iterable<string>) =>
    withJob((job) => ({ status: 200, headers: { 'content-type': type }, body: body(job), gzip: options.gzip === true }));

  const server = await startMock<never>({
    faults: options.faults,
    error,
    authorize(req) {
      const given = req.query.get('api_token');
      if (!given || given !== token) return error(401, 'Unauthorized');
      if (!limit) return undefined;
      if (now() - window.start >= limit.windowMs) window = { start: now(), used: 0 };
      if (window.used >= limit.limit) {
        const reset = window.start + limit.windowMs;
        return json(429, { success: false, error: 'Too Many Attempts.' }, {
          'x-ratelimit-reset': String(Math.ceil(reset / 1000)),
          'retry-after': String(Math.max(1, Math.ceil((reset - now()) / 1000))),
        });
      }
      window.used += 1;
      return undefined;
    },
    decorate(req, reply) {
      if (!limit || req.query.get('api_token') !== token) return reply;
      const remaining = Math.max(0, limit.limit - window.used);
      return { ...reply, headers: { ...reply.headers, 'x-ratelimit-limit': String(limit.limit), 'x-ratelimit-remaining': String(remaining) } };
    },
    routes: [
      { methods: ['GET'], pattern: /^\/api\/v1\/scraping-job\/(?<id>\d+)$/, handle: withJob((job) => json(200, { success: true, data: info(job) })) },
      {
        methods: ['DELETE'],
        pattern: /^\/api\/v1\/scraping-job\/(?<id>\d+)$/,
        handle: withJob((job) => {
          deleted.add(job.spec.id);
          return json(200, { success: true, data: 'ok' });
        }),
      },
      { methods: ['GET'], pattern: /^\/api\/v1\/scraping-job\/(?<id>\d+)\/json$/, handle: download('application/json', (job) => jsonLines(records(job))) },
      {
        methods: ['GET'],
        pattern: /^\/api\/v1\/scraping-job\/(?<id>\d+)\/csv$/,
        handle: download('text/csv; charset=utf-8', (job) => {
          const first = job.rows.length ? job.rows.at(0) : {};
          const rest = job.spec.columns ?? Object.keys(first).filter((k) => k !== 'web-scraper-order' && k !== 'web-scraper-start-url');
          return chunks(csvLines(records(job), ['web-scraper-order', 'web-scraper-start-url', ...rest], { bom: true, quoteValues: true }));
        }),
      },
      { methods: ['GET'], pattern: /^\/api\/v1\/scraping-job\/(?<id>\d+)\/xlsx$/, handle: () => error(501, 'XLSX is not served by this mock') },
      {
        methods: ['GET'],
        pattern: /^\/api\/v1\/scraping-job\/(?<id>\d+)\/problematic-urls$/,
        handle: withJob((job, req) => json(200, paged(job.spec.problematicUrls ?? [], Math.max(1, intParam(req.query.get('page'), 1) || 1), perPage))),
      },
      {
        methods: ['GET'],
        pattern: /^\/api\/v1\/scraping-job\/(?<id>\d+)\/data-quality$/,
        handle: withJob((job) => {
          const check = (got: number, expected: number, success = true) => ({ got, expected, success });
          const data = job.spec.dataQuality ?? {
            min_record_count: check(job.rows.length, 1, job.rows.length >= 1),
            max_failed_pages_percent: check(0, 5),
            max_empty_pages_percent: check(0, 5),
            max_no_value_pages_percent: check(0, 5),
            min_column_records: {},
            overall_data_quality_success: job.rows.length >= 1,
          };
          return json(200, { success: true, data });
        }),
      },
      {
        methods: ['GET'],
        pattern: /^\/api\/v1\/scraping-jobs$/,
        handle: (req) => {
          const sitemap = req.query.get('sitemap_id');
          const list = [...jobs.values()].filter((j) => !deleted.has(j.spec.id)).map(info).filter((j) => !sitemap || String(j.sitemap_id) === sitemap);
          return json(200, paged(list, Math.max(1, intParam(req.query.get('page'), 1) || 1), perPage));
        },
      },
      { methods: ['GET'], pattern: /^\/api\/v1\/account$/, handle: () => json(200, { success: true, data: { email: 'user@example.com', firstname: 'Test', lastname: 'User', page_credits: 5000 } }) },
    ],
  });
  return {
    ...server,
    apiUrl: `${server.url}/api/v1/`,
    deleted,
    push(jobId, ...rows) {
      const job = jobOf(jobId);
      if (!job) throw new TypeError(`Expected a job id the mock knows, got ${jobId}`);
      job.rows.push(...rows);
    },
  };
}
