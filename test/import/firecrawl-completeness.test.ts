import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createReceiver, firecrawl, type Receiver } from '../../src/index.ts';
import { firecrawlCompleteness, type FirecrawlCompletenessOptions, type FirecrawlPagesInfo } from '../../src/import/firecrawl.ts';
import type { ImportState } from '../../src/import/types.ts';
import type { FirecrawlProvider } from '../../src/providers/firecrawl/index.ts';
import { firecrawlApiMock, firecrawlDelivery, sendDelivery, type FirecrawlApiMock, type FirecrawlApiMockOptions } from '../../src/testing/index.ts';
import type { HandlerContext } from '../../src/types.ts';

const apiKey = 'fc-secret-key-789';
const secret = 'webhook-secret';
let api: FirecrawlApiMock;
let hooks: Receiver<FirecrawlProvider> | undefined;
let server: http.Server | undefined;
afterEach(async () => {
  await hooks?.close();
  if (server) await new Promise((resolve) => server!.close(resolve));
  await api?.close();
  hooks = server = undefined;
});

/** A small in-memory ImportState: the receiver's backends implement the real ones. */
function memoryState(): ImportState {
  const values = new Map<string, string>();
  const sets = new Map<string, Set<string>>();
  return {
    get: async (key) => values.get(key),
    set: async (key, value) => void values.set(key, value),
    delete: async (key) => void values.delete(key),
    addToSet: async (key, members) => {
      const set = sets.get(key) ?? new Set();
      for (const m of members) set.add(m);
      sets.set(key, set);
    },
    members: async (key) => [...(sets.get(key) ?? [])],
  };
}

/** A Firecrawl receiver over real HTTP whose page handler counts every document it is handed. */
async function setUp(mock: FirecrawlApiMockOptions, extra: Partial<FirecrawlCompletenessOptions> = {}) {
  api = await firecrawlApiMock({ apiKey, ...mock });
  hooks = createReceiver({ provider: firecrawl({ secret }), retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 5 } });
  server = http.createServer(hooks.nodeHandler());
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const handled = new Map<string, number>();
  const from: Record<FirecrawlPagesInfo['from'], string[]> = { webhook: [], status: [] };
  const state = memoryState();
  const pages = firecrawlCompleteness({
    apiKey,
    baseUrl: api.url,
    retryDelayMs: 1,
    state,
    onPages(documents, info) {
      for (const doc of documents) {
        const id = doc.metadata!.scrapeId!;
        handled.set(id, (handled.get(id) ?? 0) + 1);
        from[info.from].push(id);
      }
    },
    ...extra,
  });
  pages.track(hooks);
  const send = async (type: 'crawl.page' | 'crawl.completed' | 'batch_scrape.page' | 'batch_scrape.completed', jobId: string, data: unknown[] = []) => {
    const res = await sendDelivery(server!, firecrawlDelivery({ secret, type, payload: { id: jobId, data } }));
    expect(res.status).toBe(202);
    await hooks!.onIdle();
  };
  return { pages, handled, from, send, state };
}

describe('firecrawlCompleteness', () => {
  it('a crawl whose page events were partly lost ends with every page handled exactly once, and the report says so', async () => {
    const { pages, handled, from, send } = await setUp({
      jobs: [{ id: 'c1', documents: 12, errors: [{ id: 'e1', url: 'https://example.com/broken', error: 'timeout', code: 'SCRAPE_TIMEOUT' }], robotsBlocked: ['https://example.com/private'] }],
      pageBytes: 800, // a few documents per status page
    });
    const docs = Array.from({ length: 12 }, (_, i) => api.document('c1', i));
    const lost = new Set([2, 5, 9]);
    for (let i = 0; i < 12; i++) if (!lost.has(i)) await send('crawl.page', 'c1', [docs[i]]);

    const before = await pages.report('c1');
    expect(before).toMatchObject({ jobId: 'c1', kind: 'crawl', listed: 12, received: 9, recovered: 0, complete: false });
    expect(before.missing).toEqual([...lost].map((i) => ({ scrapeId: docs[i]!.metadata.scrapeId, url: `https://example.com/page/${i}` })));
    expect(before.failed).toEqual([expect.objectContaining({ id: 'e1', url: 'https://example.com/broken', error: 'timeout', code: 'SCRAPE_TIMEOUT' })]);
    expect(before.robotsBlocked).toEqual(['https://example.com/private']);

    await send('crawl.completed', 'c1');
    // A lost page that turns up after the check is not handed twice.
    await send('crawl.page', 'c1', [docs[5]]);

    expect([...handled.keys()].sort()).toEqual(docs.map((d) => d.metadata.scrapeId).sort());
    expect([...handled.values()].every((n) => n === 1)).toBe(true);
    expect(from.status.sort()).toEqual([...lost].map((i) => docs[i]!.metadata.scrapeId).sort());
    expect(await pages.report('c1')).toMatchObject({ listed: 12, received: 9, recovered: 3, missing: [], complete: true });
    expect(api.requests.every((r) => r.headers.authorization === `Bearer ${apiKey}` && !r.url.includes(apiKey))).toBe(true);
  });

  it('a completion check that fails in the middle of the listing is retried and hands each missing page once', async () => {
    const { handled, send } = await setUp(
      { jobs: [{ id: 'c1', documents: 10 }], pageBytes: 800, faults: [{ path: /crawl\/c1$/, requests: 2, fault: { kind: 'status', status: 503 } }] },
      { maxRetries: 0 },
    );
    await send('crawl.page', 'c1', [api.document('c1', 0)]);
    await send('crawl.completed', 'c1');
    expect(hooks!.stats()).toMatchObject({ retried: 1, dead: 0 });
    expect(handled.size).toBe(10);
    expect([...handled.values()].every((n) => n === 1)).toBe(true);
  });

  it('works for batch scrapes', async () => {
    const { pages, handled, send } = await setUp({ jobs: [{ id: 'b1', kind: 'batch', documents: 4 }] });
    await send('batch_scrape.page', 'b1', [api.document('b1', 1)]);
    await send('batch_scrape.completed', 'b1');
    expect([...handled.values()]).toEqual([1, 1, 1, 1]);
    expect(await pages.report('b1', { kind: 'batch' })).toMatchObject({ listed: 4, received: 1, recovered: 3, complete: true });
  });

  it('needs durable state: a TypeError without one', async () => {
    api = await firecrawlApiMock({ apiKey });
    const pages = firecrawlCompleteness({ apiKey, baseUrl: api.url, onPages() {} });
    const ctx = { signal: new AbortController().signal, logger: console } as unknown as HandlerContext; // called outside a receiver: no importState
    await expect(pages.page({ type: 'crawl.page', payload: { id: 'c1', data: [] } }, ctx)).rejects.toThrow(TypeError);
    await expect(pages.report('c1')).rejects.toThrow(/import state/);
    expect(() => firecrawlCompleteness({ apiKey, onPages: undefined as never })).toThrow(TypeError);
  });
});
