import { defineProvider } from '../define-provider.ts';
import { tokenVerifier, type TokenOptions } from '../shared/token.ts';
import type { Provider } from '../../types.ts';
import { webScraperEnvelope, webScraperEvents } from './schema.ts';

export type { WebScraperEventType, WebScraperPayload } from './schema.ts';

/** A repeat of a job's status within this long of the first is the sender's retry: its retries end within about 45 s. */
const DEFAULT_DEDUPE_WINDOW_MS = 60_000;

/** Options of {@link webScraper}. */
export interface WebScraperOptions extends TokenOptions {
  /**
   * How long after the first delivery of a job's status a repeat of it is taken for the sender's
   * retry and dropped (answered 200 duplicate). A retry and a "Continue" notification are
   * byte-identical; only time separates them. Web Scraper Cloud's own retries end within about
   * 35-45 s of the first attempt (10 s timeout, then +5 s, then +10 s), so the default covers them
   * with a margin; a notification after "Continue" that comes later than the window runs again.
   * Longer drops a quick "Continue"; shorter than about 45 s lets a slow retry run twice. It is the
   * receiver's dedupe TTL unless the receiver sets `dedupe: { ttlMs }`, so it holds across processes
   * with a shared store or BullMQ.
   * @default 60_000 (60 s)
   * @example
   * ```ts
   * webScraper({ token, dedupeWindowMs: 90_000 }) // a sender behind a slow proxy
   * ```
   */
  dedupeWindowMs?: number;
}

/** The provider {@link webScraper} returns. */
export type WebScraperProvider = Provider<typeof webScraperEvents, typeof webScraperEnvelope, Record<never, never>>;

/**
 * Receives Web Scraper Cloud (webscraper.io) scraping-job notifications: a form POST with
 * `scrapingjob_id`, `status`, `sitemap_id`, `sitemap_name` and `custom_id`, sent when a job
 * ends. The event type is `scrapingjob.<status>`; ids are numbers and an empty `custom_id` is absent.
 * The same fields sent as JSON are accepted too.
 *
 * Web Scraper Cloud signs nothing; its docs advise a secret token in the notification URL. By
 * default the token is read from the route parameter `:token` or the query parameter `?token=`.
 *
 * Deliveries are deduplicated by job id plus status within `dedupeWindowMs` (60 s) of the first:
 * the sender retries when it gets no 2xx within 10 s (after 5 s, then 10 s; 3 attempts, all within
 * about 45 s), while a job continued later with "Continue" sends a byte-identical notification for
 * the same job that must run again.
 *
 * @example
 * ```ts
 * const hooks = createReceiver({ provider: webScraper({ token: process.env.WEBSCRAPER_WEBHOOK_TOKEN }) });
 * // Acknowledged at once; the import runs from the queue, as the docs advise.
 * hooks.on('scrapingjob.finished', importRows(webScraperData({ apiToken, deleteJob: true }), { write: (rows) => db.insertMany(rows) }));
 * app.all('/webhooks/webscraper/:token', hooks.middleware());
 * ```
 * @throws {TypeError} when no token is given or `dedupeWindowMs` is not a positive integer.
 */
export function webScraper(options: WebScraperOptions): WebScraperProvider {
  const verify = tokenVerifier(options, { param: 'token', query: 'token' });
  const windowMs = options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
  if (!Number.isInteger(windowMs) || windowMs < 1) {
    throw new TypeError(`Expected \`dedupeWindowMs\` to be a positive integer, got ${String(windowMs)}`);
  }

  return defineProvider({
    name: 'webscraper',
    verify,
    bodyTypes: ['form', 'json'],
    eventType: (body) => {
      const status = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).status : undefined;
      return typeof status === 'string' && status !== '' ? `scrapingjob.${status}` : undefined;
    },
    events: webScraperEvents,
    envelope: webScraperEnvelope,
    // The window is the dedupe TTL: the first arrival claims `<job>:<status>` for `windowMs`, so a
    // retry never falls on the far side of a bucket boundary, and the window holds in every store.
    dedupeId: ({ payload }) => `${payload.scrapingjob_id}:${payload.status}`,
    dedupeTtlMs: windowMs,
  });
}
