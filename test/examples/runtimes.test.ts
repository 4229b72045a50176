// The README's per-runtime examples (examples/runtimes/), run as a user runs them.
import { createAdaptorServer } from '@hono/node-server';
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { apifyDelivery, firecrawlDelivery, sendDelivery, type TestDelivery } from '../../src/testing/index.ts';

const SECRET = 'example-firecrawl-secret';
const TOKEN = 'example-apify-token';

beforeAll(() => {
  vi.stubEnv('FIRECRAWL_WEBHOOK_SECRET', SECRET);
  vi.stubEnv('APIFY_WEBHOOK_TOKEN', TOKEN);
  // The examples' handlers print what they got.
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

const toRequest = (delivery: TestDelivery): Request =>
  new Request(`http://localhost${delivery.path}`, { method: 'POST', headers: delivery.headers, body: delivery.body });

describe('examples/runtimes', () => {
  it('hono.ts: a signed Firecrawl delivery and an Apify delivery with its token in the path are answered 202 and handled', async () => {
    const { app, firecrawlHooks, apifyHooks } = await import('../../examples/runtimes/hono.ts');
    const pages = vi.fn();
    const runs = vi.fn();
    firecrawlHooks.on('crawl.page', pages);
    apifyHooks.on('ACTOR.RUN.SUCCEEDED', runs);
    const server = createAdaptorServer({ fetch: app.fetch }) as http.Server;
    expect((await sendDelivery(server, firecrawlDelivery({ secret: SECRET, type: 'crawl.page' }))).status).toBe(202);
    expect((await sendDelivery(server, apifyDelivery({ token: TOKEN, type: 'ACTOR.RUN.SUCCEEDED' }))).status).toBe(202);
    expect((await sendDelivery(server, apifyDelivery({ token: 'wrong', type: 'ACTOR.RUN.SUCCEEDED' }))).status).toBe(401);
    await Promise.all([firecrawlHooks.onIdle(), apifyHooks.onIdle()]);
    expect(pages).toHaveBeenCalledOnce();
    expect(runs).toHaveBeenCalledOnce();
    await Promise.all([firecrawlHooks.close(), apifyHooks.close()]);
  });

  it('nextjs route.ts: POST answers a signed delivery 202 and the handler runs; it asks for the Node.js runtime', async () => {
    const route = await import('../../examples/runtimes/nextjs/app/api/webhooks/firecrawl/route.ts');
    const { hooks } = await import('../../examples/runtimes/nextjs/lib/hooks.ts');
    const pages = vi.fn();
    hooks.on('crawl.page', pages);
    expect(route.runtime).toBe('nodejs');
    const res = await route.POST(toRequest(firecrawlDelivery({ secret: SECRET, type: 'crawl.page' })), { params: Promise.resolve({}) });
    expect(res.status).toBe(202);
    const forged = await route.POST(toRequest(firecrawlDelivery({ secret: 'not-the-secret', type: 'crawl.page' })));
    expect(forged.status).toBe(401);
    await hooks.onIdle();
    expect(pages).toHaveBeenCalledOnce();
    await hooks.close();
  });

  it('fastify.ts: both registered routes answer over a real port, and close() closes the receivers', async () => {
    const { buildApp, firecrawlHooks, apifyHooks } = await import('../../examples/runtimes/fastify.ts');
    const runs = vi.fn();
    apifyHooks.on('ACTOR.RUN.SUCCEEDED', runs);
    const app = await buildApp();
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      expect((await sendDelivery(url, firecrawlDelivery({ secret: SECRET, type: 'crawl.page' }))).status).toBe(202);
      expect((await sendDelivery(url, apifyDelivery({ token: TOKEN, type: 'ACTOR.RUN.SUCCEEDED' }))).status).toBe(202);
      await apifyHooks.onIdle();
      expect(runs).toHaveBeenCalledOnce();
    } finally {
      await app.close();
    }
    const { body, headers } = firecrawlDelivery({ secret: SECRET, type: 'crawl.page' });
    // Closed with the app: a late delivery is answered 503.
    const late = await firecrawlHooks.fetchHandler()(new Request('http://localhost/', { method: 'POST', headers, body }));
    expect(late.status).toBe(503);
  });
});
