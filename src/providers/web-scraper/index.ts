import { defineProvider } from '../define-provider.ts';
import { tokenVerifier, type TokenOptions } from '../shared/token.ts';
import type { Provider } from '../../types.ts';
import { webScraperEnvelope, webScraperEvents } from './schema.ts';

export type { WebScraperEventType, WebScraperPayload } from './schema.ts';

/** Options of {@link webScraper}. */
export interface WebScraperOptions extends TokenOptions {
  /**
   * How long after the first delivery of a job's status a repeat of it is taken for the sender's
   * retry and dropped. Web Scraper Cloud retries within about 35 s (after 5 s, then 10 s, each
   * attempt waiting up to 10 s); a job continued with "Continue" notifies again much later and is
   * delivered. `0` makes the dedupe id `<job>:<status>` with no window: then set the receiver's
   * `dedupe: { ttlMs }` yourself (see the docs, "Web Scraper Cloud").
   * @default 120_000 (2 minutes)
   */
  dedupeWindowMs?: number;
}

/** The provider {@link webScraper} returns. */
export type WebScraperProvider = Provider<typeof webScraperEvents, typeof webScraperEnvelope, Record<never, never>>;

/** How many jobs' windows are remembered at once; older ones are forgotten first. */
const MAX_WINDOWS = 10_000;

/**
 * Receives Web Scraper Cloud (webscraper.io) scraping-job notifications: a form POST with
 * `scrapingjob_id`, `status`, `sitemap_id`, `sitemap_name` and `custom_id`, sent when a job
 * ends. The event type is `scrapingjob.<status>`; ids are numbers and an empty `custom_id` is absent.
 * The same fields sent as JSON are accepted too.
 *
 * Web Scraper Cloud signs nothing; its docs advise a secret token in the notification URL. By
 * default the token is read from the route parameter `:token` or the query parameter `?token=`.
 *
 * Deliveries are deduplicated by job id plus status within `dedupeWindowMs` of the first: the
 * sender retries when it gets no 2xx within 10 s (after 5 s, then 10 s; 3 attempts), while a job
 * continued later with "Continue" sends a fresh notification for the same job that must run again.
 * The window is kept in this process: with several processes behind one URL, use
 * `dedupeWindowMs: 0` and a receiver `dedupe: { ttlMs: 60_000 }` over a shared store.
 *
 * @example
 * ```ts
 * const hooks = createReceiver({ provider: webScraper({ token: process.env.WEBSCRAPER_WEBHOOK_TOKEN }) });
 * // Acknowledged at once; the import runs from the queue, as the docs advise.
 * hooks.on('scrapingjob.finished', async ({ payload }, { signal }) => importJob(payload.scrapingjob_id, signal));
 * app.post('/webhooks/webscraper/:token', hooks.middleware());
 * ```
 * @throws {TypeError} when no token is given or `dedupeWindowMs` is not a non-negative integer.
 */
export function webScraper(options: WebScraperOptions): WebScraperProvider {
  const verify = tokenVerifier(options, { param: 'token', query: 'token' });
  const windowMs = options.dedupeWindowMs ?? 120_000;
  if (!Number.isInteger(windowMs) || windowMs < 0) {
    throw new TypeError(`Expected \`dedupeWindowMs\` to be a non-negative integer, got ${String(windowMs)}`);
  }
  // First arrival per job and status, in arrival order. The window is anchored on the first
  // arrival rather than on clock buckets, so a retry never falls on the far side of a boundary.
  const windows = new Map<string, number>();

  function dedupeId(job: number, status: string): string {
    const key = `${job}:${status}`;
    if (windowMs === 0) return key;
    const now = Date.now();
    let start = windows.get(key);
    if (start === undefined || now - start >= windowMs) {
      start = now;
      windows.delete(key);
      windows.set(key, start);
      for (const [oldKey, oldStart] of windows) {
        if (windows.size <= MAX_WINDOWS && now - oldStart < windowMs) break;
        windows.delete(oldKey);
      }
    }
    return `${key}:${new Date(start).toISOString()}`;
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
    dedupeId: ({ payload }) => dedupeId(payload.scrapingjob_id, payload.status),
  });
}
