import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createDemoApp } from '../../examples/demo-app.ts';
import {
  apifyDelivery,
  firecrawlDelivery,
  sendDelivery,
  standardWebhookDelivery,
  thordataDelivery,
  webScraperDelivery,
} from '../../src/testing/index.ts';
import { startDemo } from '../helpers/demo-process.ts';

const env = {
  FIRECRAWL_WEBHOOK_SECRET: 'demo-firecrawl-secret',
  APIFY_WEBHOOK_TOKEN: 'demo-apify-token',
  THORDATA_WEBHOOK_TOKEN: 'demo-thordata-token',
  WEBSCRAPER_WEBHOOK_TOKEN: 'demo-webscraper-token',
  STANDARD_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
};

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('examples/demo-app.ts', () => {
  it('responds 202 to one delivery per provider, logs one JSON line each, and imports the finished job', async () => {
    const lines: string[] = [];
    const fetched: number[] = [];
    const demo = createDemoApp(env, {
      write: (line) => void lines.push(line),
      log: () => {},
      fetchJobRecords: async (jobId) => {
        fetched.push(jobId);
        return [{ row: 1 }, { row: 2 }];
      },
    });
    const server = http.createServer(demo.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup = async () => {
      await demo.close();
      await new Promise((resolve) => server.close(resolve));
    };
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(demo.generated).toEqual({});

    const deliveries = [
      firecrawlDelivery({ secret: env.FIRECRAWL_WEBHOOK_SECRET }),
      apifyDelivery({ token: env.APIFY_WEBHOOK_TOKEN }),
      thordataDelivery({ token: env.THORDATA_WEBHOOK_TOKEN }),
      webScraperDelivery({ token: env.WEBSCRAPER_WEBHOOK_TOKEN }),
      standardWebhookDelivery({ secret: env.STANDARD_WEBHOOK_SECRET, type: 'crawl.page', data: { url: 'https://example.com' } }),
    ];
    for (const delivery of deliveries) {
      expect((await sendDelivery(base, delivery)).status, delivery.path).toBe(202);
    }
    expect((await sendDelivery(base, webScraperDelivery({ token: 'wrong' }))).status).toBe(401);
    await Promise.all(Object.values(demo.receivers).map((hooks) => hooks.onIdle()));

    const logged = lines.map((line) => JSON.parse(line) as { provider: string; type: string; id: string });
    expect(logged.map(({ provider, type }) => `${provider} ${type}`).sort()).toEqual([
      'apify ACTOR.RUN.SUCCEEDED',
      'firecrawl crawl.page',
      'standard-webhooks crawl.page',
      'thordata ACTOR.RUN.SUCCEEDED',
      'webscraper scrapingjob.finished',
    ]);
    for (const entry of logged) expect(entry.id).toEqual(expect.any(String));
    // Ids and types only: no payload reaches the log (Thordata's carries the account key).
    expect(lines.join('\n')).not.toContain('apiKey');
    expect(fetched).toEqual([1234]);

    const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get(`${base}/healthz`, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({
      status: 'ok',
      imported: { jobs: 1, records: 2 },
      receivers: { firecrawl: { accepted: 1 }, webscraper: { accepted: 1, rejected: { unauthorized: 1 } }, standard: { accepted: 1 } },
    });
  });

  it('answers 405 with Allow: POST, not Express 404, to a GET on every webhook route', async () => {
    const demo = createDemoApp(env, { write: () => {} });
    const server = http.createServer(demo.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup = async () => {
      await demo.close();
      await new Promise((resolve) => server.close(resolve));
    };
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const path of ['/webhooks/firecrawl', '/webhooks/apify/t', '/webhooks/thordata/t', '/webhooks/webscraper/t', '/webhooks/standard']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(405);
      expect(res.headers.get('allow'), path).toBe('POST');
      expect(await res.json()).toMatchObject({ error: { code: 'method.not.allowed' } });
    }
  });

  it('generates the secrets that are not set', () => {
    const demo = createDemoApp({}, { write: () => {} });
    cleanup = () => demo.close();
    expect(Object.keys(demo.generated).sort()).toEqual([
      'APIFY_WEBHOOK_TOKEN',
      'FIRECRAWL_WEBHOOK_SECRET',
      'STANDARD_WEBHOOK_SECRET',
      'THORDATA_WEBHOOK_TOKEN',
      'WEBSCRAPER_WEBHOOK_TOKEN',
    ]);
    expect(demo.generated.STANDARD_WEBHOOK_SECRET).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(new Set(Object.values(demo.generated)).size).toBe(5);
  });

  it('prints each rejection to stderr with its status and code, never the secret or the URL token', async () => {
    const lines: string[] = [];
    const demo = createDemoApp(env, { write: () => {}, log: (line) => void lines.push(line) });
    const server = http.createServer(demo.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup = async () => {
      await demo.close();
      await new Promise((resolve) => server.close(resolve));
    };
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const wrongToken = 'not-the-token-7f3a9c';
    expect((await sendDelivery(base, webScraperDelivery({ token: wrongToken }))).status).toBe(401);
    expect((await sendDelivery(base, firecrawlDelivery({ secret: 'not-the-secret' }))).status).toBe(401);
    const invalid = apifyDelivery({ token: env.APIFY_WEBHOOK_TOKEN, body: { eventType: 'ACTOR.RUN.SUCCEEDED' } });
    expect((await sendDelivery(base, invalid)).status).toBe(400);
    expect((await sendDelivery(base, thordataDelivery({ token: env.THORDATA_WEBHOOK_TOKEN }))).status).toBe(202);

    expect(lines).toEqual(['rejected webscraper: 401 unauthorized', 'rejected firecrawl: 401 unauthorized', 'rejected apify: 400 payload.invalid']);
    const printed = lines.join('\n');
    for (const secret of [wrongToken, 'not-the-secret', ...Object.values(env)]) expect(printed).not.toContain(secret);
  });

  it('npm start: a rejection is one stderr line, without the token the URL carried', async () => {
    const demo = await startDemo();
    cleanup = () => demo.stop();
    expect(Object.keys(demo.exported).sort()).toEqual(Object.keys(env).sort());
    const wrongToken = 'not-the-token-5be21d';
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${demo.url}/webhooks/apify/${wrongToken}`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume().on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject).end('{}');
    });
    expect(status).toBe(401);
    await demo.waitForStderr(/^rejected apify: 401 unauthorized$/m);
    expect(demo.stderr()).not.toContain(wrongToken);
  });
});
