// The receiver of a Next.js App Router app (lib/hooks.ts), shared by its route handlers.
// In your code: import from 'scrapehook'.
import { createReceiver, firecrawl } from '../../../../src/index.ts';

export const hooks = createReceiver({ provider: firecrawl({ secret: process.env.FIRECRAWL_WEBHOOK_SECRET ?? '' }) });

hooks.on('crawl.page', async (event) => {
  console.log('page', event.payload.data[0]?.metadata?.sourceURL);
});
