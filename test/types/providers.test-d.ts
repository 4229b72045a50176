// Type-checked by `tsc -p tsconfig.json` (part of `npm test`); never executed.
import { expectTypeOf } from 'vitest';
import { z } from 'zod';
import {
  apify,
  createReceiver,
  firecrawl,
  standardWebhooks,
  thordata,
  webScraper,
  type ApifyRun,
  type FirecrawlDocument,
  type FirecrawlMeaningfulChange,
  type FirecrawlMonitorPage,
  type ThordataSpiderParams,
} from '../../src/index.ts';
import { firecrawlDelivery, runEvent } from '../../src/testing/index.ts';

// Firecrawl
const fc = createReceiver({ provider: firecrawl({ secret: 's' }) });

fc.on('crawl.page', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'crawl.page'>();
  expectTypeOf(event.payload.data[0]!.markdown).toEqualTypeOf<string | undefined>();
  expectTypeOf(event.payload.data[0]).toEqualTypeOf<FirecrawlDocument | undefined>();
  expectTypeOf(event.payload.data[0]!.metadata?.statusCode).toEqualTypeOf<number | undefined>();
  // `id` is always there: v0's `jobId` is copied into it.
  expectTypeOf(event.payload.id).toEqualTypeOf<string>();
  expectTypeOf(event.payload.webhookId).toEqualTypeOf<string | undefined>();
  expectTypeOf(event.payload.metadata).toEqualTypeOf<Record<string, string> | undefined>();
  expectTypeOf(event.payload.error).toEqualTypeOf<string | undefined>();
  // @ts-expect-error the envelope has no such field (webhookId is spelt with a capital I)
  void event.payload.webhookid;
});

fc.on('agent.failed', ({ payload }) => {
  expectTypeOf(payload.error).toEqualTypeOf<string>();
  expectTypeOf(payload.data[0]!.creditsUsed).toEqualTypeOf<number>();
});

fc.on('monitor.page', ({ payload }) => {
  expectTypeOf(payload.data).toEqualTypeOf<FirecrawlMonitorPage>();
  expectTypeOf(payload.data.status).toEqualTypeOf<'changed' | 'same' | 'new' | 'removed' | 'error' | (string & {})>();
  // The sender's changes are objects; the docs' example shows strings, accepted too.
  const change = payload.data.judgment?.meaningfulChanges[0];
  expectTypeOf(change).toEqualTypeOf<FirecrawlMeaningfulChange | string | undefined>();
  if (change !== undefined && typeof change !== 'string') {
    expectTypeOf(change.type).toEqualTypeOf<'added' | 'removed' | 'changed' | (string & {})>();
    expectTypeOf(change.before).toEqualTypeOf<string | null | undefined>();
    expectTypeOf(change.reason).toEqualTypeOf<string>();
  }
});

fc.on('crawl.*', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'crawl.started' | 'crawl.page' | 'crawl.completed' | 'crawl.cancelled' | 'crawl.failed'>();
});

// Firecrawl's own filter names.
fc.on('page', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'crawl.page' | 'batch_scrape.page' | 'monitor.page'>();
});
fc.on('completed', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'crawl.completed' | 'batch_scrape.completed' | 'extract.completed' | 'agent.completed' | 'schedule.completed'>();
});

// Scheduled jobs: typed events, with the envelope typed and the undocumented `data` left unknown.
fc.on('schedule.completed', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'schedule.completed'>();
  expectTypeOf(event.payload.type).toEqualTypeOf<'schedule.completed'>();
  expectTypeOf(event.payload.id).toEqualTypeOf<string>();
  expectTypeOf(event.payload.success).toEqualTypeOf<boolean>();
  expectTypeOf(event.payload.metadata).toEqualTypeOf<Record<string, string> | undefined>();
  expectTypeOf(event.payload.data).toBeUnknown();
});
fc.on('schedule.failed', ({ payload }) => {
  expectTypeOf(payload.error).toEqualTypeOf<string | undefined>();
});
fc.on('schedule.*', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'schedule.completed' | 'schedule.failed'>();
});
fc.on('failed', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'crawl.failed' | 'batch_scrape.failed' | 'extract.failed' | 'agent.failed' | 'schedule.failed'>();
});

// A Firecrawl provider and test delivery take a secret, a token, or both.
firecrawl({ token: 't' });
firecrawl({ secret: 's', token: 't', tokenFrom: { query: 'key' } });
firecrawlDelivery({ token: 't', tokenIn: 'query' });
firecrawlDelivery({ secret: 's' });
// @ts-expect-error a test delivery needs a secret to sign with or a token to place
firecrawlDelivery({ type: 'crawl.page' });

// @ts-expect-error not a Firecrawl event type
fc.on('crawl.pages', () => {});
// @ts-expect-error not a Firecrawl short name
fc.on('finished', () => {});

fc.onAny((event) => {
  expectTypeOf(event.type).toBeString();
});

