import { readFileSync } from 'node:fs';
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
    app.all('/webhooks/firecrawl', hooks.middleware()); // all methods: a GET gets 405 with Allow: POST
    // ---

    const delivery = firecrawlDelivery({ secret: 'whsec-test', type: 'crawl.page', path: '/webhooks/firecrawl' });
    const res = await sendDelivery(app, delivery);
    expect(res.status).toBe(202);
    await hooks.close();
    expect(saved).toHaveLength(1);
    expect(typeof saved[0]).toBe('string');
  });

  it("quick start: a GET to the documented mount answers 405 with Allow: POST, as promised", async () => {
    const hooks = createReceiver({ provider: firecrawl({ secret: 'whsec-test' }) });
    // --- the README's mount ---
    const app = express();
    app.all('/webhooks/firecrawl', hooks.middleware()); // all methods: a GET gets 405 with Allow: POST
    // ---
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/webhooks/firecrawl`);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(await res.json()).toEqual({ error: { code: 'method.not.allowed', message: 'Only POST is accepted' } });
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await hooks.close();
    }
  });

  it('mounts middleware() with app.all everywhere the README and the examples show it (app.post would make a GET 404)', () => {
    const files = ['README.md', 'examples/demo-app.ts', 'examples/custom-provider.ts'];
    const mounts = files.flatMap((file) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8').match(/\bapp\.\w+\([^)]*\.middleware\(\)\)/g) ?? []);
    expect(mounts.length).toBeGreaterThanOrEqual(10);
    expect(mounts.filter((mount) => !mount.startsWith('app.all('))).toEqual([]);
  });
});
