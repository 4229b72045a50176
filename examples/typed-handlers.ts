// Handlers declared apart from on(), typed with the exported helper types: the README's
// "ESM, CommonJS and TypeScript" example, type-checked by `npm test`. In your code: import from 'scrapehook'.
import { createReceiver, firecrawl, type EventFor, type FirecrawlPayload, type FirecrawlProvider, type Handler } from '../src/index.ts';

/** Where pages go: your database, object store, search index, ... */
export type SavePage = (url: string | undefined, markdown: string | undefined, signal: AbortSignal) => Promise<void>;

// The event a pattern matches: one type, or a union for a wildcard or an alias.
type PageEvent = EventFor<FirecrawlProvider, 'crawl.page'>;
type FailedEvent = EventFor<FirecrawlProvider, 'failed'>; // crawl.failed | batch_scrape.failed | ...

export function pageSaver(save: SavePage): Handler<PageEvent> {
  return async ({ payload }, { signal }) => {
    for (const page of payload.data) await save(page.metadata?.sourceURL, page.markdown, signal);
  };
}

export const reportFailure: Handler<FailedEvent> = ({ type, payload }, { logger }) => {
  logger.warn({ type, job: payload.id, error: payload.error }, 'a Firecrawl job failed');
};

// A payload type alone, for code that never sees the event.
export function pageCount(payload: FirecrawlPayload<'crawl.page' | 'batch_scrape.page'>): number {
  return payload.data.length;
}

export function createFirecrawlReceiver(secret: string, save: SavePage) {
  const hooks = createReceiver({ provider: firecrawl({ secret }) });
  hooks.on('crawl.page', pageSaver(save));
  hooks.on('failed', reportFailure);
  return hooks;
}
