import express from 'express';
import { describe, expect, it } from 'vitest';
import { createReceiver, firecrawl } from '../../src/index.ts';
import { firecrawlDelivery, sendDelivery } from '../../src/testing/index.ts';

describe('README', () => {
  it('quick start: a signed crawl.page reaches the typed handler after a 202', async () => {
    const saved: (string | undefined)[] = [];
    const savePage = async (markdown: string | undefined, _options: { signal: AbortSignal }) => void saved.push(markdown);

    // --- as in the README's first example ---
    const hooks = createReceiver({ provider: firecrawl({ secret: 'whsec-test' }) });
    hooks.on('crawl.page', async (event, ctx) => {
      await savePage(event.payload.data[0]?.markdown, { signal: ctx.signal });
    });
    const app = express();
    app.post('/webhooks/firecrawl', hooks.middleware());
    // ---

    const delivery = firecrawlDelivery({ secret: 'whsec-test', type: 'crawl.page', path: '/webhooks/firecrawl' });
    const res = await sendDelivery(app, delivery);
    expect(res.status).toBe(202);
    await hooks.close();
    expect(saved).toHaveLength(1);
    expect(typeof saved[0]).toBe('string');
  });
});
