import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import { register, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { apify, createReceiver, firecrawl, importRows, sqliteStore, webScraper, webScraperData, type AnyProvider, type Receiver } from '../../src/index.ts';
import { firecrawlDelivery, sendDelivery, webScraperApiMock, webScraperDelivery, type TestDelivery, type WebScraperApiMock } from '../../src/testing/index.ts';
import { prometheusMetrics } from '../../src/telemetry/prometheus.ts';

const secret = 'fc-webhook-secret-0123456789';
type Closable = Pick<Receiver<AnyProvider>, 'close' | 'nodeHandler'>;
const receivers: Closable[] = [];
const dirs: string[] = [];
let api: WebScraperApiMock | undefined;
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close({ timeoutMs: 1000 })));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  await api?.close();
  api = undefined;
});

function track<R extends Closable>(receiver: R): R {
  receivers.push(receiver);
  return receiver;
}

/** The value of one series read back from the registry, as a scraper would get it. */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  if (!metric) throw new Error(`no metric ${name}`);
  const match = (metric.values as { value: number; labels: Record<string, string | number>; metricName?: string }[]).filter(
    (v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  return match.length === 0 ? undefined : match.reduce((sum, v) => sum + v.value, 0);
}

const send = (hooks: Closable, delivery: TestDelivery) => sendDelivery(hooks.nodeHandler(), delivery);

describe('prometheusMetrics()', () => {
  it('counts accepted, duplicate, 401 and 400 deliveries, observes ack latency, retries and dead letters', async () => {
    const registry = new Registry();
    const hooks = track(createReceiver({ provider: firecrawl({ secret }), retry: { attempts: 2, minDelayMs: 1, maxDelayMs: 2 } }));
    let failing = false;
    hooks.onAny(() => {
      if (failing) throw new Error('database down');
    });
    expect(prometheusMetrics(hooks, { registry })).toBe(registry);

    const ok = firecrawlDelivery({ secret, type: 'crawl.page' });
    expect((await send(hooks, ok)).status).toBe(202);
    expect((await send(hooks, ok)).status).toBe(200);
    expect((await send(hooks, firecrawlDelivery({ secret: 'not-the-secret', type: 'crawl.page' }))).status).toBe(401);
    expect((await send(hooks, firecrawlDelivery({ secret, body: '{"type":' }))).status).toBe(400);
    await hooks.onIdle();
    failing = true;
    expect((await send(hooks, firecrawlDelivery({ secret, type: 'crawl.completed' }))).status).toBe(202);
    await hooks.onIdle();

    const fc = { receiver: 'firecrawl', provider: 'firecrawl' };
    expect(await value(registry, 'scrapehook_deliveries_received_total', fc)).toBe(5);
    expect(await value(registry, 'scrapehook_deliveries_accepted_total', fc)).toBe(2);
    expect(await value(registry, 'scrapehook_deliveries_duplicates_total', fc)).toBe(1);
    expect(await value(registry, 'scrapehook_deliveries_rejected_total', { ...fc, code: 'unauthorized', status: '401' })).toBe(1);
    expect(await value(registry, 'scrapehook_deliveries_rejected_total', { ...fc, code: 'entity.parse.failed', status: '400' })).toBe(1);
    expect(await value(registry, 'scrapehook_deliveries_succeeded_total', fc)).toBe(1);
    expect(await value(registry, 'scrapehook_retries_total', fc)).toBe(1);
    expect(await value(registry, 'scrapehook_dead_letters', fc)).toBe(1);
    expect(await value(registry, 'scrapehook_deliveries_queued', fc)).toBe(0);
    expect(await value(registry, 'scrapehook_deliveries_running', fc)).toBe(0);

    // Every answer timed once, by outcome.
    expect(await value(registry, 'scrapehook_ack_duration_seconds', { ...fc, outcome: 'accepted', le: '+Inf' })).toBe(2);
    expect(await value(registry, 'scrapehook_ack_duration_seconds', { ...fc, outcome: 'duplicate', le: '+Inf' })).toBe(1);
    expect(await value(registry, 'scrapehook_ack_duration_seconds', { ...fc, outcome: 'rejected', le: '+Inf' })).toBe(2);
    // One attempt of crawl.page succeeded; crawl.completed failed twice (a retry, then the dead letter).
    expect(await value(registry, 'scrapehook_handler_duration_seconds', { ...fc, event_type: 'crawl.page', outcome: 'succeeded', le: '+Inf' })).toBe(1);
    expect(await value(registry, 'scrapehook_handler_duration_seconds', { ...fc, event_type: 'crawl.completed', outcome: 'failed', le: '+Inf' })).toBe(2);

    const text = await registry.metrics();
    expect(text).toContain('# TYPE scrapehook_ack_duration_seconds histogram');
    expect(text).toContain('# TYPE scrapehook_deliveries_rejected_total counter');
    // Labels are bounded: no delivery id, no secret.
    expect(text).not.toContain(secret);
    expect(text).not.toContain(JSON.parse(ok.body.toString()).webhookId as string);
  });

  it('labels an event type the provider does not know as other', async () => {
    const registry = new Registry();
    const hooks = track(createReceiver({ provider: firecrawl({ secret }) }));
    hooks.onAny(() => {});
    prometheusMetrics(hooks, { registry });
    const invented = firecrawlDelivery({ secret, body: { success: true, type: 'crawl.invented-by-sender-7f3a', id: 'job-1', webhookId: 'wh-1', data: [] } });
    expect((await send(hooks, invented)).status).toBe(202);
    await hooks.onIdle();
    expect(await value(registry, 'scrapehook_handler_duration_seconds', { event_type: 'other', outcome: 'succeeded', le: '+Inf' })).toBe(1);
    expect(await registry.metrics()).not.toContain('invented');
  });

  it('reads the dead letters a SQLite store kept across a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'scrapehook-metrics-'));
    dirs.push(dir);
    const file = path.join(dir, 'hooks.db');
    const first = createReceiver({ provider: firecrawl({ secret }), store: sqliteStore({ path: file }), retry: { attempts: 1 } });
    first.onAny(() => {
      throw new Error('always fails');
    });
    prometheusMetrics(first, { registry: new Registry() });
    expect((await send(first, firecrawlDelivery({ secret }))).status).toBe(202);
    expect((await send(first, firecrawlDelivery({ secret }))).status).toBe(202);
    await first.onIdle();
    await first.close();

    // A new process: a new receiver on the same file, a new registry, no request yet.
    const registry = new Registry();
    const second = track(createReceiver({ provider: firecrawl({ secret }), store: sqliteStore({ path: file }) }));
    prometheusMetrics(second, { registry });
    await second.onIdle();
    expect(await value(registry, 'scrapehook_dead_letters', { receiver: 'firecrawl' })).toBe(2);
    expect(await value(registry, 'scrapehook_deliveries_received_total', { receiver: 'firecrawl' })).toBe(0);
    // A replay that succeeds takes one out of the store, and out of the gauge.
    await second.replay((await second.deadLetters())[0]!.id);
    expect(await value(registry, 'scrapehook_dead_letters', { receiver: 'firecrawl' })).toBe(1);
  });

  it('counts the rows and bytes importRows wrote, by source', async () => {
    const apiToken = 'wsc-api-token-secret';
    const token = 'url-token-secret';
    const rows = Array.from({ length: 25 }, (_, i) => ({ title: `Item ${i}` }));
    api = await webScraperApiMock({ token: apiToken, jobs: [{ id: 7, rows }] });
    const registry = new Registry();
    const hooks = track(createReceiver({ provider: webScraper({ token }) }));
    const written: unknown[] = [];
    hooks.on('scrapingjob.finished', importRows(webScraperData({ apiToken, baseUrl: api.apiUrl }), { batchSize: 10, write: (batch) => void written.push(...batch) }));
    prometheusMetrics(hooks, { registry });
    expect((await send(hooks, webScraperDelivery({ token, tokenIn: 'query', payload: { scrapingjob_id: '7' } }))).status).toBe(202);
    await hooks.onIdle();
    expect(written).toHaveLength(25);
    const [imported] = hooks.stats().imports;
    expect(await value(registry, 'scrapehook_import_rows_total', { receiver: 'webscraper', source: 'webscraper' })).toBe(25);
    expect(await value(registry, 'scrapehook_import_bytes_total', { receiver: 'webscraper', source: 'webscraper' })).toBe(imported!.bytes);
    expect(imported!.bytes).toBeGreaterThan(0);
    const text = await registry.metrics();
    expect(text).not.toContain(token);
    expect(text).not.toContain(apiToken);
  });

  it('exposes several receivers on one registry, also over two calls, and refuses a second registry', async () => {
    const registry = new Registry();
    const a = track(createReceiver({ provider: firecrawl({ secret }), name: 'team-a' }));
    const b = track(createReceiver({ provider: firecrawl({ secret }), name: 'team-b' }));
    prometheusMetrics(a, { registry });
    prometheusMetrics([a, b], { registry });
    expect((await send(b, firecrawlDelivery({ secret }))).status).toBe(202);
    expect(await value(registry, 'scrapehook_deliveries_accepted_total', { receiver: 'team-a' })).toBe(0);
    expect(await value(registry, 'scrapehook_deliveries_accepted_total', { receiver: 'team-b' })).toBe(1);
    expect(() => prometheusMetrics(a, { registry: new Registry() })).toThrow(TypeError);
    expect(() => prometheusMetrics({ name: 'x', provider: firecrawl({ secret }), stats: a.stats } as never, { registry })).toThrow(/createReceiver/);
    expect(() => prometheusMetrics(a, { registry, prefix: 'bad-prefix' })).toThrow(TypeError);
  });

  it('uses a prefix of your own', async () => {
    const registry = new Registry();
    const hooks = track(createReceiver({ provider: firecrawl({ secret }) }));
    prometheusMetrics(hooks, { registry, prefix: 'hooks_' });
    expect((await send(hooks, firecrawlDelivery({ secret }))).status).toBe(202);
    expect(await value(registry, 'hooks_deliveries_accepted_total')).toBe(1);
  });

  it('README example: a /metrics route on the default registry shows the receivers', async () => {
    const secretA = 'whsec-a';
    const firecrawlHooks = track(createReceiver({ provider: firecrawl({ secret: secretA }) }));
    const apifyHooks = track(createReceiver({ provider: apify({ token: 'url-token' }) }));
    const app = express();
    app.all('/webhooks/firecrawl', firecrawlHooks.middleware());
    try {
      // --- as in the README ---
      prometheusMetrics([firecrawlHooks, apifyHooks], { registry: register }); // your app's registry
      app.get('/metrics', async (_req, res) => res.type(register.contentType).send(await register.metrics()));
      // ---
      expect((await sendDelivery(app, firecrawlDelivery({ secret: secretA }))).status).toBe(202);
      const server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`);
        expect(res.headers.get('content-type')).toContain('text/plain');
        const text = await res.text();
        expect(text).toContain('scrapehook_deliveries_accepted_total{receiver="firecrawl",provider="firecrawl"} 1');
        expect(text).toContain('scrapehook_deliveries_accepted_total{receiver="apify",provider="apify"} 0');
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      register.clear();
    }
  });
});
