import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { apifyApiMock, thordataApiMock, webScraperApiMock, type MockFault, type MockServer } from '../../../src/testing/index.ts';

const token = 'wsc-secret';
let api: MockServer & { apiUrl?: string };
afterEach(() => api?.close());

const rows = Array.from({ length: 200 }, (_, i) => ({ title: `row ${i}`, text: 'x'.repeat(50) }));
const jsonUrl = () => `${api.url}/api/v1/scraping-job/7/json?api_token=${token}`;
const withFaults = async (faults: MockFault[]) => (api = await webScraperApiMock({ token, jobs: [{ id: 7, rows }], faults }));

/** Reads a raw response with node:http, so a short body is seen as it arrived. */
function raw(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; error?: Error; complete: boolean }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const parts: Buffer[] = [];
      const done = (error?: Error) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), complete: res.complete, ...(error ? { error } : {}) });
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => done());
      res.on('error', done);
      res.on('aborted', () => done(new Error('aborted')));
    }).on('error', reject);
  });
}

describe('fault injection (shared by every mock)', () => {
  it('answers the chosen requests of a route with 429, with or without Retry-After, then serves normally', async () => {
    await withFaults([
      { path: '/json', requests: 1, fault: { kind: 'status', status: 429, retryAfter: 3 } },
      { path: '/json', requests: 2, fault: { kind: 'status', status: 429 } },
    ]);
    const first = await fetch(jsonUrl());
    expect([first.status, first.headers.get('retry-after')]).toEqual([429, '3']);
    expect(await first.json()).toMatchObject({ success: false });
    const second = await fetch(jsonUrl());
    expect([second.status, second.headers.get('retry-after')]).toEqual([429, null]);
    const third = await fetch(jsonUrl());
    expect(third.status).toBe(200);
    expect((await third.text()).split('\n')).toHaveLength(201);
    // other routes are untouched
    expect((await fetch(`${api.url}/api/v1/scraping-job/7?api_token=${token}`)).status).toBe(200);
  });

  it.each([500, 502, 503])('answers %i with the provider error body', async (status) => {
    await withFaults([{ path: /\/scraping-job\/7$/, method: 'DELETE', fault: { kind: 'status', status } }]);
    const res = await fetch(`${api.url}/api/v1/scraping-job/7?api_token=${token}`, { method: 'DELETE' });
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ success: false });
    expect((api as unknown as { deleted: Set<number> }).deleted.size).toBe(0); // the route's work was not done
  });

  it('truncates: full Content-Length declared, half sent, socket closed; fetch rejects the body', async () => {
    await withFaults([{ path: '/json', requests: [1, 2], fault: { kind: 'truncate' } }]);
    const full = rows.map((r, i) => JSON.stringify({ 'web-scraper-order': `7-${i + 1}`, 'web-scraper-start-url': 'https://example.com/', ...r }) + '\n').join('');
    const seen = await raw(jsonUrl());
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(full)));
    expect(seen.body.length).toBe(Math.floor(Buffer.byteLength(full) / 2));
    expect(seen.complete).toBe(false);
    const res = await fetch(jsonUrl());
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(await (await fetch(jsonUrl())).text()).toBe(full); // the third request is whole
  });

  it('truncates a chunked body: ended early without the final chunk, or gracefully as a short body', async () => {
    await withFaults([
      { path: '/json', requests: 1, fault: { kind: 'truncate', chunked: true, at: 100 } },
      { path: '/json', requests: 2, fault: { kind: 'truncate', chunked: true, at: 100, graceful: true } },
    ]);
    const aborted = await raw(jsonUrl());
    expect(aborted.headers['transfer-encoding']).toBe('chunked');
    expect(aborted.headers['content-length']).toBeUndefined();
    expect(aborted.complete).toBe(false);
    expect(aborted.body.length).toBe(100);
    const graceful = await fetch(jsonUrl());
    const text = await graceful.text(); // a well-formed response, but the last line is cut
    expect(text).toHaveLength(100);
    expect(() => JSON.parse(text.split('\n').at(-1)!)).toThrow();
  });

  it('stalls a body after part of it until the mock closes', async () => {
    await withFaults([{ path: '/json', fault: { kind: 'stall', at: 64 } }]);
    const res = await fetch(jsonUrl());
    const reader = res.body!.getReader();
    let received = 0;
    while (received < 64) received += (await reader.read()).value!.length;
    expect(received).toBe(64);
    const next = reader.read();
    await api.close();
    await expect(next).rejects.toThrow();
  });

  it('applies faults on other mocks too, with their own error bodies', async () => {
    api = await apifyApiMock({ token: 't', datasets: { d1: [{ a: 1 }] }, faults: [{ path: '/items', requests: 1, fault: { kind: 'status', status: 429 } }] });
    const res = await fetch(`${api.url}/v2/datasets/d1/items`, { headers: { authorization: 'Bearer t' } });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(await res.json()).toEqual({ error: { type: 'rate-limit-exceeded', message: 'You have exceeded the rate limit of 60 requests per second' } });
    await api.close();
    api = await thordataApiMock({ tasks: [{ id: 'a' }], faults: [{ path: '/tasks-status', fault: { kind: 'status', status: 503 } }] });
    const thor = await fetch(`${api.url}/api/web-scraper-api/tasks-status`, { method: 'POST', headers: { token: 'thordata-token', key: 'thordata-key' }, body: new URLSearchParams({ tasks_ids: 'a' }) });
    expect(thor.status).toBe(503);
    expect(await thor.json()).toMatchObject({ code: 503 });
  });
});

