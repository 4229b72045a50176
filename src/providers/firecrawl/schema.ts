import { z } from 'zod';
import { openEnum, optionalString } from '../shared/fields.ts';

// Shapes from Firecrawl's webhook event reference (https://docs.firecrawl.dev/webhooks/events), its
// webhooks OpenAPI and the sender's `apps/api/src/services/webhook/types.ts`. Documents and result
// objects are loose: Firecrawl adds formats and metadata over time, and a receiver that dropped or
// refused them would lose data. The envelope is a plain object so a misspelt field is a type error.

/** A string or a list of strings: page metadata copied from `<meta>` tags may repeat. */
const metaText = z.union([z.string(), z.array(z.string())]).optional();

/** The metadata Firecrawl attaches to a scraped page. */
export const firecrawlPageMetadata = z.looseObject({
  title: metaText,
  description: metaText,
  language: metaText,
  url: optionalString,
  sourceURL: optionalString,
  statusCode: z.number().optional(),
  contentType: optionalString,
  scrapeId: optionalString,
  creditsUsed: z.number().optional(),
  error: optionalString,
  proxyUsed: optionalString,
  cacheState: optionalString,
  cachedAt: optionalString,
});

/** A scraped page as Firecrawl delivers it in `crawl.page` and `batch_scrape.page`. Unknown formats are kept. */
export const firecrawlDocument = z.looseObject({
  markdown: optionalString,
  summary: optionalString,
  html: optionalString,
  rawHtml: optionalString,
  screenshot: optionalString,
  links: z.array(z.string()).optional(),
  images: z.array(z.string()).optional(),
  json: z.unknown().optional(),
  warning: optionalString,
  metadata: firecrawlPageMetadata.optional(),
});

/** The result of an extract job (`extract.completed`). */
export const firecrawlExtractResult = z.looseObject({
  success: z.boolean(),
  data: z.unknown(),
  extractId: optionalString,
  llmUsage: z.number().optional(),
  totalUrlsScraped: z.number().optional(),
  sources: z.record(z.string(), z.array(z.string())).optional(),
});

/** Credits an agent run has used so far (a running estimate on `agent.action`). */
const agentCredits = { creditsUsed: z.number() };

/** One step of an agent run (`agent.action`), e.g. `scrape` or `mcp__tools__scrape`. */
export const firecrawlAgentAction = z.looseObject({
  ...agentCredits,
  action: z.string(),
  input: z.record(z.string(), z.unknown()).optional(),
});

/** The outcome of an agent run (`agent.completed`). */
export const firecrawlAgentResult = z.looseObject({ ...agentCredits, data: z.unknown() });

/** The credits of a failed or cancelled agent run. */
export const firecrawlAgentUsage = z.looseObject(agentCredits);

/**
 * One change a monitor's judgment found meaningful, as the sender types it (`types.ts`): what was
 * added, removed or changed, the text before and after (`null` for an addition or a removal), and why.
 */
export const firecrawlMeaningfulChange = z.looseObject({
  type: openEnum(['added', 'removed', 'changed']),
  before: z.string().nullish(),
  after: z.string().nullish(),
  reason: z.string(),
});

/** The judgment of a monitor on whether a change matters. */
const monitorJudgment = z.looseObject({
  meaningful: z.boolean(),
  confidence: openEnum(['high', 'medium', 'low']),
  reason: z.string(),
  /**
   * The changes that matter: objects on the wire. The docs' example shows plain strings, which are
   * accepted too (a string is its own `reason`, so handlers can narrow with `typeof`).
   */
  meaningfulChanges: z.array(z.union([firecrawlMeaningfulChange, z.string()])),
});

/** One monitored page after a check (`monitor.page`). */
export const firecrawlMonitorPage = z.looseObject({
  monitorId: z.string(),
  checkId: z.string(),
  url: z.string(),
  status: openEnum(['changed', 'same', 'new', 'removed', 'error']),
  previousScrapeId: z.string().nullish(),
  currentScrapeId: z.string().nullish(),
  error: z.string().nullish(),
  isMeaningful: z.boolean().nullish(),
  judgment: monitorJudgment.nullish(),
  diff: z.looseObject({ text: z.string().optional(), json: z.unknown().optional() }).nullish(),
});

/** The summary of a monitor check (`monitor.check.completed`). */
export const firecrawlMonitorCheck = z.looseObject({
  monitorId: z.string(),
  checkId: z.string(),
  status: openEnum(['completed']),
  summary: z.looseObject({
    totalPages: z.number(),
    same: z.number(),
    changed: z.number(),
    new: z.number(),
    removed: z.number(),
    error: z.number(),
  }),
});

/**
 * Monitor events carry a one-element array in `data` on the wire (the sender's `types.ts`), but an
 * object in the docs' examples: accept both and hand handlers the object either way.
 */
