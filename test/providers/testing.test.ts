import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createReceiver, firecrawl, standardWebhooks, webScraper } from '../../src/index.ts';
import {
  apifyDelivery,
  firecrawlDelivery,
  firecrawlSamples,
  runEvent,
  sendDelivery,
  webScraperDelivery,
  webScraperSamples,
} from '../../src/testing/index.ts';
import { appWith, track } from './helpers.ts';

describe('scrapehook/testing builders', () => {
  it('builds a new notification per call and the same bytes when reused', () => {
    const a = firecrawlDelivery({ secret: 's' });
    const b = firecrawlDelivery({ secret: 's' });
    expect(JSON.parse(a.body.toString()).webhookId).not.toBe(JSON.parse(b.body.toString()).webhookId);
    expect(a).toMatchObject({ method: 'POST', path: '/webhooks/firecrawl', headers: { 'content-type': 'application/json' } });
    expect(a.headers['x-firecrawl-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('puts the token where asked', () => {
    expect(apifyDelivery({ token: 't/1' }).path).toBe('/webhooks/apify/t%2F1');
    expect(apifyDelivery({ token: 't', tokenIn: 'query', path: '/in?x=1' }).path).toBe('/in?x=1&token=t');
    expect(apifyDelivery({ token: 't', tokenIn: 'header' }).headers.authorization).toBe('Bearer t');
    expect(webScraperDelivery({ token: 't' }).body.toString()).toBe(new URLSearchParams(webScraperSamples['scrapingjob.finished']).toString());
  });

  it('builds unsigned Firecrawl deliveries with a token, signed ones with both, and refuses neither', () => {
    const unsigned = firecrawlDelivery({ token: 't/1' });
    expect(unsigned.path).toBe('/webhooks/firecrawl/t%2F1');
    expect(unsigned.headers).not.toHaveProperty('x-firecrawl-signature');
    expect(firecrawlDelivery({ token: 't', tokenIn: 'header' }).headers.authorization).toBe('Bearer t');
    const both = firecrawlDelivery({ secret: 's', token: 't', tokenIn: 'query' });
    expect(both.path).toBe('/webhooks/firecrawl?token=t');
    expect(both.headers['x-firecrawl-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(() => firecrawlDelivery({} as never)).toThrow(TypeError);
  });
});

describe('sendDelivery()', () => {
  it('responds 202 through a server that is already listening, addressed by URL', async () => {
    const hooks = track(createReceiver({ provider: webScraper({ token: 'tok' }) }));
    const server = http.createServer(appWith(hooks, '/webhooks/webscraper/:token'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await sendDelivery(`http://127.0.0.1:${port}`, webScraperDelivery({ token: 'tok' }));
      expect(res.status).toBe(202);
      expect(res.json).toEqual({ id: '1234:finished' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('rejects when no answer comes within timeoutMs, as a sender gives up', async () => {
    const server = http.createServer(() => {});
    try {
      await expect(sendDelivery(server, webScraperDelivery({ token: 't' }), { timeoutMs: 50 })).rejects.toThrow(/within 50 ms/);
    } finally {
      server.closeAllConnections();
    }
  });
});

describe('runEvent()', () => {
  it('runs the handlers on the realistic sample, validated, without HTTP', async () => {
    const hooks = track(createReceiver({ provider: firecrawl({ secret: 's' }) }));
    const urls: (string | undefined)[] = [];
    hooks.on('crawl.page', ({ payload }) => void urls.push(payload.data[0]?.metadata?.sourceURL));
    await runEvent(hooks, 'crawl.page');
    await runEvent(hooks, 'crawl.page', { ...firecrawlSamples['crawl.page'], data: [{ metadata: { sourceURL: 'https://example.com/b' } }] } as never);
    expect(urls).toEqual(['https://example.com/pricing', 'https://example.com/b']);
  });

  it('rejects with the handler error, and with payload.invalid for a payload that fails its schema', async () => {
    const hooks = track(createReceiver({ provider: webScraper({ token: 't' }) }));
    hooks.on('scrapingjob.failed', () => {
      throw new Error('import failed');
    });
    await expect(runEvent(hooks, 'scrapingjob.failed')).rejects.toThrow(/handler failed/);
    await expect(runEvent(hooks, 'scrapingjob.finished', { scrapingjob_id: 'x' } as never)).rejects.toMatchObject({ type: 'payload.invalid' });
  });

  it('throws a TypeError when there is no sample and no payload', () => {
    const hooks = track(createReceiver({ provider: standardWebhooks({ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }) }));
    expect(() => runEvent(hooks, 'anything')).toThrow(TypeError);
  });
});
