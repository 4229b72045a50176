// Type-checked by `tsc -p tsconfig.json` (part of `npm test`); never executed.
// The paginated sources and Firecrawl completeness fit the receiver's handlers and the Source contract.
import { expectTypeOf } from 'vitest';
import { apifyItems, createReceiver, firecrawl, firecrawlCompleteness, firecrawlDocuments, type FirecrawlDocument } from '../../src/index.ts';
import type { Source } from '../../src/import/types.ts';
import type { ApifyDatasetRef, ApifyItem, FirecrawlCompletenessReport, FirecrawlJobRef } from '../../src/index.ts';

expectTypeOf(apifyItems({ token: 't' })).toEqualTypeOf<Source<ApifyDatasetRef, ApifyItem>>();
expectTypeOf(firecrawlDocuments({ apiKey: 'k' })).toEqualTypeOf<Source<FirecrawlJobRef, FirecrawlDocument>>();

const hooks = createReceiver({ provider: firecrawl({ secret: 's' }) });
const pages = firecrawlCompleteness({
  apiKey: 'k',
  onPages(documents, info) {
    expectTypeOf(documents).toEqualTypeOf<FirecrawlDocument[]>();
    expectTypeOf(info.from).toEqualTypeOf<'webhook' | 'status'>();
  },
});
pages.track(hooks);
hooks.on(['crawl.page', 'batch_scrape.page'], pages.page);
hooks.on(['crawl.completed', 'batch_scrape.completed'], pages.completed);
expectTypeOf(pages.report('c1')).resolves.toEqualTypeOf<FirecrawlCompletenessReport>();
// @ts-expect-error: the key is required
apifyItems({});
