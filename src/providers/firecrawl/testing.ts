// Firecrawl's test builder, samples and sender behaviour, exported by `scrapehook/testing` (never
// by the root entry): realistic bodies after Firecrawl's docs and sender source (see ./index.ts).
import { randomUUID } from 'node:crypto';
import { bytesOf, signHmac, tokenPlaced, type DeliveryOptions, type TestDelivery, type TokenPlacement } from '../../testing/delivery.ts';
import { sampleType, type ProviderKit } from '../../testing/kit.ts';
import type { FirecrawlEventType } from './schema.ts';

// Realistic bodies, shaped after the provider's documentation and examples. Builders start from
// these; a test changes only what it is about.

type Json = Record<string, unknown>;

const JOB_ID = '550e8400-e29b-41d4-a716-446655440000';

const page = {
  markdown: '# Pricing\n\n- Starter: 9 USD per month\n- Team: 29 USD per month\n',
  metadata: {
    title: 'Pricing - Example',
    description: 'Plans and prices',
    url: 'https://example.com/pricing',
    sourceURL: 'https://example.com/pricing',
    statusCode: 200,
    contentType: 'text/html',
    scrapeId: '550e8400-e29b-41d4-a716-446655440001',
    proxyUsed: 'basic',
    creditsUsed: 1,
  },
};

/** One monitored page after a check, with a judgment as Firecrawl's sender types it. */
const monitorPage = {
  monitorId: '0192f0a8-0000-7000-8000-000000000001',
  checkId: '0192f0a8-0000-7000-8000-000000000002',
  url: 'https://example.com/pricing',
  status: 'changed',
  previousScrapeId: '550e8400-e29b-41d4-a716-446655440003',
  currentScrapeId: '550e8400-e29b-41d4-a716-446655440004',
  error: null,
  isMeaningful: true,
  judgment: {
    meaningful: true,
    confidence: 'high',
    reason: 'Price of Team changed',
    meaningfulChanges: [{ type: 'changed', before: 'Team: 29 USD per month', after: 'Team: 35 USD per month', reason: 'Price of Team changed' }],
  },
  diff: { text: '- Team: 29 USD per month\n+ Team: 35 USD per month' },
};

const monitorCheck = {
  monitorId: '0192f0a8-0000-7000-8000-000000000001',
  checkId: '0192f0a8-0000-7000-8000-000000000002',
  status: 'completed',
  summary: { totalPages: 12, same: 10, changed: 1, new: 1, removed: 0, error: 0 },
};

function firecrawlBody(type: FirecrawlEventType, data: unknown, extra: Json = {}): Json {
  const success = !/\.(failed|cancelled)$/.test(type);
  return { success, type, id: JOB_ID, webhookId: '4bdfd828-b948-5d87-9714-34768cd88bc2', data, metadata: { pipeline: 'pricing-watch' }, ...extra };
}

/** One realistic body per Firecrawl event type (the `webhookId` is replaced by each builder call). */
export const firecrawlSamples: Readonly<Record<FirecrawlEventType, Json>> = {
  'crawl.started': firecrawlBody('crawl.started', []),
  'crawl.page': firecrawlBody('crawl.page', [page]),
  'crawl.completed': firecrawlBody('crawl.completed', []),
  'crawl.cancelled': firecrawlBody('crawl.cancelled', [], { error: 'Crawl cancelled by user' }),
  'crawl.failed': firecrawlBody('crawl.failed', [], { error: 'Crawl failed: robots.txt disallows the start URL' }),
  'batch_scrape.started': firecrawlBody('batch_scrape.started', []),
  'batch_scrape.page': firecrawlBody('batch_scrape.page', [page]),
  'batch_scrape.completed': firecrawlBody('batch_scrape.completed', []),
  'batch_scrape.failed': firecrawlBody('batch_scrape.failed', [], { error: 'Batch scrape failed' }),
  'extract.started': firecrawlBody('extract.started', []),
  'extract.completed': firecrawlBody('extract.completed', [
    {
      success: true,
      data: { siteName: 'Example', category: 'Technology' },
      extractId: JOB_ID,
      llmUsage: 0.0020118,
      totalUrlsScraped: 1,
      sources: { siteName: ['https://example.com'], category: ['https://example.com'] },
    },
  ]),
  'extract.failed': firecrawlBody('extract.failed', [], { error: 'Extraction failed: timeout exceeded' }),
  'agent.started': firecrawlBody('agent.started', []),
  'agent.action': firecrawlBody('agent.action', [{ creditsUsed: 5, action: 'mcp__tools__scrape', input: { url: 'https://example.com' } }]),
  'agent.completed': firecrawlBody('agent.completed', [{ creditsUsed: 15, data: { company: 'Example Corp', founded: 2020 } }]),
  'agent.failed': firecrawlBody('agent.failed', [{ creditsUsed: 8 }], { error: 'Maximum credits exceeded' }),
  'agent.cancelled': firecrawlBody('agent.cancelled', [{ creditsUsed: 3 }]),
  // Monitor events carry a one-element array in `data`, as Firecrawl's sender puts them on the wire.
  'monitor.page': firecrawlBody('monitor.page', [monitorPage]),
  'monitor.check.completed': firecrawlBody('monitor.check.completed', [monitorCheck]),
  // Scheduled jobs: Firecrawl does not document their `data`; the envelope is as for every event.
  'schedule.completed': firecrawlBody('schedule.completed', []),
  'schedule.failed': firecrawlBody('schedule.failed', [], { error: 'Scheduled crawl failed' }),
};

