import { afterEach, describe, expect, it } from 'vitest';
import { ImportError } from '../../src/import/errors.ts';
import type { Batch } from '../../src/import/types.ts';
import { webScraperData, type WebScraperDataOptions } from '../../src/import/web-scraper.ts';
import { webScraperApiMock, type MockFault, type WebScraperApiMock } from '../../src/testing/index.ts';
import { receivedRequests } from '../helpers/mock-requests.ts';
import { recorder } from '../helpers/recorder.ts';

const apiToken = 'wsc-Secret+Token/123';
const fast = { minDelayMs: 1, maxDelayMs: 5, stallTimeoutMs: 300 };
let api: WebScraperApiMock | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});


const rows = Array.from({ length: 25 }, (_, i) => ({ title: `Item ${i}`, note: i === 3 ? 'two\nlines, "quoted"' : `n${i}`, price: i % 5 === 0 ? null : i }));

async function start(jobs: { id: number; rows?: typeof rows | { count: number; row(i: number): Record<string, unknown> } }[], faults: MockFault[] = [], extra: Partial<Parameters<typeof webScraperApiMock>[0]> = {}) {
  api = await webScraperApiMock({ token: apiToken, jobs, faults, ...extra });
  return api;
}
const source = (options: Partial<WebScraperDataOptions> = {}) => webScraperData({ apiToken, baseUrl: api!.apiUrl, retry: fast, ...options });

async function collect<T>(iterable: AsyncIterable<Batch<T>>): Promise<Batch<T>[]> {
  const out: Batch<T>[] = [];
  for await (const batch of iterable) out.push(batch);
  return out;
}
const orders = (batches: Batch<Record<string, unknown>>[]) => batches.flatMap((b) => b.rows.map((r) => r['web-scraper-order']));
const expected = (n: number, id = 7) => Array.from({ length: n }, (_, i) => `${id}-${i + 1}`);

