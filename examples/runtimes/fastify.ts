// Fastify 5: the README's "Fastify" example, type-checked and run by `npm test`.
// In your code: import from 'scrapehook' and 'scrapehook/fastify'.
import Fastify from 'fastify';
import { apify, createReceiver, firecrawl } from '../../src/index.ts';
import { scrapehookFastify } from '../../src/fastify.ts';

export const firecrawlHooks = createReceiver({ provider: firecrawl({ secret: process.env.FIRECRAWL_WEBHOOK_SECRET ?? '' }) });
export const apifyHooks = createReceiver({ provider: apify({ token: process.env.APIFY_WEBHOOK_TOKEN ?? '' }) });

firecrawlHooks.on('crawl.page', async (event, { logger }) => {
  logger.info({ url: event.payload.data[0]?.metadata?.sourceURL }, 'page');
});

export async function buildApp() {
  const app = Fastify({ logger: process.env.NODE_ENV !== 'test' });
  // Each registration keeps its raw-bytes parser to its own route: the rest of the app parses JSON as usual.
  await app.register(scrapehookFastify, { receiver: firecrawlHooks, path: '/webhooks/firecrawl' });
  await app.register(scrapehookFastify, { receiver: apifyHooks, path: '/webhooks/apify/:token' });
  app.addHook('onClose', async () => {
    await Promise.all([firecrawlHooks.close(), apifyHooks.close()]);
  });
  return app;
}

if (process.argv[1] === import.meta.filename) await (await buildApp()).listen({ port: 3000 });
