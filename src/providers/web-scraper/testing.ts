// Web Scraper Cloud's test builder, samples and sender behaviour, exported by `scrapehook/testing`
// (never by the root entry): the notification form after webscraper.io's docs (see ./index.ts).
import { randomInt } from 'node:crypto';
import { bytesOf, tokenPlaced, type DeliveryOptions, type TestDelivery, type TokenPlacement } from '../../testing/delivery.ts';
import { required, sampleType, type ProviderKit } from '../../testing/kit.ts';
import type { WebScraperEventType } from './schema.ts';

function webScraperFields(status: string, customId: string): Record<string, string> {
  return { scrapingjob_id: '1234', status, sitemap_id: '12', sitemap_name: 'my-sitemap', custom_id: customId };
}

/** The form fields of one Web Scraper Cloud notification per status (all strings, as on the wire). */
export const webScraperSamples: Readonly<Record<WebScraperEventType, Readonly<Record<string, string>>>> = {
  'scrapingjob.finished': webScraperFields('finished', 'custom-scraping-job-12'),
  'scrapingjob.failed': webScraperFields('failed', ''),
  'scrapingjob.stopped': webScraperFields('stopped', 'nightly-2026-11-20'),
};

/** Options of {@link webScraperDelivery}. */
export interface WebScraperDeliveryOptions extends Omit<DeliveryOptions, 'payload'> {
  /** The secret token of your notification URL. */
  token: string;
  /**
   * The event type of the sample fields.
   * @default 'scrapingjob.finished'
   */
  type?: WebScraperEventType;
  /** Fields merged over the sample, e.g. `{ scrapingjob_id: '99' }`. */
  payload?: Record<string, string>;
  /**
   * How the body is encoded: Web Scraper Cloud posts a form.
   * @default 'form'
   */
  as?: 'form' | 'json';
  /**
   * Where the token goes.
   * @default 'param'
   */
  tokenIn?: Exclude<TokenPlacement, 'header'>;
}

/**
 * A Web Scraper Cloud notification: a form-encoded POST of the job's fields, token in the URL.
 *
 * @example
 * ```ts
 * webScraperDelivery({ token, type: 'scrapingjob.failed', payload: { scrapingjob_id: '99' } })
 * ```
 */
export function webScraperDelivery(options: WebScraperDeliveryOptions): TestDelivery {
  const fields = { ...webScraperSamples[options.type ?? 'scrapingjob.finished'], ...options.payload };
  const json = options.as === 'json';
  const body = options.body !== undefined ? bytesOf(options.body) : Buffer.from(json ? JSON.stringify(fields) : new URLSearchParams(fields).toString());
  const headers: Record<string, string> = { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded' };
  const path = tokenPlaced(options.path ?? '/webhooks/webscraper', options.token, options.tokenIn ?? 'param', headers);
  return { method: 'POST', path, headers: { ...headers, ...options.headers }, body };
}

/** Web Scraper Cloud's builder, samples and documented timeout and retries, for `runEvent` and `scrapehook send`. */
export const webScraperKit: ProviderKit = {
  name: 'webscraper',
  aliases: ['web-scraper'],
  samples: webScraperSamples,
  defaultType: 'scrapingjob.finished',
  anyType: false,
  credentials: 'token',
  env: { token: 'WEBSCRAPER_WEBHOOK_TOKEN' },
  build: (input) => {
    const token = required('webscraper', 'token', input.token);
    if (input.tokenIn === 'header') throw new TypeError('Expected the token in the URL (param or query): Web Scraper Cloud sends no headers of yours');
    const type = sampleType('webscraper', webScraperSamples, input.type, 'scrapingjob.finished');
    const common = { token, type, tokenIn: input.tokenIn, path: input.path };
    if (input.body !== undefined) return webScraperDelivery({ ...common, body: input.body, as: looksLikeJson(input.body) ? 'json' : 'form' });
    // Job id plus status is the dedupe id: a fresh job id makes each delivery a new notification.
    return webScraperDelivery({ ...common, payload: { scrapingjob_id: String(randomInt(100_000, 1_000_000_000)) } });
  },
  senders: {
    webscraper: {
      label: 'Web Scraper Cloud',
      timeoutMs: 10_000,
      retryDelaysMs: [5_000, 10_000],
      note: 'webscraper.io docs',
      source:
        "webscraper.io docs (Web Scraper Cloud/API/Webhooks.md): no 2xx within 10 s, or a status >= 300, is retried after 5 s, then after 10 s (3 attempts). " +
        'An older version of the docs said one resend after 30 s.',
    },
  },
};

function looksLikeJson(body: Uint8Array): boolean {
  return /^\s*\{/.test(Buffer.from(body.subarray(0, 64)).toString('utf8'));
}