/** The `X-Firecrawl-Signature` value for a body: `sha256=` and the hex HMAC-SHA256 with the secret. */
export function signFirecrawl(body: string | Uint8Array, secret: string): string {
  return signHmac(body, secret);
}

/** Options of {@link firecrawlDelivery}: a `secret` to sign with, a `token` to place, or both. */
export type FirecrawlDeliveryOptions = FirecrawlDeliveryBase & ({ secret: string; token?: string } | { secret?: string; token: string });

/** The options of {@link firecrawlDelivery} other than its credentials. */
export interface FirecrawlDeliveryBase extends DeliveryOptions {
  /**
   * The event type of the sample body.
   * @default 'crawl.page'
   */
  type?: FirecrawlEventType;
  /**
   * Where the `token` goes, when one is given.
   * @default 'param'
   */
  tokenIn?: TokenPlacement;
}

/**
 * A Firecrawl delivery, from a realistic sample of `type` with a fresh `webhookId` (each call is a
 * new notification; send the same object twice to replay a retry). With `secret` it is signed
 * (`X-Firecrawl-Signature`); with `token` the token is placed where `tokenIn` says (a team without a
 * webhook secret sends unsigned deliveries to a URL holding a token); with both, both.
 *
 * @example
 * ```ts
 * firecrawlDelivery({ secret, type: 'crawl.failed', payload: { error: 'robots.txt' } })
 * firecrawlDelivery({ token, type: 'crawl.page' }) // unsigned, posted to /webhooks/firecrawl/<token>
 * ```
 * @throws {TypeError} when neither `secret` nor `token` is given.
 */
export function firecrawlDelivery(options: FirecrawlDeliveryOptions): TestDelivery {
  const { secret, token } = options as { secret?: string; token?: string };
  if (secret === undefined && token === undefined) throw new TypeError('Expected a `secret` to sign with or a `token` to place, got neither');
  const sample = firecrawlSamples[options.type ?? 'crawl.page'];
  const body = bytesOf(options.body ?? { ...sample, webhookId: randomUUID(), ...options.payload });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret !== undefined) headers['x-firecrawl-signature'] = signFirecrawl(body, secret);
  const base = options.path ?? '/webhooks/firecrawl';
  const path = token === undefined ? base : tokenPlaced(base, token, options.tokenIn ?? 'param', headers);
  return { method: 'POST', path, headers: { ...headers, ...options.headers }, body };
}

/** Firecrawl's builder, samples and documented timeout and retries, for `runEvent` and `scrapehook send`. */
export const firecrawlKit: ProviderKit = {
  name: 'firecrawl',
  aliases: [],
  samples: firecrawlSamples,
  defaultType: 'crawl.page',
  anyType: false,
  credentials: 'secret-or-token',
  env: { secret: 'FIRECRAWL_WEBHOOK_SECRET', token: 'FIRECRAWL_WEBHOOK_TOKEN' },
  build: (input) =>
    firecrawlDelivery({
      ...(input.secret === undefined ? { token: input.token! } : { secret: input.secret, token: input.token }),
      type: sampleType('firecrawl', firecrawlSamples, input.type, 'crawl.page'),
      tokenIn: input.tokenIn,
      path: input.path,
      body: input.body,
    }),
  senders: {
    firecrawl: {
      label: 'Firecrawl',
      timeoutMs: 10_000,
      retryDelaysMs: [60_000, 5 * 60_000, 15 * 60_000],
      note: 'docs only: the retrying consumer is not open source',
      source:
        'Firecrawl docs (webhooks/overview): a 2xx within 10 s (30 s for v0 jobs), else retries after 1, 5 and 15 minutes. ' +
        'The retries are docs-only (the queue consumer that retries is not open source; a self-hosted sender makes one attempt), ' +
        'and whether each delay counts from the failed attempt, as here, is not stated.',
    },
  },
};
