import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apify, createReceiver, firecrawl, standardWebhooks, thordata, webScraper, type AnyProvider } from '../../src/index.ts';
import {
  apifyDelivery,
  firecrawlDelivery,
  firecrawlSamples,
  runEvent,
  sendDelivery,
  standardWebhookDelivery,
  webScraperDelivery,
  webScraperSamples,
} from '../../src/testing/index.ts';
import { providerKits } from '../../src/testing/kits.ts';
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

describe('provider kits (what scrapehook send builds with)', () => {
  it('every built-in provider has a kit whose default delivery its receiver accepts', async () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const receivers: Record<string, [AnyProvider, string]> = {
      firecrawl: [firecrawl({ secret: 's' }), '/webhooks/firecrawl'],
      apify: [apify({ token: 't' }), '/webhooks/apify/:token'],
      thordata: [thordata({ token: 't' }), '/webhooks/thordata/:token'],
      webscraper: [webScraper({ token: 't' }), '/webhooks/webscraper/:token'],
      'standard-webhooks': [standardWebhooks({ secret, data: z.record(z.string(), z.unknown()) }), '/webhooks/standard'],
    };
    expect(providerKits.map((kit) => kit.name).sort()).toEqual(Object.keys(receivers).sort());
    for (const kit of providerKits) {
      const [provider, path] = receivers[kit.name]!;
      const hooks = track(createReceiver({ provider }));
      const credentials = kit.name === 'firecrawl' ? { secret: 's' } : kit.name === 'standard-webhooks' ? { secret } : { token: 't' };
      const res = await sendDelivery(hooks.nodeHandler({ path }), kit.build(credentials));
      expect(res.status, `${kit.name}: ${res.text}`).toBe(202);
    }
  });

  it('webscraper: each built delivery is a new notification (a fresh job id), as each send must be', () => {
    const kit = providerKits.find((k) => k.name === 'webscraper')!;
    const jobId = () => new URLSearchParams(kit.build({ token: 't' }).body.toString()).get('scrapingjob_id');
    expect(jobId()).not.toBe(jobId());
  });

  it('standard-webhooks: a later attempt keeps the id and body and is signed anew with its own timestamp', async () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const kit = providerKits.find((k) => k.name === 'standard-webhooks')!;
    const hooks = track(createReceiver({ provider: standardWebhooks({ secret, data: z.record(z.string(), z.unknown()) }) }));
    // Built an hour ago: outside the 5-minute tolerance, as a retry resent unchanged would be.
    const first = standardWebhookDelivery({ secret, type: 'order.paid', timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect((await sendDelivery(hooks.nodeHandler(), first)).status).toBe(401);
    const again = kit.reattempt!(first, { secret });
    expect(again.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(again.body).toEqual(first.body);
    const res = await sendDelivery(hooks.nodeHandler(), again);
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ id: first.headers['webhook-id'] });
  });
});
