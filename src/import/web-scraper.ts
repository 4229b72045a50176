import { baseUrlOption, positiveInteger } from '../check-options.ts';
import { httpText, type HttpCall, type HttpRetryOptions } from './http.ts';
import { csvRows, downloadBatches, jsonLinesRows } from './rows.ts';
import type { Batch, ReadOptions, Source } from './types.ts';

/** The Web Scraper Cloud API. */
const DEFAULT_BASE_URL = 'https://api.webscraper.io/api/v1/';

/** A job status whose notification {@link webScraperData} imports. */
export type WebScraperImportStatus = 'finished' | 'stopped' | 'failed';

/** Options of {@link webScraperData}. */
export interface WebScraperDataOptions {
  /**
   * The Web Scraper Cloud API token (Account → API). It travels in the query string, as the API
   * requires; it is redacted from every error and log line.
   */
  apiToken: string;
  /**
   * The download: `json` (JSON Lines, one record per line, values as the scraper typed them) or
   * `csv` (every value a string; the literal `null` becomes `null`).
   * @default 'json'
   */
  format?: 'json' | 'csv';
  /**
   * Delete the scraping job once every batch was written (`complete()`), as Web Scraper Cloud's
   * own import example does; a job already deleted counts as done.
   * @default false
   */
  deleteJob?: boolean;
  /**
   * The job statuses whose notification points at data to import. `failed` jobs hold the rows of
   * the pages that did load, but a user may still press "Continue" on them (which resends a
   * notification): add `'failed'` to import partial data, and think twice before `deleteJob` then.
   * @default ['finished', 'stopped']
   * @example ['finished', 'stopped', 'failed']
   */
  statuses?: readonly WebScraperImportStatus[];
  /**
   * The API base (a mock's `apiUrl` in tests).
   * @default 'https://api.webscraper.io/api/v1/'
   */
  baseUrl?: string;
  /**
   * Retries and timeouts of the API calls. The API allows 200 calls per 15 minutes per account
   * and answers 429 with `Retry-After` past that: a wait up to `maxWaitMs` is waited inside the
   * call, a longer one fails the attempt (retryable) so the queue retries the delivery later.
   * @default { attempts: 5, minDelayMs: 1000, maxDelayMs: 30_000, maxWaitMs: 120_000, stallTimeoutMs: 30_000 }
   */
  retry?: HttpRetryOptions;
}

/** What {@link webScraperData} imports: a scraping job. */
export interface WebScraperRef {
  /** The scraping job id (`scrapingjob_id` of the notification). */
  readonly jobId: number;
}

/** A Web Scraper Cloud record: `web-scraper-order`, `web-scraper-start-url` and the sitemap's columns. */
export type WebScraperRow = Record<string, unknown>;

/** The source {@link webScraperData} returns. */
export type WebScraperDataSource = Source<WebScraperRef, WebScraperRow> & {
  /** Deletes the job when `deleteJob` is set (a 404 counts as done); otherwise does nothing. */
  complete(ref: WebScraperRef, options?: Pick<ReadOptions, 'signal' | 'logger'>): Promise<void>;
};

/**
 * The data of a Web Scraper Cloud scraping job, as batches of rows: `GET scraping-job/{id}/json`
 * read as JSON Lines line by line (or `/csv` through `csv-parse`), with bounded memory.
 *
 * - An empty body (a job without data) is zero rows.
 * - A download that breaks off (connection cut, stall, a last line without `\n` that does not
 *   parse) is downloaded again and its rows already read are skipped; it is never reported complete.
 * - Resuming after a cursor downloads the file again and skips `cursor.rows` rows (the API has no
 *   Range support): batches keep their `index` and `firstRow`.
 * - 429 (the API allows 200 calls per 15 minutes) honours `Retry-After`; 5xx and network errors
 *   are retried with backoff; 401 (bad token) and 404 (job deleted) fail at once with an
 *   `ImportError` (`import.unauthorized`, `import.not.found`).
 * - `refOf` takes `scrapingjob_id` from `scrapingjob.finished` and `scrapingjob.stopped` events
 *   (see `statuses`).
 *
 * @example
 * ```ts
 * hooks.on('scrapingjob.finished', importRows(webScraperData({ apiToken, deleteJob: true }), {
 *   batchSize: 1000,
 *   async write(rows, batch) { await db.upsert(rows, batch.firstRow); },
 * }));
 * // Or alone:
 * for await (const batch of webScraperData({ apiToken }).read({ jobId: 1234 })) console.log(batch.rows.length);
 * ```
 * @throws {TypeError} when `apiToken` is missing or an option is malformed.
 */