describe('webScraperData', () => {
  it('reads the JSON Lines download as batches with stable index, firstRow and cursor', async () => {
    await start([{ id: 7, rows }]);
    const batches = await collect(source().read({ jobId: 7 }, { batchSize: 10 }));
    expect(batches.map((b) => [b.index, b.firstRow, b.rows.length, b.jobId])).toEqual([[0, 0, 10, '7'], [1, 10, 10, '7'], [2, 20, 5, '7']]);
    expect(batches.map((b) => b.cursor)).toEqual([{ batches: 1, rows: 10 }, { batches: 2, rows: 20 }, { batches: 3, rows: 25 }]);
    expect(batches[0]!.rows[3]).toEqual({ 'web-scraper-order': '7-4', 'web-scraper-start-url': 'https://example.com/', ...rows[3] });
    expect(batches.reduce((n, b) => n + b.bytes, 0)).toBeGreaterThan(1000);
  });

  it('takes the job id from finished and stopped notifications (failed only when asked)', async () => {
    await start([]);
    const event = (status: string) => ({ type: `scrapingjob.${status}`, payload: { scrapingjob_id: 1234, status } });
    expect(source().refOf(event('finished'))).toEqual({ jobId: 1234 });
    expect(source().refOf(event('stopped'))).toEqual({ jobId: 1234 });
    expect(source().refOf(event('failed'))).toBeUndefined();
    expect(source({ statuses: ['failed'] }).refOf(event('failed'))).toEqual({ jobId: 1234 });
    expect(source().jobIdOf({ jobId: 1234 })).toBe('1234');
  });

  it('reads an empty body (a job without data) as zero rows', async () => {
    await start([{ id: 8 }]);
    expect(await collect(source().read({ jobId: 8 }))).toEqual([]);
    expect(await collect(source({ format: 'csv' }).read({ jobId: 8 }))).toEqual([]);
  });

  it.each([
    ['429 without Retry-After', { kind: 'status', status: 429 }],
    ['503', { kind: 'status', status: 503 }],
    ['a body cut with Content-Length', { kind: 'truncate' }],
    ['a chunked body cut without its last chunk', { kind: 'truncate', chunked: true }],
    ['a well-formed chunked body that ends mid-line', { kind: 'truncate', chunked: true, graceful: true }],
    ['a stalled body', { kind: 'stall' }],
  ] as const)('retries %s and ends with every row once', async (_name, fault) => {
    await start([{ id: 7, rows }], [{ path: '/json', requests: [1, 2], fault: fault as MockFault['fault'] }]);
    const batches = await collect(source().read({ jobId: 7 }, { batchSize: 10 }));
    expect(orders(batches)).toEqual(expected(25));
    expect(batches.map((b) => b.firstRow)).toEqual([0, 10, 20]);
    expect(api!.requests.filter((r) => r.path.endsWith('/json'))).toHaveLength(3);
  });

  it('honours Retry-After on 429', async () => {
    await start([{ id: 7, rows }], [{ path: '/json', requests: 1, fault: { kind: 'status', status: 429, retryAfter: 1 } }]);
    const began = Date.now();
    const batches = await collect(source({ retry: { ...fast, minDelayMs: 1 } }).read({ jobId: 7 }));
    expect(orders(batches)).toEqual(expected(25));
    expect(Date.now() - began).toBeGreaterThanOrEqual(900);
  });

  it('waits out the documented rate limit (200 per 15 min) through the 429 Retry-After of the API', async () => {
    let now = 0;
    await start([{ id: 7, rows }], [], { rateLimit: { limit: 1, windowMs: 1000 }, now: () => now });
    expect(orders(await collect(source().read({ jobId: 7 })))).toEqual(expected(25));
    now = 500; // the second call is over the limit until the window ends
    const reading = collect(source().read({ jobId: 7 }));
    await receivedRequests(api!, 2); // the second was answered 429 at now = 500
    now = 1000;
    expect(orders(await reading)).toEqual(expected(25));
    expect(api!.requests.length).toBe(3);
  });

  it('never reports a download that keeps breaking off as complete: import.truncated, retryable', async () => {
    await start([{ id: 7, rows }], [{ path: '/json', fault: { kind: 'truncate', chunked: true, graceful: true, at: 700 } }]);
    const seen: number[] = [];
    const error = await (async () => {
      for await (const batch of source({ retry: { ...fast, attempts: 3 } }).read({ jobId: 7 }, { batchSize: 1 })) seen.push(batch.firstRow);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportError);
    expect(error).toMatchObject({ code: 'import.truncated', retryable: true, provider: 'webscraper', jobId: '7' });
    expect(seen.length).toBeLessThan(25);
  });

  it('fails a wrong token at once with import.unauthorized, the token in no message nor log line', async () => {
    await start([{ id: 7, rows }]);
    const { logger, lines } = recorder();
    const wrong = `${apiToken}-old`;
    const error = await collect(webScraperData({ apiToken: wrong, baseUrl: api!.apiUrl, retry: fast }).read({ jobId: 7 }, { logger })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportError);
    expect(error).toMatchObject({ code: 'import.unauthorized', retryable: false, status: 401, provider: 'webscraper', jobId: '7' });
    const text = `${(error as Error).message}\n${(error as Error).stack}\n${String((error as Error).cause)}\n${lines.join('\n')}`;
    expect((error as Error).message).toMatch(/webscraper.*job 7.*apiToken/);
    for (const secret of [wrong, apiToken, encodeURIComponent(apiToken)]) expect(text).not.toContain(secret);
    expect(api!.requests).toHaveLength(1);
  });

  it('fails a deleted job at once with import.not.found', async () => {
    await start([{ id: 7, rows }]);
    const error = await collect(source().read({ jobId: 99 })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'import.not.found', retryable: false, status: 404 });
    expect(api!.requests).toHaveLength(1);
  });

  it('resumes after a cursor with the same remaining batches (index, firstRow, rows)', async () => {
    await start([{ id: 7, rows }]);
    const all = await collect(source().read({ jobId: 7 }, { batchSize: 4 }));
    const resumed = await collect(source().read({ jobId: 7 }, { batchSize: 4, after: all[2]!.cursor }));
    expect(resumed).toEqual(all.slice(3).map((b) => ({ ...b, bytes: expect.any(Number) })));
    const csvAll = await collect(source({ format: 'csv' }).read({ jobId: 7 }, { batchSize: 4 }));
    const csvResumed = await collect(source({ format: 'csv' }).read({ jobId: 7 }, { batchSize: 4, after: csvAll[4]!.cursor }));
    expect(csvResumed.map((b) => [b.index, b.firstRow, b.rows])).toEqual(csvAll.slice(5).map((b) => [b.index, b.firstRow, b.rows]));
  });

  it('resumes a job whose data grew since ("Continue"): the new rows come after, nothing twice', async () => {
    await start([{ id: 7, rows }]);
    const first = await collect(source().read({ jobId: 7 }, { batchSize: 10 }));
    api!.push(7, { title: 'late 1' }, { title: 'late 2' });
    const resumed = await collect(source().read({ jobId: 7 }, { batchSize: 10, after: first[1]!.cursor }));
    expect(resumed.map((b) => [b.index, b.firstRow])).toEqual([[2, 20]]);
    expect(orders([...first.slice(0, 2), ...resumed])).toEqual(expected(27));
  });

  it('reads CSV: BOM, CRLF, quoted newlines and quotes, the literal null as null; retries a cut inside a quoted field, a cut connection, a stall', async () => {
    await start([{ id: 7, rows }], [
      { path: '/csv', requests: 1, fault: { kind: 'truncate', chunked: true, graceful: true, at: 320 } },
      { path: '/csv', requests: 2, fault: { kind: 'truncate' } },
      { path: '/csv', requests: 3, fault: { kind: 'stall' } },
    ]);
    const batches = await collect(source({ format: 'csv' }).read({ jobId: 7 }, { batchSize: 100 }));
    const got = batches.flatMap((b) => b.rows);
    expect(got).toHaveLength(25);
    expect(Object.keys(got[0]!)).toEqual(['web-scraper-order', 'web-scraper-start-url', 'title', 'note', 'price']);
    expect(got[3]).toEqual({ 'web-scraper-order': '7-4', 'web-scraper-start-url': 'https://example.com/', title: 'Item 3', note: 'two\nlines, "quoted"', price: '3' });
    expect(got[5]!.price).toBeNull();
    expect(api!.requests.filter((r) => r.path.endsWith('/csv'))).toHaveLength(4);
  });

  it('deletes the job in complete() only with deleteJob, and a repeated delete (404) counts as done', async () => {
    await start([{ id: 7, rows }]);
    await source().complete({ jobId: 7 });
    expect(api!.requests).toHaveLength(0);
    await source({ deleteJob: true }).complete({ jobId: 7 });
    expect(api!.deleted.has(7)).toBe(true);
    await source({ deleteJob: true }).complete({ jobId: 7 });
    expect(api!.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['DELETE /api/v1/scraping-job/7', 'DELETE /api/v1/scraping-job/7']);
  });

  it('reads gzip-encoded downloads', async () => {
    await start([{ id: 7, rows }], [], { gzip: true });
    expect(orders(await collect(source().read({ jobId: 7 })))).toEqual(expected(25));
  });

  it('stops promptly when the signal aborts, and does not read ahead of the consumer', async () => {
    await start([{ id: 7, rows: { count: 1_000_000, row: (i) => ({ i }) } }]);
    const controller = new AbortController();
    const iterator = source().read({ jobId: 7 }, { batchSize: 10, signal: controller.signal })[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatchObject({ index: 0 });
    controller.abort(new Error('shutting down'));
    await expect(iterator.next()).rejects.toThrow('shutting down');
  });

  it('rejects bad options with a TypeError', () => {
    expect(() => webScraperData({ apiToken: '' })).toThrow(TypeError);
    expect(() => webScraperData({ apiToken, format: 'xlsx' as 'json' })).toThrow(/format/);
    expect(() => webScraperData({ apiToken, baseUrl: 'nope' })).toThrow(/baseUrl/);
  });
});