// Apify
const ap = createReceiver({ provider: apify({ token: 't' }) });

ap.on('ACTOR.RUN.SUCCEEDED', ({ payload }) => {
  expectTypeOf(payload.eventType).toEqualTypeOf<'ACTOR.RUN.SUCCEEDED'>();
  expectTypeOf(payload.resource).toEqualTypeOf<ApifyRun>();
  expectTypeOf(payload.resource.defaultDatasetId).toEqualTypeOf<string>();
  expectTypeOf(payload.eventData.actorRunId).toEqualTypeOf<string>();
  // @ts-expect-error run events carry no build id
  void payload.eventData.actorBuildId.length;
});
ap.on('ACTOR.BUILD.SUCCEEDED', ({ payload }) => {
  expectTypeOf(payload.eventData.actorBuildId).toEqualTypeOf<string>();
});
ap.on('ACTOR.RUN.*', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<
    'ACTOR.RUN.CREATED' | 'ACTOR.RUN.SUCCEEDED' | 'ACTOR.RUN.FAILED' | 'ACTOR.RUN.ABORTED' | 'ACTOR.RUN.TIMED_OUT' | 'ACTOR.RUN.RESURRECTED'
  >();
});
// @ts-expect-error Apify spells it TIMED_OUT
ap.on('ACTOR.RUN.TIMED-OUT', () => {});

// @ts-expect-error `eventType` only makes sense with your own `schema`
apify({ token: 't', eventType: 'event' });

const custom = createReceiver({ provider: apify({ token: 't', schema: z.object({ event: z.string(), rows: z.number() }), eventType: 'event' }) });
custom.on('ACTOR.RUN.SUCCEEDED', ({ payload }) => {
  expectTypeOf(payload).toEqualTypeOf<{ event: string; rows: number }>();
});

// Thordata
const th = createReceiver({ provider: thordata({ token: 't' }) });

th.on('ACTOR.RUN.SUCCEEDED', ({ payload }) => {
  expectTypeOf(payload.userId).toEqualTypeOf<string | undefined>();
  expectTypeOf(payload.eventData.prodect_id).toEqualTypeOf<string | undefined>();
  expectTypeOf(payload.resource.taskId).toEqualTypeOf<string>();
  expectTypeOf(payload.resource.apiCode).toEqualTypeOf<number | undefined>();
  expectTypeOf(payload.resource.jsonUrl).toEqualTypeOf<string | undefined>();
  expectTypeOf(payload.resource.spiderParams).toEqualTypeOf<ThordataSpiderParams | undefined>();
  // @ts-expect-error Thordata spells it prodect_id
  void payload.eventData.product_id.length;
});

// Web Scraper Cloud
const ws = createReceiver({ provider: webScraper({ token: 't' }) });

ws.on('scrapingjob.finished', ({ payload }) => {
  expectTypeOf(payload.scrapingjob_id).toEqualTypeOf<number>();
  expectTypeOf(payload.sitemap_id).toEqualTypeOf<number>();
  expectTypeOf(payload.status).toEqualTypeOf<'finished'>();
  expectTypeOf(payload.custom_id).toEqualTypeOf<string | undefined>();
  // @ts-expect-error the field is scrapingjob_id
  void payload.scraping_job_id;
});
ws.on('scrapingjob.*', ({ payload }) => {
  expectTypeOf(payload.status).toEqualTypeOf<'finished' | 'failed' | 'stopped'>();
});
// @ts-expect-error not a Web Scraper Cloud status
ws.on('scrapingjob.done', () => {});

// Standard Webhooks
const sw = createReceiver({
  provider: standardWebhooks({ secret: 'whsec_x', events: { 'invoice.paid': z.object({ invoiceId: z.string(), cents: z.number() }) } }),
});
sw.on('invoice.paid', ({ payload }) => {
  expectTypeOf(payload.type).toEqualTypeOf<'invoice.paid'>();
  expectTypeOf(payload.data).toEqualTypeOf<{ invoiceId: string; cents: number }>();
  expectTypeOf(payload.timestamp).toEqualTypeOf<string | undefined>();
});
// @ts-expect-error no schema was given for this type
sw.on('invoice.created', () => {});
sw.onAny(({ payload }) => {
  expectTypeOf(payload.data).toEqualTypeOf<unknown>();
});

const anyType = createReceiver({ provider: standardWebhooks({ secret: 'whsec_x', data: z.object({ id: z.string() }) }) });
anyType.on('whatever.happened', ({ payload }) => {
  expectTypeOf(payload.data).toEqualTypeOf<{ id: string }>();
});

// scrapehook/testing
void runEvent(ws, 'scrapingjob.failed', { scrapingjob_id: '1', status: 'failed', sitemap_id: 2, sitemap_name: 'x' });
// @ts-expect-error the payload must match the event's schema input
void runEvent(ws, 'scrapingjob.failed', { scrapingjob_id: true });
