import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { firecrawlApiMock, type FirecrawlApiMock } from '../../../src/testing/index.ts';

const apiKey = 'fc-secret';
const auth = { authorization: `Bearer ${apiKey}` };
let api: FirecrawlApiMock;
afterEach(() => api?.close());

interface Page { success: boolean; status: string; completed: number; total: number; next?: string; data: { metadata: { scrapeId: string } }[]; expiresAt: string }
const page = async (url: string, headers: Record<string, string> = auth) => {
  const res = await fetch(url, { headers });
  return { status: res.status, res, body: (await res.json()) as Page & { error?: string } };
};

describe('firecrawlApiMock', () => {
  it('answers 401 without a valid Bearer fc- key', async () => {
    api = await firecrawlApiMock({ apiKey, jobs: [{ id: 'c1', documents: 1 }] });
    for (const headers of [{}, { authorization: 'Bearer fc-wrong' }, { authorization: apiKey }] as Record<string, string>[]) {
      const res = await page(`${api.url}/v2/crawl/c1`, headers);
      expect([res.status, res.body]).toEqual([401, { success: false, error: 'Unauthorized: Invalid token' }]);
    }
  });

  it('pages 100 documents by default with an absolute next from the Host header, omitted at the end', async () => {
    api = await firecrawlApiMock({ apiKey, jobs: [{ id: 'c1', documents: 250 }] });
    const first = await page(`${api.url}/v2/crawl/c1`);
    expect(first.body).toMatchObject({ success: true, status: 'completed', completed: 250, total: 250, next: `${api.url}/v2/crawl/c1?skip=100` });
    expect(first.body.data).toHaveLength(100);
    expect(first.body.data[0]).toEqual(api.document('c1', 0));
    const ids = new Set<string>();
    let url: string | undefined = `${api.url}/v2/crawl/c1?limit=60`;
    let last: Page | undefined;
    while (url) {
      last = (await page(url)).body;
      for (const doc of last.data) ids.add(doc.metadata.scrapeId);
      url = last.next;
    }
    expect(ids.size).toBe(250);
    expect(last).not.toHaveProperty('next'); // the key is absent, not null
    expect(api.requests.map((r) => r.url).slice(1)).toEqual(['/v2/crawl/c1?limit=60', '/v2/crawl/c1?skip=60&limit=60', '/v2/crawl/c1?skip=120&limit=60', '/v2/crawl/c1?skip=180&limit=60', '/v2/crawl/c1?skip=240&limit=60']);

    // next follows the Host the client used
    const other = await new Promise<string>((resolve, reject) => {
      http.get(`${api.url}/v2/crawl/c1`, { headers: { ...auth, host: 'api.example.test' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c)).on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect((JSON.parse(other) as Page).next).toBe('http://api.example.test/v2/crawl/c1?skip=100');
  });

  it('serves batch scrapes and v1 the same way; a crawl id is not a batch id', async () => {
    api = await firecrawlApiMock({ apiKey, jobs: [{ id: 'b1', kind: 'batch', documents: 3 }, { id: 'c1', documents: 2 }] });
    const batch = await page(`${api.url}/v2/batch/scrape/b1?limit=2`);
    expect(batch.body.next).toBe(`${api.url}/v2/batch/scrape/b1?skip=2&limit=2`);
    expect((await page(`${api.url}/v1/crawl/c1?limit=1`)).body.next).toBe(`${api.url}/v1/crawl/c1?skip=1&limit=1`);
    expect((await page(`${api.url}/v2/crawl/b1`)).body).toEqual({ success: false, error: 'Job not found' });
  });

  it('rejects bad pagination with 400 Invalid pagination', async () => {
    api = await firecrawlApiMock({ apiKey, jobs: [{ id: 'c1', documents: 2 }] });
    for (const query of ['limit=0', 'limit=1001', 'limit=abc', 'skip=-1']) {
      const res = await page(`${api.url}/v2/crawl/c1?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/^Invalid pagination: /);
    }
    expect((await page(`${api.url}/v2/crawl/c1?limit=1000`)).status).toBe(200);
  });

  it('caps a page by summed document bytes, moving the crossing document on unless it is alone', async () => {
    const big = (i: number) => ({ markdown: 'z'.repeat(i === 1 ? 5000 : 1000), metadata: { scrapeId: `s${i}`, sourceURL: 'u', url: 'u', statusCode: 200 } });
    api = await firecrawlApiMock({ apiKey, pageBytes: 2500, jobs: [{ id: 'c1', documents: [big(0), big(1), big(2), big(3)] }] });
    const sizes: number[] = [];
    let url: string | undefined = `${api.url}/v2/crawl/c1`;
    while (url) {
      const { body } = await page(url);
      sizes.push(body.data.length);
      url = body.next;
    }
    expect(sizes).toEqual([1, 1, 2]); // [s0] (s1 crosses), [s1] alone, [s2, s3]
  });

  it('keeps next while still scraping, and later pages gain documents', async () => {
    api = await firecrawlApiMock({ apiKey, jobs: [{ id: 'c1', status: 'scraping', documents: [api0()], total: 3 }] });
    const first = await page(`${api.url}/v2/crawl/c1`);
    expect(first.body).toMatchObject({ status: 'scraping', completed: 1, total: 3, next: `${api.url}/v2/crawl/c1?skip=1` });
    const empty = await page(first.body.next!);
    expect(empty.body.data).toEqual([]);
    expect(empty.body.next).toBe(`${api.url}/v2/crawl/c1?skip=1`);
    api.push('c1', api.document('c1', 1), api.document('c1', 2));
    api.setStatus('c1', 'completed');
    const rest = await page(first.body.next!);
    expect(rest.body.data.map((d) => d.metadata.scrapeId)).toEqual([api.document('c1', 1).metadata.scrapeId, api.document('c1', 2).metadata.scrapeId]);
    expect(rest.body).not.toHaveProperty('next');
    function api0() {
      return { markdown: '# 0', metadata: { scrapeId: 'first', sourceURL: 'https://example.com/', url: 'https://example.com/', statusCode: 200 } };
    }
  });

  it('answers 404 Job not found for unknown ids and Job expired after the TTL', async () => {
    let clock = Date.parse('2026-12-01T00:00:00Z');
    api = await firecrawlApiMock({ apiKey, ttlMs: 60_000, now: () => clock, jobs: [{ id: 'c1', documents: 1 }] });
    expect((await page(`${api.url}/v2/crawl/c1`)).body.expiresAt).toBe('2026-12-01T00:01:00.000Z');
    expect((await page(`${api.url}/v2/crawl/zzz`)).body).toEqual({ success: false, error: 'Job not found' });
    clock += 60_001;
    const expired = await page(`${api.url}/v2/crawl/c1`);
    expect([expired.status, expired.body]).toEqual([404, { success: false, error: 'Job expired' }]);
    expect((await page(`${api.url}/v2/crawl/c1/errors`)).status).toBe(404);
  });

  it('serves /errors (no success key) and extract status', async () => {
    const errors = [{ id: 'j9', url: 'https://example.com/x', code: 'SCRAPE_TIMEOUT', error: 'Timed out' }];
    api = await firecrawlApiMock({ apiKey, jobs: [{ id: 'c1', errors, robotsBlocked: ['https://example.com/private'] }], extracts: [{ id: 'e1', data: { price: 3 } }] });
    const res = (await page(`${api.url}/v2/crawl/c1/errors`)).body as unknown as Record<string, unknown>;
    expect(res).toEqual({ errors: [{ ...errors[0], timestamp: expect.any(String) }], robotsBlocked: ['https://example.com/private'] });
    expect((await page(`${api.url}/v2/extract/e1`)).body).toMatchObject({ success: true, status: 'completed', data: { price: 3 } });
    expect((await page(`${api.url}/v2/extract/e2`)).status).toBe(404);
  });

  it('injects 429 with the "retry after Ns" text, Retry-After only when asked, concurrency 429, and 502/503/504', async () => {
    api = await firecrawlApiMock({
      apiKey,
      jobs: [{ id: 'c1', documents: 150 }],
      faults: [
        { path: '/v2/crawl/c1', requests: 2, fault: { kind: 'status', status: 429 } },
        { path: '/v2/crawl/c1', requests: 3, fault: { kind: 'status', status: 429, retryAfter: 2 } },
        { path: '/v2/crawl/c1', requests: 4, fault: { kind: 'status', status: 429, message: 'Concurrency limit reached' } },
        { path: '/v2/crawl/c1', requests: [5, 6, 7], fault: { kind: 'status', status: 502 } },
      ],
    });
    const first = await page(`${api.url}/v2/crawl/c1`);
    const plain = await page(first.body.next!); // a 429 on the next page
    expect(plain.status).toBe(429);
    expect(plain.res.headers.get('retry-after')).toBeNull();
    expect(plain.body.error).toMatch(/^Rate limit exceeded\. .*please retry after 7s, resets at /);
    const header = await page(first.body.next!);
    expect([header.status, header.res.headers.get('retry-after')]).toEqual([429, '2']);
    expect(header.body.error).toMatch(/retry after 2s/);
    expect((await page(first.body.next!)).body).toEqual({ success: false, error: 'Concurrency limit reached' });
    expect((await page(first.body.next!)).body).toMatchObject({ success: false });
    await api.close();
    for (const status of [503, 504]) {
      api = await firecrawlApiMock({ apiKey, jobs: [{ id: 'c1' }], faults: [{ fault: { kind: 'status', status } }] });
      expect((await page(`${api.url}/v2/crawl/c1`)).status).toBe(status);
      await api.close();
    }
  });
});