describe('lazily generated rows', () => {
  const count = 48_000; // about 48 MB: several times what socket and stream buffers hold
  const serve = {
    'JSON Lines (Web Scraper Cloud)': async (row: (i: number) => Record<string, unknown>) => {
      api = await webScraperApiMock({ token, rateLimit: false, jobs: [{ id: 7, rows: { count, row } }] });
      return jsonUrl();
    },
    'a JSON array (Thordata)': async (row: (i: number) => Record<string, unknown>) => {
      const mock = await thordataApiMock({ tasks: [{ id: 't1', rows: { count, row } }] });
      api = mock;
      return mock.fileUrl('t1');
    },
  };

  it.each(Object.keys(serve) as (keyof typeof serve)[])('streams %s, building rows only as the client reads (backpressure)', async (name) => {
    let generated = 0;
    const url = await serve[name]((i) => (generated++, { i, text: 'y'.repeat(1000) }));
    const reader = (await fetch(url)).body!.getReader();
    let newlines = 0;
    let bytes = 0;
    let maxAhead = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      for (let at = value.indexOf(10); at !== -1; at = value.indexOf(10, at + 1)) newlines++;
      maxAhead = Math.max(maxAhead, generated - newlines);
    }
    expect(newlines).toBeGreaterThanOrEqual(count - 1); // one row per line in both formats
    expect(bytes).toBeGreaterThan(count * 1000);
    // The server never ran ahead of the reader by more than socket and stream buffers, so a
    // 1 GB body costs the mock no more memory than these.
    expect(maxAhead).toBeLessThan(count / 2);
  });
});

describe('misconfiguration', () => {
  it('throws a TypeError naming the option', async () => {
    await expect(webScraperApiMock({ faults: [{ requests: 0, fault: { kind: 'stall' } }] })).rejects.toThrow(new TypeError('Expected `faults[].requests` to be a positive integer, got 0'));
    await expect(webScraperApiMock({ faults: [{ fault: { kind: 'status', status: 200 } }] })).rejects.toThrow(/HTTP error status/);
    await expect(webScraperApiMock({ jobs: [{ id: 1 }, { id: 1 }] })).rejects.toThrow(new TypeError('Expected unique job ids, got 1 twice'));
    await expect(webScraperApiMock({ rateLimit: { limit: 0, windowMs: 1000 } })).rejects.toThrow(TypeError);
    await expect(thordataApiMock({ tasks: [{ id: 'a' }, { id: 'a' }] })).rejects.toThrow(TypeError);
  });
});
