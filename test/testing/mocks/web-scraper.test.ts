import { gunzipSync } from 'node:zlib';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { webScraperApiMock, type WebScraperApiMock } from '../../../src/testing/index.ts';

const token = 'wsc-secret';
let api: WebScraperApiMock;
afterEach(() => api?.close());

const rows = [
  { title: 'Plain', price: 10 },
  { title: 'Two\nlines, "quoted"', price: null },
];

async function get(path: string, init?: RequestInit) {
  const res = await fetch(`${api.apiUrl}${path}${path.includes('?') ? '&' : '?'}api_token=${token}`, init);
  return { res, text: await res.text() };
}

describe('webScraperApiMock', () => {
  it('rejects a missing or wrong api_token with 401 and success:false', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7, rows }] });
    for (const query of ['', '?api_token=', '?api_token=wrong']) {
      const res = await fetch(`${api.apiUrl}scraping-job/7${query}`);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ success: false });
    }
  });

  it('serves job info, JSON Lines with escaped inner newlines, and an empty body for a job without data', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7, rows, info: { custom_id: 'c-7' } }, { id: 8 }] });
    const info = await get('scraping-job/7');
    expect((await get('scraping-job/7/json?raw=true')).res.status).toBe(200); // accepted, what it changes is unconfirmed
    expect(JSON.parse(info.text)).toMatchObject({ success: true, data: { id: 7, custom_id: 'c-7', status: 'finished', stored_record_count: 2 } });

    const { text } = await get('scraping-job/7/json');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.split('\n');
    expect(lines).toHaveLength(3); // two records and the final terminator
    expect(lines[1]).toContain('Two\\nlines');
    expect(JSON.parse(lines[1]!)).toEqual({ 'web-scraper-order': '7-2', 'web-scraper-start-url': 'https://example.com/', ...rows[1] });

    const empty = await get('scraping-job/8/json');
    expect(empty.res.status).toBe(200);
    expect(empty.text).toBe('');
  });

  it('serves CSV with a BOM, CRLF line ends and RFC 4180 quoting with raw newlines', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7, rows }] });
    const res = await fetch(`${api.apiUrl}scraping-job/7/csv?api_token=${token}`);
    const text = Buffer.from(await res.arrayBuffer()).toString('utf8');
    expect(text.startsWith('\uFEFFweb-scraper-order,web-scraper-start-url,title,price\r\n')).toBe(true);
    expect(text).toContain('"7-2","https://example.com/","Two\nlines, ""quoted""","null"\r\n');
    expect(text.endsWith('\r\n')).toBe(true);
  });

  it('pages problematic URLs and the job list, with data: [] past the end', async () => {
    const problematicUrls = Array.from({ length: 5 }, (_, i) => ({ url: `https://example.com/${i}`, type: i % 2 ? 'empty' as const : 'failed' as const }));
    api = await webScraperApiMock({ token, perPage: 2, jobs: [{ id: 7, problematicUrls, info: { sitemap_id: 3 } }, { id: 8 }, { id: 9, info: { sitemap_id: 3 } }] });
    const page3 = JSON.parse((await get('scraping-job/7/problematic-urls?page=3')).text);
    expect(page3).toEqual({ success: true, data: [problematicUrls[4]], current_page: 3, last_page: 3, total: 5, per_page: 2 });
    expect(JSON.parse((await get('scraping-job/7/problematic-urls?page=4')).text)).toMatchObject({ data: [], current_page: 4, last_page: 3 });
    const jobs = JSON.parse((await get('scraping-jobs?page=1&sitemap_id=3')).text);
    expect(jobs).toMatchObject({ total: 2, last_page: 1 });
    expect(jobs.data.map((j: { id: number }) => j.id)).toEqual([7, 9]);
  });

  it('serves data quality; DELETE answers ok and the job is then 404', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7, rows }] });
    expect(JSON.parse((await get('scraping-job/7/data-quality')).text)).toMatchObject({ success: true, data: { min_record_count: { got: 2 }, overall_data_quality_success: true } });
    const deleted = await get('scraping-job/7', { method: 'DELETE' });
    expect(JSON.parse(deleted.text)).toEqual({ success: true, data: 'ok' });
    expect(api.deleted.has(7)).toBe(true);
    for (const path of ['scraping-job/7', 'scraping-job/7/json', 'scraping-job/7/csv']) {
      const after = await get(path);
      expect(after.res.status).toBe(404);
      expect(JSON.parse(after.text)).toMatchObject({ success: false });
    }
    expect((await get('scraping-job/99')).res.status).toBe(404);
  });

  it('counts calls per window with X-RateLimit-* headers, then 429 with Retry-After and X-RateLimit-Reset', async () => {
    let clock = 1_000_000;
    api = await webScraperApiMock({ token, jobs: [{ id: 7 }], rateLimit: { limit: 2, windowMs: 60_000 }, now: () => clock });
    const first = await get('scraping-job/7');
    expect([first.res.headers.get('x-ratelimit-limit'), first.res.headers.get('x-ratelimit-remaining')]).toEqual(['2', '1']);
    expect((await get('scraping-job/7')).res.headers.get('x-ratelimit-remaining')).toBe('0');
    clock += 15_000;
    const limited = await get('scraping-job/7');
    expect(limited.res.status).toBe(429);
    expect(JSON.parse(limited.text)).toMatchObject({ success: false });
    expect(limited.res.headers.get('retry-after')).toBe('45');
    expect(limited.res.headers.get('x-ratelimit-reset')).toBe(String((1_000_000 + 60_000) / 1000));
    expect(limited.res.headers.get('x-ratelimit-remaining')).toBe('0');
    clock += 45_000; // a new window
    expect((await get('scraping-job/7')).res.status).toBe(200);
  });

  it('gzips downloads when asked and the client accepts it', async () => {
    api = await webScraperApiMock({ token, gzip: true, jobs: [{ id: 7, rows }] });
    const body = await new Promise<{ encoding: string | undefined; bytes: Buffer }>((resolve, reject) => {
      http.get(`${api.apiUrl}scraping-job/7/json?api_token=${token}`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve({ encoding: res.headers['content-encoding'], bytes: Buffer.concat(parts) }));
      }).on('error', reject);
    });
    expect(body.encoding).toBe('gzip');
    expect(gunzipSync(body.bytes).toString().split('\n')).toHaveLength(3);
  });

  it('grows a job between downloads', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7, rows: rows.slice(0, 1) }] });
    expect((await get('scraping-job/7/json')).text.split('\n')).toHaveLength(2);
    api.push(7, { title: 'later' });
    const { text } = await get('scraping-job/7/json');
    expect(JSON.parse(text.split('\n')[1]!)).toMatchObject({ 'web-scraper-order': '7-2', title: 'later' });
  });

  it('jobFor: serves a job for an id it was not given, the same on every call, and it can be deleted', async () => {
    const asked: number[] = [];
    api = await webScraperApiMock({
      token,
      jobs: [{ id: 7, rows: rows.slice(0, 1) }],
      jobFor: (id) => {
        asked.push(id);
        return id === 404 ? undefined : { rows: { count: 3, row: (i) => ({ title: `Item ${i + 1} of ${id}` }) }, info: { custom_id: `c-${id}` } };
      },
    });
    const { text } = await get('scraping-job/9021/json');
    expect(text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([1, 2, 3].map((n) => ({
      'web-scraper-order': `9021-${n}`,
      'web-scraper-start-url': 'https://example.com/',
      title: `Item ${n} of 9021`,
    })));
    expect(JSON.parse((await get('scraping-job/9021')).text)).toMatchObject({ data: { id: 9021, custom_id: 'c-9021', stored_record_count: 3 } });
    expect((await get('scraping-job/7/json')).text.split('\n')).toHaveLength(2); // the given jobs come first
    expect((await get('scraping-job/404/json')).res.status).toBe(404); // jobFor answered undefined
    expect((await fetch(`${api.apiUrl}scraping-job/555/json?api_token=wrong`)).status).toBe(401); // no job made for a refused call
    expect(asked).toEqual([9021, 404]); // made once, then kept

    expect((await get('scraping-job/9021', { method: 'DELETE' })).res.status).toBe(200);
    expect(api.deleted.has(9021)).toBe(true);
    expect((await get('scraping-job/9021/json')).res.status).toBe(404); // deleted, not made again
  });

  it('records every request, so a test can see where the token went', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7 }] });
    await get('scraping-job/7', { headers: { 'user-agent': 'test' } });
    await fetch(`${api.url}/elsewhere`);
    expect(api.requests.map((r) => [r.method, r.path, r.query.api_token])).toEqual([['GET', '/api/v1/scraping-job/7', token], ['GET', '/elsewhere', undefined]]);
    expect(api.requestsWith(token).map((r) => r.path)).toEqual(['/api/v1/scraping-job/7']);
  });
});

describe('README example', () => {
  it('a first download cut short is seen, retried, and the job deleted', async () => {
    api = await webScraperApiMock({
      token: 'test-token',
      jobs: [{ id: 1234, rows: { count: 1000, row: (i) => ({ title: `Item ${i}` }) } }],
      faults: [{ path: '/json', requests: 1, fault: { kind: 'truncate' } }],
    });
    // a minimal importer: download until the body is whole, then delete the job
    let rows: unknown[] = [];
    for (let attempt = 0; attempt < 3 && rows.length === 0; attempt++) {
      try {
        const text = await (await fetch(`${api.apiUrl}scraping-job/1234/json?api_token=test-token`)).text();
        rows = text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
      } catch {
        // truncated: try again
      }
    }
    await fetch(`${api.apiUrl}scraping-job/1234?api_token=test-token`, { method: 'DELETE' });
    expect(rows).toHaveLength(1000);
    expect(api.requests.filter((r) => r.path.endsWith('/json'))).toHaveLength(2);
    expect(api.deleted.has(1234)).toBe(true);
  });
});