export function webScraperData(options: WebScraperDataOptions): WebScraperDataSource {
  if (typeof options?.apiToken !== 'string' || options.apiToken === '') {
    throw new TypeError('Expected `apiToken` to be a non-empty string (Web Scraper Cloud → Account → API)');
  }
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new TypeError(`Expected \`format\` to be 'json' or 'csv', got ${JSON.stringify(format)}`);
  const statuses = options.statuses ?? ['finished', 'stopped'];
  for (const status of statuses) {
    if (status !== 'finished' && status !== 'stopped' && status !== 'failed') {
      throw new TypeError(`Expected \`statuses\` to hold 'finished', 'stopped' or 'failed', got ${JSON.stringify(status)}`);
    }
  }
  const base = `${baseUrlOption(options.baseUrl ?? DEFAULT_BASE_URL)}/`;
  const token = options.apiToken;
  const url = (path: string): string => `${base}${path}?api_token=${encodeURIComponent(token)}`;
  const call = (ref: WebScraperRef, what: string, path: string, read: Pick<ReadOptions, 'signal' | 'logger'> | undefined): HttpCall => ({
    provider: 'webscraper',
    jobId: String(ref.jobId),
    what,
    url: url(path),
    headers: { accept: 'application/json, text/csv, */*' },
    signal: read?.signal,
    logger: read?.logger,
    retry: options.retry,
    secrets: [token, encodeURIComponent(token)],
    unauthorizedHint: 'check `apiToken` (Web Scraper Cloud → Account → API)',
    notFoundHint: 'The scraping job does not exist any more (deleted, or past the data retention of the account plan): nothing to import; replay the dead letter if it comes back',
    invalidHint: 'This is not a documented answer: check `baseUrl` and `format`, and report it if they are right',
  });

  return {
    provider: 'webscraper',
    refOf(event) {
      const match = /^scrapingjob\.(.+)$/.exec(event.type);
      if (!match || !statuses.includes(match[1] as WebScraperImportStatus)) return undefined;
      const id = Number((event.payload as { scrapingjob_id?: unknown } | null)?.scrapingjob_id);
      return Number.isSafeInteger(id) && id > 0 ? { jobId: id } : undefined;
    },
    jobIdOf: (ref) => String(ref.jobId),
    read(ref, read = {}): AsyncIterable<Batch<WebScraperRow>> {
      const batchSize = positiveInteger('batchSize', read.batchSize ?? 1000);
      checkJobId(ref);
      return downloadBatches<WebScraperRow>({
        call: call(ref, `download the job's ${format === 'csv' ? 'CSV' : 'JSON Lines'} data`, `scraping-job/${ref.jobId}/${format}`, read),
        jobId: String(ref.jobId),
        batchSize,
        after: read.after,
        rows: (response, skip) => (format === 'csv' ? csvRows(response.chunks(), skip, { nullLiteral: true }) : (jsonLinesRows(response.chunks(), skip) as AsyncIterable<WebScraperRow[]>)),
      });
    },
    async complete(ref, read) {
      if (!options.deleteJob) return;
      checkJobId(ref);
      // A repeat after a crash finds the job gone: 404 is done, not an error.
      const { status } = await httpText({ ...call(ref, 'delete the job', `scraping-job/${ref.jobId}`, read), method: 'DELETE', accept: [404] });
      read?.logger?.info({ provider: 'webscraper', jobId: String(ref.jobId), status }, status === 404 ? 'webscraper: job already deleted' : 'webscraper: job deleted');
    },
  };
}

function checkJobId(ref: WebScraperRef): void {
  if (!Number.isSafeInteger(ref?.jobId) || ref.jobId < 1) throw new TypeError(`Expected \`jobId\` to be a positive integer, got ${String(ref?.jobId)}`);
}