function single<T extends z.ZodType>(item: T): z.ZodType<z.output<T>, z.input<T> | [z.input<T>]> {
  const wrapped = z.tuple([item]).transform(([only]) => only);
  // Not a z.union: its error would say only "Invalid input" at `data`, where this one names the
  // failing field (`data.0.judgment.meaningfulChanges.0`).
  return z.unknown().transform((value, ctx) => {
    const result = (Array.isArray(value) ? wrapped : item).safeParse(value);
    if (result.success) return result.data as z.output<T>;
    for (const issue of result.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  }) as unknown as z.ZodType<z.output<T>, z.input<T> | [z.input<T>]>;
}

/** Fields every Firecrawl delivery carries. */
const common = {
  success: z.boolean(),
  /** The job id. */
  id: z.string().optional(),
  /** The job id as the legacy v0 API sends it, instead of `id`. */
  jobId: z.string().optional(),
  /** One id per event, the same on every retry (the dedupe id). Absent from older senders. */
  webhookId: z.string().optional(),
  /** The `metadata` of your webhook configuration, echoed verbatim. Absent when none is configured. */
  metadata: z.record(z.string(), z.string()).optional(),
};

/** The job id, from `id` or, for legacy v0 deliveries, `jobId`. */
function withJobId<T>(payload: T, ctx: z.RefinementCtx): T & { id: string } {
  const { id = undefined, jobId = undefined } = payload as { id?: string; jobId?: string };
  if (id === undefined && jobId === undefined) {
    ctx.addIssue({ code: 'custom', path: ['id'], message: 'Expected the job id in `id` (or `jobId` for v0 jobs)' });
    return z.NEVER;
  }
  return { ...payload, id: id ?? jobId! };
}

/** One event's schema. `error` says why the job or page failed, when `success` is false. */
function event<const T extends string, D extends z.ZodType, R extends z.ZodType = typeof optionalString>(type: T, data: D, error?: R) {
  return z.object({ ...common, type: z.literal(type), data, error: error ?? (optionalString as z.ZodType as R) }).transform(withJobId);
}

const none = z.array(z.unknown());
const pages = z.array(firecrawlDocument);
const requiredError = z.string();

/** One schema per documented Firecrawl event type. */
export const firecrawlEvents = {
  'crawl.started': event('crawl.started', none),
  'crawl.page': event('crawl.page', pages),
  // v1/v2 send `[]` and results are fetched with GET /v2/crawl/{id}; v0 jobs may carry the documents.
  'crawl.completed': event('crawl.completed', pages),
  // In the sender's enum (types.ts) though not in the public docs.
  'crawl.cancelled': event('crawl.cancelled', none),
  // Older type union and a v1 payload snippet: still accepted.
  'crawl.failed': event('crawl.failed', none),
  'batch_scrape.started': event('batch_scrape.started', none),
  'batch_scrape.page': event('batch_scrape.page', pages),
  'batch_scrape.completed': event('batch_scrape.completed', pages),
  // Named in the API's field descriptions only.
  'batch_scrape.failed': event('batch_scrape.failed', none),
  'extract.started': event('extract.started', none),
  'extract.completed': event('extract.completed', z.array(firecrawlExtractResult)),
  'extract.failed': event('extract.failed', none, requiredError),
  'agent.started': event('agent.started', none),
  'agent.action': event('agent.action', z.array(firecrawlAgentAction)),
  'agent.completed': event('agent.completed', z.array(firecrawlAgentResult)),
  'agent.failed': event('agent.failed', z.array(firecrawlAgentUsage), requiredError),
  'agent.cancelled': event('agent.cancelled', z.array(firecrawlAgentUsage)),
  'monitor.page': event('monitor.page', single(firecrawlMonitorPage)),
  'monitor.check.completed': event('monitor.check.completed', single(firecrawlMonitorCheck)),
  // Scheduled jobs, in newer senders' enum (types.ts). Their `data` is not documented: kept as sent.
  'schedule.completed': event('schedule.completed', z.unknown()),
  'schedule.failed': event('schedule.failed', z.unknown()),
};

/** An event type Firecrawl does not document yet: accepted, handed to `onAny` with `data` untyped. */
export const firecrawlEnvelope = z
  .object({ ...common, success: z.boolean().optional(), type: z.string(), data: z.unknown() })
  .transform((payload) => ({ ...payload, id: payload.id ?? payload.jobId }));

/**
 * Firecrawl's own short event names, as its `events` filter matches them (delivery.ts
 * `webhookEventMatchesFilter`): the second dotted segment (`page`, `completed`, ...) or everything
 * after the first dot (`check.completed`). So `hooks.on('completed', ...)` spans every job kind.
 */
export const firecrawlAliases = {
  started: ['crawl.started', 'batch_scrape.started', 'extract.started', 'agent.started'],
  page: ['crawl.page', 'batch_scrape.page', 'monitor.page'],
  completed: ['crawl.completed', 'batch_scrape.completed', 'extract.completed', 'agent.completed', 'schedule.completed'],
  failed: ['crawl.failed', 'batch_scrape.failed', 'extract.failed', 'agent.failed', 'schedule.failed'],
  cancelled: ['crawl.cancelled', 'agent.cancelled'],
  action: ['agent.action'],
  check: ['monitor.check.completed'],
  'check.completed': ['monitor.check.completed'],
} as const;

/** The Firecrawl event types with a schema. */
export type FirecrawlEventType = keyof typeof firecrawlEvents;

/** The validated payload of a Firecrawl event type (a union when `T` is). */
export type FirecrawlPayload<T extends FirecrawlEventType = FirecrawlEventType> = T extends FirecrawlEventType
  ? z.output<(typeof firecrawlEvents)[T]>
  : never;

/** A scraped page (`data[i]` of `crawl.page`), with every format Firecrawl sent. */
export type FirecrawlDocument = z.output<typeof firecrawlDocument>;

/** One monitored page after a check (`data` of `monitor.page`). */
export type FirecrawlMonitorPage = z.output<typeof firecrawlMonitorPage>;

/** One change of a monitor's judgment (`data.judgment.meaningfulChanges[i]` of `monitor.page`, unless a string). */
export type FirecrawlMeaningfulChange = z.output<typeof firecrawlMeaningfulChange>;

/** The summary of a monitor check (`data` of `monitor.check.completed`). */
export type FirecrawlMonitorCheck = z.output<typeof firecrawlMonitorCheck>;
