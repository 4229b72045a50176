import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDemoApp, DEMO_BATCH_SIZE, DEMO_MOCK_ROWS } from '../../examples/demo-app.ts';
import {
  apifyDelivery,
  firecrawlDelivery,
  sendDelivery,
  standardWebhookDelivery,
  thordataDelivery,
  webScraperApiMock,
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

interface ImportEntry {
  provider: string;
  jobId: string;
  state: string;
  rows: number;
  batches: number;
  bytes: number;
}

async function healthz(base: string): Promise<{ status: string; imports: ImportEntry[]; receivers: Record<string, { accepted: number }> }> {
  const res = await fetch(`${base}/healthz`);
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

/** The batches the demo imports for a job of `rows` rows, as its stdout lines say. */
function batchLines(jobId: number, rows: number) {
  return Array.from({ length: Math.ceil(rows / DEMO_BATCH_SIZE) }, (_, batch) => ({
    provider: 'webscraper',
    jobId: String(jobId),
    batch,
    rows: Math.min(DEMO_BATCH_SIZE, rows - batch * DEMO_BATCH_SIZE),
  }));
}

async function listen(demo: Awaited<ReturnType<typeof createDemoApp>>): Promise<string> {
  const server = http.createServer(demo.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup = async () => {
    await demo.close();
    await new Promise((resolve) => server.close(resolve));
  };
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('examples/demo-app.ts', () => {
  it('responds 202 to one delivery per provider, logs one JSON line each, and imports the finished job from the built-in mock', async () => {
    const lines: string[] = [];
    const demo = await createDemoApp(env, { write: (line) => void lines.push(line), log: () => {} });
    const base = await listen(demo);
    expect(demo.generated).toEqual({});
    expect(demo.dataApi).toMatchObject({ kind: 'mock', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/$/) });

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

    // The import runs from the queue after the 202: /healthz shows it once its rows are in.
    await Promise.all(Object.values(demo.receivers).map((hooks) => hooks.onIdle()));
    expect((await healthz(base)).imports).toEqual([
      { provider: 'webscraper', jobId: '1234', state: 'done', rows: DEMO_MOCK_ROWS, batches: Math.ceil(DEMO_MOCK_ROWS / DEMO_BATCH_SIZE), bytes: expect.any(Number) },
    ]);

    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const events = parsed.filter((entry) => 'type' in entry) as { provider: string; type: string; id: string }[];
    expect(events.map(({ provider, type }) => `${provider} ${type}`).sort()).toEqual([
      'apify ACTOR.RUN.SUCCEEDED',
      'firecrawl crawl.page',
      'standard-webhooks crawl.page',
      'thordata ACTOR.RUN.SUCCEEDED',
      'webscraper scrapingjob.finished',
    ]);
    for (const entry of events) expect(entry.id).toEqual(expect.any(String));
    // One line per imported batch: counts only, never the rows.
    expect(parsed.filter((entry) => !('type' in entry))).toEqual(batchLines(1234, DEMO_MOCK_ROWS));
    expect(lines.join('\n')).not.toContain('Item 1 of job');
    // Ids and types only: no payload reaches the log (Thordata's carries the account key).
    expect(lines.join('\n')).not.toContain('apiKey');

    const health = await healthz(base);
    expect(health).toMatchObject({
      status: 'ok',
      receivers: { firecrawl: { accepted: 1 }, webscraper: { accepted: 1, rejected: { unauthorized: 1 } }, standard: { accepted: 1 } },
    });
    expect(health.imports[0]!.bytes).toBeGreaterThan(0);
  });

  it('imports any job id a notification names, a stopped job too, and not a failed one', async () => {
    const lines: string[] = [];
    const demo = await createDemoApp(env, { write: (line) => void lines.push(line), log: () => {} });
    const base = await listen(demo);
    const send = (type: 'scrapingjob.stopped' | 'scrapingjob.failed', id: string) =>
      sendDelivery(base, webScraperDelivery({ token: env.WEBSCRAPER_WEBHOOK_TOKEN, type, payload: { scrapingjob_id: id } }));
    expect((await send('scrapingjob.failed', '31')).status).toBe(202);
    expect((await send('scrapingjob.stopped', '9876543')).status).toBe(202);
    await demo.receivers.webscraper.onIdle();
    expect((await healthz(base)).imports).toEqual([expect.objectContaining({ jobId: '9876543', state: 'done', rows: DEMO_MOCK_ROWS })]);
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => !('type' in entry))).toEqual(batchLines(9876543, DEMO_MOCK_ROWS));
  });

  it('picks the data API: WEBSCRAPER_API_URL first, then WEBSCRAPER_API_TOKEN (the real API), else the built-in mock', async () => {
    const token = 'wsc-real-token-3d9a1f';
    const real = await createDemoApp({ ...env, WEBSCRAPER_API_TOKEN: token }, { write: () => {}, log: () => {} });
    await real.close();
    expect(real.dataApi).toMatchObject({ kind: 'webscraper', url: 'https://api.webscraper.io/api/v1/' });
    expect(real.dataApi.description).toContain('WEBSCRAPER_API_TOKEN');

    const own = await createDemoApp({ ...env, WEBSCRAPER_API_TOKEN: token, WEBSCRAPER_API_URL: 'http://user:pw@127.0.0.1:9/api/v1/?x=1' }, { write: () => {}, log: () => {} });
    await own.close();
    expect(own.dataApi).toMatchObject({ kind: 'url', url: 'http://127.0.0.1:9/api/v1/' });
    expect(own.dataApi.description).toContain('WEBSCRAPER_API_URL http://127.0.0.1:9/api/v1/ with WEBSCRAPER_API_TOKEN');
    for (const { description } of [real.dataApi, own.dataApi]) {
      expect(description).not.toContain(token);
      expect(description).not.toContain('pw');
    }

    const urlOnly = await createDemoApp({ ...env, WEBSCRAPER_API_URL: 'http://127.0.0.1:9/api/v1/' }, { write: () => {}, log: () => {} });
    await urlOnly.close();
    expect(urlOnly.dataApi.description).toContain("webScraperApiMock()'s default token");

    await expect(createDemoApp({ ...env, WEBSCRAPER_API_URL: 'not a url' })).rejects.toThrow(new TypeError('Expected WEBSCRAPER_API_URL to be an absolute URL (the API base, e.g. http://127.0.0.1:8080/api/v1/), got "not a url"'));
  });

  it('a token the API refuses: the delivery is a dead letter, stderr says why without the token, /healthz shows the import failed', async () => {
    const api = await webScraperApiMock({ token: 'the-right-token', jobs: [{ id: 1234, rows: [{ title: 'a' }] }] });
    const lines: string[] = [];
    const demo = await createDemoApp({ ...env, WEBSCRAPER_API_URL: api.apiUrl, WEBSCRAPER_API_TOKEN: 'wrong-token-0b7e55' }, { write: () => {}, log: (line) => void lines.push(line) });
    const base = await listen(demo);
    const close = cleanup!;
    cleanup = async () => {
      await close();
      await api.close();
    };
    expect((await sendDelivery(base, webScraperDelivery({ token: env.WEBSCRAPER_WEBHOOK_TOKEN }))).status).toBe(202);
    await demo.receivers.webscraper.onIdle();
    expect((await healthz(base)).imports).toEqual([expect.objectContaining({ jobId: '1234', state: 'failed', rows: 0 })]);
    expect(demo.receivers.webscraper.stats().dead).toBe(1);
    expect(lines.join('\n')).toMatch(/^error scrapehook: a delivery failed for good .*job 1234 .*401/m);
    expect(lines.join('\n')).not.toContain('wrong-token-0b7e55');
  });

  it('answers 405 with Allow: POST, not Express 404, to a GET on every webhook route', async () => {
    const base = await listen(await createDemoApp(env, { write: () => {}, log: () => {} }));
    for (const path of ['/webhooks/firecrawl', '/webhooks/apify/t', '/webhooks/thordata/t', '/webhooks/webscraper/t', '/webhooks/standard']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(405);
      expect(res.headers.get('allow'), path).toBe('POST');
      expect(await res.json()).toMatchObject({ error: { code: 'method.not.allowed' } });
    }
  });

  it('generates the secrets that are not set', async () => {
    const demo = await createDemoApp({}, { write: () => {} });
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
    const base = await listen(await createDemoApp(env, { write: () => {}, log: (line) => void lines.push(line) }));

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

  it('npm start: a Web Scraper Cloud notification ends with its rows imported from the built-in mock, shown in /healthz', async () => {
    const demo = await startDemo();
    cleanup = () => demo.stop();
    expect(demo.stderr()).toMatch(/^Web Scraper Cloud jobs are imported from the built-in mock at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/ /m);
    const delivery = webScraperDelivery({ token: demo.exported.WEBSCRAPER_WEBHOOK_TOKEN!, payload: { scrapingjob_id: '777001' } });
    expect((await sendDelivery(demo.url, delivery)).status).toBe(202);
    const last = batchLines(777001, DEMO_MOCK_ROWS).at(-1)!;
    await demo.waitForStdout(new RegExp(`^${JSON.stringify(last).replace(/[{}]/g, '\\$&')}$`, 'm'));
    // The last batch is written just before its import is marked done: in another process, so /healthz is polled.
    await vi.waitFor(
      async () => {
        expect((await healthz(demo.url)).imports).toEqual([expect.objectContaining({ provider: 'webscraper', jobId: '777001', state: 'done', rows: DEMO_MOCK_ROWS })]);
      },
      { timeout: 15_000, interval: 20 },
    );
  });

  it('npm start with WEBSCRAPER_API_URL and WEBSCRAPER_API_TOKEN imports from that API with that token, and never prints the token', async () => {
    const apiToken = 'wsc-own-api-token-6c0e2b';
    const rows = [{ title: 'a' }, { title: 'b' }, { title: 'c' }];
    const api = await webScraperApiMock({ token: apiToken, jobs: [{ id: 4321, rows }] });
    const demo = await startDemo({ WEBSCRAPER_API_URL: api.apiUrl, WEBSCRAPER_API_TOKEN: apiToken });
    cleanup = async () => {
      await demo.stop();
      await api.close();
    };
    expect(demo.stderr()).toContain(`Web Scraper Cloud jobs are imported from WEBSCRAPER_API_URL ${api.apiUrl} with WEBSCRAPER_API_TOKEN`);
    const delivery = webScraperDelivery({ token: demo.exported.WEBSCRAPER_WEBHOOK_TOKEN!, payload: { scrapingjob_id: '4321' } });
    expect((await sendDelivery(demo.url, delivery)).status).toBe(202);
    await demo.waitForStdout(/^\{"provider":"webscraper","jobId":"4321","batch":0,"rows":3\}$/m);
    await vi.waitFor(
      async () => {
        expect((await healthz(demo.url)).imports).toEqual([expect.objectContaining({ jobId: '4321', state: 'done', rows: 3, batches: 1 })]);
      },
      { timeout: 15_000, interval: 20 },
    );
    expect(api.requestsWith(apiToken).map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v1/scraping-job/4321/json']);
    expect(api.deleted.size).toBe(0); // the demo never deletes a job
    expect(demo.stdout()).not.toContain(apiToken);
    expect(demo.stderr()).not.toContain(apiToken);
  });
});
