// Bun: the README's "Bun" example, type-checked by `npm test`. Run with `bun examples/runtimes/bun.ts`.
// In your code: import from 'scrapehook' (and drop the `declare`: bun-types declares Bun).
import { createReceiver, firecrawl } from '../../src/index.ts';

declare const Bun: { serve(options: { port: number; fetch(request: Request): Promise<Response> }): { port: number } };

const hooks = createReceiver({ provider: firecrawl({ secret: process.env.FIRECRAWL_WEBHOOK_SECRET ?? '' }) });
hooks.on('crawl.page', async (event) => {
  console.log('page', event.payload.data[0]?.metadata?.sourceURL);
});

// Bun.serve has no router: `path` answers 404 to any other path (and names route parameters).
const server = Bun.serve({ port: Number(process.env.PORT ?? 3000), fetch: hooks.fetchHandler({ path: '/webhooks/firecrawl' }) });
console.log(`listening on ${server.port}`);
