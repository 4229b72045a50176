import { z } from 'zod';
import { integerId } from '../shared/fields.ts';

// Web Scraper Cloud posts an HTML form when a scraping job ends: every value is a string on the
// wire (docs/Web Scraper Cloud/API/Webhooks.md in github.com/webscraperio/web-scraper-documentation).

const fields = {
  /** The scraping job, e.g. `1234` (sent as a string, handed over as a number). */
  scrapingjob_id: integerId,
  /** The sitemap the job ran, e.g. `12`. */
  sitemap_id: integerId,
  /** The sitemap's name, e.g. `my-sitemap`. */
  sitemap_name: z.string(),
  /**
   * The `custom_id` given when the job was created with POST /scraping-job. The docs' own handler
   * reads it unconditionally, so it may be sent empty: empty means absent.
   */
  custom_id: z
    .string()
    .nullish()
    .transform((value) => (value ? value : undefined))
    .optional(),
};

function job<const S extends string>(status: S) {
  return z.object({ ...fields, status: z.literal(status) });
}

/**
 * One schema per status a notification is documented for: `finished` (no failed or empty pages),
 * `failed` (too many failed pages; the user may press "Continue") and `stopped` (by hand).
 */
export const webScraperEvents = {
  'scrapingjob.finished': job('finished'),
  'scrapingjob.failed': job('failed'),
  'scrapingjob.stopped': job('stopped'),
};

/** A status the docs do not list (`shelved` once existed): accepted and handed to `onAny`. */
export const webScraperEnvelope = z.object({ ...fields, status: z.string() });

/** A Web Scraper Cloud event type: `scrapingjob.<status>`. */
export type WebScraperEventType = keyof typeof webScraperEvents;

/** The validated notification of a Web Scraper Cloud event type. */
export type WebScraperPayload<T extends WebScraperEventType = WebScraperEventType> = T extends WebScraperEventType
  ? z.output<(typeof webScraperEvents)[T]>
  : never;
