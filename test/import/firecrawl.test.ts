import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ImportError } from '../../src/import/errors.ts';
import { firecrawlDocuments, type FirecrawlDocumentsOptions } from '../../src/import/firecrawl.ts';
import type { Batch } from '../../src/import/types.ts';
import { firecrawlApiMock, type FirecrawlApiMock, type FirecrawlApiMockOptions, type FirecrawlMockDocument } from '../../src/testing/index.ts';
import { collect } from '../helpers/batches.ts';
import { recordingLogger } from '../helpers/recorder.ts';

const apiKey = 'fc-secret-key-456';
let api: FirecrawlApiMock;
const servers: http.Server[] = [];
afterEach(async () => {
  await api?.close();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

const start = async (options: FirecrawlApiMockOptions) => (api = await firecrawlApiMock({ apiKey, ...options }));
const source = (extra: Partial<FirecrawlDocumentsOptions> = {}) => firecrawlDocuments({ apiKey, baseUrl: api.url, retryDelayMs: 1, ...extra });
const ids = (docs: readonly { metadata?: { scrapeId?: unknown } }[]) => docs.map((d) => d.metadata?.scrapeId);
const generated = (jobId: string, n: number) => Array.from({ length: n }, (_, i) => api.document(jobId, i));



const statusRequests = () => api.requests.filter((r) => /\/(crawl|scrape)\/[^/]+$/.test(r.path));

describe('firecrawlDocuments', () => {
  it('reads every status page following next until it is absent, in batches, with Bearer auth', async () => {
    await start({ jobs: [{ id: 'c1', documents: 250 }] });
    const batches = await collect(source().read({ jobId: 'c1', kind: 'crawl' }, { batchSize: 60 }));
    expect(batches.map((b) => [b.index, b.firstRow, b.rows.length, b.cursor])).toEqual([
      [0, 0, 60, { batches: 1, rows: 60, position: 60 }],
      [1, 60, 60, { batches: 2, rows: 120, position: 120 }],
      [2, 120, 60, { batches: 3, rows: 180, position: 180 }],
      [3, 180, 60, { batches: 4, rows: 240, position: 240 }],
      [4, 240, 10, { batches: 5, rows: 250, position: 250 }],
    ]);
    expect(ids(batches.flatMap((b) => b.rows))).toEqual(ids(generated('c1', 250)));
    expect(statusRequests().map((r) => r.url)).toEqual(['/v2/crawl/c1', '/v2/crawl/c1?skip=100', '/v2/crawl/c1?skip=200']);
    expect(api.requests.every((r) => r.headers.authorization === `Bearer ${apiKey}` && !r.url.includes(apiKey))).toBe(true);
  });

  it('reads a batch scrape from /v2/batch/scrape/{id}, and refOf maps the completed events', async () => {
    await start({ jobs: [{ id: 'b1', kind: 'batch', documents: 3 }] });
    const s = source();
    const ref = s.refOf({ type: 'batch_scrape.completed', payload: { id: 'b1', data: [] } });
    expect(ref).toEqual({ jobId: 'b1', kind: 'batch' });
    expect((await collect(s.read(ref!))).flatMap((b) => b.rows)).toHaveLength(3);
    expect(statusRequests().map((r) => r.path)).toEqual(['/v2/batch/scrape/b1']);
    expect(s.refOf({ type: 'crawl.completed', payload: { id: 'c9', data: [] } })).toEqual({ jobId: 'c9', kind: 'crawl' });
    for (const type of ['crawl.page', 'crawl.started', 'extract.completed', 'crawl.failed']) expect(s.refOf({ type, payload: { id: 'c9' } })).toBeUndefined();
  });

  it('deduplicates documents repeated across pages by metadata.scrapeId', async () => {
    api = await firecrawlApiMock({ apiKey, jobs: [{ id: 'c1', documents: [] }] });
    const [a, b, c] = generated('c1', 3) as [FirecrawlMockDocument, FirecrawlMockDocument, FirecrawlMockDocument];
    await api.close();
    await start({ jobs: [{ id: 'c1', documents: [a, b, a, c, b, c] }], pageBytes: JSON.stringify(a).length * 2 + 10 });
    const batches = await collect(source().read({ jobId: 'c1', kind: 'crawl' }, { batchSize: 2 }));
    expect(batches.map((x) => ids(x.rows))).toEqual([ids([a, b]), ids([c])]);
    expect(statusRequests().length).toBe(3);
  });

  it('honours a 429 Retry-After header, and the "retry after Ns" of the error text without one; retries 5xx', async () => {
    await start({
      jobs: [{ id: 'c1', documents: 250 }],
      faults: [
        { path: /crawl\/c1$/, requests: 1, fault: { kind: 'status', status: 429, retryAfter: 1 } },
        { path: /crawl\/c1$/, requests: 2, fault: { kind: 'status', status: 429, message: 'Rate limit exceeded. Consumed (req/min): 501, Remaining (req/min): 0. Please retry after 2s, resets at Mon' } },
        { path: /crawl\/c1$/, requests: 3, fault: { kind: 'status', status: 429, message: 'Concurrency limit reached' } },
        { path: /crawl\/c1$/, requests: [5, 6], fault: { kind: 'status', status: 502 } },
        { path: /crawl\/c1$/, requests: 7, fault: { kind: 'status', status: 503 } },
      ],
    });
    const log = recordingLogger();
    const batches = await collect(source().read({ jobId: 'c1', kind: 'crawl' }, { logger: log.logger }));
    expect(ids(batches.flatMap((b) => b.rows))).toEqual(ids(generated('c1', 250)));
    const warnings = log.lines.filter((l) => l.level === 'warn').map((l) => l.obj as { status?: number; waitMs: number });
    expect(warnings.map((w) => w.status)).toEqual([429, 429, 429, 502, 502, 503]);
    expect(warnings.slice(0, 2).map((w) => w.waitMs)).toEqual([1000, 2000]);
    expect(warnings[2]!.waitMs).toBeLessThan(10); // no hint: the backoff from retryDelayMs
  });

  it('retries a failure in the middle of pagination, and fails with import.unavailable rather than truncate silently', async () => {
    await start({ jobs: [{ id: 'c1', documents: 250 }], faults: [{ path: /crawl\/c1$/, requests: [2, 3, 4], fault: { kind: 'truncate' } }] });
    const seen: Batch[] = [];
    const error = await (async () => {
      for await (const batch of source({ maxRetries: 2 }).read({ jobId: 'c1', kind: 'crawl' }, { batchSize: 100 })) seen.push(batch);
    })().catch((e: unknown) => e);
    expect(seen.map((b) => b.cursor.position)).toEqual([100]);
    expect(error).toBeInstanceOf(ImportError);
    expect(error).toMatchObject({ code: 'import.truncated', provider: 'firecrawl', jobId: 'c1', retryable: true });
    expect((error as Error).message).toMatch(/^firecrawl: crawl c1: the answer was cut off/);
    // The next attempt resumes after the last batch written and ends with every document.
    const rest = await collect(source().read({ jobId: 'c1', kind: 'crawl' }, { batchSize: 100, after: seen[0]!.cursor }));
    expect(ids([...seen, ...rest].flatMap((b) => b.rows))).toEqual(ids(generated('c1', 250)));
  });

  it('abandons a stalled status page after timeoutMs and asks it again', async () => {
    await start({ jobs: [{ id: 'c1', documents: 150 }], faults: [{ path: /crawl\/c1$/, requests: 2, fault: { kind: 'stall' } }] });
    const log = recordingLogger();
    const batches = await collect(source({ timeoutMs: 300 }).read({ jobId: 'c1', kind: 'crawl' }, { logger: log.logger }));
    expect(ids(batches.flatMap((b) => b.rows))).toEqual(ids(generated('c1', 150)));
    expect(statusRequests().map((r) => r.url)).toEqual(['/v2/crawl/c1', '/v2/crawl/c1?skip=100', '/v2/crawl/c1?skip=100']);
    expect((log.lines[0]!.obj as { code: string }).code).toBe('import.unavailable');
  });

  it('resumes from any batch\'s cursor with the same remaining batches', async () => {
    await start({ jobs: [{ id: 'c1', documents: 230 }] });
    const all = await collect(source().read({ jobId: 'c1', kind: 'crawl' }, { batchSize: 70 }));
    for (let k = 0; k < all.length; k++) {
      const rest = await collect(source().read({ jobId: 'c1', kind: 'crawl' }, { batchSize: 70, after: all[k]!.cursor }));
      expect(rest.map((b) => ({ ...b, bytes: 0 }))).toEqual(all.slice(k + 1).map((b) => ({ ...b, bytes: 0 })));
    }
  });

  it('fails at once with import.not.found on an expired or unknown job, saying results live 24 hours', async () => {
    const now = Date.now();
    await start({ jobs: [{ id: 'old', documents: 5, completedAt: now - 25 * 3600_000 }] });
    const expired = await collect(source().read({ jobId: 'old', kind: 'crawl' })).catch((e: unknown) => e);
    expect(expired).toMatchObject({ name: 'ImportError', code: 'import.not.found', status: 404, retryable: false, jobId: 'old' });
    expect((expired as Error).message).toMatch(/^firecrawl: crawl old: Job expired \(HTTP 404\)\. Firecrawl keeps a job's results for 24 hours/);
    const unknown = await collect(source().read({ jobId: 'nope', kind: 'batch' })).catch((e: unknown) => e);
    expect((unknown as Error).message).toMatch(/^firecrawl: batch scrape nope: Job not found/);
    expect(statusRequests()).toHaveLength(2);
  });

  it('fails at once with import.unauthorized on a wrong key, the key in no message nor log', async () => {
    api = await firecrawlApiMock({ apiKey: 'fc-right', jobs: [{ id: 'c1', documents: 5 }] });
    const log = recordingLogger();
    const error = await collect(firecrawlDocuments({ apiKey, baseUrl: api.url }).read({ jobId: 'c1', kind: 'crawl' }, { logger: log.logger })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'import.unauthorized', status: 401, retryable: false });
    expect(api.requests).toHaveLength(1);
    expect(JSON.stringify({ m: (error as Error).message, s: (error as Error).stack, l: log.lines })).not.toContain(apiKey);
  });

  it('asks every page from baseUrl: a next naming another host gets neither the key nor a request', async () => {
    const elsewhere: http.IncomingMessage[] = [];
    const other = http.createServer((req, res) => {
      elsewhere.push(req);
      res.end('{}');
    });
    servers.push(other);
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const seen: string[] = [];
    const doc = (n: number) => ({ markdown: `#${n}`, metadata: { scrapeId: `s${n}`, sourceURL: `https://e.x/${n}`, url: `https://e.x/${n}`, statusCode: 200 } });
    const main = http.createServer((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization}`);
      const skip = Number(new URL(req.url!, 'http://x').searchParams.get('skip') ?? 0);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(skip === 0 ? { success: true, status: 'completed', completed: 2, total: 2, next: `${otherUrl}/v2/crawl/c1?skip=1`, data: [doc(0)] } : { success: true, status: 'completed', completed: 2, total: 2, data: [doc(1)] }));
    });
    servers.push(main);
    await new Promise<void>((resolve) => main.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(main.address() as AddressInfo).port}`;
    const batches = await collect(firecrawlDocuments({ apiKey, baseUrl }).read({ jobId: 'c1', kind: 'crawl' }));
    expect(ids(batches.flatMap((b) => b.rows))).toEqual(['s0', 's1']);
    expect(seen).toEqual([`/v2/crawl/c1 Bearer ${apiKey}`, `/v2/crawl/c1?skip=1 Bearer ${apiKey}`]);
    expect(elsewhere).toHaveLength(0);
  });

  it('throws a TypeError that names baseUrl when it is not an absolute URL', () => {
    expect(() => firecrawlDocuments({ apiKey, baseUrl: 'localhost:3002' })).toThrow(new TypeError('Expected `baseUrl` to be an absolute http(s) URL, got "localhost:3002"'));
  });

  it('fails with the retryable import.not.ready when the job is still scraping and has nothing new', async () => {
    await start({ jobs: [{ id: 'c1', status: 'scraping', documents: 3 }] });
    const seen: Batch[] = [];
    const error = await (async () => {
      for await (const batch of source().read({ jobId: 'c1', kind: 'crawl' }, { batchSize: 3 })) seen.push(batch);
    })().catch((e: unknown) => e);
    expect(seen).toHaveLength(1);
    expect(error).toMatchObject({ code: 'import.not.ready', retryable: true });
  });
});
