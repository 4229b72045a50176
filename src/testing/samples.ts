import type { ApifyEventType } from '../providers/apify/schema.ts';
import type { FirecrawlEventType } from '../providers/firecrawl/schema.ts';
import type { ThordataEventType } from '../providers/thordata/schema.ts';
import type { WebScraperEventType } from '../providers/web-scraper/schema.ts';

// Realistic bodies, shaped after the providers' documentation and examples (see each provider's
// module for the sources). Builders start from these; a test changes only what it is about.

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

const apifyRun = {
  id: 'HG7ML7M8z78YcAPEB',
  actId: 'moJRLRc85AitArpNN',
  userId: 'wRsJZtadYvn4mBZmm',
  actorTaskId: null,
  startedAt: '2026-11-20T10:00:00.000Z',
  finishedAt: '2026-11-20T10:04:12.000Z',
  status: 'SUCCEEDED',
  statusMessage: 'Finished! Total 26 requests: 26 succeeded, 0 failed.',
  isStatusMessageTerminal: true,
  meta: { origin: 'API', userAgent: 'ApifyClient/2.9.0' },
  stats: { inputBodyLen: 240, restartCount: 0, durationMillis: 252000, computeUnits: 0.07 },
  options: { build: 'latest', timeoutSecs: 3600, memoryMbytes: 1024, diskMbytes: 2048 },
  buildId: '7sT5jcggjjA9fNcxF',
  buildNumber: '0.2.14',
  exitCode: 0,
  defaultKeyValueStoreId: 'eJNzqsbPiopwJcgGQ',
  defaultDatasetId: 'wmKPijuyDnPZAPRMk',
  defaultRequestQueueId: 'FL35cSF7jrxr3BY39',
  containerUrl: 'https://hg7ml7m8z78y.runs.apify.net',
  usageTotalUsd: 0.021,
};

const RUN_STATUS: Record<string, { status: string; finishedAt: string | null; exitCode: number | null }> = {
  CREATED: { status: 'READY', finishedAt: null, exitCode: null },
  SUCCEEDED: { status: 'SUCCEEDED', finishedAt: apifyRun.finishedAt, exitCode: 0 },
  FAILED: { status: 'FAILED', finishedAt: apifyRun.finishedAt, exitCode: 1 },
  ABORTED: { status: 'ABORTED', finishedAt: apifyRun.finishedAt, exitCode: null },
  TIMED_OUT: { status: 'TIMED-OUT', finishedAt: apifyRun.finishedAt, exitCode: null },
  RESURRECTED: { status: 'RUNNING', finishedAt: null, exitCode: null },
};

function apifyBody(eventType: ApifyEventType): Json {
  const envelope = { userId: 'wRsJZtadYvn4mBZmm', createdAt: '2026-11-20T10:04:12.000Z', eventType };
  if (eventType === 'TEST') return { ...envelope, eventData: null, resource: {} };
  const [, kind, outcome = ''] = eventType.split('.') as [string, string, string];
  const state = RUN_STATUS[outcome] ?? RUN_STATUS.SUCCEEDED!;
  if (kind === 'BUILD') {
    const { exitCode: _exitCode, ...buildState } = state;
    const build = { id: 'Bu1LdZtadYvn4mBZm', actId: apifyRun.actId, userId: apifyRun.userId, startedAt: apifyRun.startedAt, ...buildState, buildNumber: '0.2.15' };
    return { ...envelope, eventData: { actorId: apifyRun.actId, actorBuildId: build.id }, resource: build };
  }
  return { ...envelope, eventData: { actorId: apifyRun.actId, actorRunId: apifyRun.id }, resource: { ...apifyRun, ...state } };
}

/** One realistic body per Apify event type, as the default payload template renders it. */
export const apifySamples: Readonly<Record<ApifyEventType, Json>> = Object.fromEntries(
  (
    [
      'ACTOR.RUN.CREATED',
      'ACTOR.RUN.SUCCEEDED',
      'ACTOR.RUN.FAILED',
      'ACTOR.RUN.ABORTED',
      'ACTOR.RUN.TIMED_OUT',
      'ACTOR.RUN.RESURRECTED',
      'ACTOR.BUILD.CREATED',
      'ACTOR.BUILD.SUCCEEDED',
      'ACTOR.BUILD.FAILED',
      'ACTOR.BUILD.ABORTED',
      'ACTOR.BUILD.TIMED_OUT',
      'TEST',
    ] as const
  ).map((type) => [type, apifyBody(type)]),
) as Record<ApifyEventType, Json>;

const TASK_ID = '2e9ddee0582a40a9b1c2d3e4f5a6b7c8';

function thordataBody(eventType: ThordataEventType): Json {
  const ok = eventType === 'ACTOR.RUN.SUCCEEDED';
  return {
    userId: 3406,
    userName: 'Thor84******',
    createdAt: '2026-11-20T06:33:14Z',
    eventType,
    eventData: { prodect_id: '3', apiRunId: TASK_ID },
    resource: {
      taskId: TASK_ID,
      url: JSON.stringify({ spider_errors: true, spider_id: '3', spider_parameters: [{ url: 'https://www.amazon.com/dp/B0DPMHRZ1W' }] }),
      // A stand-in for the account key Thordata echoes; the provider drops it from the payload.
      apiKey: '00000000000000000000000000000000',
      apiUrl: '',
      apiCode: ok ? 200 : 400,
      apiResponseTime: 28000,
      apiErrorMsg: ok ? '' : 'target returned 503',
      apiResult: '',
      errorNumber: ok ? 0 : 26,
      successRate: ok ? 100 : 0,
      runseconds: 30,
      detail: ok ? 'Completed! 26 requests in total: 26 successful, 0 failed' : 'Completed! 26 requests in total: 0 successful, 26 failed',
      flow: 1765,
      fileSize: ok ? 1765 : 0,
      type: 0,
      csvUrl: ok ? `https://files.example.com/scrapers/${TASK_ID}.csv` : '',
      jsonUrl: ok ? `https://files.example.com/scrapers/${TASK_ID}.json` : '',
      audioUrl: '',
      videoUrl: '',
      subtitleUrl: '',
      createdAt: '2026-11-20T14:33:14+08:00',
      finishedAt: '2026-11-20T14:33:44+08:00',
    },
  };
}

/** One realistic body per Thordata event type, as the documented payload template renders it. */
export const thordataSamples: Readonly<Record<ThordataEventType, Json>> = {
  'ACTOR.RUN.SUCCEEDED': thordataBody('ACTOR.RUN.SUCCEEDED'),
  'ACTOR.RUN.FAILED': thordataBody('ACTOR.RUN.FAILED'),
};

function webScraperFields(status: string, customId: string): Record<string, string> {
  return { scrapingjob_id: '1234', status, sitemap_id: '12', sitemap_name: 'my-sitemap', custom_id: customId };
}

/** The form fields of one Web Scraper Cloud notification per status (all strings, as on the wire). */
export const webScraperSamples: Readonly<Record<WebScraperEventType, Readonly<Record<string, string>>>> = {
  'scrapingjob.finished': webScraperFields('finished', 'custom-scraping-job-12'),
  'scrapingjob.failed': webScraperFields('failed', ''),
  'scrapingjob.stopped': webScraperFields('stopped', 'nightly-2026-11-20'),
};
