// Hono on Node (@hono/node-server): the README's "Hono" example, type-checked and run by `npm test`.
// In your code: import from 'scrapehook'. The same app runs unchanged on Bun, Deno or Workers.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { apify, createReceiver, firecrawl } from '../../src/index.ts';

export const firecrawlHooks = createReceiver({ provider: firecrawl({ secret: process.env.FIRECRAWL_WEBHOOK_SECRET ?? '' }) });
export const apifyHooks = createReceiver({ provider: apify({ token: process.env.APIFY_WEBHOOK_TOKEN ?? '' }) });

firecrawlHooks.on('crawl.page', async (event) => {
  console.log('page', event.payload.data[0]?.metadata?.sourceURL);
});
apifyHooks.on('ACTOR.RUN.SUCCEEDED', async (event) => {
  console.log('run', event.payload.resource.id);
});

const receiveFirecrawl = firecrawlHooks.fetchHandler();
const receiveApify = apifyHooks.fetchHandler();

export const app = new Hono();
// app.all, not app.post: the receiver answers other methods 405 with Allow: POST itself.
app.all('/webhooks/firecrawl', (c) => receiveFirecrawl(c.req.raw));
// The token in the path reaches the verifier as a route parameter.
app.all('/webhooks/apify/:token', (c) => receiveApify(c.req.raw, { params: c.req.param() }));

if (process.argv[1] === import.meta.filename) serve({ fetch: app.fetch, port: 3000 });
